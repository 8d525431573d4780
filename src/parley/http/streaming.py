"""Server-Sent Event responses whose frames come from a blocking iterator (an answer being
generated), and what a stream reports when it fails after its first byte.

Starlette runs such an iterator in worker threads but never closes it: when the client goes
away the request is cancelled and the iterator is left to the garbage collector, so the code
behind it can neither stop its model call nor record what it did. :class:`EventStream` closes
it, in a worker thread and shielded from the cancellation, whichever way the response ends;
the iterator sees ``GeneratorExit`` at the frame it was about to send.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Generator

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from parley.errors import ParleyError

logger = logging.getLogger("parley.http")

_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class EventStream(StreamingResponse):
    """``text/event-stream`` of ``frames``, closed whenever the response ends."""

    def __init__(self, frames: Generator[str, None, None]) -> None:
        super().__init__(_in_worker_threads(frames), media_type="text/event-stream", headers=_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Suspended at a frame when the client left between two sends: close it now.
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()  # type: ignore[attr-defined]


async def _in_worker_threads(frames: Generator[str, None, None]) -> AsyncIterator[str]:
    try:
        while True:
            # Not abandoned on cancellation: the frame being made is finished first, so the
            # iterator is never closed while it runs (a model stream stops at its next token).
            frame = await anyio.to_thread.run_sync(next, frames, None)
            if frame is None:
                return
            yield frame
    finally:
        with anyio.CancelScope(shield=True):
            try:
                await anyio.to_thread.run_sync(frames.close)
            except Exception:
                logger.exception("closing an event stream failed")


def stream_failure(exc: Exception) -> tuple[int, str]:
    """The status and message of the ``error`` event for a failure after the stream opened: a
    domain error says what it is; anything else is logged and reported as a 500, as the
    error handlers do for ordinary responses."""
    if isinstance(exc, ParleyError):
        return exc.status_code, exc.message
    logger.error("a stream failed after it opened", exc_info=exc)
    return 500, "Internal server error."
