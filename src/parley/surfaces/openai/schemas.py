"""Request bodies of the OpenAI-compatible surface, as the ``openai`` SDK and chat clients send them.

Bodies accept unknown keys (``extra="allow"``) and ignore them: clients send options Parley
has no use for (``top_p``, ``stop``, ``seed``, ``tools``, ``logprobs``...), and OpenAI
adds new ones over time. Values Parley cannot honour (``n`` above 1) and values OpenAI
refuses too (a temperature out of range) are 400.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

MAX_TEXT = 20_000
MAX_MESSAGES = 500

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ContentPart(_Open):
    type: Literal["text"]
    text: str


class ChatMessage(_Open):
    role: Role
    # None: an assistant message that only carried tool calls.
    content: str | list[ContentPart] | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _text_parts_only(cls, value: object) -> object:
        # Agents answer from text: refuse an image or a file rather than drop it, and say so
        # plainly (a union's own error would first complain that the list is not a string).
        for part in value if isinstance(value, list) else ():
            kind = part.get("type") if isinstance(part, dict) else None
            if kind != "text":
                raise ValueError(f"content parts of type {kind!r} are not supported, only 'text'")
        return value

    @model_validator(mode="after")
    def _not_too_long(self) -> ChatMessage:
        if len(self.text) > MAX_TEXT:
            raise ValueError(f"content is longer than {MAX_TEXT} characters")
        return self

    @property
    def text(self) -> str:
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        return "\n".join(part.text for part in self.content)


class StreamOptions(_Open):
    include_usage: bool | None = None


class ChatCompletionBody(_Open):
    model: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    # Accepted and checked, not applied: the agent's LLM config sets them (docs/api/openai.md).
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    # One answer per request: an agent's answer is recorded as one response.
    n: int | None = Field(default=None, ge=1, le=1)
    # The client's end user: the usage log's channel user id.
    user: Annotated[str, StringConstraints(max_length=256)] | None = None
