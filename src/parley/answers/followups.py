"""Follow-up questions without a model: questions about what the retrieved sources say and the
answer left out, so each one is answerable from those sources and nothing is invented.

From the complete sentences of prose in the sources (:func:`parley.answers.prose.is_prose`,
ending in a full stop: no list fragment, table row, caption or reference entry) that are on
topic (sharing a word, or its first six letters, "ctenophores" / "Ctenophora", with the question,
or with the answer in a source it cites) and that the answer did not quote, four kinds of
question are built, best first:

* a definition the sentence gives ("Ctenophora ... is a phylum of ...") -> "What is Ctenophora?";
* who did what the sentence says a name did ("CBS broadcast Super Bowl 50 in the U.S., ...")
  -> "Who broadcast Super Bowl 50 in the U.S.?";
* a name the question and answer do not mention, in a source the answer cites (of two words or
  more, or one found in two sentences) -> "What do the sources say about Von Miller?";
* a year they do not mention -> "What happened in 1882?".

A subject must be a noun phrase ("The wing type that is the most common ..." gives none) and a
"who" question must ask about something ("Who ordered item 2?" is refused). At most one question
per sentence and per subject; fewer questions, or none, rather than a bad one.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from parley.answers.citations import parse_citations, strip_citation_markers
from parley.answers.prose import is_prose, list_item_content, strip_footnote_markers
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
# A question word or conjunction inside a subject means the regex ran past the noun phrase.
_NOT_IN_SUBJECT = frozenset("that which who whom whose where when while because if than whether".split())
# "item 2", "row 4", "No. 6": a placeholder, not something worth asking about.
_PLACEHOLDER = re.compile(
    r"\b(?:item|items|row|column|line|step|page|part|section|figure|table|entry|option|no\.?|number)\s+\d",
    re.IGNORECASE,
)
_FULL_STOP = re.compile(r"[.!?][\"'”’)]*$")
_TOPIC_PREFIX = 6
_YEAR = re.compile(r"\b(?:1[0-9]{3}|20[0-9]{2})\b")
_PRONOUNS = frozenset(
    "it this that these those he she they there here its his her their him them himself herself "
    "itself".split()
)
# Capitalised words that are not subjects worth a question.
_NOT_NAMES = frozenset(
    "the a an in on at as of for from by with to and but or since until each both this that these those "
    "however after before during when while although his her other another some many most several such "
    "all any every no "
    "their its january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday".split()
)


def suggest_followups(
    question: str, answer: str, sources: Sequence[Source], limit: int = MAX_FOLLOWUPS
) -> list[str]:
    """Up to ``limit`` short follow-up questions the ``sources`` answer and ``answer`` did not."""
    said = flatten(strip_citation_markers(answer))
    known_words = set(content_words(question)) | set(content_words(answer))
    question_keys = _topic_keys(question)
    answer_keys = _topic_keys(strip_citation_markers(answer))
    cited = {source.number for source in parse_citations(answer, sources).sources}

    sentences = [(source, text) for source in sources for text in _complete_sentences(source.text)]
    # Single capitalised words ("Greek") make a subject only when the sources come back to them.
    single_names = Counter(
        m.group() for _, text in sentences for m in _NAME.finditer(text) if " " not in m.group()
    )
    # Words written with a capital inside a sentence are names; a sentence's first word may not be.
    capitalised = {m.group() for _, text in sentences for m in _NAME.finditer(text) if m.start()}
    kinds: list[list[tuple[float, str, str]]] = [[], [], [], []]  # definitions, who-did, names, years
    for source, text in sentences:
        keys = _topic_keys(text)
        overlap = len(keys & question_keys)
        # On topic: it shares a word with the question, or it is in a cited source and shares
        # one with the answer ("Refunds are paid by ..." beside a quoted refund policy).
        on_topic = overlap or (source.number in cited and keys & answer_keys)
        if not on_topic or flatten(text) in said:
            continue
        # Closest to the question first, then the better-ranked source.
        rank = overlap - 0.1 * source.number
        definition = _definition(text, known_words)
        if definition:
            kinds[0].append((rank, text, definition))
        who = _subject_question(text, known_words, capitalised)
        if who:
            kinds[1].append((rank, text, who))
        # A name is a subject only in a source the answer cites: a sentence elsewhere that shares
        # a word with the question ("the Selectric typewriter") names things it is not about.
        for match in _NAME.finditer(text) if source.number in cited else ():
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


def _complete_sentences(text: str) -> list[str]:
    """The sentences of ``text`` that are prose and end in a full stop, cleaned of footnote
    markers and list bullets."""
    cleaned = (strip_footnote_markers(list_item_content(s.text)) for s in split_sentences(text))
    return [sentence for sentence in cleaned if _FULL_STOP.search(sentence) and is_prose(sentence)]


def _topic_keys(text: str) -> set[str]:
    return {word[:_TOPIC_PREFIX] for word in content_words(text)}


def _definition(sentence: str, known_words: set[str]) -> str | None:
    match = _DEFINITION.match(sentence)
    if match is None:
        return None
    subject = match.group("subject") or match.group("common")
    words = subject.lower().split()
    if len(words) > _MAX_SUBJECT_WORDS or words[0] in _PRONOUNS or _NOT_IN_SUBJECT & set(words):
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
    # "Who changed his mind?" says nothing without the sentence before; nor "Who ordered item 2?".
    if not _new_subject(predicate, known_words) or _PRONOUNS & set(predicate.lower().split()):
        return None
    # A predicate cut before its "and ..." can end on a dangling participle: "Who originated with
    # several innovations developed?".
    if _PLACEHOLDER.search(predicate) or (len(predicate.split()) > 2 and predicate.endswith("ed")):
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
