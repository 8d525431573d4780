"""``create_embedder``: build the configured embedder by name."""

from __future__ import annotations

import inspect
from typing import Any, Literal, get_args

from parley.embeddings.base import Embedder, EmbeddingError

EmbedderKind = Literal["onnx", "torch", "openai"]
#: The embedder used when nothing is configured: light, CPU-only, no PyTorch (see README.md).
DEFAULT_EMBEDDER_KIND: EmbedderKind = "onnx"


def _embedder_class(kind: str) -> type:
    # The modules only import the standard library at import time; the heavy imports happen in
    # the constructors, so importing all three here costs nothing.
    if kind == "onnx":
        from parley.embeddings.onnx_minilm import OnnxMiniLMEmbedder

        return OnnxMiniLMEmbedder
    if kind == "torch":
        from parley.embeddings.torch_minilm import TorchMiniLMEmbedder

        return TorchMiniLMEmbedder
    if kind == "openai":
        from parley.embeddings.openai_compat import OpenAICompatibleEmbedder

        return OpenAICompatibleEmbedder
    raise EmbeddingError(
        f"unknown embedder kind {kind!r}; expected one of {', '.join(get_args(EmbedderKind))}"
    )


def create_embedder(kind: EmbedderKind | str = DEFAULT_EMBEDDER_KIND, **options: Any) -> Embedder:
    """Build an embedder.

    * ``"onnx"`` (default): :class:`~parley.embeddings.onnx_minilm.OnnxMiniLMEmbedder`
    * ``"torch"``: :class:`~parley.embeddings.torch_minilm.TorchMiniLMEmbedder` (``parley[torch]``)
    * ``"openai"``: :class:`~parley.embeddings.openai_compat.OpenAICompatibleEmbedder`
      (``base_url=``, ``model=``, ``api_key=``...)

    ``options`` are the keyword arguments of that class; ``None`` values are dropped so that a
    configuration object can pass every field it has. Raises :class:`EmbeddingError` for an
    unknown kind or option, a missing package, or a model that does not load.
    """
    kind = str(kind).strip().lower()
    cls = _embedder_class(kind)
    options = {k: v for k, v in options.items() if v is not None}
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise EmbeddingError(
            f"unknown option(s) for the {kind!r} embedder: {', '.join(unknown)} "
            f"(accepted: {', '.join(sorted(accepted))})"
        )
    return cls(**options)
