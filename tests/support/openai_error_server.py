"""A tiny OpenAI-compatible chat server that fails on purpose, for retry and timeout tests.

A real llama.cpp server cannot be made to answer 429, fail with 500 forever or stall, so this
stdlib ``http.server`` does it over a real socket: the client under test is not patched. It
answers OpenAI's and Azure OpenAI's chat completion paths alike. Each test
sets :attr:`OpenAIErrorServer.failures` (the statuses the next attempts get, in order) or
:attr:`OpenAIErrorServer.stall_seconds`; once the failures are used up it answers like a chat
model. :attr:`OpenAIErrorServer.attempts` counts the requests that reached it.
"""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REPLY_WORDS = ["Hello", " from", " the", " error", " server", "."]


class OpenAIErrorServer:
    """Serves ``POST /v1/chat/completions`` on 127.0.0.1 from a background thread.

    Args:
        failures: statuses for the first attempts (e.g. ``[429, 429]``); later attempts succeed.
        fail_forever: a status every attempt gets (overrides ``failures``).
        stall_seconds: how long to wait before answering (non-streaming) or after the first
            chunk (streaming), to provoke client timeouts.
        retry_after_ms: sent as ``retry-after-ms`` on errors so the client's retries do not slow
            the tests down (OpenAI sends the same header).
        chunk_seconds: the pause between two chunks of a stream, like a model generating slowly.

    :attr:`OpenAIErrorServer.streams_cut` counts the streams whose client closed the connection
    before the last chunk.
    """

    def __init__(
        self,
        *,
        failures: list[int] | None = None,
        fail_forever: int | None = None,
        stall_seconds: float = 0.0,
        retry_after_ms: int = 10,
        chunk_seconds: float = 0.0,
    ) -> None:
        self.failures = list(failures or [])
        self.fail_forever = fail_forever
        self.stall_seconds = stall_seconds
        self.retry_after_ms = retry_after_ms
        self.chunk_seconds = chunk_seconds
        self.attempts = 0
        self.streams_cut = 0
        # (path with query, headers) of every request, for tests that check what was sent.
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        # Set on stop so stalled handlers return at once instead of outliving the test.
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        # A short poll interval keeps stop() quick (shutdown waits for the next poll).
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> OpenAIErrorServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIErrorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def next_failure(self) -> int | None:
        """Counts the attempt and says which status it fails with, if any."""
        with self._lock:
            self.attempts += 1
            if self.fail_forever is not None:
                return self.fail_forever
            return self.failures.pop(0) if self.failures else None

    def stall(self) -> None:
        self._stopping.wait(self.stall_seconds)


def _handler_for(server: OpenAIErrorServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # keep pytest output clean

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            server.requests.append((self.path, {name.lower(): value for name, value in self.headers.items()}))
            # OpenAI's /v1/chat/completions and Azure's /openai/deployments/NAME/chat/completions.
            if not self.path.split("?")[0].endswith("/chat/completions"):
                self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                return
            status = server.next_failure()
            if status is not None:
                self._send_json(
                    status,
                    {"error": {"message": f"injected HTTP {status}", "type": "injected", "code": status}},
                    {"retry-after-ms": str(server.retry_after_ms)},
                )
                return
            if body.get("stream"):
                self._stream(body)
            else:
                server.stall()
                self._send_json(200, _completion(body))

        def _send_json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            # The client may have given up (timed out): then there is nothing left to tell it.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

        def _stream(self, body: dict) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            model = body.get("model", "error-server")
            # Like some self-hosted servers, no usage chunk: the client has to estimate the counts.
            events = [_chunk(model, {"content": word}, None) for word in REPLY_WORDS]
            events.append(_chunk(model, {}, "stop"))
            try:
                for index, event in enumerate(events):
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                    if index == 0:
                        server.stall()
                    server._stopping.wait(server.chunk_seconds)
                self.wfile.write(b"data: [DONE]\n\n")
            except (BrokenPipeError, ConnectionResetError):
                with server._lock:  # the client gave up (timed out, or nobody listens any more)
                    server.streams_cut += 1

    return Handler


def _completion(body: dict) -> dict:
    return {
        "id": "chatcmpl-error-server",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "error-server"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(REPLY_WORDS)},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 7,
            "completion_tokens": len(REPLY_WORDS),
            "total_tokens": 7 + len(REPLY_WORDS),
        },
    }


def _chunk(model: str, delta: dict, finish_reason: str | None) -> dict:
    return {
        "id": "chatcmpl-error-server",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
