"""The chat model an :class:`~parley.llm.models.LLMConfig` describes, built once and reused.

Providers: ``openai`` (any OpenAI-compatible endpoint: ``endpoint`` is the base URL, OpenAI's
own when empty), ``azure`` (``endpoint`` is the resource URL, ``deployment_name`` the deployment,
``api_version`` optional) and ``llamacpp`` (see :mod:`parley.llm.llamacpp`). ``offline`` is not a
model call: the answer service handles it, so asking for it here is a programming error.

Models are cached per (config id, ``modified_on``, key): an edited config or a rotated key gets a
new model on its next use, and the stale one is dropped. Clients are costly to build (connection
pools; a loaded GGUF for llamacpp), which is why they are shared between requests and threads.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime

from parley.llm.base import ChatModel
from parley.llm.models import LLMConfig

CacheKey = tuple[int, datetime | None, str]

_models: dict[CacheKey, ChatModel] = {}
_models_lock = threading.Lock()


def chat_model_for(config: LLMConfig, api_key: str | None) -> ChatModel:
    """The (cached) chat model for ``config``, calling with ``api_key`` when the provider needs one."""
    if config.provider == "offline":
        raise ValueError("the offline provider is answered by the answer service, not by a chat model")
    if config.id is None:  # not saved yet: nothing stable to cache it under
        return _build(config, api_key)
    # Only a digest of the key is kept in the cache key, so the key does not end up in dumps of it.
    key_digest = hashlib.sha256(api_key.encode()).hexdigest() if api_key else ""
    cache_key: CacheKey = (config.id, config.modified_on, key_digest)
    with _models_lock:
        model = _models.get(cache_key)
        if model is None:
            model = _build(config, api_key)
            # A config has one live version: older models of it are never asked for again.
            for stale in [key for key in _models if key[0] == config.id]:
                del _models[stale]
            _models[cache_key] = model
        return model


def clear_chat_model_cache() -> None:
    """Forget every built model (tests; after deleting configs in bulk)."""
    with _models_lock:
        _models.clear()


def _build(config: LLMConfig, api_key: str | None) -> ChatModel:
    extra = config.extra or {}
    if config.provider in ("openai", "azure"):
        from parley.llm.openai_compat import OpenAICompatibleChatModel

        if config.provider == "azure":
            return OpenAICompatibleChatModel(
                model=config.deployment_name or config.model,
                base_url=config.endpoint,
                api_key=api_key,
                timeout=config.timeout_seconds,
                azure_api_version=config.api_version,
            )
        return OpenAICompatibleChatModel(
            model=config.model, base_url=config.endpoint, api_key=api_key, timeout=config.timeout_seconds
        )
    if config.provider == "llamacpp":
        from parley.llm.llamacpp import LlamaCppChatModel

        return LlamaCppChatModel(
            model_path=extra.get("model_path") or None,
            model_name=config.model,
            n_ctx=int(extra.get("n_ctx") or 2048),
            n_threads=int(extra["n_threads"]) if extra.get("n_threads") else None,
        )
    raise ValueError(f"unknown LLM provider {config.provider!r}")
