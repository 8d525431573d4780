"""The default embedder: all-MiniLM-L6-v2 int8 ONNX on onnxruntime (real model, no mocks)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from parley.embeddings import (
    DEFAULT_EMBEDDER_KIND,
    Embedder,
    EmbeddingError,
    OnnxMiniLMEmbedder,
    create_embedder,
)

PARAPHRASE = ("How do I reset my password?", "What are the steps to change a forgotten password?")
UNRELATED = "The migration patterns of arctic terns span both poles."
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Aspirin reduces the risk of heart attack in some patients.",
    "Parley is a self-hosted platform for retrieval-augmented agents.",
    "Quarterly revenue grew by 12% compared to last year.",
    "¿Dónde está la biblioteca? Está cerca de la estación.",
    "short",
    "",
    "Transformers compute contextual token representations with self-attention layers; "
    "mean pooling over the attention mask turns them into one sentence vector. " * 3,
]


def test_protocol_and_metadata(onnx_embedder: OnnxMiniLMEmbedder) -> None:
    assert isinstance(onnx_embedder, Embedder)
    assert onnx_embedder.model_name == "all-MiniLM-L6-v2"
    assert onnx_embedder.dimension == 384
    assert onnx_embedder.max_tokens == 256


def test_shape_dtype_and_unit_norm(onnx_embedder: OnnxMiniLMEmbedder) -> None:
    vectors = onnx_embedder.embed_documents(SENTENCES)
    assert vectors.shape == (len(SENTENCES), 384)
    assert vectors.dtype == np.float32
    assert np.all(np.isfinite(vectors))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    query = onnx_embedder.embed_query(SENTENCES[0])
    assert query.shape == (384,)
    assert query.dtype == np.float32
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-5


def test_paraphrase_scores_higher_than_unrelated(onnx_embedder: OnnxMiniLMEmbedder) -> None:
    a, b, c = onnx_embedder.embed_documents([*PARAPHRASE, UNRELATED])
    paraphrase, unrelated = float(a @ b), float(a @ c)
    assert paraphrase > unrelated + 0.3, (paraphrase, unrelated)
    assert paraphrase > 0.6


def test_batch_equals_single(onnx_embedder: OnnxMiniLMEmbedder) -> None:
    texts = SENTENCES * 2
    batched = onnx_embedder.embed_documents(texts)
    singles = np.stack([onnx_embedder.embed_query(t) for t in texts])
    np.testing.assert_allclose(batched, singles, atol=1e-5)
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


def test_empty_list(onnx_embedder: OnnxMiniLMEmbedder) -> None:
    out = onnx_embedder.embed_documents([])
    assert out.shape == (0, 384)
    assert out.dtype == np.float32


def test_rejects_a_bare_string(onnx_embedder: OnnxMiniLMEmbedder) -> None:
    with pytest.raises(TypeError):
        onnx_embedder.embed_documents("not a list")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        onnx_embedder.embed_documents(["ok", 3])  # type: ignore[list-item]


def test_count_tokens_and_offsets_match_the_text(onnx_embedder: OnnxMiniLMEmbedder) -> None:
    text = "Tokenization isn't trivial: Parley's chunker splits  documents by wordpieces."
    tokens = onnx_embedder.tokenizer.tokens(text)
    offsets = onnx_embedder.token_offsets(text)
    assert onnx_embedder.count_tokens(text) == len(offsets) == len(tokens)
    assert tokens[:2] == ["token", "##ization"]
    previous_end = 0
    for token, (start, end) in zip(tokens, offsets, strict=True):
        assert previous_end <= start < end <= len(text)
        # Each span is the token's own text (the model lower-cases; "##" marks a word continuation).
        assert text[start:end].lower() == token.removeprefix("##")
        if token.startswith("##"):
            assert start == previous_end
        previous_end = end

    assert onnx_embedder.count_tokens("") == 0
    assert onnx_embedder.token_offsets("") == []
    # Special tokens are not counted.
    assert onnx_embedder.count_tokens("hello") == 1


def test_offsets_follow_accents_and_unicode(onnx_embedder: OnnxMiniLMEmbedder) -> None:
    text = "Café Zürich naïve — 東京"
    offsets = onnx_embedder.token_offsets(text)
    assert len(offsets) == onnx_embedder.count_tokens(text)
    spans = [text[s:e] for s, e in offsets]
    assert spans[0] == "Café"
    assert "Zürich" in "".join(spans)
    assert spans[-2:] == ["東", "京"]


def test_counting_does_not_truncate_but_embedding_does(onnx_embedder: OnnxMiniLMEmbedder) -> None:
    words = [f"word{i % 7} alpha beta" for i in range(200)]
    long_text = " ".join(words)
    count = onnx_embedder.count_tokens(long_text)
    assert count > 500
    offsets = onnx_embedder.token_offsets(long_text)
    # The model sees [CLS] + 254 tokens + [SEP] = 256: the text cut after the 254th token embeds the same.
    prefix = long_text[: offsets[253][1]]
    assert onnx_embedder.count_tokens(prefix) == 254
    np.testing.assert_allclose(
        onnx_embedder.embed_query(long_text), onnx_embedder.embed_query(prefix), atol=1e-5
    )


def test_concurrent_use_from_threads(onnx_embedder: OnnxMiniLMEmbedder) -> None:
    expected = onnx_embedder.embed_documents(SENTENCES)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: onnx_embedder.embed_documents(SENTENCES), range(8)))
    for result in results:
        np.testing.assert_allclose(result, expected, atol=1e-5)


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


def test_missing_package_names_the_extra() -> None:
    # A fresh interpreter in which onnxruntime cannot be imported (as on an install without the extra).
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
    assert "parley[onnx]" in proc.stdout


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
