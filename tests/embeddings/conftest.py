"""The real OpenAI-compatible embeddings server and the ONNX model, shared with the unit tests."""

from tests.unit.embeddings.conftest import embedding_server, onnx_embedder  # noqa: F401
