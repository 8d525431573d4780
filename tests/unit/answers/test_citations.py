"""Citation markers in model answers: forms, unknown numbers, references in order of citation."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from parley.answers.citations import find_citation_markers, parse_citations, strip_citation_markers
from parley.answers.sources import Source

Sources = Callable[[Sequence[int]], list[Source]]


def test_every_tolerated_marker_form_resolves_to_its_sources(sources_for: Sources) -> None:
    sources = sources_for([0, 1, 2, 3, 4])
    text = (
        "Denver won [2]. They beat Carolina [1][3]. The score was 24–10 [1, 4]. "
        "Coldplay played [Source 5]. Beyoncé sang [^4]. Newton fumbled [2](). It was cold [2-4]. "
        "Gold was the theme [source: 1; ref 3]."
    )
    markers = find_citation_markers(text)
    assert [text[m.start : m.end] for m in markers] == [
        "[2]",
        "[1]",
        "[3]",
        "[1, 4]",
        "[Source 5]",
        "[^4]",
        "[2]()",
        "[2-4]",
        "[source: 1; ref 3]",
    ]
    assert [m.numbers for m in markers] == [(2,), (1,), (3,), (1, 4), (5,), (4,), (2,), (2, 3, 4), (1, 3)]
    citations = parse_citations(text, sources)
    assert [s.number for s in citations.sources] == [2, 1, 3, 4, 5]
    assert citations.unknown_numbers == []


def test_unknown_numbers_are_dropped_and_nothing_is_renumbered(sources_for: Sources) -> None:
    sources = sources_for([10, 11, 12])
    text = "Warsaw is the capital [3]. It has museums [7]. Its river is the Vistula [9, 3]."
    citations = parse_citations(text, sources)
    # [3] stays source 3 even though it is the only valid one; [7] and 9 name nothing.
    assert [s.number for s in citations.sources] == [3]
    assert citations.sources[0].chunk_id == sources[2].chunk_id
    assert citations.unknown_numbers == [7, 9]
    # The marker naming only a missing source is gone; the mixed one keeps its valid number.
    assert [(text[m.start : m.end], m.numbers) for m in citations.markers] == [
        ("[3]", (3,)),
        ("[9, 3]", (3,)),
    ]


def test_references_follow_the_order_of_first_citation(sources_for: Sources) -> None:
    sources = sources_for([0, 1, 2, 3])
    citations = parse_citations("Broncos [3]. Panthers [1]. Broncos again [3]. Score [4][1].", sources)
    assert [r.as_dict() for r in citations.references()] == [
        {"number": 3, "url": sources[2].url, "order": 1},
        {"number": 1, "url": sources[0].url, "order": 2},
        {"number": 4, "url": sources[3].url, "order": 3},
    ]


def test_other_bracketed_text_is_not_a_citation(sources_for: Sources) -> None:
    sources = sources_for([0, 1])
    text = "The year [2016] was cited [citation needed] and [sic] twice [1-100]; see [a]."
    assert find_citation_markers(text) == []
    assert parse_citations(text, sources).sources == []
    assert parse_citations("No markers at all.", sources).references() == []


def test_strip_citation_markers_leaves_clean_sentences() -> None:
    assert strip_citation_markers("It was played in 2016 [1]. Denver won [2][3].") == (
        "It was played in 2016. Denver won."
    )
    assert strip_citation_markers("Coldplay headlined [Source 2, 4](), with Beyoncé.") == (
        "Coldplay headlined, with Beyoncé."
    )
    assert strip_citation_markers("Unchanged [citation needed].") == "Unchanged [citation needed]."
