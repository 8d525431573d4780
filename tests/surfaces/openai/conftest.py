"""Fixtures and helpers of the OpenAI-compatible surface tests (TestClient, both backends)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from httpx import Response
from sqlalchemy.orm import Session

from parley.accounts.models import Organization
from parley.agents.models import Agent
from parley.corpora.models import AgentCorpus, Corpus
from parley.projects.models import Project
from tests.support.world import World
from tests.surfaces.contextual.helpers import LEAVE, REFUND, Caller
from tests.surfaces.ejento.factories import _save, add_text, make_agent, make_corpus, poll

ERROR_KEYS = {"message", "type", "param", "code"}


@dataclass
class Desk:
    org: Organization
    project: Project
    owner: Caller  # sends its API key as OpenAI clients do: Authorization: Bearer
    agent: Agent
    corpus: Corpus


@pytest.fixture
def desk(world: World, db: Session) -> Desk:
    """An agent with an alias and one enabled (empty) corpus."""
    org = world.org("Acme")
    owner = Caller(world.user(org))
    project = world.project(world.team(org, {owner: "Owner"}))
    agent = make_agent(db, owner, project, name="Helpdesk")
    agent.alias = f"Helpdesk_{agent.id}@agents.parley.local"
    corpus = make_corpus(db, owner, name="Policies")
    _save(
        db, agent, AgentCorpus(org_id=org.id, agent_id=agent.id, corpus_id=corpus.id, connected_by=owner.id)
    )
    return Desk(org, project, owner, agent, corpus)


@pytest.fixture
def stocked(desk: Desk) -> Desk:
    """The desk with a refund policy and leave rules indexed through the ingestion pipeline."""
    for text in (REFUND, LEAVE):
        assert poll(desk.owner.actor, add_text(desk.owner.actor, desk.corpus.id, text)["id"])["status"] == (
            "completed"
        )
    return desk


@pytest.fixture
def other(world: World) -> Caller:
    """An administrator of another organisation."""
    return Caller(world.user(world.org("Other"), admin=True))


def model(agent: Agent) -> str:
    return f"agent-{agent.id}"


def ask(caller: Caller, model_name: str, *messages: dict[str, Any], **body: Any) -> Response:
    return caller.post("/v1/chat/completions", json={"model": model_name, "messages": list(messages), **body})


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assert_openai_error(r: Response, status: int, code: str | None = None, param: str | None = None) -> dict:
    """OpenAI's error shape, ``{"error": {message, type, param, code}}``; returns the error."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
    error = body["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert error["type"] == ("server_error" if status >= 500 else "invalid_request_error")
    assert error["code"] == code and error["param"] == param, error
    return error
