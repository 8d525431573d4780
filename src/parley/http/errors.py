"""Turn errors into each surface's own error format; never leak internals as a 500 body."""

from __future__ import annotations

import json
import logging
import math
import re
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from parley.errors import ParleyError, RateLimitedError
from parley.http.middleware import SECURITY_HEADERS
from parley.http.surface import Surface, surface_for_path

logger = logging.getLogger("parley.http")

ErrorBody = Callable[[int, str, object], object]


def _ejento(status: int, message: str, detail: object) -> object:
    return {"success": False, "message": message, "data": detail}


def _contextual(status: int, message: str, detail: object) -> object:
    return {"detail": detail if detail is not None else message}


def _superoffice(status: int, message: str, detail: object) -> object:
    return {"Message": message, "MessageDetail": "" if detail is None else str(detail)}


def _kore(status: int, message: str, detail: object) -> object:
    return {"errors": [{"msg": message, "code": status}]}


# OpenAI's error codes for the statuses this surface answers; the others have none.
_OPENAI_CODES = {401: "invalid_api_key", 403: "insufficient_permissions", 404: "model_not_found"}


def _openai(status: int, message: str, detail: object) -> object:
    # The first invalid field of a validation error is OpenAI's "param".
    first = detail[0] if isinstance(detail, list) and detail else None
    param = (first.get("field") or None) if isinstance(first, dict) else None
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": _OPENAI_CODES.get(status)}}


def _parley(status: int, message: str, detail: object) -> object:
    return {"error": {"message": message, "detail": detail}}


_FORMATTERS: dict[Surface, ErrorBody] = {
    Surface.EJENTO: _ejento,
    Surface.CONTEXTUAL: _contextual,
    Surface.SUPEROFFICE: _superoffice,
    Surface.KORE: _kore,
    Surface.OPENAI: _openai,
    Surface.PARLEY: _parley,
}


def format_error_body(path: str, status: int, message: str, detail: object = None) -> tuple[object, int]:
    return _FORMATTERS[surface_for_path(path)](status, message, detail), status


def error_response(
    request: Request, status: int, message: str, detail: object = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body, status = format_error_body(request.url.path, status, message, detail)
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_message(raw_errors: Sequence[Any]) -> tuple[str, list[dict]]:
    errors = []
    for err in raw_errors:
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body",)]
        if err.get("type") == "json_invalid":
            loc = []
        errors.append({"field": ".".join(loc), "message": err.get("msg", "Invalid value.")})
    if any(e.get("type") == "json_invalid" for e in raw_errors):
        return "Malformed JSON body.", errors
    first = errors[0] if errors else {"field": "", "message": "Invalid request."}
    where = f"{first['field']}: " if first["field"] else ""
    return f"Invalid request: {where}{first['message']}", errors


def validation_error_body(path: str, raw_errors: Sequence[Any]) -> tuple[object, int]:
    """A refused request body in its surface's format, from pydantic-style errors (``type``,
    ``loc``, ``msg``, ``input``). Ejento and the others answer 400; Contextual keeps FastAPI's 422
    with the list of errors, repeating each input only when it can be repeated: an error body
    must serialise even when the input held NaN or a lone surrogate."""
    if surface_for_path(path) is Surface.CONTEXTUAL:
        return {"detail": [_contextual_error(err) for err in raw_errors]}, 422
    message, errors = _validation_message(raw_errors)
    return format_error_body(path, 400, _printable(message), _printable(errors))


def _contextual_error(err: dict[str, Any]) -> dict[str, Any]:
    described = _printable(jsonable_encoder({key: value for key, value in err.items() if key != "input"}))
    return {**described, "input": _echo(err["input"])} if "input" in err else described


def _echo(value: Any) -> Any:
    """``value`` as JSON when JSON can carry it (finite numbers, encodable text, not nested
    deeper than the encoder goes); otherwise null."""
    try:
        value = jsonable_encoder(value)
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError):
        return None
    return value


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _printable(value: Any) -> Any:
    """``value`` (a short description: messages, locations) with what JSON and UTF-8 cannot
    carry replaced: non-finite numbers by null, lone surrogates by U+FFFD."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_printable(key): _printable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(item) for item in value]
    return value


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ParleyError)
    async def _domain_error(request: Request, exc: ParleyError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimitedError) else None
        return error_response(request, exc.status_code, exc.message, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        body, status = validation_error_body(request.url.path, exc.errors())
        return JSONResponse(body, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404 and message == "Not Found":
            message = "The requested resource was not found."
        if exc.status_code == 405:
            message = "Method not allowed."
        return error_response(request, exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        logger.info("integrity error", extra={"path": request.url.path, "error": str(exc.orig)[:200]})
        return error_response(request, 409, "The request conflicts with existing data.")

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> JSONResponse:
        # A value the database refuses: a NUL character in text, a number out of range...
        logger.info("data error", extra={"path": request.url.path, "error": str(exc.orig)[:200]})
        return error_response(request, 400, "Invalid value in the request.")

    @app.exception_handler(OperationalError)
    async def _operational_error(request: Request, exc: OperationalError) -> JSONResponse:
        if not database_unavailable(exc):
            return _internal_error(request, exc)
        # The transaction was rolled back, and the same request can succeed once it is back.
        logger.warning("database unavailable", extra={"path": request.url.path, "error": str(exc.orig)[:200]})
        return error_response(
            request, 503, "The database is unavailable; retry shortly.", headers={"Retry-After": "5"}
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _internal_error(request, exc)


def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """A 500 that names the request id of the log lines, and nothing of the error itself."""
    request_id = getattr(request.state, "request_id", "-")
    logger.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
    return error_response(
        request,
        500,
        f"Internal server error (request id {request_id}).",
        headers={**SECURITY_HEADERS, "X-Request-ID": request_id},
    )


# SQLSTATEs of a server that cannot serve now: connection exceptions (class 08), too many
# connections, a lock wait that ran out, and a server shutting down or starting up.
_UNAVAILABLE_SQLSTATES = ("08", "53300", "55P03", "57P01", "57P02", "57P03")
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database")


def database_unavailable(exc: OperationalError) -> bool:
    """Whether the database could not serve the request at all (down, restarting, out of
    connections, locked), so the same request may succeed later; any other OperationalError
    is a fault in the statement Parley sent."""
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        return str(orig).startswith(_SQLITE_UNAVAILABLE)
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        return sqlstate.startswith(_UNAVAILABLE_SQLSTATES)
    # psycopg keeps the connection of a failed connection attempt (no SQLSTATE: no server).
    return getattr(orig, "pgconn", None) is not None
