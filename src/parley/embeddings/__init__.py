"""Text embeddings for Parley.

Three interchangeable :class:`Embedder` implementations, built with :func:`create_embedder`:

* ``onnx`` (default): all-MiniLM-L6-v2, int8 ONNX on onnxruntime, ~80 MB, no PyTorch.
* ``torch``: the same model in fp32 through sentence-transformers (optional ``parley[torch]``).
* ``openai``: any OpenAI-compatible ``/embeddings`` endpoint over HTTP.

Importing this package loads nothing heavy: numpy, onnxruntime, torch... are imported by the
constructors. See README.md in this folder for the measurements behind the default.
"""

from parley.embeddings.base import (
    MINILM_DIMENSION,
    MINILM_MAX_TOKENS,
    MINILM_MODEL_NAME,
    Embedder,
    EmbeddingError,
)
from parley.embeddings.factory import DEFAULT_EMBEDDER_KIND, EmbedderKind, create_embedder
from parley.embeddings.onnx_minilm import OnnxMiniLMEmbedder
from parley.embeddings.openai_compat import OpenAICompatibleEmbedder
from parley.embeddings.tokenizer import MiniLMTokenizer
from parley.embeddings.torch_minilm import TorchMiniLMEmbedder

__all__ = [
    "DEFAULT_EMBEDDER_KIND",
    "MINILM_DIMENSION",
    "MINILM_MAX_TOKENS",
    "MINILM_MODEL_NAME",
    "Embedder",
    "EmbedderKind",
    "EmbeddingError",
    "MiniLMTokenizer",
    "OnnxMiniLMEmbedder",
    "OpenAICompatibleEmbedder",
    "TorchMiniLMEmbedder",
    "create_embedder",
]
