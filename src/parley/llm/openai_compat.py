"""Chat completions from any OpenAI-compatible endpoint, or Azure OpenAI, through the ``openai`` SDK.

Works with OpenAI itself and with self-hosted servers that speak the same API (vLLM, Ollama's
``/v1``, LocalAI, llama.cpp's server...). ``base_url`` normally ends in ``/v1``. For Azure OpenAI
pass ``azure_api_version`` (``""`` picks a default): ``base_url`` is then the resource endpoint
(``https://NAME.openai.azure.com``) and ``model`` the deployment name.

* Retries: the SDK's own, ``max_retries`` times after the first attempt, with exponential backoff
  (0.5 s doubling, at most 8 s, jittered) or the server's ``retry-after-ms`` / ``Retry-After``.
  It retries 408, 409, 429, every 5xx, connection errors and timeouts, and nothing else, so a
  401/403/400/404 fails at once. A stream is retried only until its response headers arrive.
* Timeouts: ``timeout`` seconds for each attempt's connect, write and each read (between two
  streamed chunks too), so a stalled server is given up on rather than waited for.
* Failures raise :class:`LLMCallError` with the upstream status, whether the failure was of a
  transient kind (``retriable``), the request payload (the messages and parameters, never the key)
  and ``timed_out`` (which makes the answer a 504).
* Function calling (:meth:`OpenAICompatibleChatModel.complete_with_tools`): OpenAI's ``tools``
  and ``tool_choice``; the calls the model asks for come back in ``Completion.tool_calls``.
* Token counts are the server's ``usage``; a streaming server that sends none (some ignore
  ``stream_options``) gets an estimate instead, see :func:`approximate_tokens`.

Thread-safety: the instance holds one SDK client (an ``httpx`` connection pool, which is
thread-safe) and no other mutable state, so one instance can be shared by several threads.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import openai

from parley.llm.base import ChatMessage, Completion, LLMCallError, ToolCall, ToolSpec

DEFAULT_MAX_RETRIES = 2
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_AZURE_API_VERSION = "2024-10-21"
# The SDK insists on a key; self-hosted servers usually need none and ignore this one.
NO_API_KEY = "no-key"
# The statuses the SDK retries (see its ``_should_retry``); anything else is the caller's problem.
TRANSIENT_STATUSES = frozenset({408, 409, 429})


class OpenAICompatibleChatModel:
    """Client for an OpenAI-compatible ``POST {base_url}/chat/completions`` endpoint.

    Args:
        model: the model name sent in each request (also this model's ``model_name``).
        base_url: e.g. ``http://127.0.0.1:8080/v1``; OpenAI's own API when empty.
        api_key: sent as ``Authorization: Bearer ...``; a placeholder when ``None``.
        timeout: seconds for each attempt (connect, write, and each read).
        max_retries: retries after the first attempt on transient failures.
        azure_api_version: set (even to ``""``) for Azure OpenAI; see the module docstring.
    """

    def __init__(
        self,
        *,
        model: str,
        base_url: str = "",
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = DEFAULT_MAX_RETRIES,
        azure_api_version: str | None = None,
    ) -> None:
        if not model:
            raise LLMCallError("an OpenAI-compatible chat model needs a model name")
        client: openai.OpenAI
        if azure_api_version is not None:
            if not base_url:
                raise LLMCallError(
                    "Azure OpenAI needs the resource endpoint, e.g. https://NAME.openai.azure.com"
                )
            client = openai.AzureOpenAI(
                azure_endpoint=base_url,
                api_version=azure_api_version or DEFAULT_AZURE_API_VERSION,
                api_key=api_key or NO_API_KEY,
                timeout=timeout,
                max_retries=max_retries,
            )
        else:
            client = openai.OpenAI(
                base_url=base_url or DEFAULT_OPENAI_BASE_URL,
                api_key=api_key or NO_API_KEY,
                timeout=timeout,
                max_retries=max_retries,
            )
        self.model_name = model
        self.endpoint = base_url or DEFAULT_OPENAI_BASE_URL
        self.timeout = timeout
        self.max_retries = max_retries
        self._client = client

    # -- ChatModel ---------------------------------------------------------------------------------

    def complete(self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float) -> Completion:
        payload = self._payload(messages, max_tokens=max_tokens, temperature=temperature, stream=False)
        return self._complete(messages, payload)

    def complete_with_tools(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        *,
        max_tokens: int,
        temperature: float,
        tool_choice: Literal["auto", "none"] = "auto",
    ) -> Completion:
        """OpenAI function calling: the tools go as ``tools`` (type ``function``)."""
        payload = self._payload(messages, max_tokens=max_tokens, temperature=temperature, stream=False)
        payload["tools"] = [
            {
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
            }
            for t in tools
        ]
        payload["tool_choice"] = tool_choice
        return self._complete(messages, payload)

    def _complete(self, messages: Sequence[ChatMessage], payload: dict[str, Any]) -> Completion:
        try:
            response = self._client.chat.completions.create(**payload)
        except openai.APIError as exc:
            raise self._call_error(exc, payload) from exc
        if not response.choices:
            raise LLMCallError(
                f"{self.endpoint} returned no choices for model {self.model_name!r}", request_payload=payload
            )
        choice = response.choices[0]
        text = choice.message.content or ""
        finish_reason = choice.finish_reason or "stop"
        tool_calls = [
            ToolCall(call.id, call.function.name, call.function.arguments or "")
            for call in choice.message.tool_calls or []
            if call.type == "function"
        ]
        usage = response.usage
        prompt_tokens = usage.prompt_tokens if usage else approximate_prompt_tokens(messages)
        completion_tokens = usage.completion_tokens if usage else approximate_tokens(text)
        response_payload = _response_payload(
            response.id, response.model, text, finish_reason, prompt_tokens, completion_tokens, usage
        )
        if tool_calls:
            response_payload["choices"][0]["tool_calls"] = [_tool_call_dict(call) for call in tool_calls]
        return Completion(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            model=response.model or self.model_name,
            finish_reason=finish_reason,
            request_payload=payload,
            response_payload=response_payload,
            tool_calls=tool_calls,
        )

    def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> Iterator[str | Completion]:
        payload = self._payload(messages, max_tokens=max_tokens, temperature=temperature, stream=True)
        parts: list[str] = []
        response_id = ""
        model = self.model_name
        finish_reason = "stop"
        usage = None
        try:
            chunks = self._client.chat.completions.create(**payload)
            # ``with`` closes the HTTP response when the consumer stops reading early.
            with chunks:
                for chunk in chunks:
                    response_id = chunk.id or response_id
                    model = chunk.model or model
                    # The final chunk asked for by ``include_usage`` has usage and no choices.
                    usage = chunk.usage or usage
                    for choice in chunk.choices:
                        if choice.index != 0:
                            continue
                        if choice.delta and choice.delta.content:
                            parts.append(choice.delta.content)
                            yield choice.delta.content
                        if choice.finish_reason:
                            finish_reason = choice.finish_reason
        except openai.APIError as exc:
            raise self._call_error(exc, payload) from exc
        text = "".join(parts)
        prompt_tokens = usage.prompt_tokens if usage else approximate_prompt_tokens(messages)
        completion_tokens = usage.completion_tokens if usage else approximate_tokens(text)
        yield Completion(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            model=model,
            finish_reason=finish_reason,
            request_payload=payload,
            response_payload=_response_payload(
                response_id, model, text, finish_reason, prompt_tokens, completion_tokens, usage
            ),
        )

    # -- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"OpenAICompatibleChatModel(endpoint={self.endpoint!r}, model={self.model_name!r})"

    # -- internals ---------------------------------------------------------------------------------

    def _payload(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float, stream: bool
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model_name,
            "messages": [_message_dict(message) for message in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": stream,
        }
        if stream:
            payload["stream_options"] = {"include_usage": True}
        return payload

    def _call_error(self, exc: openai.APIError, payload: dict[str, Any]) -> LLMCallError:
        where = f"chat completion from {self.endpoint} (model {self.model_name!r})"
        if isinstance(exc, openai.APITimeoutError):
            return LLMCallError(
                f"{where} timed out ({self.max_retries + 1} attempt(s) of {self.timeout:g}s)",
                retriable=True,
                request_payload=payload,
                timed_out=True,
            )
        if isinstance(exc, openai.APIConnectionError):
            return LLMCallError(
                f"{where} failed: cannot connect ({_cause(exc)})", retriable=True, request_payload=payload
            )
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            hint = "; check the API key" if status in (401, 403) else ""
            return LLMCallError(
                f"{where} failed with HTTP {status}: {_error_detail(exc)}{hint}",
                upstream_status=status,
                retriable=status in TRANSIENT_STATUSES or status >= 500,
                request_payload=payload,
            )
        return LLMCallError(f"{where} failed: {exc.message}", request_payload=payload)


def _tool_call_dict(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def _message_dict(message: ChatMessage) -> dict[str, Any]:
    """A message as the API takes it; an assistant turn that called tools carries the calls, a
    tool turn the id of the call it answers."""
    found: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        found["content"] = message.content or None
        found["tool_calls"] = [_tool_call_dict(call) for call in message.tool_calls]
    if message.tool_call_id is not None:
        found["tool_call_id"] = message.tool_call_id
    return found


def approximate_tokens(text: str) -> int:
    """An ESTIMATE used only when the server reports no usage: about 4 characters per token,
    OpenAI's rule of thumb for English BPE tokenizers. The remote tokenizer is unknown here."""
    return math.ceil(len(text) / 4) if text else 0


def approximate_prompt_tokens(messages: Sequence[ChatMessage]) -> int:
    """An ESTIMATE like :func:`approximate_tokens`, plus the ~4 tokens of chat markup per message."""
    return sum(approximate_tokens(message.content) + 4 for message in messages)


def _response_payload(
    response_id: str | None,
    model: str | None,
    text: str,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
    usage: Any,
) -> dict[str, Any]:
    """What the usage log keeps of a response: enough to audit it, without the SDK's noise."""
    return {
        "id": response_id or "",
        "model": model or "",
        "choices": [{"text": text, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "estimated": usage is None,
        },
    }


def _error_detail(exc: openai.APIStatusError) -> str:
    """The server's own error message if it sent one (OpenAI's ``{"error": {"message": ...}}``)."""
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if isinstance(error, str):
            return error[:300]
        if "detail" in body:
            return str(body["detail"])[:300]
    return exc.message[:300]


def _cause(exc: BaseException) -> str:
    """The transport error under the SDK's generic 'Connection error.'"""
    cause = exc.__cause__
    return f"{type(cause).__name__}: {cause}" if cause else str(exc)
