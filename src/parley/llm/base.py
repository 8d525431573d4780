"""What the answer path needs from a chat model, whatever serves it.

A provider turns chat messages into a :class:`Completion` (text, token counts, the payloads
sent and received), either at once (:meth:`ChatModel.complete`) or as a stream of text deltas
followed by the final :class:`Completion` (:meth:`ChatModel.stream`). Failures raise
:class:`LLMCallError`, which carries what the usage log needs to record a failed call. A provider
that supports function calling also implements :class:`ToolCallingChatModel`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from parley.errors import ParleyError

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    """A function call a model asked for; ``arguments`` is the JSON text it wrote."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolSpec:
    """A function offered to a model: ``parameters`` is its JSON schema."""

    name: str
    description: str
    parameters: dict


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()  # an assistant turn that called tools
    tool_call_id: str | None = None  # a tool turn: the call it answers


@dataclass
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str
    finish_reason: str = "stop"
    request_payload: dict = field(default_factory=dict)
    response_payload: dict = field(default_factory=dict)
    tool_calls: list[ToolCall] = field(default_factory=list)


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


@runtime_checkable
class ToolCallingChatModel(ChatModel, Protocol):
    """A chat model that can be offered functions and answer with calls to them."""

    def complete_with_tools(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        *,
        max_tokens: int,
        temperature: float,
        tool_choice: Literal["auto", "none"] = "auto",
    ) -> Completion:
        """One completion that may hold :attr:`Completion.tool_calls` instead of (or beside)
        text; with ``tool_choice="none"`` the model must answer in text."""
        ...
