"""Offline follow-up questions: short, about what the sources say and the answer left out."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from parley.answers.extractive import NOT_FOUND_ANSWER, answer_extractively
from parley.answers.followups import suggest_followups
from parley.answers.sources import Source, split_sentences
from parley.embeddings import Embedder
from parley.evaluation.squad import SquadData

Sources = Callable[[Sequence[int]], list[Source]]
# The templates, each with the part that must come from an unquoted source sentence.
TEMPLATES = [
    re.compile(r"^What do the sources say about (?P<subject>.+)\?$"),
    re.compile(r"^What (?:is|are|was|were) (?:the |an? )?(?P<subject>.+)\?$"),
    re.compile(r"^Who (?P<subject>.+)\?$"),
    re.compile(r"^What happened in (?P<subject>\d{4})\?$"),
]


def _subject(followup: str) -> str:
    for template in TEMPLATES:
        match = template.match(followup)
        if match:
            return match.group("subject")
    raise AssertionError(f"unexpected follow-up form: {followup!r}")


def test_followups_ask_about_what_the_sources_hold_and_the_answer_left_out(
    embedder: Embedder, sources_for: Sources
) -> None:
    sources = sources_for([0, 2, 3])
    question = "Who was the Super Bowl 50 MVP?"
    answer = answer_extractively(question, sources, embedder)
    followups = suggest_followups(question, answer.text, sources)
    assert 2 <= len(followups) <= 3
    assert len(set(followups)) == len(followups)
    # "CBS broadcast Super Bowl 50 in the U.S., and charged ..." asked back without inventing.
    assert "Who broadcast Super Bowl 50 in the U.S.?" in followups
    unquoted = [
        s.text for source in sources for s in split_sentences(source.text) if s.text not in answer.sentences
    ]
    for followup in followups:
        assert len(followup.split()) <= 12
        subject = _subject(followup)
        assert any(subject in sentence for sentence in unquoted), followup
        assert subject not in answer.text and "Von Miller" not in followup


def test_a_definition_becomes_a_what_is_question(
    embedder: Embedder, sources_for: Sources, squad: SquadData
) -> None:
    ctenophora = [i for i, p in enumerate(squad.paragraphs) if p.title == "Ctenophora"][:3]
    sources = sources_for(ctenophora)
    question = "How many times their own weight can ctenophores eat in a day?"
    answer = answer_extractively(question, sources, embedder)
    assert "ten times their own weight" in answer.text
    # The first paragraph opens "Ctenophora (/tᵻˈnɒfərə/; ...) is a phylum of animals ...".
    assert suggest_followups(question, answer.text, sources)[0] == "What is Ctenophora?"


def test_no_followups_when_nothing_in_the_sources_is_on_topic(sources_for: Sources, squad: SquadData) -> None:
    oxygen = [i for i, p in enumerate(squad.paragraphs) if p.title == "Oxygen"][:3]
    assert suggest_followups("Who won Super Bowl 50?", NOT_FOUND_ANSWER, sources_for(oxygen)) == []
    assert suggest_followups("Who won Super Bowl 50?", "Denver won.", []) == []


def test_the_limit_is_respected(embedder: Embedder, sources_for: Sources) -> None:
    sources = sources_for([0, 1, 2, 3, 4])
    question = "Who was the Super Bowl 50 MVP?"
    answer = answer_extractively(question, sources, embedder)
    assert len(suggest_followups(question, answer.text, sources, limit=1)) == 1
    assert len(suggest_followups(question, answer.text, sources)) == 3


def _source(number: int, text: str) -> Source:
    return Source(
        number, number, number, 1, f"doc {number}", f"doc {number}", text, "", None, 0, len(text), 1.0
    )


def test_no_followup_from_a_clause_that_is_not_a_noun_phrase() -> None:
    # From a sample of the FAA's Aviation Maintenance Technician Handbook (public domain).
    nuts = _source(
        1,
        "Boots self-locking nuts are made with three different spring styles and in various sizes. "
        "The wing type that is the most common ranges in size for No. 6 up to 1/4 inch. "
        "Wing-type nuts are made of anodized aluminum alloy, cadmium-plated carbon steel or stainless steel.",
    )
    question = "What are Boots self-locking nuts made of?"
    answer = "Boots self-locking nuts are made with three different spring styles [1]."
    followups = suggest_followups(question, answer, [nuts])
    assert not any(f.endswith(" that?") or "type that" in f for f in followups)


def test_no_followup_about_list_fragments_or_placeholders() -> None:
    lists = _source(
        1,
        "Ordered lists:\n\n1. First item in ordered list\n2. Second item in ordered list\n"
        "   1. Nested ordered item 1\n   2. Nested ordered item 2\n\n"
        "Customer Parker ordered item 2 of the ordered list last week.",
    )
    question = "What is the second item of the ordered list?"
    followups = suggest_followups(question, "Second item in ordered list [1].", [lists])
    assert not any("item" in f for f in followups)


def test_no_followup_about_a_name_the_question_is_not_about() -> None:
    # Written for this test after a sample PDF on word processing and the Wikipedia "IBM" article.
    history = _source(
        1,
        "Patented in 1868 by Christopher Latham Sholes, the typewriter revolutionized written communication. "
        "The electric typewriter was introduced by IBM in 1935.",
    )
    ibm = _source(
        2,
        "In 1961, IBM developed the SABRE reservation system for American Airlines and introduced the "
        "Selectric typewriter. IBM originated with several technological innovations developed and "
        "commercialized in the late 19th century.",
    )
    question = "Who invented the typewriter?"
    answer = "Patented in 1868 by Christopher Latham Sholes, the typewriter revolutionized writing [1]."
    followups = suggest_followups(question, answer, [history, ibm])
    assert not any(
        "American Airlines" in f or "Selectric" in f or f.endswith("developed?") for f in followups
    )
