"""The contract every local MiniLM embedder keeps (real models, no mocks).

Each test runs once per embedder through the parametrized ``embedder`` fixture (conftest.py):
``[onnx]`` is the default int8 ONNX model on onnxruntime, ``[torch]`` the optional
sentence-transformers fp32 model, skipped (with the install command as the reason) where the
``parley[torch]`` extra is not installed. What only one path does is tested in
``test_embeddings_onnx.py`` and ``test_embeddings_torch.py``, which share the texts below.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from parley.embeddings import Embedder

PARAPHRASE = ("How do I reset my password?", "What are the steps to change a forgotten password?")
UNRELATED = "The migration patterns of arctic terns span both poles."
_LONG = (
    "Transformers compute contextual token representations with self-attention layers; "
    "mean pooling over the attention mask turns them into one sentence vector. "
)
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Aspirin reduces the risk of heart attack in some patients.",
    "Parley is a self-hosted platform for retrieval-augmented agents.",
    "Quarterly revenue grew by 12% compared to last year.",
    "¿Dónde está la biblioteca? Está cerca de la estación.",
    "short",
    "",
    "A vaccine trial enrolled 4,000 volunteers across twelve sites in 2021.",
    _LONG * 3,
    _LONG * 4,
]


def test_protocol_and_metadata(embedder: Any) -> None:
    assert isinstance(embedder, Embedder)
    assert embedder.model_name == "all-MiniLM-L6-v2"
    assert embedder.dimension == 384
    assert embedder.max_tokens == 256


def test_shape_dtype_and_unit_norm(embedder: Any) -> None:
    vectors = embedder.embed_documents(SENTENCES)
    assert vectors.shape == (len(SENTENCES), 384)
    assert vectors.dtype == np.float32
    assert np.all(np.isfinite(vectors))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    query = embedder.embed_query(SENTENCES[0])
    assert query.shape == (384,)
    assert query.dtype == np.float32
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-5


def test_paraphrase_scores_higher_than_unrelated(embedder: Any) -> None:
    a, b, c = embedder.embed_documents([*PARAPHRASE, UNRELATED])
    paraphrase, unrelated = float(a @ b), float(a @ c)
    assert paraphrase > unrelated + 0.3, (paraphrase, unrelated)
    assert paraphrase > 0.6


def test_batch_equals_single(embedder: Any) -> None:
    texts = SENTENCES * 2
    batched = embedder.embed_documents(texts)
    singles = np.stack([embedder.embed_query(t) for t in texts])
    np.testing.assert_allclose(batched, singles, atol=1e-5)


def test_empty_list(embedder: Any) -> None:
    out = embedder.embed_documents([])
    assert out.shape == (0, 384)
    assert out.dtype == np.float32


def test_rejects_a_bare_string(embedder: Any) -> None:
    with pytest.raises(TypeError):
        embedder.embed_documents("not a list")
    with pytest.raises(TypeError):
        embedder.embed_documents(["ok", 3])


def test_count_tokens_and_offsets_match_the_text(embedder: Any) -> None:
    text = "Tokenization isn't trivial: Parley's chunker splits  documents by wordpieces."
    tokens = embedder.tokenizer.tokens(text)
    offsets = embedder.token_offsets(text)
    assert embedder.count_tokens(text) == len(offsets) == len(tokens)
    assert tokens[:2] == ["token", "##ization"]
    previous_end = 0
    for token, (start, end) in zip(tokens, offsets, strict=True):
        assert previous_end <= start < end <= len(text)
        # Each span is the token's own text (the model lower-cases; "##" marks a word continuation).
        assert text[start:end].lower() == token.removeprefix("##")
        if token.startswith("##"):
            assert start == previous_end
        previous_end = end

    assert embedder.count_tokens("") == 0
    assert embedder.token_offsets("") == []
    # Special tokens are not counted.
    assert embedder.count_tokens("hello") == 1


def test_offsets_follow_accents_and_unicode(embedder: Any) -> None:
    text = "Café Zürich naïve — 東京"
    offsets = embedder.token_offsets(text)
    assert len(offsets) == embedder.count_tokens(text)
    spans = [text[s:e] for s, e in offsets]
    assert spans[0] == "Café"
    assert "Zürich" in "".join(spans)
    assert spans[-2:] == ["東", "京"]


def test_counting_does_not_truncate_but_embedding_does(embedder: Any) -> None:
    words = [f"word{i % 7} alpha beta" for i in range(200)]
    long_text = " ".join(words)
    count = embedder.count_tokens(long_text)
    assert count > 500
    offsets = embedder.token_offsets(long_text)
    # The model sees [CLS] + 254 tokens + [SEP] = 256: the text cut after the 254th token embeds the same.
    prefix = long_text[: offsets[253][1]]
    assert embedder.count_tokens(prefix) == 254
    np.testing.assert_allclose(embedder.embed_query(long_text), embedder.embed_query(prefix), atol=1e-5)


def test_concurrent_use_from_threads(embedder: Any) -> None:
    expected = embedder.embed_documents(SENTENCES)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: embedder.embed_documents(SENTENCES), range(8)))
    for result in results:
        np.testing.assert_allclose(result, expected, atol=1e-5)
