"""Fusion of lexical and vector rankings."""

from __future__ import annotations

import pytest

from parley.search.fusion import COSINE_FLOOR, convex_fusion


def cosine_fraction(cosine: float, best: float) -> float:
    return (cosine - COSINE_FLOOR) / (best - COSINE_FLOOR)


def test_convex_fusion_uses_score_margins_not_just_ranks():
    # Item 1 wins lexically by a huge margin; item 2 is only slightly best on vectors.
    lexical = [(1, 30.0), (2, 5.0), (3, 4.9), (4, 4.8)]
    vector = [(2, 0.61), (1, 0.60), (3, 0.20), (4, 0.10)]
    fused = [item for item, _ in convex_fusion(lexical, vector, 0.4)]
    assert fused[:2] == [1, 2]
    assert fused == [item for item, _ in sorted(convex_fusion(lexical, vector, 0.4), key=lambda p: -p[1])]


def test_scores_are_fractions_of_the_way_from_each_floor_to_the_best():
    lexical = [(1, 8.0), (2, 4.0)]
    vector = [(2, 0.5), (1, 0.25)]
    scores = dict(convex_fusion(lexical, vector, 0.5))
    assert scores[1] == pytest.approx(0.5 * 1.0 + 0.5 * cosine_fraction(0.25, 0.5))
    assert scores[2] == pytest.approx(0.5 * 0.5 + 0.5 * 1.0)
    # BM25's floor is 0: scaling the lexical scores changes nothing, only ratios count.
    scaled = dict(convex_fusion([(i, s * 100) for i, s in lexical], vector, 0.5))
    assert scaled == pytest.approx(scores)


def test_close_lexical_scores_stay_close():
    # Min-max over the candidates would stretch both sides to 0..1 and, at α 0.4, rank item 2
    # first. Measured from the floors, item 2 keeps 90% of the BM25 and item 1 96% of the
    # cosine scale: the small vector lead does not outweigh the lexical one.
    lexical = [(1, 10.0), (2, 9.0)]
    vector = [(2, 0.50), (1, 0.45)]
    assert [item for item, _ in convex_fusion(lexical, vector, 0.4)] == [1, 2]


def test_cosines_below_the_floor_count_as_the_floor():
    scores = dict(convex_fusion([(1, 2.0), (2, 1.0)], [(1, 0.4), (2, -0.9)], 0.5))
    assert scores[2] == pytest.approx(0.5 * 0.5)


def test_convex_fusion_with_one_side_empty_keeps_the_other_order():
    vector = [(5, 0.9), (6, 0.3)]
    assert [i for i, _ in convex_fusion([], vector)] == [5, 6]
    assert convex_fusion([], []) == []


def test_items_missing_from_a_ranking_take_its_lowest_score():
    lexical = [(1, 10.0), (2, 1.0)]
    vector = [(3, 0.9), (1, 0.1)]
    scores = dict(convex_fusion(lexical, vector, 0.5))
    assert scores[2] < scores[1] and scores[3] > scores[2]
    assert scores[3] == pytest.approx(0.5 * 0.1 + 0.5 * 1.0)
    assert scores[2] == pytest.approx(0.5 * 0.1 + 0.5 * cosine_fraction(0.1, 0.9))
