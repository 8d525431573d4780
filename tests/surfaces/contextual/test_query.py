"""Contextual AI query (JSON and stream, filters, retrievals only, multi-turn, structured output),
retrieval info and feedback, over the real answer path with the offline answerer."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.agents.models import Agent
from parley.responses.models import AgentResponse, ResponseFeedback
from parley.search.filters import MAX_VALUES
from parley.surfaces.contextual.ids import Kind
from parley.threads.models import ChatThread
from parley.usage.models import LLMUsageRecord
from tests.support.openai_error_server import OpenAIErrorServer
from tests.support.world import World
from tests.surfaces.contextual.conftest import Tenant
from tests.surfaces.contextual.helpers import (
    LEAVE,
    REFUND,
    SHIPPING,
    UUID,
    Caller,
    add_document,
    assert_detail,
    assert_invalid,
    create_datastore,
    ok,
    row_id,
)
from tests.surfaces.ejento.factories import _save, count, fresh, reload

RETURNED = {"topic": {"returned_in_response": True}, "url": {"returned_in_response": True}}
DOCUMENTS = {
    "refund.md": (
        REFUND,
        {
            "topic": "refunds",
            "year": 2024,
            "rating": 4.5,
            "tags": ["policy", "money"],
            "region": "EU-west",
            "published": "2024-03-01",
            "url": "https://example.com/refunds",
        },
    ),
    "leave.md": (
        LEAVE,
        {
            "topic": "hr",
            "year": 2021,
            "rating": 3,
            "tags": ["policy"],
            "region": "US-east",
            "published": "2021-06-15",
        },
    ),
    "shipping.md": (
        SHIPPING,
        {"topic": "logistics", "year": 2019, "region": "EU-north", "published": "2019-01-10"},
    ),
}
CONTENT_KEYS = {
    "content_id",
    "doc_id",
    "doc_name",
    "format",
    "type",
    "number",
    "score",
    "datastore_id",
    "ctxl_metadata",
}
CTXL_KEYS = {
    "chunk_id",
    "chunk_size",
    "date_created",
    "document_title",
    "file_format",
    "file_name",
    "is_figure",
}


@dataclass
class Desk:
    tenant: Tenant
    owner: Caller
    datastore_id: str
    agent_id: str
    documents: dict[str, str]  # file name -> document id

    def query(self, question: str, caller: Caller | None = None, params: dict | None = None, **body: object):
        messages = body.pop("messages", [{"role": "user", "content": question}])
        return (caller or self.owner).post(
            f"/v1/agents/{self.agent_id}/query", params=params or {}, json={"messages": messages, **body}
        )

    def retrieved(self, question: str = "policy rules parcels", **body: object) -> set[str]:
        r = self.query(question, params={"retrievals_only": "true"}, **body)
        names = {d: n for n, d in self.documents.items()}
        return {names[c["doc_id"]] for c in ok(r)["retrieval_contents"]}


@pytest.fixture
def desk(acme: Tenant) -> Desk:
    """An agent whose one datastore holds three documents with custom metadata, indexed."""
    datastore_id = create_datastore(acme.owner)
    documents = {
        name: add_document(
            acme.owner,
            datastore_id,
            name,
            text,
            {"custom_metadata": meta, "custom_metadata_config": RETURNED},
        )
        for name, (text, meta) in DOCUMENTS.items()
    }
    agent_id = ok(acme.owner.post("/v1/agents", json={"name": "Helpdesk", "datastore_ids": [datastore_id]}))[
        "id"
    ]
    return Desk(acme, acme.owner, datastore_id, agent_id, documents)


def events_of(text: str) -> list[tuple[str, dict]]:
    frames = [block for block in text.split("\n\n") if block.strip()]
    assert all(block.startswith("data: ") for block in frames), text
    return [(f["event"], f["data"]) for f in (json.loads(block[len("data: ") :]) for block in frames)]


def test_query_answers_with_citations_attributions_and_the_same_records(desk: Desk, db: Session):
    r = desk.query("How long do customers have to return goods?")
    body = ok(r)
    assert set(body) == {"conversation_id", "message_id", "message", "retrieval_contents"} | {
        "attributions",
        "groundedness_scores",
    }
    assert re.match(UUID, body["conversation_id"]) and re.match(UUID, body["message_id"])
    message = body["message"]
    assert set(message) == {"role", "content"} and message["role"] == "assistant"
    assert "thirty days" in message["content"]
    # Contextual's inline markers: [n]() with n the number of a retrieval content.
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]\(\)", message["content"])}
    assert numbers and not re.search(r"\[\d+\](?!\(\))", message["content"])
    contents = body["retrieval_contents"]
    assert [c["number"] for c in contents] == list(range(1, len(contents) + 1)) and numbers <= {
        c["number"] for c in contents
    }
    refund = next(c for c in contents if c["doc_id"] == desk.documents["refund.md"])
    assert set(refund) == CONTENT_KEYS | {"custom_metadata", "custom_metadata_config", "url"}
    assert refund["doc_name"] == "refund" and refund["format"] == "html" and refund["type"] == "file"
    assert refund["datastore_id"] == desk.datastore_id and isinstance(refund["score"], float)
    # Only the fields configured returned_in_response; the url is copied out too.
    assert refund["custom_metadata"] == {"topic": "refunds", "url": "https://example.com/refunds"}
    assert refund["url"] == "https://example.com/refunds" and refund["custom_metadata_config"] == RETURNED
    assert (
        set(refund["ctxl_metadata"]) == CTXL_KEYS
        and refund["ctxl_metadata"]["chunk_id"] == refund["content_id"]
    )
    assert (
        refund["ctxl_metadata"]["file_name"] == "refund.md" and refund["ctxl_metadata"]["file_format"] == "md"
    )
    # Attributions and scores index message.content; their content ids are retrieval content ids.
    content = message["content"]
    assert body["attributions"] and body["groundedness_scores"]
    for span in body["attributions"]:
        assert set(span) == {"content_ids", "start_idx", "end_idx"}
        assert 0 <= span["start_idx"] < span["end_idx"] <= len(content)
        assert set(span["content_ids"]) <= {c["content_id"] for c in contents}
    first = body["attributions"][0]
    assert (
        content[first["start_idx"] : first["end_idx"]].endswith("()") or "()" in content[first["start_idx"] :]
    )
    assert refund["content_id"] in {i for span in body["attributions"] for i in span["content_ids"]}
    assert all(
        s["score"] in (0, 1) and set(s) == {"start_idx", "end_idx", "score"}
        for s in body["groundedness_scores"]
    )
    assert body["groundedness_scores"][0]["score"] == 1  # the offline answerer quotes its sources

    # The same objects as Ejento's: a thread of the caller with one response, and usage rows.
    row = reload(db, AgentResponse, row_id(Kind.MESSAGE, body["message_id"]))
    thread_id = row_id(Kind.CONVERSATION, body["conversation_id"])
    assert (
        row.chat_thread_id == thread_id and row.user_id == desk.owner.id and row.query_source == "contextual"
    )
    assert row.agent_id == row_id(Kind.AGENT, desk.agent_id) and row.question.startswith("How long")
    assert count(db, LLMUsageRecord, LLMUsageRecord.agent_response_id == row.id) == 1
    threads = ok(desk.owner.actor.get(f"/v2/api/agent/{row.agent_id}/chat-thread"))["data"]
    assert [t["id"] for t in threads] == [thread_id]
    (log,) = ok(desk.owner.actor.get(f"/v2/api/chat-thread/{thread_id}/chatlogs/reduced"))["data"]
    assert log["id"] == row.id and "thirty days" in log["answer"]
    assert ok(desk.owner.get(f"/v1/agents/{desk.agent_id}/metadata"))["agent_usages"]["query"] == 1

    # Content text only when asked for.
    with_text = ok(desk.query("How are refunds paid?", params={"include_retrieval_content_text": "true"}))
    assert all(c["content_text"] for c in with_text["retrieval_contents"])
    assert any("five working days" in c["content_text"] for c in with_text["retrieval_contents"])


def test_streaming_sends_ids_first_and_the_answer_in_deltas(desk: Desk, db: Session):
    # The SDK sends "Accept: application/json" even when it streams; the body flag decides.
    r = desk.owner.post(
        f"/v1/agents/{desk.agent_id}/query",
        json={"messages": [{"role": "user", "content": "How are refunds paid?"}], "stream": True},
        headers={"Accept": "application/json"},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["cache-control"] == "no-cache"
    events = events_of(r.text)
    names = [name for name, _ in events]
    assert names[0] == "metadata" and names[-1] == "end" and events[-1][1] == {}
    # Sources first, as soon as the search is done, then the text.
    assert names.index("stepping") < names.index("retrievals") < names.index("message_delta")
    assert names[-3:] == ["attributions", "message_complete", "end"]
    assert [d["type"] for n, d in events if n == "stepping"] == ["retrieval", "generation"]
    metadata = events[0][1]
    assert set(metadata) == {"conversation_id", "message_id", "request_id"}
    assert metadata["request_id"] == r.headers["x-request-id"]
    deltas = [d["delta"] for n, d in events if n == "message_delta"]
    final = next(d["final_message"] for n, d in events if n == "message_complete")
    assert len(deltas) > 1 and "".join(deltas) == final and "five working days" in final and "]()" in final
    contents = next(d["contents"] for n, d in events if n == "retrievals")
    assert contents and all("contextual_metadata" in c and "content_text" not in c for c in contents)
    attributions = next(d for n, d in events if n == "attributions")
    assert attributions["attributions"] and attributions["groundedness_scores"]
    assert all(0 <= a["start_idx"] < a["end_idx"] <= len(final) for a in attributions["attributions"])

    # The announced ids name the stored conversation and message.
    thread = reload(db, ChatThread, row_id(Kind.CONVERSATION, metadata["conversation_id"]))
    assert thread.title == "How are refunds paid?" and thread.query_source == "contextual"
    fresh(db)
    row = db.scalars(select(AgentResponse).where(AgentResponse.message_id == metadata["message_id"])).one()
    assert row.chat_thread_id == thread.id and row.response["answer"] in final.replace("()", "")
    content_id = contents[0]["content_id"]
    info = ok(
        desk.owner.get(
            f"/v1/agents/{desk.agent_id}/query/{metadata['message_id']}/retrieval/info",
            params={"content_ids": content_id},
        )
    )
    assert info["content_metadatas"][0]["content_id"] == content_id
    vote = desk.owner.post(
        f"/v1/agents/{desk.agent_id}/feedback",
        json={"feedback": "thumbs_up", "message_id": metadata["message_id"]},
    )
    assert ok(vote)["feedback_id"]
    # Continuing the streamed conversation adds to the same thread.
    again = ok(desk.query("When must vacation be requested?", conversation_id=metadata["conversation_id"]))
    assert again["conversation_id"] == metadata["conversation_id"]
    assert count(db, AgentResponse, AgentResponse.chat_thread_id == thread.id) == 2


def test_every_filter_operator_nested(desk: Desk):
    def field(name: str, op: str, value: object = None) -> dict:
        return {"field": name, "operator": op, **({"value": value} if value is not None else {})}

    everything = {"refund.md", "leave.md", "shipping.md"}
    assert desk.retrieved() == everything
    cases = [
        (field("topic", "equals", "refunds"), {"refund.md"}),
        (field("topic", "notequals", "refunds"), {"leave.md", "shipping.md"}),
        (field("tags", "containsany", ["money", "other"]), {"refund.md"}),
        (field("rating", "exists"), {"refund.md", "leave.md"}),
        (field("region", "startswith", "EU"), {"refund.md", "shipping.md"}),
        (field("region.keyword", "wildcard", "eu-*"), {"refund.md", "shipping.md"}),
        (field("year", "gt", 2021), {"refund.md"}),
        (field("year", "gte", 2021), {"refund.md", "leave.md"}),
        (field("year", "lt", 2021), {"shipping.md"}),
        (field("rating", "lte", 3), {"leave.md"}),
        (field("year", "between", [2019, 2021]), {"leave.md", "shipping.md"}),
        (field("published", "gte", "2021-01-01"), {"refund.md", "leave.md"}),
        (
            {
                "operator": "AND",
                "filters": [
                    field("region", "startswith", "EU"),
                    {
                        "operator": "OR",
                        "filters": [field("year", "gt", 2020), field("tags", "containsany", ["hr"])],
                    },
                ],
            },
            {"refund.md"},
        ),
        ({"operator": "AND_NOT", "filters": [field("topic", "equals", "hr")]}, {"refund.md", "shipping.md"}),
        ({"filters": [field("tags", "exists"), field("year", "lt", 2022)]}, {"leave.md"}),  # AND by default
    ]
    for documents_filters, expected in cases:
        assert desk.retrieved(documents_filters=documents_filters) == expected, documents_filters

    # The agent's default filters are ANDed with the request's.
    configs = {
        "filter_and_rerank_config": {"default_metadata_filters": field("topic", "notequals", "logistics")}
    }
    ok(desk.owner.put(f"/v1/agents/{desk.agent_id}", json={"agent_configs": configs}))
    assert desk.retrieved() == {"refund.md", "leave.md"}
    assert desk.retrieved(documents_filters=field("tags", "containsany", ["policy"])) == {
        "refund.md",
        "leave.md",
    }
    assert desk.retrieved(documents_filters=field("year", "lt", 2022)) == {"leave.md"}
    # So is the filter of the agent's (only) datastore.
    per_store = {
        "per_datastore_metadata_filters": {desk.datastore_id: {"filters": [field("year", "gt", 2022)]}}
    }
    ok(
        desk.owner.put(
            f"/v1/agents/{desk.agent_id}", json={"agent_configs": {"filter_and_rerank_config": per_store}}
        )
    )
    assert desk.retrieved() == {"refund.md"}
    # With a second datastore, that filter still narrows only its own datastore's documents.
    archive = create_datastore(desk.owner, "Archive")
    desk.documents["archive.md"] = add_document(
        desk.owner, archive, "archive.md", SHIPPING, {"custom_metadata": {"year": 2001}}
    )
    both = {"datastore_ids": [desk.datastore_id, archive]}
    ok(desk.owner.put(f"/v1/agents/{desk.agent_id}", json=both))
    assert desk.retrieved() == {"refund.md", "archive.md"}
    # A metadata key of a document cannot reach the internal corpus field.
    internal = desk.query("policy", documents_filters=field("$corpus_id", "equals", 1))
    assert internal.status_code in (400, 422) and "field" in internal.text

    # A generated answer only draws on what the filter admits.
    answer = ok(desk.query("How are refunds paid?", documents_filters=field("topic", "equals", "hr")))
    assert answer["retrieval_contents"] == [] and "five working days" not in answer["message"]["content"]


def test_filter_values_are_limited_when_asked_and_when_stored(desk: Desk, db: Session):
    """Every value of a list counts toward one limit per filter; integers must fit in 64 bits.
    Allowed lists run as one bound parameter; refused ones are a 400 naming the limit, and an
    agent's configuration keeps nothing refused."""
    teams = [f"v{i}" for i in range(MAX_VALUES - 1)]
    allowed = {"field": "topic", "operator": "containsany", "value": [*teams, "hr"]}
    assert desk.retrieved(documents_filters=allowed) == {"leave.md"}
    too_many = {**allowed, "value": [*teams, "hr", "refunds"]}
    huge = {"field": "year", "operator": "equals", "value": 2**70}
    assert_detail(desk.query("Hi", documents_filters=too_many), 400, f"at most {MAX_VALUES} values")
    assert_detail(desk.query("Hi", documents_filters=huge), 400, "64-bit")
    agent = f"/v1/agents/{desk.agent_id}"
    for bad, says in ((too_many, f"at most {MAX_VALUES} values"), (huge, "64-bit")):
        for rerank in (
            {"default_metadata_filters": bad},
            {"per_datastore_metadata_filters": {desk.datastore_id: bad}},
        ):
            configs = {"agent_configs": {"filter_and_rerank_config": rerank}}
            assert_detail(desk.owner.put(agent, json=configs), 400, says)
            assert_detail(desk.owner.post("/v1/agents", json={"name": "New", **configs}), 400, says)
    row = reload(db, Agent, row_id(Kind.AGENT, desk.agent_id))
    assert row.settings == {}
    # A filter stored before these limits is refused with every query, saying why.
    row.settings = {"agent_configs": {"filter_and_rerank_config": {"default_metadata_filters": huge}}}
    _save(db, row)
    assert_detail(desk.query("Hi"), 400, "stored default_metadata_filters")
    assert_detail(desk.query("Hi", params={"retrievals_only": "true"}), 400, "64-bit")


def test_retrievals_only_writes_nothing(desk: Desk, db: Session):
    before = count(db, AgentResponse), count(db, ChatThread)
    body = ok(desk.query("How are refunds paid?", params={"retrievals_only": "true"}))
    assert set(body) == {"conversation_id", "message", "retrieval_contents"} and body["message"] is None
    assert re.match(UUID, body["conversation_id"])
    contents = body["retrieval_contents"]
    assert contents and all(c["content_text"] for c in contents)  # always with text
    assert any("five working days" in c["content_text"] for c in contents)
    assert (count(db, AgentResponse), count(db, ChatThread)) == before
    # That conversation id names nothing stored; a real one is echoed.
    assert_detail(desk.query("Next?", conversation_id=body["conversation_id"]), 404)
    real = ok(desk.query("How are refunds paid?"))["conversation_id"]
    again = ok(desk.query("refund", params={"retrievals_only": "true"}, conversation_id=real))
    assert again["conversation_id"] == real
    limited = desk.query(
        "policy", params={"retrievals_only": "true"}, override_configuration={"top_k_retrieved_chunks": 1}
    )
    assert len(ok(limited)["retrieval_contents"]) == 1


def test_retrievals_only_refuses_what_an_answer_refuses(desk: Desk, other: Caller):
    """Retrieval alone is checked and prepared in one read of its own: the same refusals."""
    only = {"retrievals_only": "true"}
    assert_detail(desk.query("   ", params=only), 400, "empty")
    assert_detail(desk.query("Hi", params=only, documents_filters={"field": "a", "operator": "near"}), 400)
    assert_detail(desk.query("Hi", params=only, llm_model_id="gpt-4o"), 400, "llm_model_id")
    assert_detail(desk.query("Hi", params=only, conversation_id="nope"), 404)
    mine = ok(desk.query("How are refunds paid?"))["conversation_id"]
    assert_detail(desk.query("Hi", caller=desk.tenant.admin, params=only, conversation_id=mine), 404)
    r = other.post(
        f"/v1/agents/{desk.agent_id}/query",
        params=only,
        json={"messages": [{"role": "user", "content": "Hi"}]},
    )
    assert_detail(r, 404, "Agent")
    # The named model is checked, though retrieval alone does not use it.
    assert ok(desk.query("refund", params=only, llm_model_id="parley-extractive"))["retrieval_contents"]


def test_history_counts_only_for_multi_turn_agents(desk: Desk, db: Session):
    first = ok(desk.query("When must vacation be requested?"))
    follow_up = ok(desk.query("And when do they expire?", conversation_id=first["conversation_id"]))
    row = reload(db, AgentResponse, row_id(Kind.MESSAGE, follow_up["message_id"]))
    assert row.response["history"] == [] and row.chat_thread_id == row_id(
        Kind.CONVERSATION, first["conversation_id"]
    )

    multi = {"agent_configs": {"global_config": {"enable_multi_turn": True}}}
    ok(desk.owner.put(f"/v1/agents/{desk.agent_id}", json=multi))
    second = ok(desk.query("When must vacation be requested?"))
    follow_up = ok(desk.query("And when do they expire?", conversation_id=second["conversation_id"]))
    row = reload(db, AgentResponse, row_id(Kind.MESSAGE, follow_up["message_id"]))
    assert [turn["user"] for turn in row.response["history"]] == ["When must vacation be requested?"]
    assert "vacation" in row.response["query"] and "March" in follow_up["message"]["content"]
    # Without a conversation, the earlier messages are the history (only user/assistant turns).
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "When must vacation be requested?"},
        {"role": "assistant", "content": "Two weeks in advance."},
        {"role": "user", "content": "And when do they expire?"},
    ]
    fresh_chat = ok(desk.query("", messages=messages))
    row = reload(db, AgentResponse, row_id(Kind.MESSAGE, fresh_chat["message_id"]))
    assert row.response["history"] == [
        {"user": "When must vacation be requested?", "bot": "Two weeks in advance."}
    ]
    assert fresh_chat["conversation_id"] != first["conversation_id"]


def test_structured_output(desk: Desk, db: Session):
    schema = {
        "type": "object",
        "properties": {
            "answer": {"type": "string"},
            "days": {"type": "integer", "minimum": 1},
            "points": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
            "confident": {"type": "boolean", "default": True},
            "kind": {"enum": ["refund", "leave"]},
        },
        "required": ["answer", "confident"],
        "additionalProperties": False,
    }
    body = ok(desk.query("How long is the refund window in days?", structured_output={"json_schema": schema}))
    answer = json.loads(body["message"]["content"])
    assert set(answer) <= set(schema["properties"]) and {"answer", "confident"} <= set(answer)
    assert "thirty days" in answer["answer"] and "[" not in answer["answer"] and answer["confident"] is True
    assert isinstance(answer.get("points", []), list) and answer.get("kind") in (None, "refund", "leave")
    assert "attributions" not in body and "groundedness_scores" not in body and body["retrieval_contents"]

    before = count(db, AgentResponse)
    required_number = {"type": "object", "properties": {"n": {"type": "number"}}, "required": ["n"]}
    assert_detail(desk.query("How long?", structured_output={"json_schema": required_number}), 422, "$.n")
    assert_detail(
        desk.query("How long?", structured_output={"json_schema": {"type": "string"}}), 400, "object"
    )
    negation = {"type": "object", "properties": {"a": {"not": {"type": "string"}}}, "required": ["a"]}
    assert_detail(desk.query("How long?", structured_output={"json_schema": negation}), 422, "not")
    assert count(db, AgentResponse) == before


def test_retrieval_info_and_feedback(desk: Desk, world: World, other: Caller, db: Session):
    body = ok(
        desk.query(
            "How long do customers have to return goods?", params={"include_retrieval_content_text": "true"}
        )
    )
    message_id, contents = body["message_id"], body["retrieval_contents"]
    info_path = f"/v1/agents/{desk.agent_id}/query/{message_id}/retrieval/info"
    info = ok(desk.owner.get(info_path, params=[("content_ids", c["content_id"]) for c in contents[:2]]))
    assert [m["content_id"] for m in info["content_metadatas"]] == [c["content_id"] for c in contents[:2]]
    for meta, content in zip(info["content_metadatas"], contents, strict=False):
        assert set(meta) == {
            "content_type", "content_id", "content_text", "document_id", "page", "page_img",
            "width", "height", "x0", "y0", "x1", "y1",
        }  # fmt: skip
        assert meta["content_type"] == "unstructured" and meta["content_text"] == content["content_text"]
        assert meta["document_id"] == content["doc_id"] and meta["page"] == 1 and meta["page_img"] == ""
        assert (meta["x0"], meta["y0"], meta["x1"], meta["y1"], meta["width"], meta["height"]) == (
            0,
            0,
            1,
            1,
            1,
            1,
        )
    assert_invalid(desk.owner.get(info_path), "content_ids")
    assert_detail(
        desk.owner.get(info_path, params={"content_ids": "9a41e704-0000-4000-8000-0000000fffff"}), 404
    )
    # A conversation id is not a message id.
    not_a_message = f"/v1/agents/{desk.agent_id}/query/{body['conversation_id']}/retrieval/info"
    assert_detail(
        desk.owner.get(not_a_message, params={"content_ids": contents[0]["content_id"]}), 404, "Message"
    )

    feedback_path = f"/v1/agents/{desk.agent_id}/feedback"
    response_id = row_id(Kind.MESSAGE, message_id)

    def vote() -> ResponseFeedback:
        fresh(db)
        return db.scalars(
            select(ResponseFeedback).where(ResponseFeedback.agent_response_id == response_id)
        ).one()

    given = ok(desk.owner.post(feedback_path, json={"feedback": "thumbs_up", "message_id": message_id}))
    assert re.match(UUID, given["feedback_id"]) and row_id(Kind.FEEDBACK, given["feedback_id"]) == vote().id
    assert (vote().is_upvote, vote().is_downvote, vote().user_id) == (True, False, desk.owner.id)
    (log,) = ok(
        desk.owner.actor.get(
            f"/v2/api/chat-thread/{row_id(Kind.CONVERSATION, body['conversation_id'])}/chatlogs/reduced"
        )
    )["data"]
    assert log["feedback"] == {"upvotes": 1, "downvotes": 0}
    flagged = {
        "feedback": "flagged",
        "message_id": message_id,
        "content_id": contents[0]["content_id"],
        "explanation": "Outdated",
    }
    ok(desk.owner.post(feedback_path, json=flagged))
    assert (vote().is_upvote, vote().is_downvote) == (False, True)
    assert vote().comment == f"[content {contents[0]['content_id']}] [flagged] Outdated"
    ok(desk.owner.post(feedback_path, json={"feedback": "removed", "message_id": message_id}))
    assert (vote().is_upvote, vote().is_downvote, vote().comment) == (False, False, "")

    assert_invalid(
        desk.owner.post(feedback_path, json={"feedback": "meh", "message_id": message_id}), "feedback"
    )
    unknown_content = {"feedback": "thumbs_down", "message_id": message_id, "content_id": "nope"}
    assert_detail(desk.owner.post(feedback_path, json=unknown_content), 404, "Content")
    assert_detail(desk.owner.post(feedback_path, json={"feedback": "thumbs_up", "message_id": "nope"}), 404)

    # Another organisation sees nothing; a read-only key reads but neither asks nor votes.
    assert_detail(other.get(info_path, params={"content_ids": contents[0]["content_id"]}), 404)
    assert_detail(other.post(feedback_path, json={"feedback": "thumbs_up", "message_id": message_id}), 404)
    reader = Caller(world.key_for(desk.owner.actor, "read_only"))
    assert ok(reader.get(info_path, params={"content_ids": contents[0]["content_id"]}))["content_metadatas"]
    assert_detail(reader.post(feedback_path, json={"feedback": "thumbs_up", "message_id": message_id}), 403)
    assert_detail(desk.query("How are refunds paid?", caller=reader), 403)
    assert count(db, ResponseFeedback) == 1 and vote().is_upvote is False


def test_bad_queries_are_refused_and_nothing_is_written(desk: Desk, other: Caller, db: Session):
    before = count(db, AgentResponse), count(db, ChatThread)
    last_assistant = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    assert_detail(desk.query("", messages=last_assistant), 400, "last message")
    assert_detail(desk.query("   "), 400, "empty")
    assert_invalid(desk.query("", messages=[]), "messages")
    assert_invalid(desk.query("", messages=[{"role": "robot", "content": "Hi"}]), "role")
    assert_detail(
        desk.query("Hi", documents_filters={"field": "a", "operator": "near", "value": 1}), 400, "filter"
    )
    assert_detail(desk.query("Hi", documents_filters={"field": "a", "operator": "between", "value": 1}), 400)
    assert_detail(desk.query("Hi", llm_model_id="gpt-4o"), 400, "llm_model_id")
    assert_detail(desk.query("Hi", conversation_id="nope"), 404)
    for stream in (False, True):
        r = other.post(
            f"/v1/agents/{desk.agent_id}/query",
            json={"messages": [{"role": "user", "content": "Hi"}], "stream": stream},
        )
        assert_detail(r, 404, "Agent")
    # Another user's conversation is not found, even on the same agent.
    mine = ok(desk.query("How are refunds paid?"))["conversation_id"]
    before = count(db, AgentResponse), count(db, ChatThread)
    assert_detail(desk.query("Hi", caller=desk.tenant.admin, conversation_id=mine), 404)
    assert_detail(desk.query("Hi", stream=True, conversation_id="nope"), 404)
    assert (count(db, AgentResponse), count(db, ChatThread)) == before
    # The model the agent answers with may be named.
    assert ok(desk.query("How are refunds paid?", llm_model_id="parley-extractive"))["message"]


def test_llm_model_id_picks_another_active_config_of_the_organisation(desk: Desk, db: Session):
    """The agent keeps its own model; one question may name another configured model."""
    with OpenAIErrorServer() as server:
        config = desk.tenant.admin.post(
            "/v2/api/llm-config",
            json={
                "name": "house model",
                "provider": "openai",
                "model": "house-llm",
                "endpoint": server.base_url,
            },
        )
        assert config.status_code == 201, config.text
        config_id = config.json()["data"]["id"]
        for named in ("house-llm", "house model", str(config_id)):
            answer = ok(desk.query("How are refunds paid?", llm_model_id=named))
            assert "error server" in answer["message"]["content"], named
        assert server.attempts == 3
        # Without it, the agent's own (offline) answerer answers and the server is not asked.
        assert "error server" not in ok(desk.query("How are refunds paid?"))["message"]["content"]
        assert server.attempts == 3
    fresh(db)
    chosen = db.scalars(select(AgentResponse.llm_config_id).order_by(AgentResponse.id)).all()
    assert chosen == [config_id, config_id, config_id, None]
    # A deactivated config cannot be picked.
    r = desk.tenant.admin.put(f"/v2/api/llm-config/{config_id}", json={"is_active": False})
    assert r.status_code == 200, r.text
    assert_detail(desk.query("Hi", llm_model_id="house-llm"), 400, "llm_model_id")
