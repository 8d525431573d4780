"""The Ejento envelope ``{success, message, data}``, timestamps and legacy pagination."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")


def iso(value: datetime | None) -> str | None:
    """``2025-01-24T22:55:14.774136Z``: UTC with microseconds, as Ejento (DRF) prints it."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ok(data: Any, message: str, status_code: int = 200) -> JSONResponse:
    return JSONResponse({"success": True, "message": message, "data": data}, status_code=status_code)


def created(data: Any, message: str) -> JSONResponse:
    return ok(data, message, status_code=201)


@dataclass(frozen=True)
class PageParams:
    page: int
    items_per_page: int


def page_params(
    request: Request,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    items_per_page: Annotated[int | None, Query(ge=1)] = None,
) -> PageParams:
    limits = request.app.state.settings.limits
    size = min(items_per_page or limits.default_items_per_page, limits.max_items_per_page)
    return PageParams(page=page, items_per_page=size)


PageDep = Annotated[PageParams, Depends(page_params)]


def paginate(
    session: Session,
    stmt: Select[Any],
    params: PageParams,
    key: str,
    serialize: Callable[[Sequence[Any]], list[dict]],
) -> dict:
    """Legacy pagination: ``{count, num_pages, current_page, <key>: [...]}``."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(
        stmt.limit(params.items_per_page).offset((params.page - 1) * params.items_per_page)
    ).all()
    return {
        "count": total,
        "num_pages": math.ceil(total / params.items_per_page) if total else 0,
        "current_page": params.page,
        key: serialize(rows),
    }
