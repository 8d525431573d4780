"""ASGI middleware: request ids, access logs, Prometheus metrics, request size limits and the
security headers every response carries."""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import os
import secrets
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley.http import json_body
from parley.http.surface import surface_for_path
from parley.settings import LimitSettings

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
access_logger = logging.getLogger("parley.access")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "parley_http_requests_total",
            "HTTP requests by surface, method, route and status.",
            ["surface", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "parley_http_request_duration_seconds",
            "HTTP request latency by surface and route.",
            ["surface", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )


class _RequestIds:
    """Unique request ids without reading random bytes for each: a random prefix per process
    (new after a fork) and a counter, 32 hex characters like a UUID's. They name requests; they
    are not secrets."""

    def __init__(self) -> None:
        self.pid = -1

    def next(self) -> str:
        if os.getpid() != self.pid:
            self.pid = os.getpid()
            self.prefix = secrets.token_hex(8)
            self.counter = itertools.count()
        return f"{self.prefix}{next(self.counter):016x}"


def _sane_request_id(value: bytes) -> str | None:
    incoming = value.decode("latin-1")
    return incoming if incoming and len(incoming) <= 64 and incoming.isprintable() else None


class RequestContextMiddleware:
    """Assigns a request id (honouring a sane incoming ``X-Request-ID``), logs one line per
    request and records metrics labelled by route template, not raw path."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.request_ids = _RequestIds()
        # prometheus_client's labels() validates and locks on every call; the label sets are
        # few (routes x statuses), so their children are kept here.
        self._counters: dict[tuple[str, str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = _sane_request_id(value)
                break
        if request_id is None:
            request_id = self.request_ids.next()
        id_header = (b"x-request-id", request_id.encode("latin-1"))
        token = request_id_var.set(request_id)
        # Also on the request's state: the 500 handler runs outside this middleware, after the
        # context variable is reset.
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                # The 500 handler sets it itself (it answers from outside this middleware).
                if not any(name == b"x-request-id" for name, _ in headers):
                    headers.append(id_header)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            self._record(scope, status, elapsed)
            request_id_var.reset(token)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", "unmatched")
        method = scope["method"]
        surface = surface_for_path(scope["path"]).value
        counter = self._counters.get((surface, method, template, status))
        if counter is None:
            counter = self.metrics.requests.labels(surface, method, template, str(status))
            self._counters[(surface, method, template, status)] = counter
        counter.inc()
        histogram = self._histograms.get((surface, template))
        if histogram is None:
            histogram = self._histograms[(surface, template)] = self.metrics.latency.labels(surface, template)
        histogram.observe(elapsed)
        if access_logger.isEnabledFor(logging.INFO):
            access_logger.info(
                "request",
                extra={
                    "method": method,
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )


# Responses carry tokens, API key secrets, documents and answers: no cache keeps them, no
# browser guesses a type other than the declared one, no other site frames them. A response that
# sets its own Cache-Control keeps it: the console's static page and modules (no-cache: they hold
# no data and revalidate by ETag) and the answer streams (no-cache, the usual Server-Sent Events
# header; POST responses are not stored by caches).
SECURITY_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
}
_SECURITY_HEADER_BYTES = tuple((name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items())


class SecurityHeadersMiddleware:
    """Adds each of ``SECURITY_HEADERS`` the response does not set itself. A 500 from the
    app's last-resort handler is sent from outside every middleware, so it sets them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in _SECURITY_HEADER_BYTES if header[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeLimitMiddleware:
    """Refuses bodies over the limit with 413, by Content-Length or while streaming.

    Multipart uploads get the (larger) upload limit."""

    def __init__(self, app: ASGIApp, limits: LimitSettings) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = content_type = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"content-type":
                content_type = value
            elif name == b"transfer-encoding":
                chunked = True
        multipart = content_type is not None and content_type[:10].lower() == b"multipart/"
        limit = self.limits.max_upload_bytes if multipart else self.limits.max_request_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(scope, send, limit)
            return
        if not chunked and scope.get("http_version") in ("1.0", "1.1"):
            # HTTP/1 framing: the server delivers no more than Content-Length, and no body at
            # all without it or chunked encoding, so there is nothing to count.
            await self.app(scope, receive, send)
            return
        received = 0
        too_large = False
        replaced = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Tell the app the client went away; whatever it answers is replaced by 413.
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal replaced
            if too_large:
                if not replaced:
                    replaced = True
                    await _too_large(scope, send, limit)
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not replaced:
            await _too_large(scope, send, limit)


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    from parley.http.errors import format_error_body

    body, status = format_error_body(scope["path"], 413, f"Request body exceeds the limit of {limit} bytes.")
    await _send_json(send, status, body)


async def _send_json(send: Send, status: int, body: object) -> None:
    """A whole JSON response, sent straight from a middleware."""
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, with the request id of the request being served."""

    _RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request_id_var.get(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in self._RESERVED})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("uvicorn.access").disabled = True
    # The JSON lines leave out the caller's file, line, thread and process: skip gathering them
    # (the logging module's documented switches; findCaller walks the stack on every record).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


class StrictJsonMiddleware:
    """Refuses a JSON body that is not RFC 8259 JSON (``NaN``, ``Infinity``) or holds a lone
    surrogate, in the surface's validation-error format, before any route parses it: FastAPI
    and the routes that read bodies themselves use Python's lenient ``json`` module, and what it
    lets through fails later, in the database or in the error body that repeats it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _declares_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left (or the size limit stopped the body): nobody to answer
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            if body.strip():
                json_body.loads(body)
        except json_body.StrictJsonError as exc:
            await _refuse_json(scope, send, exc)
            return
        except (ValueError, RecursionError):
            pass  # plain malformed JSON: the route's own parser reports it as it always has
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _declares_json(scope: Scope) -> bool:
    """``application/json`` or ``application/<anything>+json``, as FastAPI decides to parse."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media.startswith(b"application/") and media.endswith((b"/json", b"+json"))
    return False


async def _refuse_json(scope: Scope, send: Send, exc: json_body.StrictJsonError) -> None:
    from parley.http.errors import validation_error_body

    error = {"type": exc.kind, "loc": ("body", *exc.loc), "msg": exc.message}
    body, status = validation_error_body(scope["path"], [error])
    await _send_json(send, status, body)
