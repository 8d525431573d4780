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
