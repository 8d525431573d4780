"""Groundedness and attributions: how well each sentence of an answer is supported by the
retrieved sources, and which chunks each part of the answer comes from.

Per answer sentence (citation markers removed):

* a sentence found verbatim in a source (whitespace aside) scores 1;
* otherwise ``score = (SIMILARITY_SHARE * similarity + (1 - SIMILARITY_SHARE) * coverage)
  * SPECIFIC_PENALTY ** missing_specifics * WORD_PENALTY ** missing_words``, where
  ``similarity`` is the best cosine to a source sentence mapped from [:data:`COSINE_FLOOR`,
  :data:`COSINE_CEILING`] onto [0, 1], ``coverage`` the share of the sentence's content words
  found in its best source (names and numbers count double; words about the sources such as
  "according" do not count), ``missing_specifics`` the names and numbers found in no source at
  all (an invented date or name is the typical unsupported claim and barely moves a cosine),
  and ``missing_words`` the other content words found in no source;
* ``supported`` is ``score >= SUPPORTED_THRESHOLD``.

The constants were set on 400 SQuAD v1.1 dev-part-a questions, scoring claims against their
top-5 retrieved paragraphs: quotes score 1; claims made of a question and its gold answer (true,
worded differently) have median 0.74 and 84% are supported; the same claims with another
article's answer (invented) have median 0.23 and 12% are supported (2% when the invented answer
is a name or number, 23% when it is a common word); sentences from other articles score 0.
Known blind spots: swapped roles ("the Panthers beat the Broncos") and a number that the source
uses elsewhere are not caught, since both pass a word-by-word check.

Attributions: a sentence's span is attributed to the chunks its markers cite; a sentence
without a valid marker is attributed to its best-supporting chunk when it is supported, and
to nothing otherwise.

Mapping to Contextual AI's ``POST /v1/agents/{id}/query`` response (spans index
``message.content``, ``end_idx`` exclusive, exactly :attr:`SentenceGrounding.start` /
:attr:`~SentenceGrounding.end`):

* ``attributions``: one ``{"start_idx": a.start, "end_idx": a.end, "content_ids": [...]}`` per
  :class:`Attribution`, each chunk id translated to the chunk's public content id;
* ``groundedness_scores``: one ``{"start_idx": s.start, "end_idx": s.end, "score": ...}`` per
  :class:`SentenceGrounding`; the field is an integer, so send ``int(s.supported)`` (1 grounded,
  0 not, as Contextual's UI reads it) and keep the float :attr:`SentenceGrounding.score` for
  Parley's own logs.

Cost: no model call when every sentence is a quote (the extractive answerer's case); otherwise
one embedding batch of the paraphrased sentences and at most :data:`NEIGHBOURS` source sentences
each, picked by word overlap.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from parley.answers.citations import parse_citations, strip_citation_markers
from parley.answers.sources import Sentence, Source, content_words, flatten, split_sentences
from parley.embeddings.base import Embedder

SUPPORTED_THRESHOLD = 0.5
SIMILARITY_SHARE = 0.3
COSINE_FLOOR = 0.3
COSINE_CEILING = 0.85
#: Factor per name or number found in no source...
SPECIFIC_PENALTY = 0.5
#: ...and per other content word found in no source.
WORD_PENALTY = 0.8
#: Source sentences compared by embedding with each answer sentence that is not a quote.
NEIGHBOURS = 2

_SPECIFIC = re.compile(r"\b(?:\w*\d\w*|[A-Z][\w'’-]*)")
_FUZZY_PREFIX = 6
# Words an answer uses to talk about its sources, not claims about the world.
_META_WORDS = frozenset(
    content_words(
        "according based source sources document documents text context information provided mention "
        "mentioned mentions state states stated say says said answer"
    )
)


@dataclass(frozen=True)
class SentenceGrounding:
    text: str  # answer[start:end], markers included
    start: int
    end: int
    score: float  # 0..1
    supported: bool
    cited_numbers: tuple[int, ...]  # existing sources its markers cite
    chunk_ids: tuple[int, ...]  # what its span is attributed to (empty when nothing)
    best_source: int | None  # number of the best-supporting source


@dataclass(frozen=True)
class Attribution:
    start: int
    end: int
    chunk_ids: tuple[int, ...]


@dataclass(frozen=True)
class Grounding:
    sentences: list[SentenceGrounding]
    attributions: list[Attribution]
    mean_score: float  # over the sentences; 0 for an empty answer

    def attributions_payload(self) -> list[dict[str, int | list[int]]]:
        """Contextual's ``attributions``; ``content_ids`` are Parley chunk ids, for the surface to
        translate into its public content ids."""
        return [
            {"start_idx": a.start, "end_idx": a.end, "content_ids": list(a.chunk_ids)}
            for a in self.attributions
        ]

    def scores_payload(self) -> list[dict[str, int]]:
        """Contextual's ``groundedness_scores``: its ``score`` is an integer, 1 grounded, 0 not."""
        return [{"start_idx": s.start, "end_idx": s.end, "score": int(s.supported)} for s in self.sentences]


class _Vocabulary:
    """Words (content-word stems) with their 6-letter prefixes, for exact or fuzzy lookups."""

    def __init__(self, words: set[str]) -> None:
        self.words = words
        self.prefixes = {w[:_FUZZY_PREFIX] for w in words if len(w) >= _FUZZY_PREFIX}

    def __contains__(self, word: str) -> bool:
        return word in self.words or (len(word) >= _FUZZY_PREFIX and word[:_FUZZY_PREFIX] in self.prefixes)

    def coverage(self, weights: dict[str, float]) -> float:
        total = sum(weights.values())
        return sum(w for word, w in weights.items() if word in self) / total if total else 0.0


@dataclass
class _Claim:
    """One answer sentence being judged."""

    sentence: Sentence
    cited: tuple[int, ...]
    text: str  # the sentence without its markers
    best: int | None  # the best-supporting source's number
    quoted: bool
    coverage: float = 0.0
    missing_specifics: int = 0
    missing_words: int = 0
    similarity: float = 0.0

    def score(self) -> float:
        if self.quoted:
            return 1.0
        blended = SIMILARITY_SHARE * self.similarity + (1 - SIMILARITY_SHARE) * self.coverage
        return blended * SPECIFIC_PENALTY**self.missing_specifics * WORD_PENALTY**self.missing_words


def assess_grounding(answer: str, sources: Sequence[Source], embedder: Embedder) -> Grounding:
    """Score every sentence of ``answer`` against ``sources`` and attribute its span."""
    claims = _claims(answer, sources, embedder)
    chunk_of = {source.number: source.chunk_id for source in sources}
    sentences = []
    attributions = []
    for claim in claims:
        score = round(claim.score(), 4)
        supported = score >= SUPPORTED_THRESHOLD
        numbers = claim.cited or ((claim.best,) if supported and claim.best is not None else ())
        chunk_ids = tuple(chunk_of[n] for n in numbers)
        span = claim.sentence
        sentences.append(
            SentenceGrounding(
                span.text, span.start, span.end, score, supported, claim.cited, chunk_ids, claim.best
            )
        )
        if chunk_ids:
            attributions.append(Attribution(span.start, span.end, chunk_ids))
    mean = sum(s.score for s in sentences) / len(sentences) if sentences else 0.0
    return Grounding(sentences, attributions, round(mean, 4))


def _claims(answer: str, sources: Sequence[Source], embedder: Embedder) -> list[_Claim]:
    """The answer's sentences with every part of their score measured."""
    markers = parse_citations(answer, sources).markers
    vocabularies = {source.number: _Vocabulary(set(content_words(source.text))) for source in sources}
    everything = _Vocabulary(set().union(*(v.words for v in vocabularies.values())))
    flat_sources = {source.number: flatten(source.text) for source in sources}
    claims = []
    for sentence in split_sentences(answer):
        cited = tuple(
            dict.fromkeys(n for m in markers if sentence.start <= m.start < sentence.end for n in m.numbers)
        )
        text = strip_citation_markers(sentence.text).strip()
        quoting = _quoting_source(text, flat_sources)
        claim = _Claim(sentence, cited, text, quoting, quoted=quoting is not None)
        if not claim.quoted:
            weights = _word_weights(text)
            coverage = {number: vocabulary.coverage(weights) for number, vocabulary in vocabularies.items()}
            # Ties go to a cited source, then to the better-ranked one.
            claim.best = max(coverage, key=lambda n: (coverage[n], n in cited, -n), default=None)
            claim.coverage = coverage[claim.best] if claim.best is not None else 0.0
            missing = [word for word in weights if word not in everything]
            claim.missing_specifics = sum(1 for word in missing if weights[word] > 1)
            claim.missing_words = len(missing) - claim.missing_specifics
        claims.append(claim)

    pending = [claim for claim in claims if not claim.quoted and content_words(claim.text)]
    if pending:
        _measure_similarity(pending, sources, embedder)
    return claims


def _measure_similarity(claims: list[_Claim], sources: Sequence[Source], embedder: Embedder) -> None:
    """Set each claim's similarity: its best cosine to the :data:`NEIGHBOURS` source sentences
    sharing most of its words, all embedded in one batch."""
    units = [s.text for source in sources for s in split_sentences(source.text)]
    if not units:
        return
    vocabularies = [_Vocabulary(set(content_words(text))) for text in units]
    neighbours = []
    for claim in claims:
        weights = _word_weights(claim.text)
        neighbours.append(
            sorted(range(len(units)), key=lambda u: -vocabularies[u].coverage(weights))[:NEIGHBOURS]
        )
    needed = sorted({u for near in neighbours for u in near})
    vectors = embedder.embed_documents([c.text for c in claims] + [units[u] for u in needed])
    row_of = {u: len(claims) + k for k, u in enumerate(needed)}
    for row, (claim, near) in enumerate(zip(claims, neighbours, strict=True)):
        cosine = max(float(vectors[row] @ vectors[row_of[u]]) for u in near)
        claim.similarity = min(1.0, max(0.0, (cosine - COSINE_FLOOR) / (COSINE_CEILING - COSINE_FLOOR)))


def _quoting_source(claim: str, flat_sources: dict[int, str]) -> int | None:
    """The first source holding ``claim`` verbatim (case and spacing aside, final stop and the
    ellipses of a clipped quote optional)."""
    needle = flatten(claim).lstrip("… ").rstrip("….!? ")
    if not content_words(needle):
        return None
    return next((n for n, text in flat_sources.items() if needle in text), None)


def _specifics(text: str) -> list[str]:
    """Names and numbers: capitalised words (not the first word) and tokens with digits, as stems."""
    tokens = []
    for match in _SPECIFIC.finditer(text):
        if match.start() == 0 and not match.group()[0].isdigit():
            continue
        tokens.extend(content_words(match.group()))
    return tokens


def _word_weights(text: str) -> dict[str, float]:
    """The claim's content words (meta words aside), names and numbers weighing double."""
    specific = set(_specifics(text))
    return {word: 2.0 if word in specific else 1.0 for word in content_words(text) if word not in _META_WORDS}
