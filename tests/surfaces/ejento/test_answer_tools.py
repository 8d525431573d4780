"""API tools in the answer path, against a real HTTP server on 127.0.0.1 as the tool: offline,
a tool whose keywords the question has is called and its result is a numbered source; with an
OpenAI-compatible model the tools are offered as functions and the calls it asks for are made and
fed back, in bounded rounds. Every call is a usage record.

The model is a small local OpenAI-compatible server answering from a script (a fake of a paid
API): SmolLM2 through llama.cpp does not emit tool calls reliably enough to test against.
Streamed answers make the same calls and records, and announce each call with a status event
before the text."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.accounts.models import Organization
from parley.agents.models import Agent
from parley.answers.extractive import NOT_FOUND_ANSWER
from parley.answers.service import MAX_TOOL_CALLS, MAX_TOOL_ROUNDS, TOOL_RULE
from parley.app import create_app
from parley.settings import Settings, ToolSettings
from parley.tools.models import Tool
from parley.usage.models import LLMUsageRecord
from tests.conftest import make_settings
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import add_text, assert_error, count, fresh, make_agent, poll, succeeded
from tests.surfaces.ejento.test_answers import sse_events

ANSWERED = "Agent Response Created Successfully."
FORECAST = {"city": "Oslo", "report": {"summary": "The weather in Oslo is sunny with 21 degrees."}}


# -- the tool: a real HTTP server -------------------------------------------------------------------


@dataclass
class ToolServer:
    base: str
    seen: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)


class _ToolHandler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *args: object) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        parts = urlsplit(self.path)
        self.server.seen.append((parts.path, parse_qs(parts.query)))
        status, body = (200, json.dumps(FORECAST)) if parts.path == "/weather" else (404, '{"error": "none"}')
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def tool_server() -> Iterator[ToolServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ToolHandler)
    httpd.daemon_threads = True
    found = ToolServer(f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.seen = found.seen  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield found
    httpd.shutdown()
    httpd.server_close()


# -- the model: an OpenAI-compatible server answering from a script -------------------------------


@dataclass
class ScriptedModel:
    """Each request takes the next reply of ``script``: a string is a text answer, a list of
    (id, function name, arguments text) is a set of tool calls. ``requests`` keeps the bodies."""

    base_url: str
    script: list[str | list[tuple[str, str, str]]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    default: str = "Nothing more."


class _ModelHandler(BaseHTTPRequestHandler):
    server: Any
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        model: ScriptedModel = self.server.model
        model.requests.append(body)
        reply = model.script.pop(0) if model.script else model.default
        message: dict[str, Any] = {"role": "assistant", "content": reply if isinstance(reply, str) else None}
        if not isinstance(reply, str):
            message["tool_calls"] = [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
                for call_id, name, arguments in reply
            ]
        finish = "stop" if isinstance(reply, str) else "tool_calls"
        completion = {
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "scripted"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 5, "total_tokens": 55},
        }
        data = json.dumps(completion).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def scripted() -> Iterator[ScriptedModel]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ModelHandler)
    httpd.daemon_threads = True
    model = ScriptedModel(f"http://127.0.0.1:{httpd.server_address[1]}/v1")
    httpd.model = model  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield model
    httpd.shutdown()
    httpd.server_close()


# -- the organisation -------------------------------------------------------------------------------


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Outbound tool calls on, to the test servers on 127.0.0.1 only."""
    tools = ToolSettings(allow_outbound_calls=True, allowed_hosts=["127.0.0.1"])
    return make_settings(database_url, tmp_path, tools=tools)


@dataclass
class Desk:
    org: Organization
    admin: Actor  # owns the agent and the tools
    agent: Agent  # no corpora: whatever it cites comes from a tool


@pytest.fixture
def desk(world: World, db: Session) -> Desk:
    org = world.org()
    admin = world.user(org, admin=True)
    agent = make_agent(db, admin, world.project(world.team(org, {admin: "Owner"})), name="Helpdesk")
    return Desk(org, admin, agent)


def add_tool(desk: Desk, url: str, name: str = "Weather lookup", config: dict | None = None) -> dict:
    """A GET template with a required ``city`` and an optional ``q``, a tool on it, enabled."""
    template = succeeded(
        desk.admin.post(
            "/v2/api/api-tool-template",
            json={
                "name": f"{name} template",
                "description": "Current weather of a city",
                "url_template": url,
                "parameters": {
                    "properties": {"city": {"type": "string"}, "q": {"type": "string"}},
                    "required": ["city"],
                },
                "timeout_seconds": 5,
            },
        ),
        201,
        "API tool template created successfully.",
    )
    body = {"name": name, "api_tool_template_id": template["id"], "config": config or {}}
    tool = succeeded(desk.admin.post("/v2/api/tool", json=body), 201, "Tool created successfully.")
    path = f"/v2/api/agent/{desk.agent.id}/tool/{tool['id']}"
    succeeded(desk.admin.post(path), 201, "Agent tool enabled successfully.")
    return tool


def ask(actor: Actor, agent_id: int, question: str) -> dict:
    r = actor.post(f"/response-service/api/v2/agents/{agent_id}/responses", json={"user_query": question})
    return succeeded(r, 200, ANSWERED)


def usage_of(db: Session, response_id: int) -> list[LLMUsageRecord]:
    fresh(db)
    return list(
        db.scalars(
            select(LLMUsageRecord)
            .where(LLMUsageRecord.agent_response_id == response_id)
            .order_by(LLMUsageRecord.id)
        )
    )


OFFLINE = {
    "offline": {"keywords": ["weather", "forecast"], "question_argument": "q", "arguments": {"city": "Oslo"}}
}


# -- offline -------------------------------------------------------------------------------------


def test_offline_a_tool_the_question_names_is_called_and_cited(
    desk: Desk, db: Session, tool_server: ToolServer
):
    tool = add_tool(desk, tool_server.base + "/weather?city={city}", config=OFFLINE)
    assert tool["config"] == OFFLINE
    question = "What is the WEATHER like in Oslo today?"
    data = ask(desk.admin, desk.agent.id, question)
    assert tool_server.seen == [("/weather", {"city": ["Oslo"], "q": [question]})]
    # The result is source 1 (the agent has no corpora), as "path: value" lines, and is cited.
    point = data["data_points"][0]
    assert (point["number"], point["tool"], point["document_name"]) == (1, "Weather lookup", "Weather lookup")
    assert point["content"] == ("city: Oslo\nreport.summary: The weather in Oslo is sunny with 21 degrees.")
    assert point["url"] == f"{tool_server.base}/weather?city=Oslo&q=What+is+the+WEATHER+like+in+Oslo+today%3F"
    assert "sunny" in data["answer"] and [r["number"] for r in data["references"]] == [1]
    records = usage_of(db, data["agent_response_id"])
    calls = [r for r in records if r.feature_name == "tool_call"]
    assert len(calls) == 1 and calls[0].prompt_name == "Weather lookup" and calls[0].status == "success"
    assert calls[0].request_payload["arguments"] == {"city": "Oslo", "q": question}
    assert calls[0].response_payload["status_code"] == 200 and calls[0].model_name == tool_server.base[7:]
    assert calls[0].task_id == data["run_id"] and calls[0].agent_id == desk.agent.id

    # No keyword ("weathering" is another word): no call; nothing to cite either.
    tool_server.seen.clear()
    data = ask(desk.admin, desk.agent.id, "Is the roof weathering well?")
    assert tool_server.seen == [] and data["answer"] == NOT_FOUND_ANSWER
    assert [r.feature_name for r in usage_of(db, data["agent_response_id"])] == ["generation"]


def test_offline_a_failing_tool_is_recorded_and_gives_no_source(
    desk: Desk, db: Session, tool_server: ToolServer
):
    add_tool(desk, tool_server.base + "/gone?city={city}", config=OFFLINE)
    data = ask(desk.admin, desk.agent.id, "Any forecast for tomorrow?")
    assert data["answer"] == NOT_FOUND_ANSWER and data["data_points"] == []
    (call,) = [r for r in usage_of(db, data["agent_response_id"]) if r.feature_name == "tool_call"]
    assert call.status == "failure" and call.error == "The tool answered HTTP 404."


def test_a_tool_config_that_cannot_work_is_refused(desk: Desk, db: Session, tool_server: ToolServer):
    add_tool(desk, tool_server.base + "/weather?city={city}")
    template_id = db.scalar(select(Tool.api_tool_template_id).where(Tool.name == "Weather lookup"))
    before = count(db, Tool)
    for config, fragment in (
        ({"offline": {"keywords": []}}, "config.offline.keywords"),
        ({"offline": {"keywords": ["rain"], "colour": "red"}}, "config.offline.colour"),
        ({"offline": {"keywords": ["rain"], "question_argument": "town"}}, "lacks: town"),
        ({"offline": {"keywords": ["rain"], "arguments": {"days": 3}}}, "lacks: days"),
        ({"offline": ["rain"]}, "config.offline"),
    ):
        body = {"name": "Other", "api_tool_template_id": template_id, "config": config}
        error = assert_error(desk.admin.post("/v2/api/tool", json=body), 400)
        assert fragment in error["message"], error["message"]
    assert count(db, Tool) == before
    tool_id = db.scalar(select(Tool.id).where(Tool.name == "Weather lookup"))
    assert_error(
        desk.admin.put(f"/v2/api/tool/{tool_id}", json={"config": {"offline": {"keywords": [" "]}}}), 400
    )


# -- an OpenAI-compatible model --------------------------------------------------------------------


def use_model(desk: Desk, endpoint: str) -> None:
    config = succeeded(
        desk.admin.post(
            "/v2/api/llm-config",
            json={"name": "scripted", "provider": "openai", "model": "scripted", "endpoint": endpoint},
        ),
        201,
        "LLM config created successfully.",
    )
    r = desk.admin.put(f"/v2/api/agent/{desk.agent.id}/llm-config", json={"llm_config_id": config["id"]})
    succeeded(r, 200, "Agent LLM config updated successfully.")


def test_a_model_calls_a_tool_and_answers_from_its_result(
    desk: Desk, db: Session, tool_server: ToolServer, scripted: ScriptedModel, settings: Settings
):
    add_tool(desk, tool_server.base + "/weather?city={city}")
    use_model(desk, scripted.base_url)
    scripted.script = [
        [("call_1", "Weather_lookup", '{"city": "Oslo"}')],
        "It is sunny in Oslo [1].",
        "Rain?",
    ]
    data = ask(desk.admin, desk.agent.id, "How is the weather in Oslo?")
    assert data["answer"] == "It is sunny in Oslo [1]." and [r["number"] for r in data["references"]] == [1]
    assert data["data_points"][0]["tool"] == "Weather lookup"
    assert tool_server.seen[-1] == ("/weather", {"city": ["Oslo"]})

    first, second, followups = scripted.requests
    assert first["tool_choice"] == "auto" and TOOL_RULE in first["messages"][0]["content"]
    assert first["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "Weather_lookup",
                "description": "Current weather of a city",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "city": {"type": "string", "description": ""},
                        "q": {"type": "string", "description": ""},
                    },
                    "required": ["city"],
                },
            },
        }
    ]
    assistant, result = second["messages"][-2:]
    assert assistant["role"] == "assistant" and assistant["tool_calls"][0]["id"] == "call_1"
    assert result == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "[1] city: Oslo\nreport.summary: The weather in Oslo is sunny with 21 degrees.",
    }
    assert "tools" not in followups
    records = usage_of(db, data["agent_response_id"])
    assert [r.feature_name for r in records] == ["generation", "generation", "followups", "tool_call"]
    assert records[0].response_payload["choices"][0]["tool_calls"][0]["function"]["name"] == "Weather_lookup"
    assert records[-1].status == "success" and records[-1].request_payload["arguments"] == {"city": "Oslo"}

    # With outbound calls off (the default) no tool is offered: with no sources either, the model
    # is not even asked.
    quiet = create_app(settings.model_copy(update={"tools": ToolSettings()}))
    scripted.requests.clear()
    tool_server.seen.clear()
    with TestClient(quiet) as client:
        data = ask(Actor(client, desk.admin.user, desk.admin.secret), desk.agent.id, "Weather in Oslo?")
    assert data["answer"] == NOT_FOUND_ANSWER and scripted.requests == [] and tool_server.seen == []


def test_tool_rounds_and_calls_are_bounded_and_bad_calls_recorded(
    desk: Desk, db: Session, tool_server: ToolServer, scripted: ScriptedModel
):
    add_tool(desk, tool_server.base + "/weather?city={city}")
    port = tool_server.base.rsplit(":", 1)[1]
    add_tool(desk, f"http://localhost:{port}/weather?city={{city}}", name="Local")  # not an allowed host
    use_model(desk, scripted.base_url)
    greedy = [
        ("a", "Nowhere", "{}"),
        ("b", "Weather_lookup", "{city: Oslo}"),
        ("c", "Local", '{"city": "Oslo"}'),
        ("d", "Weather_lookup", '{"city": "Oslo"}'),
    ]
    scripted.script = [greedy, greedy]
    scripted.default = "Sunny [1][2]."
    data = ask(desk.admin, desk.agent.id, "Weather?")
    choices = [r.get("tool_choice") for r in scripted.requests]
    # Two rounds of four calls reach the limit of eight: the third round must answer in text.
    assert MAX_TOOL_CALLS == 8 and choices == ["auto", "auto", "none", None]
    assert data["answer"] == "Sunny [1][2]." and [p["number"] for p in data["data_points"]] == [1, 2]
    tools = [r for r in usage_of(db, data["agent_response_id"]) if r.feature_name == "tool_call"]
    assert [(r.prompt_name, r.status) for r in tools] == [
        ("Nowhere", "failure"),
        ("Weather lookup", "failure"),
        ("Local", "failure"),
        ("Weather lookup", "success"),
    ] * 2
    assert "names no tool offered" in tools[0].error and "not a JSON object" in tools[1].error
    assert "private or local address" in tools[2].error
    told = [m["content"] for m in scripted.requests[1]["messages"] if m["role"] == "tool"]
    assert told[0].startswith("Tool error: The call of 'Nowhere'") and told[3].startswith("[1] city: Oslo")

    # A model that asks for one call every round is made to answer after MAX_TOOL_ROUNDS rounds.
    scripted.requests.clear()
    scripted.script = [[("e", "Weather_lookup", '{"city": "Oslo"}')]] * MAX_TOOL_ROUNDS
    data = ask(desk.admin, desk.agent.id, "Weather again?")
    assert [r.get("tool_choice") for r in scripted.requests] == ["auto"] * MAX_TOOL_ROUNDS + ["none", None]
    assert [p["number"] for p in data["data_points"]] == list(range(1, MAX_TOOL_ROUNDS + 1))


# -- streaming ---------------------------------------------------------------------------------------


def ask_streaming(actor: Actor, agent_id: int, question: str) -> list[tuple[str, dict]]:
    r = actor.post(
        f"/response-service/api/v2/agents/{agent_id}/responses/stream",
        json={"user_query": question},
        headers={"Accept": "text/event-stream"},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream"), r.text
    return sse_events(r.text)


def statuses(events: list[tuple[str, dict]]) -> list[tuple[str, str]]:
    return [(data["step"], data["message"]) for name, data in events if name == "status"]


def text_after_tools(events: list[tuple[str, dict]]) -> str:
    """The streamed text, checked to come after every tool call's status."""
    names = [name for name, _ in events]
    last_tool = max(i for i, (name, data) in enumerate(events) if data.get("step") == "tool_call_start")
    assert "token" in names and last_tool < names.index("token")
    return "".join(data["delta"] for name, data in events if name == "token")


def test_streaming_offline_calls_the_tool_first_and_records_it_as_the_json_answer_does(
    desk: Desk, db: Session, tool_server: ToolServer
):
    add_tool(desk, tool_server.base + "/weather?city={city}", config=OFFLINE)
    question = "What is the weather like in Oslo?"
    tool_server.seen.clear()
    events = ask_streaming(desk.admin, desk.agent.id, question)
    assert statuses(events) == [
        ("query_rewrite_start", "Processing query..."),
        ("tool_call_start", "Calling tool Weather lookup"),
        ("assistant_start", "Preparing response..."),
    ]
    name, end = events[-1]
    output = end["output"]
    assert name == "end" and text_after_tools(events) == output["answer"] and "sunny" in output["answer"]
    assert [r["number"] for r in output["references"]] == [1]
    assert tool_server.seen == [("/weather", {"city": ["Oslo"], "q": [question]})]
    streamed = usage_of(db, output["agent_response_id"])
    # The same records as the JSON answer to the same question.
    answered = usage_of(db, ask(desk.admin, desk.agent.id, question)["agent_response_id"])
    assert (
        [r.feature_name for r in streamed]
        == [r.feature_name for r in answered]
        == ["generation", "tool_call"]
    )
    call = streamed[-1]
    assert (call.prompt_name, call.status, call.request_payload["arguments"]) == (
        "Weather lookup",
        "success",
        {"city": "Oslo", "q": question},
    )
    assert call.agent_response_id == output["agent_response_id"]

    # A question without the tool's keywords streams without a tool status.
    events = ask_streaming(desk.admin, desk.agent.id, "Is the roof weathering well?")
    assert [step for step, _ in statuses(events)] == ["query_rewrite_start", "assistant_start"]


def test_streaming_with_a_model_runs_the_tool_rounds_before_the_text(
    desk: Desk, db: Session, tool_server: ToolServer, scripted: ScriptedModel
):
    add_tool(desk, tool_server.base + "/weather?city={city}")
    use_model(desk, scripted.base_url)
    scripted.script = [
        [("call_1", "Weather_lookup", '{"city": "Oslo"}'), ("call_2", "Nowhere", "{}")],
        "It is sunny in Oslo [1].",
        "Rain?",
    ]
    events = ask_streaming(desk.admin, desk.agent.id, "How is the weather in Oslo?")
    assert statuses(events) == [
        ("query_rewrite_start", "Processing query..."),
        ("assistant_start", "Preparing response..."),
        ("tool_call_start", "Calling tool Weather lookup"),
        ("tool_call_start", "Calling tool Nowhere"),  # asked for, announced, refused and recorded
    ]
    output = events[-1][1]["output"]
    assert text_after_tools(events) == output["answer"] == "It is sunny in Oslo [1]."
    assert [r["number"] for r in output["references"]] == [1]
    assert tool_server.seen[-1] == ("/weather", {"city": ["Oslo"]})
    # The model was offered the tools, then given the results, exactly as for a JSON answer.
    first, second, followups = scripted.requests
    assert first["tool_choice"] == "auto" and [t["function"]["name"] for t in first["tools"]] == [
        "Weather_lookup"
    ]
    told = [m for m in second["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in told] == ["call_1", "call_2"]
    assert told[0]["content"].startswith("[1] city: Oslo") and told[1]["content"].startswith("Tool error:")
    assert "tools" not in followups
    records = usage_of(db, output["agent_response_id"])
    assert [r.feature_name for r in records] == [
        "generation",
        "generation",
        "followups",
        "tool_call",
        "tool_call",
    ]
    assert [(r.prompt_name, r.status) for r in records[-2:]] == [
        ("Weather lookup", "success"),
        ("Nowhere", "failure"),
    ]


def test_a_model_is_shown_its_sources_without_their_own_footnote_markers(desk: Desk, scripted: ScriptedModel):
    # From the Wikipedia "Duck" article (CC BY-SA), with its footnote markers as plain text.
    corpus = succeeded(
        desk.admin.post("/v2/api/corpus", json={"name": "Birds"}), 201, "Corpus created successfully."
    )
    link = f"/v2/api/agent/{desk.agent.id}/corpus/{corpus['id']}"
    assert desk.admin.post(link).status_code == 201
    text = "A male duck is called a drake and the female is called a duck, or in ornithology a hen.[3][4]"
    assert poll(desk.admin, add_text(desk.admin, corpus["id"], text)["id"])["status"] == "completed"
    use_model(desk, scripted.base_url)
    ask(desk.admin, desk.agent.id, "What is a male duck called?")
    # The answer and the follow-up questions.
    assert len(scripted.requests) == 2
    for request in scripted.requests:
        sources = request["messages"][-1]["content"]
        assert "or in ornithology a hen." in sources and "[3]" not in sources and "[4]" not in sources
