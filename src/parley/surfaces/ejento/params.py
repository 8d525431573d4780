"""Request parameters the Ejento V2 routers share: ids, names, searches, id lists and date
ranges, parsed and bounded the same way by every group."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import Depends, Path, Query
from pydantic import BaseModel, Field, StringConstraints

from parley.db.base import MAX_ID
from parley.errors import InvalidInputError

# Ids are 64-bit integers in the database; larger numbers are malformed (400), not unknown.
MAX_IDS = 500
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
BodyId = Annotated[int, Field(ge=1, le=MAX_ID)]
IdList = Annotated[list[BodyId], Field(min_length=1, max_length=MAX_IDS)]
# Ids in the query string, repeated (``?x=1&x=2``) or comma-separated (``?x=1,2``); see id_list.
IdsQuery = Annotated[list[str] | None, Query()]
# PostgreSQL refuses NUL characters in text; they are malformed input (400), not a server error.
NO_NUL = r"^[^\x00]*$"
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)]
Description = Annotated[str, StringConstraints(max_length=5000, pattern=NO_NUL)]
SearchQuery = Annotated[str | None, Query(max_length=200, pattern=NO_NUL)]
# An ISO date or date-time in the query string; see date_range.
DateQuery = Annotated[str | None, Query(max_length=40)]


class UserIdsBody(BaseModel):
    user_ids: IdList


def _id(text: str) -> int | None:
    """An id written as ASCII digits within the database's range, or None."""
    if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > len(str(MAX_ID)):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


def id_list(values: list[str] | None, name: str) -> list[int]:
    """Ids from repeated (``?x=1&x=2``) or comma-separated (``?x=1,2``) query parameters;
    blank parts are ignored, any other part that is not an id is a 400."""
    parts = [part.strip() for value in values or [] for part in value.split(",") if part.strip()]
    if len(parts) > MAX_IDS:
        raise InvalidInputError(f"{name} accepts at most {MAX_IDS} ids.")
    ids = [_id(part) for part in parts]
    if None in ids:
        raise InvalidInputError(f"{name} must be a list of integer ids.")
    return [i for i in ids if i is not None]


def ids_to_remove(body: UserIdsBody | None, query: list[str] | None) -> list[int]:
    """DELETE takes ``{user_ids}`` in a JSON body or ``?user_ids=1,2`` (some clients drop
    DELETE bodies)."""
    ids = body.user_ids if body is not None else id_list(query, "user_ids")
    if not ids:
        raise InvalidInputError("user_ids is required.")
    return ids


def parse_date_bound(value: str, name: str, *, end: bool = False) -> datetime:
    """An ISO date or date-time as an aware UTC datetime (naive means UTC).

    With ``end`` the value is an inclusive end turned into an exclusive bound: a bare date
    covers that whole day (the bound is the next midnight) and a date-time includes itself.
    """
    text = value.strip()
    try:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            moment = datetime.fromisoformat(text)
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
            return moment + timedelta(microseconds=1) if end else moment
        return datetime.combine(day + timedelta(days=1) if end else day, time(), tzinfo=UTC)
    except (ValueError, OverflowError):  # OverflowError: bounds at the edge of year 1 or 9999
        raise InvalidInputError(
            f"{name} must be an ISO date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM:SS)."
        ) from None


@dataclass(frozen=True)
class DateRange:
    start: datetime | None  # inclusive
    end: datetime | None  # exclusive


def date_range(start_date: DateQuery = None, end_date: DateQuery = None) -> DateRange:
    """The ``start_date`` and ``end_date`` query parameters as ``[start, end)`` in UTC; both
    ends are inclusive for the client, and an empty one (a blank form field) does not bound."""
    start = parse_date_bound(start_date, "start_date") if start_date else None
    end = parse_date_bound(end_date, "end_date", end=True) if end_date else None
    if start is not None and end is not None and start >= end:
        raise InvalidInputError("start_date must not be after end_date.")
    return DateRange(start, end)


# Declare it after the caller (CurrentPrincipal), so a request is authenticated first.
DateRangeQuery = Annotated[DateRange, Depends(date_range)]
