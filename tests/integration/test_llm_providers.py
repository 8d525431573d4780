"""The chat model providers over real HTTP: llama-cpp-python's OpenAI-compatible server for what a
real model does, and a small error-injecting server for what one cannot be made to do."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from parley.llm.base import ChatMessage, Completion, LLMCallError
from parley.llm.factory import chat_model_for, clear_chat_model_cache
from parley.llm.llamacpp import LlamaCppChatModel
from parley.llm.models import LLMConfig
from parley.llm.openai_compat import OpenAICompatibleChatModel
from tests.support.llm_server import SERVED_MODEL_NAME, llama_server, require_llama_cpp
from tests.support.openai_error_server import REPLY_WORDS, OpenAIErrorServer
from tests.support.processes import free_port

API_KEY = "sk-parley-test-secret"
QUESTION = [
    ChatMessage("system", "You answer in one short sentence."),
    ChatMessage("user", "What colour is the sky on a clear day?"),
]
LONG_ANSWER = [ChatMessage("user", "Write a long story about a dragon who learns to bake bread.")]
# Generous: this 2-core machine is often busy with other suites while these run.
LLAMA_TIMEOUT = 120.0


@pytest.fixture(scope="module")
def llama_base_url() -> Iterator[str]:
    require_llama_cpp()
    with llama_server(n_ctx=2048) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def served_model(llama_base_url: str) -> OpenAICompatibleChatModel:
    return OpenAICompatibleChatModel(
        model=SERVED_MODEL_NAME, base_url=llama_base_url, api_key=API_KEY, timeout=LLAMA_TIMEOUT
    )


@pytest.fixture(scope="module")
def in_process_model() -> LlamaCppChatModel:
    require_llama_cpp()
    return LlamaCppChatModel(model_name="smollm2-in-process", n_ctx=2048, n_threads=1)


@pytest.fixture
def error_server() -> Iterator[OpenAIErrorServer]:
    with OpenAIErrorServer() as server:
        yield server


def split_stream(items: list[str | Completion]) -> tuple[list[str], Completion]:
    """The deltas and the one final Completion; fails if the stream breaks its contract."""
    *head, final = items
    deltas = [item for item in head if isinstance(item, str)]
    assert isinstance(final, Completion) and len(deltas) == len(head)
    return deltas, final


def assert_no_key(error: LLMCallError) -> None:
    assert API_KEY not in repr(error.request_payload)
    assert API_KEY not in str(error)


# -- the openai provider against a real llama.cpp server ------------------------------------------------


def test_complete_returns_text_usage_and_payloads(served_model: OpenAICompatibleChatModel) -> None:
    completion = served_model.complete(QUESTION, max_tokens=24, temperature=0.0)

    assert completion.text.strip()
    assert completion.prompt_tokens > 0
    assert completion.completion_tokens > 0
    assert completion.model == SERVED_MODEL_NAME
    assert completion.request_payload == {
        "model": SERVED_MODEL_NAME,
        "messages": [{"role": message.role, "content": message.content} for message in QUESTION],
        "max_tokens": 24,
        "temperature": 0.0,
        "stream": False,
    }
    response = completion.response_payload
    assert response["id"]
    assert response["choices"] == [{"text": completion.text, "finish_reason": completion.finish_reason}]
    assert response["usage"]["prompt_tokens"] == completion.prompt_tokens
    assert response["usage"]["completion_tokens"] == completion.completion_tokens
    assert response["usage"]["estimated"] is False


def test_stream_deltas_add_up_to_the_final_text(served_model: OpenAICompatibleChatModel) -> None:
    deltas, final = split_stream(list(served_model.stream(QUESTION, max_tokens=24, temperature=0.0)))

    assert len(deltas) > 1
    assert "".join(deltas) == final.text
    assert final.text.strip()
    assert final.prompt_tokens > 0 and final.completion_tokens > 0
    assert final.request_payload["stream"] is True
    assert final.request_payload["stream_options"] == {"include_usage": True}
    assert final.response_payload["choices"][0]["text"] == final.text


def test_max_tokens_cuts_the_answer(served_model: OpenAICompatibleChatModel) -> None:
    completion = served_model.complete(LONG_ANSWER, max_tokens=5, temperature=0.0)
    assert completion.finish_reason == "length"
    assert completion.completion_tokens == 5

    _, final = split_stream(list(served_model.stream(LONG_ANSWER, max_tokens=5, temperature=0.0)))
    assert final.finish_reason == "length"


def test_wrong_path_is_a_non_retriable_upstream_error(llama_base_url: str) -> None:
    model = OpenAICompatibleChatModel(
        model=SERVED_MODEL_NAME, base_url=llama_base_url.removesuffix("/v1"), api_key=API_KEY
    )
    with pytest.raises(LLMCallError) as caught:
        model.complete(QUESTION, max_tokens=5, temperature=0.0)
    assert caught.value.upstream_status == 404
    assert caught.value.retriable is False
    assert caught.value.status_code == 502
    assert_no_key(caught.value)


def test_connection_refused_is_retriable_and_keeps_the_key_out() -> None:
    model = OpenAICompatibleChatModel(
        model="any", base_url=f"http://127.0.0.1:{free_port()}/v1", api_key=API_KEY, max_retries=1
    )
    with pytest.raises(LLMCallError) as caught:
        model.complete(QUESTION, max_tokens=5, temperature=0.0)
    error = caught.value
    assert error.retriable is True
    assert error.upstream_status is None
    assert error.status_code == 502
    assert error.request_payload["messages"][1]["content"] == QUESTION[1].content
    assert_no_key(error)

    with pytest.raises(LLMCallError) as caught_stream:
        list(model.stream(QUESTION, max_tokens=5, temperature=0.0))
    assert caught_stream.value.retriable is True
    assert_no_key(caught_stream.value)


# -- the llamacpp provider, in this process ----------------------------------------------------------


def test_in_process_model_completes_and_streams(in_process_model: LlamaCppChatModel) -> None:
    completion = in_process_model.complete(QUESTION, max_tokens=16, temperature=0.0)
    assert completion.text.strip()
    assert completion.prompt_tokens > 0 and completion.completion_tokens > 0
    assert completion.model == "smollm2-in-process"
    assert completion.request_payload["max_tokens"] == 16

    deltas, final = split_stream(list(in_process_model.stream(QUESTION, max_tokens=16, temperature=0.0)))
    assert "".join(deltas) == final.text
    # Same prompt, greedy decoding: the stream's counts match llama.cpp's own usage.
    assert final.text == completion.text
    assert final.prompt_tokens == completion.prompt_tokens
    assert final.completion_tokens == completion.completion_tokens


def test_in_process_model_respects_max_tokens(in_process_model: LlamaCppChatModel) -> None:
    completion = in_process_model.complete(LONG_ANSWER, max_tokens=5, temperature=0.0)
    assert completion.finish_reason == "length"
    assert completion.completion_tokens == 5


def test_in_process_model_serves_threads_one_at_a_time(in_process_model: LlamaCppChatModel) -> None:
    results: list[Completion] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            results.append(in_process_model.complete(QUESTION, max_tokens=8, temperature=0.0))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=LLAMA_TIMEOUT)
    assert not errors
    assert len({result.text for result in results}) == 1 and len(results) == 3


def test_in_process_model_reports_a_missing_file(tmp_path: Path) -> None:
    require_llama_cpp()
    with pytest.raises(LLMCallError, match="not found"):
        LlamaCppChatModel(model_path=tmp_path / "missing.gguf")


# -- the factory -----------------------------------------------------------------------------------


def llm_config(**values: object) -> LLMConfig:
    values = {"id": 7, "modified_on": datetime(2025, 1, 1, tzinfo=UTC), "extra": {}, **values}
    return LLMConfig(org_id=1, name="test", timeout_seconds=LLAMA_TIMEOUT, **values)


def test_factory_builds_the_openai_provider_and_caches_it(llama_base_url: str) -> None:
    clear_chat_model_cache()
    config = llm_config(provider="openai", model=SERVED_MODEL_NAME, endpoint=llama_base_url)

    model = chat_model_for(config, API_KEY)
    assert chat_model_for(config, API_KEY) is model
    assert model.complete(QUESTION, max_tokens=8, temperature=0.0).text.strip()

    config.modified_on += timedelta(seconds=1)
    assert chat_model_for(config, API_KEY) is not model
    rotated = chat_model_for(config, "sk-another-key")
    assert rotated is not model and chat_model_for(config, "sk-another-key") is rotated


def test_factory_builds_the_llamacpp_provider(in_process_model: LlamaCppChatModel) -> None:
    clear_chat_model_cache()
    config = llm_config(provider="llamacpp", model="smollm2-local", extra={"n_threads": 1})
    model = chat_model_for(config, None)
    assert isinstance(model, LlamaCppChatModel)
    assert model.model_path == in_process_model.model_path
    assert model.complete(QUESTION, max_tokens=8, temperature=0.0).model == "smollm2-local"


def test_factory_builds_azure_and_refuses_offline(error_server: OpenAIErrorServer) -> None:
    clear_chat_model_cache()
    config = llm_config(
        provider="azure",
        model="gpt-4o",
        deployment_name="answers-prod",
        endpoint=error_server.base_url.removesuffix("/v1"),
        api_version="2024-10-21",
    )
    azure = chat_model_for(config, API_KEY)
    assert azure.model_name == "answers-prod"
    assert azure.complete(QUESTION, max_tokens=8, temperature=0.0).text == "".join(REPLY_WORDS)
    path, headers = error_server.requests[0]
    assert path == "/openai/deployments/answers-prod/chat/completions?api-version=2024-10-21"
    assert headers["api-key"] == API_KEY

    with pytest.raises(ValueError, match="offline"):
        chat_model_for(llm_config(provider="offline"), None)


# -- retries, errors and timeouts, from a server that fails on purpose ----------------------------


def error_server_model(
    server: OpenAIErrorServer, *, timeout: float = 10.0, max_retries: int = 2
) -> OpenAICompatibleChatModel:
    return OpenAICompatibleChatModel(
        model="flaky", base_url=server.base_url, api_key=API_KEY, timeout=timeout, max_retries=max_retries
    )


def test_rate_limits_are_retried_until_success(error_server: OpenAIErrorServer) -> None:
    error_server.failures = [429, 503]
    completion = error_server_model(error_server, max_retries=2).complete(
        QUESTION, max_tokens=8, temperature=0.0
    )
    assert completion.text == "".join(REPLY_WORDS)
    assert error_server.attempts == 3
    assert [headers["authorization"] for _, headers in error_server.requests] == [f"Bearer {API_KEY}"] * 3


def test_streams_are_retried_and_estimate_usage_the_server_omits(error_server: OpenAIErrorServer) -> None:
    error_server.failures = [502]
    deltas, final = split_stream(
        list(error_server_model(error_server).stream(QUESTION, max_tokens=8, temperature=0.0))
    )
    assert deltas == REPLY_WORDS
    assert error_server.attempts == 2
    assert final.response_payload["usage"]["estimated"] is True
    assert final.prompt_tokens > 0 and final.completion_tokens > 0


def test_persistent_server_errors_give_up_after_the_retries(error_server: OpenAIErrorServer) -> None:
    error_server.fail_forever = 500
    with pytest.raises(LLMCallError) as caught:
        error_server_model(error_server, max_retries=2).complete(QUESTION, max_tokens=8, temperature=0.0)
    assert caught.value.upstream_status == 500
    assert caught.value.retriable is True
    assert caught.value.status_code == 502
    assert "injected HTTP 500" in str(caught.value)
    assert error_server.attempts == 3
    assert_no_key(caught.value)


def test_a_refused_key_is_not_retried(error_server: OpenAIErrorServer) -> None:
    error_server.fail_forever = 401
    with pytest.raises(LLMCallError) as caught:
        error_server_model(error_server, max_retries=3).complete(QUESTION, max_tokens=8, temperature=0.0)
    assert caught.value.upstream_status == 401
    assert caught.value.retriable is False
    assert "API key" in str(caught.value)
    assert error_server.attempts == 1
    assert_no_key(caught.value)


def test_a_stalled_server_times_out_as_504(error_server: OpenAIErrorServer) -> None:
    error_server.stall_seconds = 10
    model = error_server_model(error_server, timeout=0.5, max_retries=1)
    with pytest.raises(LLMCallError) as caught:
        model.complete(QUESTION, max_tokens=8, temperature=0.0)
    assert caught.value.status_code == 504
    assert caught.value.retriable is True
    assert caught.value.upstream_status is None
    assert error_server.attempts == 2
    assert_no_key(caught.value)


def test_a_stream_that_stalls_midway_times_out_as_504(error_server: OpenAIErrorServer) -> None:
    error_server.stall_seconds = 10
    received: list[str | Completion] = []
    with pytest.raises(LLMCallError) as caught:
        for item in error_server_model(error_server, timeout=0.5).stream(
            QUESTION, max_tokens=8, temperature=0.0
        ):
            received.append(item)
    assert received == REPLY_WORDS[:1]
    assert caught.value.status_code == 504
    # Retrying would repeat text the caller already has, so a started stream is not retried.
    assert error_server.attempts == 1
