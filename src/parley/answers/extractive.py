"""The offline default answerer: answers with the source sentences that best answer the
question, each followed by its citation marker, so every claim is a quote (grounded by
construction) and nothing needs a language model.

:mod:`parley.answers.sentence_scoring` gives each shortlisted sentence a probability of holding
the answer. The best sentence is the answer; another is added, most probable first, when its
probability per word reaches :data:`MIN_PROBABILITY_PER_WORD`, so a confident answer stays one
sentence and a doubtful one quotes the alternatives, short ones more readily than long ones
(on SQuAD this puts the gold answer in more answers, for the same words, than adding sentences
until a share of the probability is covered).

Only sentences of prose are quoted, without the source's own footnote markers (which would read
as Parley's citations) or list bullets (:mod:`parley.answers.prose`). Sentences are quoted whole
(cutting them to the clause that matches the question lost the answer more often than it saved
words on SQuAD); only a "sentence" longer than
:data:`MAX_ANSWER_WORDS` (a run-on PDF line) is clipped, with ellipses, to its densest window.
When the best sentence's cosine and word recall are low (:data:`MIN_RELEVANCE`), the answer is
:data:`NOT_FOUND_ANSWER`.

Cost: one embedding batch of at most :data:`~parley.answers.sentence_scoring.SHORTLIST` short
texts, plus the question unless the caller passes the vector it already searched with.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from parley.answers.sentence_scoring import (
    Candidate,
    Ranking,
    candidate_sentences,
    rank_sentences,
)
from parley.answers.sources import Source, content_words
from parley.embeddings.base import Embedder
from parley.llm.base import Completion

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

NOT_FOUND_ANSWER = "I could not find information about that in the available documents."
#: The model name the offline answerer reports in its Completion and usage rows.
EXTRACTIVE_MODEL_NAME = "parley-extractive"

#: A sentence after the best one is quoted when its probability of holding the answer, divided
#: by its length in words, reaches this (set so that SQuAD answers average under 40 words)...
MIN_PROBABILITY_PER_WORD = 0.004
#: ...without the answer growing past this many words...
MAX_ANSWER_WORDS = 70
#: ...nor past this many sentences.
MAX_SENTENCES = 3

#: A passage's text in the usage log's request payload is cut to this many characters.
PAYLOAD_PASSAGE_CHARS = 500

# The relevance gate: the best sentence's cosine + RECALL_WEIGHT * its word recall must reach
# MIN_RELEVANCE. Measured: 3.2% of SQuAD questions fall below it (about half of them would have
# been answered: 1.8 points of gold-in-answer), against 90% of 30 off-topic questions and 91% of
# SQuAD questions asked with their own article left out of the search (some of which the other
# articles do answer).
RECALL_WEIGHT = 0.3
MIN_RELEVANCE = 0.5


@dataclass(frozen=True)
class ExtractiveAnswer:
    """The answer text (sentences with ``[n]`` markers) and what it drew on.

    ``prompt_tokens`` counts the question and the text of every source the answerer read;
    ``completion_tokens`` the answer text; both with the embedder's tokenizer (MiniLM wordpieces
    for the default), the nearest thing to a model's tokens an answerer without a model has.
    """

    question: str
    read: list[Source]  # the sources it was given
    text: str
    found: bool
    sources: list[Source]  # the sources quoted, in the order first cited
    # The quoted text of each sentence: verbatim from its source but for the source's own
    # footnote markers and list bullets, or a table row rendered as "header: value" pairs.
    sentences: list[str]
    prompt_tokens: int
    completion_tokens: int

    def completion(self) -> Completion:
        """The answer as a chat-model :class:`Completion`, for the usage log and the response row.

        Its payloads say what the answerer was given (the question and the passages, each cut
        to :data:`PAYLOAD_PASSAGE_CHARS`; it reads no history) and what it returned (the answer
        and the sources it cites), as a model's request and response would."""
        request = {
            "model": EXTRACTIVE_MODEL_NAME,
            "question": self.question,
            "passages": [_passage(source) for source in self.read],
        }
        response = {
            "model": EXTRACTIVE_MODEL_NAME,
            "answer": self.text,
            "found": self.found,
            "citations": [
                {"number": s.number, "chunk_id": s.chunk_id, "document_name": s.document_name}
                for s in self.sources
            ],
            "usage": {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens},
        }
        return Completion(
            text=self.text,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            model=EXTRACTIVE_MODEL_NAME,
            request_payload=request,
            response_payload=response,
        )


def _passage(source: Source) -> dict[str, int | str]:
    text = source.text
    if len(text) > PAYLOAD_PASSAGE_CHARS:
        text = text[:PAYLOAD_PASSAGE_CHARS].rstrip() + " …"
    return {
        "number": source.number,
        "chunk_id": source.chunk_id,
        "document_name": source.document_name,
        "text": text,
    }


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
    prompt_tokens = embedder.count_tokens(question) + sum(embedder.count_tokens(s.text) for s in sources)
    candidates = candidate_sentences(sources)
    if not candidates or not content_words(question):
        return _not_found(question, sources, embedder, prompt_tokens)
    ranking = rank_sentences(question, candidates, embedder, query_vector)
    if ranking.cosines[0] + RECALL_WEIGHT * ranking.recalls[0] < MIN_RELEVANCE:
        return _not_found(question, sources, embedder, prompt_tokens)

    chosen = choose_sentences(ranking)
    quoted = [_clip(c.sentence.text, question) for c in chosen]
    text = ""
    for (_, shown), candidate in zip(quoted, chosen, strict=True):
        # List items stay on lines of their own so they still read (and split) as a list.
        separator = "\n" if candidate.list_item else " "
        text += (separator if text else "") + _cite(shown, candidate.source.number)
    cited = list({c.source.number: c.source for c in chosen}.values())
    return ExtractiveAnswer(
        question=question,
        read=list(sources),
        text=text,
        found=True,
        sources=cited,
        sentences=[part for part, _ in quoted],
        prompt_tokens=prompt_tokens,
        completion_tokens=embedder.count_tokens(text),
    )


def choose_sentences(
    ranking: Ranking, min_probability_per_word: float = MIN_PROBABILITY_PER_WORD
) -> list[Candidate]:
    """The best sentence, then (most probable first) each other one whose probability per word
    reaches ``min_probability_per_word`` and that fits in :data:`MAX_ANSWER_WORDS`."""
    best, *others = zip(ranking.candidates, ranking.probabilities, strict=True)
    chosen = [best[0]]
    words = _quoted_words(best[0])
    for candidate, probability in others:
        length = _quoted_words(candidate)
        fits = len(chosen) < MAX_SENTENCES and words + length <= MAX_ANSWER_WORDS
        if fits and probability / length >= min_probability_per_word:
            chosen.append(candidate)
            words += length
    return chosen


def _quoted_words(candidate: Candidate) -> int:
    """Words the sentence adds to the answer (a run-on one is clipped, see :func:`_clip`)."""
    return min(len(candidate.sentence.text.split()), MAX_ANSWER_WORDS)


def _not_found(
    question: str, sources: Sequence[Source], embedder: Embedder, prompt_tokens: int
) -> ExtractiveAnswer:
    return ExtractiveAnswer(
        question=question,
        read=list(sources),
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
