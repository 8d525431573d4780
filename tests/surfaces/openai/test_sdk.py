"""The official ``openai`` SDK, unchanged, against a real ``parley serve`` process.

The client runs with ``_strict_response_validation=True``, so every response (and every stream
chunk) must validate against the SDK's own models. The agent and its documents are set up
through the Ejento surface, and the answers are read back through it: one domain, two views.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.processes import ServerProcess, parley_env
from tests.surfaces.contextual.helpers import LEAVE, REFUND

openai = pytest.importorskip("openai")

API_KEY = "openai-sdk-test-key-0123456789"
ADMIN = "sdk@example.com"
BOOTSTRAP = {
    "PARLEY_INIT_ADMIN_EMAIL": ADMIN,
    "PARLEY_INIT_ADMIN_PASSWORD": "sdk-password-1",
    "PARLEY_INIT_API_KEY": API_KEY,
}
QUESTION = "How long do customers have to return goods?"


@dataclass(frozen=True)
class Server:
    base_url: str  # what an OpenAI client is given: Parley's address with /v1
    ejento: httpx.Client
    agent_id: int
    alias: str

    @property
    def model(self) -> str:
        return f"agent-{self.agent_id}"


def _data(r: httpx.Response) -> Any:
    assert r.status_code in (200, 201), r.text
    return r.json()["data"]


def _add_text(ejento: httpx.Client, corpus_id: int, text: str) -> None:
    form = {"content_type": "text", "upload_from": "web", "source": text}
    document = _data(ejento.post(f"/v2/api/corpus/{corpus_id}/document", data=form, files={"_": ("", b"")}))
    deadline = time.monotonic() + 120
    while (status := _data(ejento.get(f"/v2/api/document/{document['id']}/polling"))["status"]) not in (
        "completed",
        "failed",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert status == "completed"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """An agent with an alias whose corpus holds a refund policy and leave rules, indexed."""
    data_dir = tmp_path_factory.mktemp("openai-sdk")
    env = parley_env(f"sqlite:///{data_dir / 'parley.db'}", data_dir, **BOOTSTRAP)
    with (
        ServerProcess(env) as process,
        httpx.Client(
            base_url=process.base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60
        ) as ejento,
    ):
        team = _data(ejento.post("/v2/api/team", json={"team_name": "Support"}))
        project = _data(ejento.post("/v2/api/project", json={"project_name": "Desk", "team_id": team["id"]}))
        agent = _data(
            ejento.post(
                "/v2/api/agent",
                json={"name": "Policy Bot", "project_id": project["id"], "create_email_alias": True},
            )
        )
        corpus = _data(ejento.post("/v2/api/corpus", json={"name": "Policies"}))
        _data(ejento.post(f"/v2/api/agent/{agent['id']}/corpus/{corpus['id']}"))
        for text in (REFUND, LEAVE):
            _add_text(ejento, corpus["id"], text)
        yield Server(f"{process.base_url}/v1", ejento, agent["id"], agent["alias"])


@pytest.fixture
def client(server: Server):  # type: ignore[no-untyped-def]
    # No retries: a transient server error must fail the test, not be hidden.
    return openai.OpenAI(
        api_key=API_KEY, base_url=server.base_url, max_retries=0, _strict_response_validation=True
    )


def test_models_are_listed_and_retrieved_by_id_and_alias(server: Server, client):  # type: ignore[no-untyped-def]
    models = list(client.models.list())
    assert [m.id for m in models] == [server.model]
    (listed,) = models
    assert listed.object == "model" and listed.owned_by == ADMIN and listed.created > 0
    assert listed.model_extra == {"name": "Policy Bot", "alias": server.alias}
    for name in (server.model, str(server.agent_id), server.alias):
        assert client.models.retrieve(name) == listed


def test_a_completion_cites_its_sources_and_counts_its_tokens(server: Server, client):  # type: ignore[no-untyped-def]
    completion = client.chat.completions.create(
        model=server.model,
        messages=[{"role": "user", "content": QUESTION}],
        max_tokens=200,
        temperature=0,
    )
    assert completion.object == "chat.completion" and completion.model == server.model
    (choice,) = completion.choices
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert "thirty days" in choice.message.content and "[1]" in choice.message.content
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    citations = completion.model_extra["citations"]
    assert citations[0]["number"] == 1 and "return goods" in citations[0]["text"]
    assert completion.model_extra["groundedness"] > 0.8

    # The same answer, seen through the Ejento surface.
    row = _data(server.ejento.get(f"/v2/api/agent-response/{completion.model_extra['agent_response_id']}"))
    assert row["query_source"] == "openai" and row["response"]["answer"] == choice.message.content
    assert row["total_tokens"] == completion.usage.total_tokens


def test_a_stream_ends_with_the_sources_and_the_usage(server: Server, client):  # type: ignore[no-untyped-def]
    stream = client.chat.completions.create(
        model=server.alias,
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "thirty days" in text and "[1]" in text
    final = next(c for c in chunks if c.choices and c.choices[0].finish_reason == "stop")
    assert final.model_extra["citations"][0]["number"] == 1
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    row = _data(server.ejento.get(f"/v2/api/agent-response/{final.model_extra['agent_response_id']}"))
    assert row["response"]["answer"] == text and row["total_tokens"] == chunks[-1].usage.total_tokens


def test_earlier_messages_are_the_history(server: Server, client):  # type: ignore[no-untyped-def]
    first = client.chat.completions.create(
        model=server.model, messages=[{"role": "user", "content": QUESTION}]
    )
    earlier = first.choices[0].message.content
    follow_up = client.chat.completions.create(
        model=server.model,
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": earlier},
            {"role": "user", "content": "And how are they paid?"},
        ],
    )
    assert "original card" in follow_up.choices[0].message.content
    row = _data(server.ejento.get(f"/v2/api/agent-response/{follow_up.model_extra['agent_response_id']}"))
    assert row["question"] == "And how are they paid?"
    assert row["response"]["history"] == [{"user": QUESTION, "bot": earlier}]


def test_errors_are_the_sdks_exceptions(server: Server, client):  # type: ignore[no-untyped-def]
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    assert missing.value.code == "model_not_found" and "gpt-4o" in missing.value.message
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("agent-999999")
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model=server.model, messages=[])
    assert bad.value.type == "invalid_request_error" and bad.value.param == "messages"
    stranger = openai.OpenAI(api_key="not-a-key", base_url=server.base_url, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        stranger.models.list()
    assert refused.value.code == "invalid_api_key"
