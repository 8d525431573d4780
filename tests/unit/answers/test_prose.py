"""Which source fragments the offline answerer may quote, and how a quote is cleaned."""

from __future__ import annotations

import pytest

from parley.answers.citations import find_citation_markers
from parley.answers.prose import (
    is_prose,
    is_separator_row,
    list_item_content,
    strip_footnote_markers,
    table_cells,
    table_row_sentence,
)


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        # From the Wikipedia "Duck" article (CC BY-SA).
        (
            "A male is called a drake and the female is called a duck, or in ornithology a hen.[3][4]",
            "A male is called a drake and the female is called a duck, or in ornithology a hen.",
        ),
        # From the Wikipedia "IBM" article (CC BY-SA): page suffixes and markers mid-sentence.
        (
            "Pitrap patented the computing scale in 1885;[17] Alexander Dey invented the dial recorder.",
            "Pitrap patented the computing scale in 1885; Alexander Dey invented the dial recorder.",
        ),
        (
            "Watson put the stamp of NCR onto CTR's companies.[23]: 105 He implemented sales conventions.",
            "Watson put the stamp of NCR onto CTR's companies. He implemented sales conventions.",
        ),
        ("Ducks are mostly aquatic birds.[citation needed]", "Ducks are mostly aquatic birds."),
        ("The word comes from Old English.[a][note 2]", "The word comes from Old English."),
        ("The ratio was measured twice [12] and agreed.", "The ratio was measured twice and agreed."),
        ("It is cited as [Source 2] elsewhere.", "It is cited as elsewhere."),
    ],
)
def test_a_sources_own_footnote_markers_are_removed_from_a_quote(text: str, cleaned: str) -> None:
    assert strip_footnote_markers(text) == cleaned
    assert find_citation_markers(strip_footnote_markers(text)) == []


def test_text_in_brackets_that_is_not_a_marker_stays() -> None:
    text = "The editor wrote [sic] beside it [in pencil] and signed it [J. Smith]."
    assert strip_footnote_markers(text) == text


@pytest.mark.parametrize(
    "fragment",
    [
        # A reference list as Wikipedia renders it, bullet removed.
        '^ "Duckling". The American Heritage Dictionary of the English Language, Fourth Edition.',
        "^ a b Carboneras 1992, p. 536.",
        "[12] Smith, J. Ducks of the world. Oxford, 2001.",
        "Dohner, Janet (2001). The Encyclopedia of Historic Livestock. ISBN 978-0-300-08880-9.",
        "Archived from the original on 2 May 2015.",
        # Image captions: short and verbless, no full stop.
        "Male mallard",
        "A pair of mandarin ducks in the park",
        "Nested ordered item 2",
        "Ducks boiled in brine",
        # Figure and table labels.
        "Figure 3: Growth of revenue by region",
        "Fig. 2. Wing-type nut",
        "Table 2",
        # Numbers, punctuation and links.
        "1,300 — 2,400 — 3,600 (est.)",
        "https://example.org/ducks/mallard.html",
        "— * —",
        # A heading without a Markdown marker, a one-word line.
        "History",
        "Duckling.",
    ],
)
def test_fragments_that_are_not_prose_are_refused(fragment: str) -> None:
    assert not is_prose(fragment)


@pytest.mark.parametrize(
    "sentence",
    [
        "A male is called a drake and the female is called a duck, or in ornithology a hen.",
        "Denver won the game.",
        "Ducks are birds.",
        "The Broncos defeated the Panthers 24–10 to earn their third Super Bowl title.",
        "Table 2 shows that revenue doubled between 2019 and 2021.",
        "Figures from the census put the population near 40,000.",
        "In 1911, four companies merged in Endicott, New York.",
        # A chunk cut mid-sentence: long, or with its verb.
        "which sacked him seven times and forced three fumbles during the",
        "the company producing 80 percent of computers in the U.S. and 70 percent worldwide",
        'She said: "Come back tomorrow!"',
    ],
)
def test_sentences_of_prose_are_kept(sentence: str) -> None:
    assert is_prose(sentence)


def test_a_list_item_is_judged_without_its_bullet_and_with_its_intro() -> None:
    # From a sample PDF on the history of word processing.
    item = (
        "- WordStar (1978) : Developed for the CP/M operating system, WordStar was one of the first widely "
        "used word processing programs."
    )
    assert list_item_content(item).startswith("WordStar (1978) : Developed")
    assert is_prose(list_item_content(item))
    assert list_item_content("12. Saturday: 10am to 1pm") == "Saturday: 10am to 1pm"
    assert not is_prose("Saturday: 10am to 1pm")
    assert is_prose("Saturday: 10am to 1pm", intro="The reading room keeps these hours:")
    assert not is_prose("Saturday: 10am to 1pm", intro="The reading room is open daily.")
    assert not is_prose('^ "Duckling"', intro="The sources are:")


def test_a_table_row_is_read_as_header_value_pairs() -> None:
    header = table_cells("| Product | Price | Notes |")
    assert header == ["Product", "Price", "Notes"]
    assert is_separator_row("| --- | :---: | ---: |")
    assert table_cells("| --- | --- | --- |") is None
    assert table_cells("Prices are listed below.") is None
    row = table_cells("| Wing nut | 0.40 EUR |  |")
    assert row is not None
    assert table_row_sentence(header, row) == "Product: Wing nut; Price: 0.40 EUR."
    assert table_row_sentence(["", ""], ["a", "b"]) is None
    assert not is_prose("| Product | Price | Notes |")
