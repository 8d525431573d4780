"""Follow-up questions without a model: questions about what the retrieved sources say and the
answer left out, so each one is answerable from those sources and nothing is invented.

From the sentences of the on-topic sources (cited by the answer, or sharing a word with the
question) that the answer did not quote, four kinds of question are built, best first:

* a definition the sentence gives ("Ctenophora ... is a phylum of ...") -> "What is Ctenophora?";
* who did what the sentence says a name did ("CBS broadcast Super Bowl 50 in the U.S., ...")
  -> "Who broadcast Super Bowl 50 in the U.S.?";
* a name the question and answer do not mention (of two words or more, or one found in two
  sentences) -> "What do the sources say about Von Miller?";
* a year they do not mention -> "What happened in 1882?".

At most one question per sentence and per subject; an empty list when nothing qualifies.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from parley.answers.citations import parse_citations, strip_citation_markers
from parley.answers.sources import Source, content_words, flatten, split_sentences

MAX_FOLLOWUPS = 3
_MAX_SUBJECT_WORDS = 6

_DEFINITION = re.compile(
    r"^(?:(?P<article>The |An? )(?P<common>[\w'’-]+(?: [\w'’-]+){0,5}?)"
    r"|(?P<subject>[A-Z][\w'’-]*(?: [\w'’-]+){0,5}?))(?: \([^)]*\))?,? "
    r"(?P<verb>is|are|was|were) (?:a|an|the|one)\b"
)
# "<Name> <past-tense verb> <object>": asked back as "Who <verb> <object>?".
_SUBJECT_VERB = re.compile(
    r"^(?P<subject>[A-Z][\w'’.&-]*(?: [A-Z][\w'’.&-]*){0,4}) "
    r"(?P<predicate>(?:[a-z]+ed|won|led|made|took|gave|built|wrote|became|began|broadcast|held|sold|found"
    r"|founded|invented|discovered|introduced) [^,;:()]{3,60}?)(?=[,;:(]| and | which | who |[.!?]?$)"
)
_NAME = re.compile(
    r"\b[A-Z][a-z][\w'’-]*(?: (?:of |de |von |van |the )?[A-Z][\w'’-]*)+|\b[A-Z][a-z]{3,}[\w'’-]*"
)
_YEAR = re.compile(r"\b(?:1[0-9]{3}|20[0-9]{2})\b")
_PRONOUNS = frozenset(
    "it this that these those he she they there here its his her their him them himself herself "
    "itself".split()
)
# Capitalised words that are not subjects worth a question.
_NOT_NAMES = frozenset(
    "the a an in on at as of for from by with to and but or since until each both this that these those "
    "however after before during when while although his her "
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

    sentences = [(source, sentence) for source in sources for sentence in split_sentences(source.text)]
    # Single capitalised words ("Greek") make a subject only when the sources come back to them.
    single_names = Counter(
        m.group() for _, sentence in sentences for m in _NAME.finditer(sentence.text) if " " not in m.group()
    )
    # Words written with a capital inside a sentence are names; a sentence's first word may not be.
    capitalised = {m.group() for _, sentence in sentences for m in _NAME.finditer(sentence.text) if m.start()}
    kinds: list[list[tuple[float, str, str]]] = [[], [], [], []]  # definitions, who-did, names, years
    for source, sentence in sentences:
        overlap = len(set(content_words(sentence.text)) & question_words)
        if flatten(sentence.text) in said or (source.number not in cited and not overlap):
            continue
        # Closest to the question first, then the better-ranked source.
        rank = overlap - 0.1 * source.number
        text = sentence.text
        definition = _definition(text, known_words)
        if definition:
            kinds[0].append((rank, text, definition))
        who = _subject_question(text, known_words, capitalised)
        if who:
            kinds[1].append((rank, text, who))
        for match in _NAME.finditer(text):
            name = _name(match.group(), at_start=match.start() == 0)
            if name and _new_subject(name, known_words) and (" " in name or single_names[name] > 1):
                # A longer name is a more specific subject.
                kinds[2].append(
                    (rank + 0.5 * name.count(" "), text, f"What do the sources say about {name}?")
                )
        for year in _YEAR.findall(text):
            if year not in known_words:
                kinds[3].append((rank, text, f"What happened in {year}?"))

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
    subject = match.group("subject") or match.group("common")
    if len(subject.split()) > _MAX_SUBJECT_WORDS or subject.split()[0].lower() in _PRONOUNS:
        return None
    if not _new_subject(subject, known_words):
        return None
    article = (match.group("article") or "").lower()
    return f"What {match.group('verb')} {article}{subject}?"


def _subject_question(sentence: str, known_words: set[str], capitalised: set[str]) -> str | None:
    """A "Who <predicate>?" question when the sentence opens with a name doing something the
    question and answer do not already say (the name, the answer, is in the source)."""
    match = _SUBJECT_VERB.match(sentence)
    if match is None:
        return None
    subject = match.group("subject")
    first = subject.split()[0]
    if first.lower() in _NOT_NAMES or not (" " in subject or first.isupper() or first in capitalised):
        return None
    predicate = match.group("predicate").strip()
    # "Who changed his mind?" says nothing without the sentence before.
    if not _new_subject(predicate, known_words) or _PRONOUNS & set(predicate.lower().split()):
        return None
    return f"Who {predicate}?"


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
