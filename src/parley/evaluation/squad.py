"""SQuAD v1.1 for judging extractive answers: the data, the official normalisation, and the
check that a (sentence-long) answer contains one of the gold answers.

Parley's answers are sentences with citations, not the short spans SQuAD's exact match and F1
score, so the measure used here is *gold in answer*: some gold answer, normalised the official
way, occurs in the normalised answer as a whole run of tokens ("2" does not match inside "24").
Pair it with the answer length (:func:`word_count`), or a reply quoting the whole paragraph
would score perfectly.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from pathlib import Path

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


@dataclass(frozen=True)
class SquadParagraph:
    title: str  # the article title, e.g. "Super_Bowl_50"
    index: int  # the paragraph's position in its article, from 0
    context: str


@dataclass(frozen=True)
class SquadQuestion:
    id: str
    question: str
    answers: tuple[str, ...]  # 1 to 5 gold answers, as annotated (duplicates kept)
    paragraph: int  # index into SquadData.paragraphs


@dataclass(frozen=True)
class SquadData:
    paragraphs: list[SquadParagraph]
    questions: list[SquadQuestion]


def load_squad(path: Path) -> SquadData:
    """Read a SQuAD v1.1 JSON file (``{"data": [{"title", "paragraphs": [{"context", "qas"}]}]}``)."""
    paragraphs: list[SquadParagraph] = []
    questions: list[SquadQuestion] = []
    for article in json.loads(Path(path).read_text(encoding="utf-8"))["data"]:
        for index, paragraph in enumerate(article["paragraphs"]):
            paragraphs.append(SquadParagraph(article["title"], index, paragraph["context"]))
            for qa in paragraph["qas"]:
                answers = tuple(answer["text"] for answer in qa["answers"])
                questions.append(SquadQuestion(qa["id"], qa["question"], answers, len(paragraphs) - 1))
    return SquadData(paragraphs, questions)


def normalize_answer(text: str) -> str:
    """The official v1.1 normalisation: lowercase, drop ASCII punctuation, drop a/an/the,
    collapse whitespace (in that order, as ``evaluate-v1.1.py`` does)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def gold_in_answer(answer: str, golds: tuple[str, ...] | list[str]) -> bool:
    """True when some gold answer, normalised, is a whole-token run of the normalised answer."""
    padded = f" {normalize_answer(answer)} "
    return any(gold and f" {gold} " in padded for gold in map(normalize_answer, golds))


def word_count(text: str) -> int:
    """Whitespace-separated words, the way answer lengths are reported."""
    return len(text.split())
