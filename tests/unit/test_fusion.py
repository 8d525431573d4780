"""Fusion of lexical and vector rankings."""

from __future__ import annotations

from parley.search.fusion import convex_fusion


def test_convex_fusion_uses_score_margins_not_just_ranks():
    # Item 1 wins lexically by a huge margin; item 2 is only slightly best on vectors.
    lexical = [(1, 30.0), (2, 5.0), (3, 4.9), (4, 4.8)]
    vector = [(2, 0.61), (1, 0.60), (3, 0.20), (4, 0.10)]
    fused = [item for item, _ in convex_fusion(lexical, vector, 0.4)]
    assert fused[:2] == [1, 2]
    assert fused == [item for item, _ in sorted(convex_fusion(lexical, vector, 0.4), key=lambda p: -p[1])]


def test_convex_fusion_with_one_side_empty_keeps_the_other_order():
    vector = [(5, 0.9), (6, 0.3)]
    assert [i for i, _ in convex_fusion([], vector)] == [5, 6]
    assert convex_fusion([], []) == []


def test_items_missing_from_a_ranking_take_its_lowest_score():
    lexical = [(1, 10.0), (2, 1.0)]
    vector = [(3, 0.9), (1, 0.1)]
    scores = dict(convex_fusion(lexical, vector, 0.5))
    assert scores[2] < scores[1] and scores[3] > scores[2]
