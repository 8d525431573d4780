"""The offline default answerer: answers with the source sentences that best answer the
question, each followed by its citation marker, so every claim is a quote (grounded by
construction) and nothing needs a language model.

How a sentence is chosen:

1. every sentence of every source is a candidate (a list item is read together with the line
   that introduced the list; a line ending in a colon is only context), scored lexically
   (cheap): idf-weighted question-word recall (idf over the candidate sentences, so a topic
   word found everywhere counts little), the densest 8-word window, shared question bigrams,
   the previous sentence's recall (pronouns refer back), whether it holds what the question type
   asks for (a date for "when", a number for "how many", a name for "who"...), and the
   source's rank;
2. the best :data:`SHORTLIST` candidates are embedded in one batch as ``"<context>: <sentence>"``
   (the title resolves "he", "the game") and scored again with their cosine to the question;
3. a softmax over the shortlist gives each sentence a probability of holding the answer: the
   best sentence is the answer, and the next ones are added only while the probability covered
   stays below :data:`COVERAGE` and the answer stays short (:data:`MAX_ANSWER_WORDS`).

Sentences are quoted whole (cutting them to the clause that matches the question lost the
answer more often than it saved words on SQuAD); only a "sentence" longer than
:data:`MAX_ANSWER_WORDS` (a run-on PDF line) is clipped, with ellipses, to its densest window.

The weights come from a listwise logistic fit on SQuAD v1.1 dev-part-a (half its questions;
the other half scored within half a point, see ``bench/squad_offline.py``). When the best
sentence's cosine and word recall are low (:data:`MIN_RELEVANCE`), the answer is
:data:`NOT_FOUND_ANSWER`.

Cost: one embedding batch of at most :data:`SHORTLIST` short texts, plus the question unless
the caller passes the vector it already searched with.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from parley.answers.sources import Sentence, Source, content_words, split_sentences
from parley.embeddings.base import Embedder
from parley.llm.base import Completion

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

NOT_FOUND_ANSWER = "I could not find information about that in the available documents."
#: The model name the offline answerer reports in its Completion and usage rows.
EXTRACTIVE_MODEL_NAME = "parley-extractive"

#: Candidates embedded per question: ~8 ms each on this machine's CPU. On SQuAD the lexical top 4
#: holds the answer sentence for 90% of questions (top 12: 95%), and after reranking the best
#: sentence is right for 77.9% (with 6 embedded: 78.1%, with all: 78.3%; lexical alone: 74.8%).
SHORTLIST = 4
#: Keep adding sentences until they cover this much of the shortlist's probability...
COVERAGE = 0.85
#: ...without the answer growing past this many words.
MAX_ANSWER_WORDS = 70
#: ...nor past this many sentences.
MAX_SENTENCES = 3

# Listwise logistic weights (see the module docstring) for the lexical features, in the order
# _lexical_features builds them, then the cosine's weight for the shortlist.
LEXICAL_WEIGHTS = (5.82, 3.66, 0.94, 0.9, 1.0, -0.87)
SHORTLIST_WEIGHTS = (4.43, 2.98, 0.38, 1.24, 1.09, -0.53)
COSINE_WEIGHT = 9.66

# The relevance gate: the best sentence's cosine + RECALL_WEIGHT * its word recall must reach
# MIN_RELEVANCE. Measured: 3% of SQuAD questions fall below it (1.2% of them had the answer),
# against 90% of 30 off-topic questions and 88% of SQuAD questions asked with their own
# article left out of the search (some of which the other articles do answer).
RECALL_WEIGHT = 0.3
MIN_RELEVANCE = 0.5

_PROXIMITY_WINDOW = 8
_FUZZY_PREFIX = 6


@dataclass(frozen=True)
class ExtractiveAnswer:
    """The answer text (sentences with ``[n]`` markers) and what it drew on.

    ``prompt_tokens`` counts the question and the text of every source the answerer read;
    ``completion_tokens`` the answer text; both with the embedder's tokenizer (MiniLM wordpieces
    for the default), the nearest thing to a model's tokens an answerer without a model has.
    """

    text: str
    found: bool
    sources: list[Source]  # the sources quoted, in the order first cited
    sentences: list[str]  # the quoted text of each sentence, verbatim from its source
    prompt_tokens: int
    completion_tokens: int

    def completion(self) -> Completion:
        """The answer as a chat-model :class:`Completion`, for the usage log and the response row."""
        return Completion(
            text=self.text,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            model=EXTRACTIVE_MODEL_NAME,
        )


@dataclass(frozen=True)
class _Candidate:
    source: Source
    sentence: Sentence
    previous: str  # the sentence before it in its source (for a list item: the list's intro)

    @property
    def text(self) -> str:
        """What the candidate is judged on: a list item ("- Saturday: 10am to 1pm") means
        nothing without its intro, so the two are read together."""
        if _LIST_ITEM.match(self.sentence.text) and self.previous:
            return f"{self.previous} {self.sentence.text}"
        return self.sentence.text


def answer_extractively(
    question: str,
    sources: Sequence[Source],
    embedder: Embedder,
    *,
    query_vector: np.ndarray | None = None,
) -> ExtractiveAnswer:
    """Answer ``question`` from ``sources`` by quoting them (see the module docstring).

    ``query_vector``: the question's embedding from the same embedder, when retrieval already
    computed it (saves one model call).
    """
    import numpy as np

    prompt_tokens = embedder.count_tokens(question) + sum(embedder.count_tokens(s.text) for s in sources)
    candidates = _candidate_sentences(sources)
    if not candidates or not content_words(question):
        return _not_found(embedder, prompt_tokens)
    lexical = _lexical_features(question, candidates)
    shortlist = np.argsort(-(lexical @ np.asarray(LEXICAL_WEIGHTS)), kind="stable")[:SHORTLIST]
    if query_vector is None:
        query_vector = embedder.embed_query(question)
    vectors = embedder.embed_documents([_embedding_text(candidates[i]) for i in shortlist])
    cosines = vectors @ np.asarray(query_vector, dtype=np.float32)
    scores = lexical[shortlist] @ np.asarray(SHORTLIST_WEIGHTS) + COSINE_WEIGHT * cosines
    order = np.argsort(-scores, kind="stable")
    best = order[0]
    if cosines[best] + RECALL_WEIGHT * lexical[shortlist[best], 0] < MIN_RELEVANCE:
        return _not_found(embedder, prompt_tokens)

    probabilities = np.exp(scores - scores.max())
    probabilities /= probabilities.sum()
    chosen: list[_Candidate] = []
    covered = 0.0
    words = 0
    for i in order:
        candidate = candidates[shortlist[i]]
        length = len(candidate.sentence.text.split())
        if chosen and (
            covered >= COVERAGE or words + length > MAX_ANSWER_WORDS or len(chosen) >= MAX_SENTENCES
        ):
            break
        if any(c.sentence.text == candidate.sentence.text for c in chosen):
            continue  # the same sentence in two sources (a duplicated document)
        chosen.append(candidate)
        covered += float(probabilities[i])
        words += length
    quoted = [_clip(c.sentence.text, question) for c in chosen]
    text = ""
    for (_, shown), candidate in zip(quoted, chosen, strict=True):
        # List items stay on lines of their own so they still read (and split) as a list.
        separator = "\n" if _LIST_ITEM.match(shown) else " "
        text += (separator if text else "") + _cite(shown, candidate.source.number)
    cited = list({c.source.number: c.source for c in chosen}.values())
    return ExtractiveAnswer(
        text=text,
        found=True,
        sources=cited,
        sentences=[part for part, _ in quoted],
        prompt_tokens=prompt_tokens,
        completion_tokens=embedder.count_tokens(text),
    )


def _not_found(embedder: Embedder, prompt_tokens: int) -> ExtractiveAnswer:
    return ExtractiveAnswer(
        text=NOT_FOUND_ANSWER,
        found=False,
        sources=[],
        sentences=[],
        prompt_tokens=prompt_tokens,
        completion_tokens=embedder.count_tokens(NOT_FOUND_ANSWER),
    )


_FINAL_STOP = re.compile(r"[.!?]+$")
_CLOSING_QUOTE = re.compile(r"[.!?]+[\"'”’)]+$")
_TOKEN = re.compile(r"\S+")


def _cite(sentence: str, number: int) -> str:
    """``sentence`` with its marker: "... in 2016 [1].", 'He said "Hi." [1]', and a full stop
    after a sentence that had none (a list item, a heading) so the answer still splits into
    the sentences it quotes."""
    stop = _FINAL_STOP.search(sentence)
    if stop is not None:
        return f"{sentence[: stop.start()]} [{number}]{sentence[stop.start() :]}"
    if _CLOSING_QUOTE.search(sentence):
        return f"{sentence} [{number}]"
    return f"{sentence} [{number}]."


def _clip(sentence: str, question: str) -> tuple[str, str]:
    """(verbatim part, shown text) of a quoted sentence: one longer than :data:`MAX_ANSWER_WORDS`
    (a table row, a run-on PDF line) is cut to the window of that many words holding the most
    question words, and ellipses show where the quote starts or ends mid-sentence."""
    tokens = list(_TOKEN.finditer(sentence))
    first, last = 0, len(tokens) - 1
    if len(tokens) > MAX_ANSWER_WORDS:
        terms = set(content_words(question))
        hits = [bool(terms & set(content_words(t.group()))) for t in tokens]
        first = max(
            range(len(tokens) - MAX_ANSWER_WORDS + 1), key=lambda i: sum(hits[i : i + MAX_ANSWER_WORDS])
        )
        last = first + MAX_ANSWER_WORDS - 1
    part = sentence[tokens[first].start() : tokens[last].end()]
    # A chunk may also start mid-sentence: "garrison resisted until ...", ", Tesla found ...".
    opens_mid_sentence = first > 0 or part[0].islower() or part[0] in ",;:"
    part = part.lstrip(",;: ")
    shown = ("… " if opens_mid_sentence else "") + part + (" …" if last < len(tokens) - 1 else "")
    return part, shown


# -- features ----------------------------------------------------------------------------------------


_LIST_ITEM = re.compile(r"^(?:[-*+•]|\d{1,3}[.)])\s")


def _candidate_sentences(sources: Sequence[Source]) -> list[_Candidate]:
    candidates = []
    for source in sources:
        previous = ""
        for sentence in split_sentences(source.text):
            # A line ending in a colon announces what follows; it is context, not an answer.
            if not sentence.text.endswith(":"):
                candidates.append(_Candidate(source, sentence, previous))
            # A list item's context is the line that introduced the list, not the item before.
            if not _LIST_ITEM.match(sentence.text):
                previous = sentence.text
    return candidates


def _embedding_text(candidate: _Candidate) -> str:
    context = candidate.source.context
    return f"{context}: {candidate.text}" if context else candidate.text


def _lexical_features(question: str, candidates: Sequence[_Candidate]) -> np.ndarray:
    """One row per candidate: [recall, proximity, bigrams, previous recall, type cue, rank].

    ``recall`` (column 0) is the idf-weighted share of the question's words found in the
    sentence, an exact stem counting 1 and a shared 6-letter prefix 0.8 ("congratulated" /
    "congratulatory"); ``type cue`` is +1 when the sentence holds what the question type asks
    for, -1 when it does not, 0 for questions without a type; ``rank`` is the source's number - 1.
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

    def matches(words: Sequence[str]) -> dict[str, float]:
        present = set(words)
        keys = {w[:_FUZZY_PREFIX] for w in present}
        found = {}
        for term in terms:
            if term in present:
                found[term] = 1.0
            elif len(term) >= _FUZZY_PREFIX and prefixes[term] in keys:
                found[term] = 0.8
        return found

    def recall(words: Sequence[str]) -> float:
        return sum(idf[t] * m for t, m in matches(words).items()) / weight_sum

    def proximity(words: Sequence[str]) -> float:
        best = 0.0
        for start in range(max(1, len(words) - _PROXIMITY_WINDOW + 1)):
            best = max(best, recall(words[start : start + _PROXIMITY_WINDOW]))
        return best

    cue = _question_type(question)
    question_keys = set(question_words)
    rows = []
    for candidate, words, previous in zip(candidates, sentence_words, previous_words, strict=True):
        shared_bigrams = len(bigrams & set(zip(words, words[1:], strict=False))) / max(1, len(bigrams))
        typed = 0.0
        if cue is not None:
            typed = 1.0 if _has_answer_cue(candidate.sentence.text, cue, question_keys) else -1.0
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
    return np.asarray(rows, dtype=np.float64)


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


def _question_type(question: str) -> str | None:
    """The kind of answer the question asks for (date, number, name, place), or None."""
    lowered = question.lower()
    for name, pattern in _QUESTION_TYPES:
        if pattern.search(lowered):
            return name
    return None


def _has_answer_cue(sentence: str, kind: str, question_words: set[str]) -> bool:
    """Whether ``sentence`` holds something of ``kind`` that the question does not already say."""
    pattern = {"date": _DATE_CUE, "number": _NUMBER_CUE}.get(kind, _NAME)
    for match in pattern.finditer(sentence):
        if pattern is _NAME and match.start() == 0:
            continue  # every sentence starts with a capital
        if not set(content_words(match.group())) <= question_words:
            return True
    return False
