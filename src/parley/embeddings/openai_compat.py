"""Embeddings from any OpenAI-compatible ``POST {base_url}/embeddings`` endpoint, over httpx.

Works with OpenAI itself and with self-hosted servers that speak the same API (vLLM, TEI,
Ollama's ``/v1``, LocalAI, llama.cpp's server...). ``base_url`` is what the ``openai`` client
calls ``base_url``: it normally ends in ``/v1``.

* Batching: at most ``batch_size`` inputs per request.
* Retries: 429, any 5xx, connection errors and timeouts are retried ``max_retries`` times with
  exponential backoff and jitter (``Retry-After`` is honoured, capped at ``backoff_max``).
  Any other failure (401/403: bad key, 400, 404...) raises :class:`EmbeddingError` at once.
* Vectors are L2-normalised on our side too (many servers already do, some do not).
* ``dimension`` comes from the configuration, or from the first response when not configured
  (reading the attribute before any call sends one small probe request). Responses of another
  size raise :class:`EmbeddingError`.
* ``count_tokens`` / ``token_offsets`` are an APPROXIMATION: the remote model's tokenizer is
  unknown here, so the local all-MiniLM-L6-v2 wordpiece tokenizer is used (it needs the
  ``tokenizers`` package; it is loaded on first use). Wordpiece counts are usually a little
  higher than BPE counts (e.g. OpenAI's cl100k) for English, so chunks sized with it stay under
  the remote limit; ``max_tokens`` defaults to a conservative 512.
* Empty (or whitespace-only) inputs are sent as a single space, since OpenAI rejects "".

Thread-safety: ``httpx.Client`` is thread-safe and the lazily-loaded parts are guarded by a
lock, so one instance can be shared by several threads.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parley.embeddings.base import EmbeddingError, check_query, check_texts, l2_normalize, require
from parley.embeddings.tokenizer import MiniLMTokenizer

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class OpenAICompatibleEmbedder:
    """Client for an OpenAI-compatible embeddings endpoint.

    Args:
        base_url: e.g. ``https://api.openai.com/v1`` or ``http://127.0.0.1:8080/v1``.
        model: the model name sent in each request (also this embedder's ``model_name``).
        api_key: sent as ``Authorization: Bearer ...`` when given.
        dimension: the expected vector size; discovered from the first response when ``None``.
        timeout: seconds for each HTTP request (connect, read, write and pool).
        max_retries: retries after the first attempt for 429/5xx/connection errors/timeouts.
        backoff_base, backoff_max: the n-th retry waits about ``min(backoff_max, backoff_base * 2**n)``
            seconds (jittered between 50% and 100%), or ``Retry-After`` when the server sends it.
        batch_size: inputs per request.
        max_tokens: the remote model's input limit, as counted by :meth:`count_tokens`.
        tokenizer_path: the tokenizer.json used for counting (default: Parley's MiniLM copy).
        encoding_format: sent as ``encoding_format`` (``None`` leaves it out for servers that reject it).
        headers: extra HTTP headers (e.g. ``OpenAI-Organization``).
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        dimension: int | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        batch_size: int = 64,
        max_tokens: int = 512,
        tokenizer_path: str | Path | None = None,
        encoding_format: str | None = "float",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        require(["httpx", "numpy"], what="The OpenAI-compatible embedder", install="pip install httpx numpy")
        import httpx
        import numpy as np

        if not base_url:
            raise EmbeddingError("OpenAI-compatible embedder: base_url is required")
        if not model:
            raise EmbeddingError("OpenAI-compatible embedder: model is required")
        if batch_size < 1 or max_retries < 0:
            raise ValueError("batch_size must be >= 1 and max_retries >= 0")
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/embeddings"
        self.model_name = model
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.encoding_format = encoding_format
        self._dimension = dimension
        self._tokenizer_path = tokenizer_path
        self._tokenizer: MiniLMTokenizer | None = None
        self._lock = threading.Lock()
        self._np = np
        self._httpx = httpx
        all_headers = {"Accept": "application/json", **(headers or {})}
        if api_key:
            all_headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(timeout=httpx.Timeout(timeout), headers=all_headers)

    # -- Embedder ----------------------------------------------------------------------------------

    @property
    def dimension(self) -> int:
        """The vector size: configured, seen in a response, or asked of the server with one probe."""
        if self._dimension is None:
            self._embed_batch(["dimension probe"])
        assert self._dimension is not None
        return self._dimension

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        np = self._np
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts = [
            self._embed_batch(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(parts, axis=0)

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed_batch([check_query(text)])[0]

    def count_tokens(self, text: str) -> int:
        """Approximate: local MiniLM wordpiece tokens (see the module docstring)."""
        return self._local_tokenizer().count_tokens(text)

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Approximate: spans of the local MiniLM wordpiece tokens (see the module docstring)."""
        return self._local_tokenizer().token_offsets(text)

    # -- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAICompatibleEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OpenAICompatibleEmbedder(url={self.url!r}, model={self.model_name!r})"

    # -- internals ---------------------------------------------------------------------------------

    def _local_tokenizer(self) -> MiniLMTokenizer:
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    self._tokenizer = MiniLMTokenizer(self._tokenizer_path)
        return self._tokenizer

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        np = self._np
        payload: dict[str, Any] = {
            "model": self.model_name,
            "input": [t if t.strip() else " " for t in texts],
        }
        if self.encoding_format:
            payload["encoding_format"] = self.encoding_format
        body = self._post(payload)
        try:
            items = sorted(body["data"], key=lambda item: item.get("index", 0))
            # llama.cpp's server answers with one vector per token when the model defines no
            # pooling (a chat model serving embeddings): mean-pool those into one.
            rows = [np.asarray(item["embedding"], dtype=np.float32) for item in items]
            vectors = np.asarray(
                [row.mean(axis=0) if row.ndim == 2 else row for row in rows], dtype=np.float32
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EmbeddingError(f"{self.url} returned a malformed embeddings response: {exc!r}") from exc
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            got = vectors.shape[0] if vectors.ndim else 0
            raise EmbeddingError(f"{self.url} returned {got} vectors for {len(texts)} inputs")
        with self._lock:
            if self._dimension is None:
                self._dimension = int(vectors.shape[1])
        if vectors.shape[1] != self._dimension:
            raise EmbeddingError(
                f"{self.url} returned {vectors.shape[1]}-d vectors, expected {self._dimension} "
                f"(model {self.model_name!r})"
            )
        return l2_normalize(vectors)

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        httpx = self._httpx
        problem = ""
        for attempt in range(self.max_retries + 1):
            wait: float | None = None
            try:
                response = self._client.post(self.url, json=payload)
            except (
                httpx.TimeoutException,
                httpx.ConnectError,
                httpx.ReadError,
                httpx.RemoteProtocolError,
            ) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            except httpx.HTTPError as exc:
                raise EmbeddingError(f"request to {self.url} failed: {type(exc).__name__}: {exc}") from exc
            else:
                if response.is_success:
                    try:
                        return response.json()
                    except ValueError as exc:
                        raise EmbeddingError(
                            f"{self.url} returned invalid JSON: {response.text[:200]!r}"
                        ) from exc
                detail = _error_detail(response)
                if response.status_code in (401, 403):
                    raise EmbeddingError(
                        f"{self.url} refused the credentials (HTTP {response.status_code}): {detail}; "
                        "check the embedding api_key"
                    )
                if response.status_code not in RETRY_STATUS:
                    raise EmbeddingError(f"{self.url} answered HTTP {response.status_code}: {detail}")
                problem = f"HTTP {response.status_code}: {detail}"
                wait = _retry_after(response)
            if attempt == self.max_retries:
                break
            if wait is None:
                wait = self.backoff_base * (2**attempt) * random.uniform(0.5, 1.0)
            time.sleep(max(0.0, min(wait, self.backoff_max)))
        raise EmbeddingError(
            f"embedding request to {self.url} failed after {self.max_retries + 1} attempt(s): {problem}"
        )


def _error_detail(response: Any) -> str:
    """The server's own error message if it sent one (OpenAI's ``{"error": {"message": ...}}``)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if isinstance(error, str):
            return error[:300]
        if "detail" in body:
            return str(body["detail"])[:300]
    return str(body)[:300]


def _retry_after(response: Any) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff
