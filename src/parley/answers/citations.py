"""Citation markers in an answer, whichever model wrote it, and the references they make.

Markers are the source numbers in square brackets. Tolerated forms: ``[1]``, ``[1][3]``,
``[1, 2]``, ``[1; 2]``, ranges ``[1-3]``, a label ``[Source 2]`` / ``[source: 2]`` /
``[doc 2]`` / ``[ref 2]``, a footnote caret ``[^2]``, and Contextual's ``[2]()``. Numbers
that name no source are dropped; nothing is renumbered (``[3]`` stays source 3 even when it
is the only one cited). Other bracketed text ("[citation needed]", "[sic]") is left alone.

References are Ejento's ``[{"number": n, "url": ..., "order": k}]``: ``order`` is 1 for the
first source cited in the text, 2 for the next new one, and so on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from parley.answers.sources import Source

_LABEL = r"(?:(?:sources?|src|docs?|documents?|refs?|references?|citations?)\s*[:#]?\s*)?"
_ITEM = rf"{_LABEL}\d{{1,3}}(?:\s*[-–]\s*\d{{1,3}})?"
_MARKER = re.compile(rf"\[\^?\s*({_ITEM}(?:\s*[,;]\s*{_ITEM})*)\s*\](?:\(\))?", re.IGNORECASE)
_NUMBER_OR_RANGE = re.compile(r"(\d+)(?:\s*[-–]\s*(\d+))?")
#: A range wider than this is not a citation ("[1-100]" is text).
MAX_RANGE = 20


@dataclass(frozen=True)
class CitationMarker:
    """One bracketed marker: ``text[start:end]``, and the source numbers it names in written
    order (ranges expanded, repeats removed)."""

    start: int
    end: int
    numbers: tuple[int, ...]


@dataclass(frozen=True)
class Reference:
    number: int
    url: str
    order: int

    def as_dict(self) -> dict[str, int | str]:
        """Ejento's reference object."""
        return {"number": self.number, "url": self.url, "order": self.order}


@dataclass(frozen=True)
class Citations:
    markers: list[CitationMarker]  # markers naming at least one existing source; numbers filtered
    sources: list[Source]  # the sources cited, in order of first citation
    unknown_numbers: list[int]  # cited numbers that name no source, in order of appearance

    def references(self) -> list[Reference]:
        return [Reference(s.number, s.url, order) for order, s in enumerate(self.sources, start=1)]


def find_citation_markers(text: str) -> list[CitationMarker]:
    """Every marker in ``text`` with the numbers as written (existing or not)."""
    markers = []
    for match in _MARKER.finditer(text):
        numbers: dict[int, None] = {}
        for first, last in _NUMBER_OR_RANGE.findall(match.group(1)):
            low, high = int(first), int(last or first)
            if high < low or high - low > MAX_RANGE:
                break
            numbers.update(dict.fromkeys(range(low, high + 1)))
        else:
            markers.append(CitationMarker(match.start(), match.end(), tuple(numbers)))
    return markers


def parse_citations(text: str, sources: Sequence[Source]) -> Citations:
    """The markers of ``text`` resolved against ``sources`` (matched by :attr:`Source.number`)."""
    by_number = {source.number: source for source in sources}
    markers: list[CitationMarker] = []
    cited: dict[int, Source] = {}
    unknown: list[int] = []
    for marker in find_citation_markers(text):
        known = tuple(n for n in marker.numbers if n in by_number)
        unknown.extend(n for n in marker.numbers if n not in by_number)
        if known:
            markers.append(CitationMarker(marker.start, marker.end, known))
            for number in known:
                cited.setdefault(number, by_number[number])
    return Citations(markers, list(cited.values()), unknown)


def strip_citation_markers(text: str) -> str:
    """``text`` without its markers (and the space before each): "in 2016 [1]." -> "in 2016."."""
    pieces = []
    position = 0
    for marker in find_citation_markers(text):
        pieces.append(text[position : marker.start].rstrip(" \t"))
        position = marker.end
    pieces.append(text[position:])
    return "".join(pieces)
