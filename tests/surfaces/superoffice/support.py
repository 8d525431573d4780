"""Arrange a SuperOffice chatbot: an agent with indexed documents, bound to the caller, and
callers using Basic or Bearer authorization (the Kore tests reuse it for answers' usage logs)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from httpx import Response
from sqlalchemy.orm import Session

from parley.accounts.models import Organization
from parley.agents.models import Agent
from parley.corpora.models import AgentCorpus, Corpus
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import _save, add_text, make_agent, make_corpus, poll

AI = "/api/v1/Agents/AI"
REFUND = (
    "Refund policy\n\nCustomers may return goods within thirty days of delivery for a full refund. "
    "Refunds are paid to the original card within five working days. "
    "Nordic Payments has handled the card refunds since 2019.\n"
)
LEAVE = (
    "Leave rules\n\nEmployees request vacation two weeks in advance through the HR portal. "
    "Unused vacation days expire at the end of March.\n"
)
PASSWORD = "correct horse battery"
TURN_KEYS = ["Timestamp", "UserPrompt", "UserDisplayText", "BotResponse", "BotActions", "Attachments"]


@dataclass
class Desk:
    org: Organization
    admin: Actor
    owner: Actor
    agent: Agent
    corpus: Corpus


def basic(email: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{email}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bearer(actor: Actor) -> dict[str, str]:
    return {"Authorization": f"Bearer {actor.secret}"}


def so_post(actor_headers: dict[str, str], world: World, name: str, **kwargs: Any) -> Response:
    """A call to ``/api/v1/Agents/AI/<name>`` with exactly these credentials."""
    headers = {**actor_headers, **kwargs.pop("headers", {})}
    return world.client.post(f"{AI}/{name}", headers=headers, **kwargs)


def bind(world: World, admin: Actor, agent_id: int, **target: Any) -> dict:
    r = so_post(bearer(admin), world, "SetChatbotBinding", json={"AgentId": agent_id, **target})
    assert r.status_code == 200, r.text
    return r.json()


def make_desk(world: World, db: Session, *, documents: tuple[str, ...] = (REFUND, LEAVE)) -> Desk:
    """An organisation whose default chatbot is an agent over a refund policy and leave rules."""
    org = world.org("Acme")
    admin = world.user(org, admin=True)
    owner = world.user(org)
    project = world.project(world.team(org, {owner: "Owner"}))
    agent = make_agent(db, owner, project, name="Helpdesk", access="Public")
    corpus = make_corpus(db, owner, name="Policies", is_public=True)
    _save(db, AgentCorpus(org_id=org.id, agent_id=agent.id, corpus_id=corpus.id, connected_by=owner.id))
    for text in documents:  # a text document is named by its first line
        assert poll(owner, add_text(owner, corpus.id, text)["id"])["status"] == "completed"
    bind(world, admin, agent.id)
    return Desk(org, admin, owner, agent, corpus)


def assert_so_error(r: Response, status: int, message: str | None = None) -> dict:
    """An error in SuperOffice's shape ``{Message, MessageDetail}``."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"Message", "MessageDetail"} and isinstance(body["Message"], str) and body["Message"]
    if message is not None:
        assert message in body["Message"], body
    return body
