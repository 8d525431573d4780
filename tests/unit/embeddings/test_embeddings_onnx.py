"""What only the default embedder does: all-MiniLM-L6-v2 int8 ONNX on onnxruntime (real model, no mocks).

The contract it shares with the torch embedder (shape, norms, batching, token counts and
offsets...) is tested for both in ``test_embedder_contract.py``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from parley.embeddings import (
    DEFAULT_EMBEDDER_KIND,
    EmbeddingError,
    OnnxMiniLMEmbedder,
    create_embedder,
)
from tests.unit.embeddings.test_embedder_contract import SENTENCES


def test_other_batchings_give_the_same_vectors(onnx_embedder: OnnxMiniLMEmbedder) -> None:
    # (The default batching equals one text at a time: test_embedder_contract.test_batch_equals_single.)
    texts = SENTENCES * 2
    batched = onnx_embedder.embed_documents(texts)
    # Other batchings, with or without length-sorting, give the same vectors in the same order.
    for options in (
        {"batch_size": 3, "sort_by_length": False, "window": 5},
        {"batch_size": 64, "max_batch_tokens": 10_000},
        {"batch_size": 64, "max_batch_tokens": 1},
    ):
        other = OnnxMiniLMEmbedder(**options)
        np.testing.assert_allclose(other.embed_documents(texts), batched, atol=1e-5)


def test_batches_respect_the_size_and_token_budget(onnx_embedder: OnnxMiniLMEmbedder) -> None:
    embedder = OnnxMiniLMEmbedder(batch_size=4, max_batch_tokens=100)
    lengths = [10, 50, 12, 11, 30, 13, 14, 256, 9]
    batches = embedder._plan_batches(lengths)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 4
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 100
    # Shortest first, so texts of similar length share a batch (little padding).
    assert [lengths[i] for i in batches[0]] == [9, 10, 11, 12]
    assert [lengths[i] for i in batches[-1]] == [256]


def test_factory_default_is_onnx() -> None:
    assert DEFAULT_EMBEDDER_KIND == "onnx"
    embedder = create_embedder(batch_size=4, intra_op_num_threads=None)
    assert isinstance(embedder, OnnxMiniLMEmbedder)
    assert embedder.batch_size == 4


def test_factory_rejects_unknown_kind_and_options() -> None:
    with pytest.raises(EmbeddingError, match="unknown embedder kind 'word2vec'"):
        create_embedder("word2vec")
    with pytest.raises(EmbeddingError, match="unknown option.*colour"):
        create_embedder("onnx", colour="blue")


def test_bundled_tokenizer_is_the_model_s_own(onnx_embedder: OnnxMiniLMEmbedder) -> None:
    import hashlib

    from parley.embeddings.tokenizer import TOKENIZER_FILE, TOKENIZER_SHA256

    assert onnx_embedder.tokenizer.path.name == TOKENIZER_FILE
    assert hashlib.sha256(onnx_embedder.tokenizer.path.read_bytes()).hexdigest() == TOKENIZER_SHA256


def test_missing_model_file_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EmbeddingError, match="ONNX model file not found"):
        OnnxMiniLMEmbedder(model_path=tmp_path / "nope.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx file")
    with pytest.raises(EmbeddingError, match="cannot load the ONNX model"):
        OnnxMiniLMEmbedder(model_path=broken)


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_missing_package_names_the_install_command() -> None:
    # A fresh interpreter in which onnxruntime cannot be imported (as on a broken install).
    proc = _run_python(
        """
        import sys
        sys.modules["onnxruntime"] = None
        from parley.embeddings import EmbeddingError, create_embedder
        try:
            create_embedder("onnx")
        except EmbeddingError as exc:
            print(exc)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "onnxruntime" in proc.stdout
    assert "pip install ." in proc.stdout


def test_importing_the_package_loads_no_model_library() -> None:
    proc = _run_python(
        """
        import sys
        import parley.embeddings
        heavy = {"onnxruntime", "tokenizers", "torch", "sentence_transformers", "transformers"}
        print(sorted(heavy & set(sys.modules)))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
