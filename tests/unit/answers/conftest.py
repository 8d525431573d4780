"""Fixtures for the answer-path tests: the default embedder and real SQuAD paragraphs as sources."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from parley.answers.sources import Source
from parley.embeddings import Embedder, create_embedder
from parley.evaluation.squad import SquadData, load_squad
from tests.conftest import TEST_DATA

SQUAD_FILE = TEST_DATA / "squad" / "dev-subset.json"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The embedder the application uses by default (int8 ONNX all-MiniLM-L6-v2)."""
    return create_embedder()


@pytest.fixture(scope="session")
def squad() -> SquadData:
    return load_squad(SQUAD_FILE)


def paragraph_sources(squad: SquadData, paragraphs: Sequence[int]) -> list[Source]:
    """SQuAD paragraphs as numbered sources, in the given order (chunk id = 1000 + paragraph)."""
    sources = []
    for number, index in enumerate(paragraphs, start=1):
        paragraph = squad.paragraphs[index]
        name = f"{paragraph.title.replace('_', ' ')} #{paragraph.index + 1}"
        sources.append(
            Source(
                number=number,
                chunk_id=1000 + index,
                document_id=2000 + index,
                corpus_id=1,
                document_name=name,
                url=f"https://en.wikipedia.org/wiki/{paragraph.title}#{paragraph.index + 1}",
                text=paragraph.context,
                context=name,
                page=None,
                char_start=0,
                char_end=len(paragraph.context),
                score=1.0 / number,
            )
        )
    return sources


@pytest.fixture(scope="session")
def sources_for(squad: SquadData) -> Callable[[Sequence[int]], list[Source]]:
    return lambda paragraphs: paragraph_sources(squad, paragraphs)
