"""How the offline answerer judges the sentences of the retrieved sources: which of them holds
the answer, as a probability over a shortlist.

1. Every sentence of every source that reads as prose is a candidate, cleaned of the source's
   footnote markers (:mod:`parley.answers.prose`; a table row under a known header is one, as
   "header: value" pairs); a list item is read together with the line that introduced the
   list; a Markdown heading or a line ending in a colon is only context; a sentence that two
   overlapping chunks both hold is one candidate, from the better-ranked chunk.
2. Each candidate gets cheap lexical features (:func:`lexical_features`): idf-weighted recall of
   the question's words, their densest window, shared bigrams, the previous sentence's recall
   (pronouns refer back), whether it holds what the question type asks for (a date for "when",
   a number for "how many"...), and its source's retrieval rank.
3. The :data:`SHORTLIST` best by the lexical weights are embedded in one batch as
   ``"<context>: <sentence>"`` (the title resolves "he", "the game") and scored again with
   the shortlist's weights and their cosine to the question.
4. A softmax over the shortlist turns the scores into each sentence's probability of holding
   the answer; the answerer spends words on sentences by that probability.

The weights are a listwise logistic fit (the probability of the sentences that hold a gold
answer) on SQuAD v1.1 dev-part-a, half of its articles, the other half held out:
``python bench/squad_offline.py --half a --fit`` prints them. The best sentence holds the answer
for about 79% of the held-out questions (the sources hold it as a sentence for 95%). Tried
there and left out, each moving that by less than half a point: words the sentence adds to the
question, finer answer types (a year, a person's name, "in <Place>"), the noun a "what/which"
question asks about, idf within the source, the source's best sentence and retrieval score,
embedding a sentence with its neighbours, a learned per-dimension similarity, and boosted
trees over the same features. A cross-encoder fine-tuned on the same half's questions
(``bench/squad_cross_encoder.py``) adds 1.3 points of held-out answers holding the gold answer
on top of these scores: not worth a second model in the answer path (docs/benchmarks.md).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from parley.answers.prose import (
    is_prose,
    is_separator_row,
    list_item_content,
    strip_footnote_markers,
    table_cells,
    table_row_sentence,
)
from parley.answers.sources import Sentence, Source, content_words, split_sentences
from parley.embeddings.base import Embedder

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

#: Candidates embedded per question (~8 ms each on this machine's idle CPU). On SQuAD the
#: lexical top 6 holds an answer sentence for 92.5% of questions (top 4: 91%, all: 95%).
SHORTLIST = 6


_PROXIMITY_WINDOW = 8
_FUZZY_PREFIX = 6
_LIST_ITEM = re.compile(r"^(?:[-*+•]|\d{1,3}[.)])\s")
_HEADING = re.compile(r"^#{1,6}\s")


@dataclass(frozen=True)
class Weights:
    """The lexical features' weights (in the order :func:`lexical_features` builds them) for
    the first pass over every candidate and for the shortlist, and the shortlist's cosine weight."""

    lexical: tuple[float, ...]
    shortlist: tuple[float, ...]
    cosine: float


WEIGHTS = Weights(
    lexical=(6.07, 4.18, 0.45, 1.73, 1.19, -0.84),
    shortlist=(4.73, 3.18, 0.31, 2.18, 1.32, -0.48),
    cosine=11.18,
)


@dataclass(frozen=True)
class Candidate:
    source: Source
    #: The sentence as it may be quoted: without the source's footnote markers, a list item
    #: without its bullet, a table row as "header: value" pairs (its span is the source's).
    sentence: Sentence
    previous: str  # the sentence before it in its source (for a list item: the list's intro)
    list_item: bool = False

    @property
    def text(self) -> str:
        """What the candidate is judged on: a list item ("Saturday: 10am to 1pm") means
        nothing without its intro, so the two are read together."""
        if self.list_item and self.previous:
            return f"{self.previous} {self.sentence.text}"
        return self.sentence.text


@dataclass(frozen=True)
class Ranking:
    """The shortlist, best first, with each sentence's probability of holding the answer."""

    candidates: list[Candidate]
    probabilities: list[float]
    cosines: list[float]  # to the question
    recalls: list[float]  # idf-weighted share of the question's words the sentence holds


def is_list_item(text: str) -> bool:
    return _LIST_ITEM.match(text) is not None


def candidate_sentences(sources: Sequence[Source]) -> list[Candidate]:
    """Every sentence of ``sources`` that could answer and reads as prose, in source order
    (:mod:`parley.answers.prose` says what does and how a quote is cleaned)."""
    candidates = []
    seen: set[str] = set()
    for source in sources:
        previous = ""
        header: list[str] | None = None
        sentences = split_sentences(source.text)
        for index, sentence in enumerate(sentences):
            following = sentences[index + 1].text if index + 1 < len(sentences) else ""
            cells = table_cells(sentence.text)
            if cells is not None or is_separator_row(sentence.text):
                # A table row is quoted as "header: value" pairs, so only once its header is known.
                if cells is not None and is_separator_row(following):
                    header = cells
                    continue
                quote = table_row_sentence(header, cells) if header and cells else None
                if quote and quote not in seen:
                    seen.add(quote)
                    candidates.append(Candidate(source, replace(sentence, text=quote), previous))
                continue
            header = None
            # A Markdown heading, or a line ending in a colon, announces what follows; it is
            # context, not an answer. Overlapping chunks (and duplicated documents) repeat
            # sentences: one candidate each, or the repeats would share one sentence's
            # probability and crowd the shortlist.
            announces = sentence.text.endswith(":") or _HEADING.match(sentence.text) is not None
            item = is_list_item(sentence.text)
            quote = strip_footnote_markers(list_item_content(sentence.text))
            intro = previous if item else ""
            if not announces and quote not in seen and is_prose(quote, intro):
                seen.add(quote)
                candidates.append(Candidate(source, replace(sentence, text=quote), previous, item))
            # A list item's context is the line that introduced the list, not the item before.
            if not item:
                previous = strip_footnote_markers(sentence.text)
    return candidates


def rank_sentences(
    question: str,
    candidates: Sequence[Candidate],
    embedder: Embedder,
    query_vector: np.ndarray | None = None,
    weights: Weights = WEIGHTS,
) -> Ranking:
    """Score ``candidates`` (at least one) for ``question`` (see the module docstring)."""
    import numpy as np

    lexical = lexical_features(question, candidates)
    shortlist = np.argsort(-(lexical @ np.asarray(weights.lexical)), kind="stable")[:SHORTLIST]
    if query_vector is None:
        query_vector = embedder.embed_query(question)
    vectors = embedder.embed_documents([embedding_text(candidates[i]) for i in shortlist])
    cosines = vectors @ np.asarray(query_vector, dtype=np.float32)
    scores = lexical[shortlist] @ np.asarray(weights.shortlist) + weights.cosine * cosines
    order = np.argsort(-scores, kind="stable")
    probabilities = np.exp(scores - scores.max())
    probabilities /= probabilities.sum()
    return Ranking(
        candidates=[candidates[shortlist[i]] for i in order],
        probabilities=[float(probabilities[i]) for i in order],
        cosines=[float(cosines[i]) for i in order],
        recalls=[float(lexical[shortlist[i], 0]) for i in order],
    )


def embedding_text(candidate: Candidate) -> str:
    context = candidate.source.context
    return f"{context}: {candidate.text}" if context else candidate.text


def lexical_features(question: str, candidates: Sequence[Candidate]) -> np.ndarray:
    """One row per candidate: [recall, proximity, bigrams, previous recall, type cue, rank].

    ``recall`` (column 0) is the idf-weighted share of the question's words found in the
    sentence, an exact stem counting 1 and a shared 6-letter prefix 0.8 ("congratulated" /
    "congratulatory"), with idf over the candidates (a topic word found everywhere counts
    little); ``proximity`` the best recall within an 8-word window; ``type cue`` is +1 when the
    sentence holds what the question type asks for, -1 when it does not, 0 for questions
    without a type; ``rank`` is the source's number - 1.
    """
    import numpy as np

    question_words = content_words(question)
    terms = list(dict.fromkeys(question_words))
    bigrams = set(zip(question_words, question_words[1:], strict=False))
    sentence_words = [content_words(c.text) for c in candidates]
    previous_words = [content_words(c.previous) for c in candidates]

    prefixes = {w: w[:_FUZZY_PREFIX] for w in terms}
    document_frequency: Counter[str] = Counter()
    for words in sentence_words:
        present = set(words)
        keys = {w[:_FUZZY_PREFIX] for w in present}
        document_frequency.update(t for t in terms if t in present or prefixes[t] in keys)
    total = len(candidates)
    idf = {t: math.log(1 + total / (document_frequency[t] + 0.5)) for t in terms}
    weight_sum = sum(idf.values()) or 1.0

    def recall(words: Sequence[str]) -> float:
        present = set(words)
        keys = {w[:_FUZZY_PREFIX] for w in present}
        found = 0.0
        for term in terms:
            if term in present:
                found += idf[term]
            elif len(term) >= _FUZZY_PREFIX and prefixes[term] in keys:
                found += 0.8 * idf[term]
        return found / weight_sum

    def proximity(words: Sequence[str]) -> float:
        return max(
            recall(words[start : start + _PROXIMITY_WINDOW])
            for start in range(max(1, len(words) - _PROXIMITY_WINDOW + 1))
        )

    cue = question_type(question)
    question_keys = set(question_words)
    rows = []
    for candidate, words, previous in zip(candidates, sentence_words, previous_words, strict=True):
        shared_bigrams = len(bigrams & set(zip(words, words[1:], strict=False))) / max(1, len(bigrams))
        typed = 0.0
        if cue is not None:
            typed = 1.0 if has_answer_cue(candidate.sentence.text, cue, question_keys) else -1.0
        rows.append(
            [
                recall(words),
                proximity(words),
                shared_bigrams,
                recall(previous),
                typed,
                candidate.source.number - 1,
            ]
        )
    return np.asarray(rows, dtype=np.float64).reshape(len(candidates), 6)


# -- question types ------------------------------------------------------------------------------------

_PLACE_NOUNS = (
    "city|country|state|town|village|place|region|area|continent|island|river|lake|sea|ocean|"
    "mountain|street|building|stadium|county|province|nation|location|capital|district"
)
_AGENT_NOUNS = (
    "person|man|woman|people|scientist|artist|king|queen|president|leader|author|writer|player|"
    "team|company|group|organization|organisation|band|university|school|party|church|family"
)
_QUESTION_TYPES = (
    (
        "date",
        re.compile(
            r"\bwhen\b|\b(?:what|which|in what|in which)\s+(?:year|years|date|day|month|century|decade|era)\b"
        ),
    ),
    (
        "number",
        re.compile(
            r"\bhow (?:many|much|long|old|far|large|big|high|tall|deep|often|fast|wide|heavy)\b"
            r"|\bwhat (?:percentage|percent|number|amount|proportion|fraction|size)\b"
        ),
    ),
    ("name", re.compile(rf"\bwho(?:m|se)?\b|\b(?:what|which)\s+(?:\w+\s+)?(?:{_AGENT_NOUNS})\b")),
    ("place", re.compile(rf"\bwhere\b|\b(?:what|which)\s+(?:\w+\s+)?(?:{_PLACE_NOUNS})\b")),
)
_DATE_CUE = re.compile(
    r"\b(?:1\d{3}|20\d{2})s?\b|\b\d+(?:st|nd|rd|th)\b|\bcentur(?:y|ies)\b|\b(?:January|February|March|"
    r"April|May|June|July|August|September|October|November|December|Monday|Tuesday|Wednesday|Thursday|"
    r"Friday|Saturday|Sunday)\b"
)
_NUMBER_CUE = re.compile(
    r"\d[\d,.]*\d|\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundred|thousand|million|billion|dozen|half|several)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"\b[A-Z][\w'’-]+")


def question_type(question: str) -> str | None:
    """The kind of answer the question asks for (date, number, name, place), or None."""
    lowered = question.lower()
    for name, pattern in _QUESTION_TYPES:
        if pattern.search(lowered):
            return name
    return None


def has_answer_cue(sentence: str, kind: str, question_words: set[str]) -> bool:
    """Whether ``sentence`` holds something of ``kind`` that the question does not already say."""
    pattern = {"date": _DATE_CUE, "number": _NUMBER_CUE}.get(kind, _NAME)
    for match in pattern.finditer(sentence):
        if pattern is _NAME and match.start() == 0:
            continue  # every sentence starts with a capital
        if not set(content_words(match.group())) <= question_words:
            return True
    return False
