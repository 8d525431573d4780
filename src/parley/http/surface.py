"""Which API surface a request belongs to, decided by its path."""

from __future__ import annotations

from enum import StrEnum


class Surface(StrEnum):
    EJENTO = "ejento"
    CONTEXTUAL = "contextual"
    SUPEROFFICE = "superoffice"
    KORE = "kore"
    OPENAI = "openai"
    PARLEY = "parley"


# OpenAI-compatible paths; the rest of /v1/ is Contextual AI's.
_OPENAI_PATHS = ("/v1/models", "/v1/chat/completions")
# Legacy V2, and the newer V2 services that replace parts of it.
_EJENTO_PREFIXES = ("/v2/", "/auth-service/", "/response-service/", "/indexing-service/", "/api/v2/")


def surface_for_path(path: str) -> Surface:
    if path.startswith(_EJENTO_PREFIXES):
        return Surface.EJENTO
    if path.startswith("/api/v1/Agents/") or path.startswith("/api/v1/agents/"):
        return Surface.SUPEROFFICE
    if "/public/bot/" in path:
        return Surface.KORE
    if path in _OPENAI_PATHS or path.startswith("/v1/models/"):
        return Surface.OPENAI
    if path.startswith("/v1/"):
        return Surface.CONTEXTUAL
    return Surface.PARLEY
