"""The embedder interface, its error type and the pooling helpers shared by the local models.

Nothing here imports numpy (or anything else outside the standard library) at import time:
``import parley.embeddings`` must stay cheap and must work on an install without the
embedding extras.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from parley.errors import ParleyError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

#: The name every MiniLM-based embedder reports (the vectors of the ONNX int8 and the torch
#: fp32 path agree to cosine >= 0.999, so they share one name and one index).
MINILM_MODEL_NAME = "all-MiniLM-L6-v2"
MINILM_DIMENSION = 384
#: sentence-transformers' ``max_seq_length`` for all-MiniLM-L6-v2, special tokens included.
MINILM_MAX_TOKENS = 256


class EmbeddingError(ParleyError, RuntimeError):
    """Raised when an embedder cannot be built or cannot embed (missing package, bad endpoint...).

    A ParleyError so that a request it ends answers 502 in its surface's own error format."""

    status_code = 502


@runtime_checkable
class Embedder(Protocol):
    """What the rest of Parley needs from an embedding model.

    All vectors are float32 and L2-normalised, so a dot product is a cosine similarity.
    """

    #: e.g. "all-MiniLM-L6-v2" (for a remote endpoint: the model name sent to it).
    model_name: str
    #: The model's input limit in its own tokens, special tokens included (256 for MiniLM).
    max_tokens: int

    @property
    def dimension(self) -> int:
        """Vector size (384 for MiniLM). Read-only: a plain attribute satisfies it, and so does the
        OpenAI-compatible embedder's lazily discovered property."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``: float32 array of shape ``(len(texts), dimension)``, rows L2-normalised."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query: float32 array of shape ``(dimension,)``, L2-normalised."""
        ...

    def count_tokens(self, text: str) -> int:
        """Number of wordpiece tokens in ``text``, special tokens ([CLS]/[SEP]) not counted."""
        ...

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """``(start, end)`` character span in ``text`` of each token counted by :meth:`count_tokens`."""
        ...


# -- helpers ---------------------------------------------------------------------------------------


def require(modules: Sequence[str], *, what: str, install: str) -> None:
    """Raise a clear :class:`EmbeddingError` when one of ``modules`` is not importable.

    Uses ``find_spec`` so nothing is imported (and nothing heavy is loaded) just to check.
    """
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    if missing:
        raise EmbeddingError(f"{what} needs the Python package(s) {', '.join(missing)}: {install}")


def mean_pool_normalize(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' ``Pooling(mean)`` + ``Normalize`` on a ``(batch, seq, dim)`` array.

    Mean over the positions whose attention mask is 1 (sum / clamp(count, 1e-9)), then divide
    by the L2 norm clamped to 1e-12 (``torch.nn.functional.normalize``).
    """
    import numpy as np

    weights = mask.astype(np.float32)[..., None]
    summed = (hidden.astype(np.float32, copy=False) * weights).sum(axis=1)
    counts = np.clip(weights.sum(axis=1), 1e-9, None)
    return l2_normalize(summed / counts)


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm (clamped to 1e-12), as float32."""
    import numpy as np

    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32, copy=False)


def check_texts(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list, rejecting a bare ``str`` (a classic bug: it would embed each character)."""
    if isinstance(texts, str):
        raise TypeError("embed_documents expects a sequence of str, not a single str (use embed_query)")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is {type(text).__name__}, not str")
    return texts


def check_query(text: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"embed_query expects a str, got {type(text).__name__}")
    return text
