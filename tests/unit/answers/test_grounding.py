"""Groundedness per answer sentence and attributions, against real SQuAD paragraphs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from parley.answers.grounding import SUPPORTED_THRESHOLD, Grounding, assess_grounding
from parley.answers.sources import Source, split_sentences
from parley.embeddings import Embedder

Sources = Callable[[Sequence[int]], list[Source]]

QUOTE = "The game was played on February 7, 2016, at Levi's Stadium [1]."
INVENTED = "Super Bowl 50 was played in Miami in 1999 [1]."
PARAPHRASE = "The Denver Broncos beat the Carolina Panthers 24–10."
MISCITED = "Coldplay headlined the halftime show [1]."
UNSUPPORTED = "The halftime show was cancelled because of heavy snow."
ANSWER = " ".join([QUOTE, INVENTED, PARAPHRASE, MISCITED, UNSUPPORTED])


@pytest.fixture(scope="module")
def sources(sources_for: Sources) -> list[Source]:
    # Super Bowl 50 paragraphs 1, 3 and 4: the game, the MVP, the broadcast and halftime show.
    return sources_for([0, 2, 3])


@pytest.fixture(scope="module")
def grounding(sources: list[Source], embedder: Embedder) -> Grounding:
    return assess_grounding(ANSWER, sources, embedder)


def test_a_quote_scores_one_and_an_invented_claim_is_flagged(grounding: Grounding) -> None:
    quote, invented, paraphrase, _, unsupported = grounding.sentences
    assert (quote.score, quote.supported) == (1.0, True)
    # Miami and 1999 appear in no source: the claim is flagged whatever its wording.
    assert not invented.supported and invented.score < 0.3
    assert paraphrase.supported and paraphrase.score >= 0.65
    assert not unsupported.supported and unsupported.score < SUPPORTED_THRESHOLD


def test_spans_index_the_answer_exactly(grounding: Grounding) -> None:
    assert [s.text for s in grounding.sentences] == [QUOTE, INVENTED, PARAPHRASE, MISCITED, UNSUPPORTED]
    for sentence in grounding.sentences:
        assert ANSWER[sentence.start : sentence.end] == sentence.text
    for attribution in grounding.attributions:
        assert ANSWER[attribution.start : attribution.end] in {s.text for s in grounding.sentences}


def test_attributions_follow_the_markers_else_the_best_supporting_chunk(
    grounding: Grounding, sources: list[Source]
) -> None:
    game, mvp, halftime = (s.chunk_id for s in sources)
    quote, invented, paraphrase, miscited, unsupported = grounding.sentences
    assert (quote.cited_numbers, quote.chunk_ids) == ((1,), (game,))
    # A cited sentence keeps its citation even when unsupported: the flag says it is wrong.
    assert (invented.cited_numbers, invented.chunk_ids) == ((1,), (game,))
    # Uncited but supported: attributed to the chunk that supports it.
    assert (paraphrase.cited_numbers, paraphrase.chunk_ids, paraphrase.best_source) == ((), (game,), 1)
    # Cited [1], but the halftime show is in source 3: the citation stays, the best source says 3.
    assert (miscited.chunk_ids, miscited.best_source, miscited.supported) == ((game,), 3, True)
    assert unsupported.chunk_ids == ()
    assert [(a.start, a.end, a.chunk_ids) for a in grounding.attributions] == [
        (s.start, s.end, s.chunk_ids) for s in (quote, invented, paraphrase, miscited)
    ]
    assert halftime not in {c for a in grounding.attributions for c in a.chunk_ids}
    assert mvp not in {c for a in grounding.attributions for c in a.chunk_ids}


def test_mean_score_and_the_contextual_payloads(grounding: Grounding) -> None:
    scores = [s.score for s in grounding.sentences]
    assert grounding.mean_score == pytest.approx(sum(scores) / len(scores), abs=1e-4)
    assert grounding.scores_payload() == [
        {"start_idx": s.start, "end_idx": s.end, "score": int(s.supported)} for s in grounding.sentences
    ]
    payload = grounding.attributions_payload()
    assert all(set(item) == {"start_idx", "end_idx", "content_ids"} for item in payload)
    assert payload[0]["content_ids"] == list(grounding.sentences[0].chunk_ids)


def test_an_extractive_answer_is_fully_grounded(sources: list[Source], embedder: Embedder) -> None:
    mvp = split_sentences(sources[1].text)[2].text  # "Denver linebacker Von Miller was named ..."
    broadcast = split_sentences(sources[2].text)[0].text  # "CBS broadcast Super Bowl 50 in the U.S., ..."
    answer = f"{mvp[:-1]} [2]. {broadcast[:-1]} [3]."
    grounding = assess_grounding(answer, sources, embedder)
    assert [s.score for s in grounding.sentences] == [1.0, 1.0]
    assert grounding.mean_score == 1.0
    assert [a.chunk_ids for a in grounding.attributions] == [(sources[1].chunk_id,), (sources[2].chunk_id,)]


def test_an_empty_answer_has_no_sentences(sources: list[Source], embedder: Embedder) -> None:
    grounding = assess_grounding("", sources, embedder)
    assert (grounding.sentences, grounding.attributions, grounding.mean_score) == ([], [], 0.0)
