"""JSON as RFC 8259 defines it, for request bodies and JSON carried in form fields.

Python's ``json`` module accepts more than JSON: ``NaN``, ``Infinity`` and ``-Infinity`` (and
numbers such as ``1e999`` that overflow to infinity), and ``\\ud800``-style escapes that decode to
lone surrogates. No database column can hold those, and no JSON response can repeat them, so
they are refused here, before any route sees them: the numbers as malformed JSON, the surrogates
as invalid text at the place they were found.
"""

from __future__ import annotations

import json
import math
from typing import Any

Location = tuple[str | int, ...]


class StrictJsonError(ValueError):
    """``kind`` is pydantic's error type for the fault (``json_invalid``, ``string_unicode``);
    ``loc`` where it is (a character offset for malformed JSON, the field path for text)."""

    def __init__(self, kind: str, loc: Location, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.loc = loc
        self.message = message


def _refuse_constant(name: str) -> Any:
    raise StrictJsonError("json_invalid", (), f"{name} is not a JSON number.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise StrictJsonError("json_invalid", (), f"{text} is out of range for a number.")
    return value


def loads(raw: str | bytes) -> Any:
    """``json.loads`` refusing what is not RFC 8259 JSON or not encodable text.

    Raises :class:`StrictJsonError` for those, ``ValueError`` (or ``RecursionError``) for
    malformed JSON as ``json.loads`` does."""
    value = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    where = _unencodable_text(value)
    if where is not None:
        raise StrictJsonError("string_unicode", where, "Text must be valid Unicode, without lone surrogates.")
    return value


def _unencodable_text(value: Any) -> Location | None:
    """Where a string (or an object key) holding a lone surrogate is, if any."""
    pending: list[tuple[Any, Location]] = [(value, ())]
    while pending:
        node, loc = pending.pop()
        if isinstance(node, str):
            if not _encodable(node):
                return loc
        elif isinstance(node, dict):
            for key, item in node.items():
                if not _encodable(key):
                    return loc
                pending.append((item, (*loc, key)))
        elif isinstance(node, list):
            pending.extend((item, (*loc, index)) for index, item in enumerate(node))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
