"""Numbered sources as a model sees them, and the sentence and word helpers the answer path
shares (the extractive answerer, groundedness and follow-ups all work sentence by sentence).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from parley.search.lexical import STOP_WORDS
from parley.search.service import SearchHit


@dataclass(frozen=True)
class Source:
    """One retrieved chunk, numbered from 1 in the order shown to the model (``[n]`` cites it)."""

    number: int
    chunk_id: int
    document_id: int
    corpus_id: int
    document_name: str
    url: str  # the document's source (a web address for web links), else its name
    text: str
    context: str  # document title and section path
    page: int | None
    char_start: int  # the chunk's span in its document's text
    char_end: int
    score: float  # fused retrieval score


def sources_from_hits(hits: Sequence[SearchHit]) -> list[Source]:
    """Number search hits 1..n in their ranked order."""
    return [
        Source(
            number=number,
            chunk_id=hit.chunk_id,
            document_id=hit.document_id,
            corpus_id=hit.corpus_id,
            document_name=hit.document_name,
            url=hit.document_source or hit.document_name,
            text=hit.text,
            context=hit.context,
            page=hit.page,
            char_start=hit.char_start,
            char_end=hit.char_end,
            score=hit.score,
        )
        for number, hit in enumerate(hits, start=1)
    ]


# -- sentences ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sentence:
    """``text == whole_text[start:end]`` (``end`` exclusive), surrounding whitespace excluded."""

    text: str
    start: int
    end: int


# A sentence end: terminal punctuation, closing quotes/brackets, then any citation markers
# that trail it ("... in 2016. [2]" keeps its marker). Whether it really ends a sentence is
# decided by what follows (see split_sentences).
_TERMINATOR = re.compile(r"[.!?]+[\"'”’)]*(?:[ \t]*\[[^\[\]\n]{1,40}\](?:\(\))?)*")
_NEXT_SENTENCE = re.compile(r"\s+(?=[\"'“‘(\[]?[A-Z0-9]|[-*+•] |#{1,6} |…)")
# Line breaks end a sentence only where Markdown starts a new block: a blank line, a heading,
# a list item or a table row. Other single newlines are wrapped lines of one paragraph.
_BLOCK_BREAK = re.compile(r"\n\s*\n|\n(?=[ \t]*(?:#{1,6}\s|[-*+•]\s|\d{1,3}[.)]\s|\|))")
_LAST_WORD = re.compile(r"(\S+)$")
# Words whose period is part of the word, not a sentence end.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt ft vs e.g i.e cf fig figs no nos vol vols pp approx inc ltd co corp "
    "jan feb mar apr jun jul aug sep sept oct nov dec gen col lt sgt capt rev hon gov sen rep ca c".split()
)


def split_sentences(text: str) -> list[Sentence]:
    """Sentences of ``text`` with their exact character spans.

    Splits at ``.``/``!``/``?`` followed by whitespace and a capital letter, digit, opening
    quote, Markdown list/heading marker or ellipsis, and at Markdown block breaks; not after abbreviations
    ("Dr.", "e.g.") or initials ("J. R. R. Tolkien").
    """
    sentences: list[Sentence] = []
    block_start = 0
    for block_break in [*_BLOCK_BREAK.finditer(text), None]:
        block_end = block_break.start() if block_break else len(text)
        start = block_start
        for match in _TERMINATOR.finditer(text, block_start, block_end):
            end = match.end()
            follower = _NEXT_SENTENCE.match(text, end, block_end)
            if (end < block_end and follower is None) or _is_abbreviation(text, start, match.start()):
                continue
            _append_trimmed(sentences, text, start, end)
            start = follower.end() if follower else end
        _append_trimmed(sentences, text, start, block_end)
        block_start = block_break.end() if block_break else len(text)
    return sentences


def _is_abbreviation(text: str, start: int, period: int) -> bool:
    if text[period] != "." or (period + 1 < len(text) and text[period + 1] == "."):
        return False
    word = _LAST_WORD.search(text, start, period)
    if word is None:
        return False
    token = word.group(1).lstrip("\"'“‘([").lower()
    # A single letter is an initial; "u.s" and "e.g" are dotted abbreviations.
    return (
        (len(token) == 1 and token.isalpha())
        or token in _ABBREVIATIONS
        or re.fullmatch(r"(\w\.)+\w", token) is not None
    )


def _append_trimmed(sentences: list[Sentence], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        sentences.append(Sentence(text[start:end], start, end))


# -- words -------------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+", re.UNICODE)


def flatten(text: str) -> str:
    """Lower-cased with runs of whitespace made single spaces, for verbatim comparisons."""
    return " ".join(text.split()).lower()


def content_words(text: str) -> list[str]:
    """Lower-cased, lightly stemmed words of ``text`` without stop words (the same stop words as
    lexical search), in order and with repeats."""
    return [_stem(word) for word in _WORD.findall(text.lower()) if word not in STOP_WORDS]


def _stem(word: str) -> str:
    """Strip common English inflections so "championships"/"championship" and "created"/"create"
    meet (FTS5's porter tokenizer does this for search; the answer path compares words itself)."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "ches", "shes", "xes", "zes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    elif word.endswith("ing") and len(word) >= 6:
        word = word[:-3]
    elif word.endswith("ed") and len(word) >= 5:
        word = word[:-2]
    # "create", "created", "creates" all end as "creat".
    return word[:-1] if word.endswith("e") and len(word) > 3 else word
