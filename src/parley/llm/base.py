"""What the answer path needs from a chat model, whatever serves it.

A provider turns chat messages into a :class:`Completion` (text, token counts, the payloads
sent and received), either at once (:meth:`ChatModel.complete`) or as a stream of text deltas
followed by the final :class:`Completion` (:meth:`ChatModel.stream`). Failures raise
:class:`LLMCallError`, which carries what the usage log needs to record a failed call.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from parley.errors import ParleyError

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str
    finish_reason: str = "stop"
    request_payload: dict = field(default_factory=dict)
    response_payload: dict = field(default_factory=dict)


class LLMCallError(ParleyError):
    """A model call that failed after its retries; surfaces answer 502 (or 504 on timeouts)."""

    status_code = 502

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int | None = None,
        retriable: bool = False,
        request_payload: dict | None = None,
        timed_out: bool = False,
    ) -> None:
        super().__init__(message)
        self.upstream_status = upstream_status
        self.retriable = retriable
        self.request_payload = request_payload or {}
        if timed_out:
            self.status_code = 504


class ChatModel(Protocol):
    """A chat-completion model. Implementations must be safe to share between threads."""

    model_name: str

    def complete(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> Completion: ...

    def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> Iterator[str | Completion]:
        """Text deltas as they arrive, then exactly one :class:`Completion` with the whole text."""
        ...
