"""Sentence scoring for the offline answerer: candidates, features, the ranking, and which
sentences the answer spends its words on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest

from parley.answers.extractive import (
    MAX_ANSWER_WORDS,
    MAX_SENTENCES,
    MIN_PROBABILITY_PER_WORD,
    choose_sentences,
)
from parley.answers.sentence_scoring import (
    SHORTLIST,
    Candidate,
    Ranking,
    candidate_sentences,
    lexical_features,
    rank_sentences,
)
from parley.answers.sources import Sentence, Source
from parley.embeddings import Embedder

Sources = Callable[[Sequence[int]], list[Source]]
RECALL, PROXIMITY, BIGRAMS, PREVIOUS, TYPE_CUE, RANK = range(6)


def _candidate(source: Source, text: str) -> Candidate:
    return Candidate(source, Sentence(text, 0, len(text)), "")


def _ranking(source: Source, sentences: Sequence[tuple[int, float]]) -> Ranking:
    """A ranking of made-up sentences of the given word counts and probabilities, in order."""
    candidates = [
        _candidate(source, f"s{i} " + "word " * (words - 1)) for i, (words, _) in enumerate(sentences)
    ]
    probabilities = [p for _, p in sentences]
    return Ranking(candidates, probabilities, [0.5] * len(sentences), [0.5] * len(sentences))


def _numbers(chosen: list[Candidate]) -> list[int]:
    return [int(c.sentence.text.split()[0][1:]) for c in chosen]


def test_a_sentence_two_overlapping_chunks_hold_is_one_candidate_from_the_better_ranked(
    sources_for: Sources,
) -> None:
    first, second = sources_for([0, 1])
    # The chunker's overlap: the second chunk repeats the first one's last sentence.
    last = "The game was played on February 7, 2016, at Levi's Stadium."
    first = replace(first, text=f"{first.text} {last}")
    second = replace(second, text=f"{last} {second.text}")
    candidates = candidate_sentences([first, second])
    texts = [c.sentence.text for c in candidates]
    assert texts.count(last) == 1
    assert next(c for c in candidates if c.sentence.text == last).source.number == 1
    assert len(candidates) == len(candidate_sentences([first])) + len(candidate_sentences([second])) - 1


def test_a_markdown_heading_is_context_for_the_sentence_under_it_not_a_candidate(
    sources_for: Sources,
) -> None:
    (source,) = sources_for([0])
    policy = "The nightly hotel limit is 180 euros in most cities."
    source = replace(source, text=f"## Hotels\n\n{policy}\n\n### Meals:\n\nThe daily allowance is 55 euros.")
    candidates = candidate_sentences([source])
    assert [c.sentence.text for c in candidates] == [policy, "The daily allowance is 55 euros."]
    assert candidates[0].previous == "## Hotels"


def test_lexical_features_reward_the_question_words_and_the_asked_type(sources_for: Sources) -> None:
    (source,) = sources_for([0])
    question = "When was Super Bowl 50 played by the Denver Broncos?"
    candidates = [
        _candidate(source, "The Denver Broncos played Super Bowl 50 on February 7, 2016."),
        _candidate(source, "The Denver Broncos played Super Bowl 50 after a long season."),
        _candidate(source, "The weather in California was mild that week."),
        replace(_candidate(source, "Super Bowl 50 was decided in 2016."), source=replace(source, number=3)),
    ]
    features = lexical_features(question, candidates)
    assert features.shape == (4, 6)
    assert features[0, RECALL] == pytest.approx(1.0)
    assert features[0, RECALL] > features[3, RECALL] > features[2, RECALL] == 0.0
    assert features[0, BIGRAMS] > 0 and features[2, BIGRAMS] == 0
    # "When": a date the question does not already give.
    assert [features[i, TYPE_CUE] for i in range(4)] == [1.0, -1.0, -1.0, 1.0]
    assert [features[i, RANK] for i in range(4)] == [0, 0, 0, 2]
    # A question without an answer type leaves the cue neutral.
    assert set(lexical_features("Describe the Denver Broncos season.", candidates)[:, TYPE_CUE]) == {0.0}


def test_the_previous_sentence_counts_for_a_sentence_that_refers_back(sources_for: Sources) -> None:
    (source,) = sources_for([0])
    candidates = candidate_sentences(
        [replace(source, text="Nikola Tesla moved to New York in 1884. He worked for Thomas Edison there.")]
    )
    features = lexical_features("Who did Nikola Tesla work for in New York?", candidates)
    assert features[1, PREVIOUS] > 0.5 > features[0, PREVIOUS] == 0.0


def test_the_ranking_is_a_probability_over_the_shortlist_best_first(
    embedder: Embedder, sources_for: Sources
) -> None:
    sources = sources_for([3, 0, 2, 1, 4])
    candidates = candidate_sentences(sources)
    assert len(candidates) > SHORTLIST
    ranking = rank_sentences("Who was named Super Bowl MVP?", candidates, embedder)
    assert len(ranking.candidates) == len(ranking.probabilities) == SHORTLIST
    assert sum(ranking.probabilities) == pytest.approx(1.0)
    assert ranking.probabilities == sorted(ranking.probabilities, reverse=True)
    assert ranking.candidates[0].sentence.text.startswith(
        "Denver linebacker Von Miller was named Super Bowl MVP"
    )
    assert ranking.cosines[0] > 0.5


def test_a_confident_ranking_quotes_one_sentence(sources_for: Sources) -> None:
    (source,) = sources_for([0])
    assert _numbers(choose_sentences(_ranking(source, [(25, 0.96), (10, 0.02), (20, 0.02)]))) == [0]


def test_a_doubtful_ranking_adds_sentences_by_probability_per_word(sources_for: Sources) -> None:
    (source,) = sources_for([0])
    # Same probability, different lengths: only the short one is worth its words.
    assert 0.1 / 12 >= MIN_PROBABILITY_PER_WORD > 0.1 / 45
    chosen = choose_sentences(_ranking(source, [(20, 0.8), (45, 0.1), (12, 0.1)]))
    assert _numbers(chosen) == [0, 2]


def test_the_chosen_sentences_stay_within_the_word_and_sentence_limits(sources_for: Sources) -> None:
    (source,) = sources_for([0])
    many = _ranking(source, [(8, 0.2)] * 5)
    assert _numbers(choose_sentences(many)) == list(range(MAX_SENTENCES))
    long = _ranking(source, [(40, 0.34), (35, 0.33), (25, 0.33)])
    chosen = choose_sentences(long)
    assert _numbers(chosen) == [0, 2]
    assert sum(len(c.sentence.text.split()) for c in chosen) <= MAX_ANSWER_WORDS
    # A higher price per word keeps the answer to the best sentence.
    assert _numbers(choose_sentences(long, min_probability_per_word=1.0)) == [0]
