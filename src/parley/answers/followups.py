"""Follow-up questions without a model: questions about what the retrieved sources say and the
answer left out, so each one is answerable from those sources and nothing is invented.

From the sentences of the on-topic sources (cited by the answer, or sharing a word with the
question) that the answer did not quote, three kinds of question are built, best first:

* a definition the sentence gives ("Ctenophora are a phylum of ...") -> "What are Ctenophora?";
* a name the question and answer do not mention -> "What do the sources say about Von Miller?";
* a year they do not mention -> "What happened in 1882?".

At most one question per sentence and per subject; an empty list when nothing qualifies.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from parley.answers.citations import parse_citations, strip_citation_markers
from parley.answers.sources import Source, content_words, flatten, split_sentences

MAX_FOLLOWUPS = 3
_MAX_SUBJECT_WORDS = 6

_DEFINITION = re.compile(
    r"^(?:The |An? )?(?P<subject>[A-Z][\w'’-]*(?: [\w'’-]+){0,5}?) "
    r"(?P<verb>is|are|was|were) (?:a|an|the|one)\b"
)
_NAME = re.compile(
    r"\b[A-Z][a-z][\w'’-]*(?: (?:of |de |von |van |the )?[A-Z][\w'’-]*)+|\b[A-Z][a-z]{3,}[\w'’-]*"
)
_YEAR = re.compile(r"\b(?:1[0-9]{3}|20[0-9]{2})\b")
_PRONOUNS = frozenset("it this that these those he she they there here its his her their".split())
# Capitalised words that are not subjects worth a question.
_NOT_NAMES = frozenset(
    "the a an in on at this that these those however after before during when while although his her "
    "their its january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday".split()
)


def suggest_followups(
    question: str, answer: str, sources: Sequence[Source], limit: int = MAX_FOLLOWUPS
) -> list[str]:
    """Up to ``limit`` short follow-up questions the ``sources`` answer and ``answer`` did not."""
    said = flatten(strip_citation_markers(answer))
    known_words = set(content_words(question)) | set(content_words(answer))
    question_words = set(content_words(question))
    cited = {source.number for source in parse_citations(answer, sources).sources}

    kinds: list[list[tuple[float, str, str]]] = [[], [], []]  # definitions, names, years
    for source in sources:
        for sentence in split_sentences(source.text):
            words = set(content_words(sentence.text))
            overlap = len(words & question_words)
            if flatten(sentence.text) in said or (source.number not in cited and not overlap):
                continue
            # Rank by closeness to the question, then by source rank.
            rank = overlap - 0.1 * source.number
            key = sentence.text
            definition = _definition(sentence.text, known_words)
            if definition:
                kinds[0].append((rank, key, definition))
            for match in _NAME.finditer(sentence.text):
                name = _name(match.group(), at_start=match.start() == 0)
                if name and _new_subject(name, known_words):
                    # A longer name is a more specific subject.
                    kinds[1].append(
                        (rank + 0.5 * name.count(" "), key, f"What do the sources say about {name}?")
                    )
            for year in _YEAR.findall(sentence.text):
                if year not in known_words:
                    kinds[2].append((rank, key, f"What happened in {year}?"))

    questions: list[str] = []
    used_sentences: set[str] = set()
    for candidates in kinds:
        for _, sentence, followup in sorted(candidates, key=lambda c: -c[0]):
            if len(questions) >= limit:
                return questions
            if sentence in used_sentences or followup in questions:
                continue
            used_sentences.add(sentence)
            questions.append(followup)
    return questions


def _definition(sentence: str, known_words: set[str]) -> str | None:
    match = _DEFINITION.match(sentence)
    if match is None:
        return None
    subject = match.group("subject")
    if len(subject.split()) > _MAX_SUBJECT_WORDS or subject.split()[0].lower() in _PRONOUNS:
        return None
    if not _new_subject(subject, known_words):
        return None
    return f"What {match.group('verb')} {subject}?"


def _name(text: str, at_start: bool) -> str | None:
    """``text`` as a subject: a leading article dropped; None for a lone word starting the sentence
    (capitalised because it starts it) and for months, weekdays and function words."""
    words = text.split()
    if words[0].lower() in _NOT_NAMES:
        words = words[1:]
        at_start = False
    if not words or (at_start and len(words) == 1) or all(w.lower() in _NOT_NAMES for w in words):
        return None
    return " ".join(words)


def _new_subject(subject: str, known_words: set[str]) -> bool:
    """A subject with at least one content word the question and answer do not already use."""
    words = set(content_words(subject))
    return bool(words) and not words <= known_words
