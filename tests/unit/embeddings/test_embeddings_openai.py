"""OpenAICompatibleEmbedder against a real HTTP server on 127.0.0.1 (see ``embedding_server``)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import numpy as np
import pytest

from parley.embeddings import (
    Embedder,
    EmbeddingError,
    OnnxMiniLMEmbedder,
    OpenAICompatibleEmbedder,
    create_embedder,
)

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Aspirin reduces the risk of heart attack in some patients.",
    "Parley is a self-hosted platform for retrieval-augmented agents.",
    "Quarterly revenue grew by 12% compared to last year.",
    "short",
]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make(server: Any, model: str, **options: Any) -> OpenAICompatibleEmbedder:
    options.setdefault("api_key", server.api_key)
    options.setdefault("backoff_base", 0.01)
    options.setdefault("backoff_max", 0.05)
    options.setdefault("timeout", 30.0)
    return OpenAICompatibleEmbedder(base_url=server.base_url, model=model, **options)


def test_vectors_batches_and_discovered_dimension(
    embedding_server: Any, onnx_embedder: OnnxMiniLMEmbedder
) -> None:
    model = unique("minilm")
    with make(embedding_server, model, batch_size=2) as embedder:
        vectors = embedder.embed_documents(TEXTS)
        assert isinstance(embedder, Embedder)
        assert embedder.model_name == model
        assert embedder.dimension == 384  # learnt from the first response: no extra request
    assert vectors.shape == (5, 384)
    assert vectors.dtype == np.float32
    # The server answers in reverse order; the client puts the vectors back by "index".
    np.testing.assert_allclose(vectors, onnx_embedder.embed_documents(TEXTS), atol=1e-6)
    log = embedding_server.log(model)
    assert [r["n"] for r in log] == [2, 2, 1]
    assert all(r["status"] == 200 for r in log)
    assert log[0]["payload"]["encoding_format"] == "float"


def test_query(embedding_server: Any, onnx_embedder: OnnxMiniLMEmbedder) -> None:
    with make(embedding_server, unique("minilm"), dimension=384) as embedder:
        query = embedder.embed_query("hello world")
    assert query.shape == (384,)
    assert query.dtype == np.float32
    np.testing.assert_allclose(query, onnx_embedder.embed_query("hello world"), atol=1e-6)


def test_dimension_probe_when_not_configured(embedding_server: Any) -> None:
    model = unique("minilm")
    with make(embedding_server, model) as embedder:
        assert embedding_server.log(model) == []  # the constructor sends nothing
        assert embedder.dimension == 384
        assert embedder.dimension == 384
    assert len(embedding_server.log(model)) == 1


def test_empty_list_sends_nothing(embedding_server: Any) -> None:
    model = unique("minilm")
    with make(embedding_server, model, dimension=384) as embedder:
        out = embedder.embed_documents([])
    assert out.shape == (0, 384)
    assert out.dtype == np.float32
    assert embedding_server.log(model) == []


def test_retries_a_503(embedding_server: Any) -> None:
    model = unique("flaky")
    with make(embedding_server, model, max_retries=2) as embedder:
        vectors = embedder.embed_documents(TEXTS[:3])
    assert vectors.shape == (3, 384)
    assert [r["status"] for r in embedding_server.log(model)] == [503, 200]


def test_retries_a_429_honouring_retry_after(embedding_server: Any) -> None:
    model = unique("ratelimited")
    # Retry-After: 0 wins over the (long) backoff, so this returns at once.
    with make(embedding_server, model, backoff_base=30.0, backoff_max=60.0) as embedder:
        started = time.monotonic()
        embedder.embed_query("rate limited")
        assert time.monotonic() - started < 10
    assert [r["status"] for r in embedding_server.log(model)] == [429, 200]


def test_gives_up_after_max_retries(embedding_server: Any) -> None:
    model = unique("down")
    with make(embedding_server, model, max_retries=2) as embedder, pytest.raises(EmbeddingError) as info:
        embedder.embed_documents(TEXTS)
    message = str(info.value)
    assert "3 attempt(s)" in message
    assert "HTTP 503" in message
    assert "overloaded" in message
    assert [r["status"] for r in embedding_server.log(model)] == [503, 503, 503]


def test_bad_key_is_a_clear_error_and_not_retried(embedding_server: Any) -> None:
    model = unique("minilm")
    embedder = make(embedding_server, model, api_key="sk-wrong", max_retries=3)
    with embedder, pytest.raises(EmbeddingError) as info:
        embedder.embed_query("who am I?")
    message = str(info.value)
    assert "HTTP 401" in message
    assert "Incorrect API key provided" in message
    assert "api_key" in message
    assert [r["status"] for r in embedding_server.log(model)] == [401]


def test_missing_key_is_a_401_too(embedding_server: Any) -> None:
    with (
        make(embedding_server, unique("minilm"), api_key=None) as embedder,
        pytest.raises(EmbeddingError, match="401"),
    ):
        embedder.embed_query("anonymous")


def test_other_client_errors_are_not_retried(embedding_server: Any) -> None:
    model = unique("missing")
    embedder = make(embedding_server, model, max_retries=3)
    with embedder, pytest.raises(EmbeddingError, match=r"HTTP 404: The model .* does not exist"):
        embedder.embed_query("anything")
    assert len(embedding_server.log(model)) == 1


def test_connection_refused_is_retried_then_reported(unused_port: int) -> None:
    embedder = OpenAICompatibleEmbedder(
        base_url=f"http://127.0.0.1:{unused_port}/v1", model="m", max_retries=2, backoff_base=0.01, timeout=5
    )
    with embedder, pytest.raises(EmbeddingError, match=r"after 3 attempt\(s\): ConnectError"):
        embedder.embed_query("is anyone there?")


def test_vectors_are_normalised_client_side(embedding_server: Any) -> None:
    with make(embedding_server, unique("scaled")) as embedder:
        vectors = embedder.embed_documents(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_dimension_mismatch_is_an_error(embedding_server: Any) -> None:
    embedder = make(embedding_server, unique("minilm"), dimension=1536)
    with embedder, pytest.raises(EmbeddingError, match="384-d vectors, expected 1536"):
        embedder.embed_query("wrong size")


def test_empty_strings_are_sent_as_a_space(embedding_server: Any) -> None:
    model = unique("minilm")
    with make(embedding_server, model) as embedder:
        vectors = embedder.embed_documents(["", "   ", "text"])
    assert vectors.shape == (3, 384)
    assert embedding_server.log(model)[0]["payload"]["input"] == [" ", " ", "text"]


def test_token_counts_use_the_local_minilm_tokenizer(onnx_embedder: OnnxMiniLMEmbedder) -> None:
    # No request is needed to count: nothing listens on this address.
    embedder = OpenAICompatibleEmbedder(base_url="http://127.0.0.1:9/v1", model="any", dimension=1024)
    text = "Token-aware chunking needs counts; the remote tokenizer is approximated."
    assert embedder.count_tokens(text) == onnx_embedder.count_tokens(text)
    assert embedder.token_offsets(text) == onnx_embedder.token_offsets(text)
    assert embedder.max_tokens == 512
    assert embedder.dimension == 1024
    embedder.close()


def test_factory_and_required_options(embedding_server: Any) -> None:
    embedder = create_embedder(
        "openai",
        base_url=embedding_server.base_url + "/",
        model=unique("minilm"),
        api_key=embedding_server.api_key,
    )
    assert isinstance(embedder, OpenAICompatibleEmbedder)
    assert embedder.url == embedding_server.base_url + "/embeddings"
    assert embedder.embed_query("factory").shape == (384,)
    embedder.close()
    with pytest.raises(EmbeddingError, match="base_url is required"):
        create_embedder("openai", base_url="", model="m")
