"""The official ``contextual-client`` SDK, unchanged, against a real ``parley serve`` process.

The client runs with ``_strict_response_validation=True``, so every response must validate
against the SDK's pydantic models (required fields, literals, datetimes), except the raw
stream, which the SDK never parses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import ServerProcess, parley_env
from tests.surfaces.contextual.helpers import DOCS

contextual = pytest.importorskip("contextual")

API_KEY = "contextual-sdk-test-key-0123456789"
BOOTSTRAP = {
    "PARLEY_INIT_ADMIN_EMAIL": "sdk@example.com",
    "PARLEY_INIT_ADMIN_PASSWORD": "sdk-password-1",
    "PARLEY_INIT_API_KEY": API_KEY,
}
QUESTION = "Who patented the typewriter in 1868?"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("contextual-sdk")
    env = parley_env(f"sqlite:///{data_dir / 'parley.db'}", data_dir, **BOOTSTRAP)
    with ServerProcess(env) as process:
        yield f"{process.base_url}/v1"


def wait_until_completed(client, datastore_id: str, document_id: str, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        document = client.datastores.documents.metadata(document_id, datastore_id=datastore_id)
        if document.status in ("completed", "failed", "cancelled"):
            assert document.status == "completed", document
            return
        assert time.monotonic() < deadline, document
        time.sleep(0.2)


def test_the_sdk_core_flow(server: str):
    # No retries: a transient server error must fail the test, not be hidden.
    client = contextual.ContextualAI(
        api_key=API_KEY, base_url=server, max_retries=0, _strict_response_validation=True
    )

    datastore = client.datastores.create(name="Handbook")
    pdf = client.datastores.documents.ingest(
        datastore.id,
        file=Path(DOCS / "pdf" / "multi_page.pdf"),
        metadata=json.dumps({"custom_metadata": {"kind": "history", "year": 2023}}),
    )
    html = client.datastores.documents.ingest(
        datastore.id,
        file=("example_03.html", (DOCS / "html" / "example_03.html").read_bytes(), "text/html"),
        metadata=json.dumps(
            {
                "custom_metadata": {"kind": "web", "year": 2020},
                "custom_metadata_config": {"kind": {"returned_in_response": True}},
            }
        ),
    )
    for document in (pdf, html):
        wait_until_completed(client, datastore.id, document.id)
    # Auto-pagination follows next_cursor page by page.
    listed = list(client.datastores.documents.list(datastore.id, limit=1))
    assert sorted(d.name for d in listed) == ["example_03.html", "multi_page.pdf"]
    assert {d.status for d in listed} == {"completed"}
    metadata = client.datastores.documents.metadata(html.id, datastore_id=datastore.id)
    assert metadata.custom_metadata == {"kind": "web", "year": 2020}
    updated = client.datastores.documents.set_metadata(
        html.id, datastore_id=datastore.id, custom_metadata={"kind": "web", "year": 2021}
    )
    assert updated.custom_metadata == {"kind": "web", "year": 2021}

    agent = client.agents.create(
        name="Historian",
        description="Knows the word processor's history",
        datastore_ids=[datastore.id],
        agent_configs={"global_config": {"enable_multi_turn": True}},
    )
    assert agent.datastore_ids == [datastore.id]
    details = client.agents.metadata(agent.id)
    assert details.name == "Historian" and details.template_name == "default"
    assert details.datastore_ids == [datastore.id]
    assert [a.id for a in client.agents.list()] == [agent.id]
    assert client.datastores.metadata(datastore.id).agent_ids == [agent.id]
    assert [d.id for d in client.datastores.list(agent_id=agent.id)] == [datastore.id]

    answer = client.agents.query.create(agent.id, messages=[{"role": "user", "content": QUESTION}])
    assert answer.message is not None and "Sholes" in answer.message.content
    assert answer.retrieval_contents and answer.attributions and answer.groundedness_scores
    cited = {c for a in answer.attributions for c in a.content_ids}
    assert cited <= {c.content_id for c in answer.retrieval_contents}
    assert any(c.doc_id == pdf.id and c.format == "pdf" for c in answer.retrieval_contents)

    # Multi-turn: the conversation continues.
    follow_up = client.agents.query.create(
        agent.id,
        messages=[{"role": "user", "content": "And what did IBM introduce in 1935?"}],
        conversation_id=answer.conversation_id,
    )
    assert follow_up.conversation_id == answer.conversation_id and follow_up.message_id != answer.message_id

    nested = {
        "operator": "AND",
        "filters": [
            {"field": "kind", "operator": "equals", "value": "web"},
            {
                "operator": "OR",
                "filters": [
                    {"field": "year", "operator": "gte", "value": 2021},
                    {"field": "kind", "operator": "containsany", "value": ["none"]},
                ],
            },
        ],
    }
    retrieved = client.agents.query.create(
        agent.id,
        messages=[{"role": "user", "content": "data table rows"}],
        documents_filters=nested,
        retrievals_only=True,
    )
    assert retrieved.message is None and retrieved.retrieval_contents
    assert {c.doc_id for c in retrieved.retrieval_contents} == {html.id}
    assert all(c.content_text for c in retrieved.retrieval_contents)
    assert retrieved.retrieval_contents[0].custom_metadata == {"kind": "web"}

    info = client.agents.query.retrieval_info(
        answer.message_id,
        agent_id=agent.id,
        content_ids=[c.content_id for c in answer.retrieval_contents[:2]],
    )
    assert [m.content_id for m in info.content_metadatas] == [
        c.content_id for c in answer.retrieval_contents[:2]
    ]
    assert all(m.content_type == "unstructured" and m.content_text for m in info.content_metadatas)
    feedback = client.agents.query.feedback(agent.id, feedback="thumbs_up", message_id=answer.message_id)
    assert feedback.feedback_id

    # Streaming: the plain call returns the whole event stream as text (lenient clients); the
    # streaming response gives the frames as they come.
    lenient = contextual.ContextualAI(api_key=API_KEY, base_url=server, max_retries=0)
    raw = lenient.agents.query.create(agent.id, messages=[{"role": "user", "content": QUESTION}], stream=True)
    assert isinstance(raw, str) and '"event": "message_complete"' in raw
    with client.agents.query.with_streaming_response.create(
        agent.id, messages=[{"role": "user", "content": QUESTION}], stream=True
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        frames = [
            json.loads(line[len("data: ") :]) for line in response.iter_lines() if line.startswith("data: ")
        ]
    events = [frame["event"] for frame in frames]
    assert events[0] == "metadata" and events[-1] == "end" and "message_delta" in events
    final = next(f["data"]["final_message"] for f in frames if f["event"] == "message_complete")
    assert "".join(f["data"]["delta"] for f in frames if f["event"] == "message_delta") == final
    streamed_id = frames[0]["data"]["message_id"]
    assert client.agents.query.feedback(agent.id, feedback="thumbs_down", message_id=streamed_id).feedback_id

    # Errors arrive as the SDK's exceptions (400s and 404s are not retried).
    with pytest.raises(contextual.BadRequestError) as refused:
        client.datastores.delete(datastore.id)
    assert "used by 1 agent" in refused.value.body["detail"]
    with pytest.raises(contextual.NotFoundError):
        client.agents.metadata("9a41e701-0000-4000-8000-0000000fffff")
    with pytest.raises(contextual.UnprocessableEntityError):
        client.agents.query.create(agent.id, messages=[])

    # Clean up.
    client.agents.delete(agent.id)
    client.datastores.documents.delete(pdf.id, datastore_id=datastore.id)
    assert [d.id for d in client.datastores.documents.list(datastore.id)] == [html.id]
    client.datastores.delete(datastore.id)
    assert list(client.datastores.list()) == [] and list(client.agents.list()) == []
