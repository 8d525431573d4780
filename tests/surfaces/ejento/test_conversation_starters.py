"""Ejento V2 Conversation Starters group, and how starters mirror the agent's sample_q1..3."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from parley.accounts.models import Organization
from parley.agents.models import Agent, ConversationStarter
from parley.agents.starters import MAX_STARTERS
from parley.projects.models import Project
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import (
    AUDIT_KEYS,
    TIMESTAMP,
    _save,
    assert_error,
    assert_hidden,
    assert_read_only,
    count,
    ids,
    make_agent,
    reload,
    succeeded,
)

JSON = {"Content-Type": "application/json"}
STARTER_KEYS = {"id", "agent", "starter", "position", "sample_field", *AUDIT_KEYS}
CREATED = "Conversation starter created successfully."
FETCHED = "Conversation starters fetched successfully."
UPDATED = "Conversation starter updated successfully."
DELETED = "Conversation starter deleted successfully."


@dataclass
class Tenant:
    org: Organization
    admin: Actor
    owner: Actor  # owns the agent
    member: Actor  # in the agent's team, may see but not edit it
    project: Project
    agent: Agent  # Public

    @property
    def base(self) -> str:
        return f"/v2/api/agent/{self.agent.id}/conversation-starter"


@pytest.fixture
def t(world: World, db: Session) -> Tenant:
    org = world.org("Acme")
    admin, owner, member = world.user(org, admin=True), world.user(org), world.user(org)
    project = world.project(world.team(org, {owner: "Member", member: "Member"}))
    agent = make_agent(db, owner, project, access="Public", name="Helpdesk")
    return Tenant(org, admin, owner, member, project, agent)


def listed(actor: Actor, base: str) -> list[dict]:
    return succeeded(actor.get(base), 200, FETCHED)


def texts(actor: Actor, base: str) -> list[str]:
    return [s["starter"] for s in listed(actor, base)]


def samples(db: Session, agent: Agent) -> tuple[str, str, str]:
    row = reload(db, Agent, agent.id)
    return (row.sample_q1, row.sample_q2, row.sample_q3)


def live_rows(db: Session, agent: Agent) -> int:
    return count(
        db,
        ConversationStarter,
        ConversationStarter.agent_id == agent.id,
        ConversationStarter.is_deleted.is_(False),
    )


def add(actor: Actor, base: str, text: str, **body: object) -> dict:
    return succeeded(actor.post(base, json={"starter": text, **body}), 201, CREATED)


# -- Create Conversation Starter, Get Conversation Starters ------------------------------------


def test_create_and_get_conversation_starters_mirror_the_sample_questions(t: Tenant, db: Session):
    first = add(t.owner, t.base, "  How do I reset my password?  ")
    assert set(first) == STARTER_KEYS
    assert (first["agent"], first["starter"], first["position"], first["sample_field"]) == (
        t.agent.id, "How do I reset my password?", 1, "sample_q1",
    )  # fmt: skip
    assert (
        first["created_by"] == t.owner.email and first["modified_by"] == "" and first["is_deleted"] is False
    )
    assert TIMESTAMP.match(first["created_on"])
    assert samples(db, t.agent) == ("How do I reset my password?", "", "")
    assert reload(db, Agent, t.agent.id).modified_by == t.owner.email

    # A position puts it there; the others move down. The old client field name is accepted too.
    second = succeeded(
        t.owner.post(t.base, json={"conversation_starter": "Where is my invoice?", "position": 1}),
        201,
        CREATED,
    )
    assert second["position"] == 1 and second["sample_field"] == "sample_q1"
    add(t.owner, t.base, "Who do I call?")
    fourth = add(t.owner, t.base, "Opening hours?")
    assert fourth["position"] == 4 and fourth["sample_field"] is None

    data = listed(t.member, t.base)
    assert [s["starter"] for s in data] == [
        "Where is my invoice?", "How do I reset my password?", "Who do I call?", "Opening hours?",
    ]  # fmt: skip
    assert [s["position"] for s in data] == [1, 2, 3, 4]
    assert [s["sample_field"] for s in data] == ["sample_q1", "sample_q2", "sample_q3", None]
    assert all(set(s) == STARTER_KEYS for s in data) and ids(data)[1] == first["id"]
    assert samples(db, t.agent) == ("Where is my invoice?", "How do I reset my password?", "Who do I call?")
    # Get Agent shows the same three questions.
    agent = t.member.get(f"/v2/api/agent/{t.agent.id}").json()["data"]
    assert [agent["sample_q1"], agent["sample_q2"], agent["sample_q3"]] == [s["starter"] for s in data[:3]]

    got = succeeded(
        t.member.get(f"{t.base}/{first['id']}"), 200, "Conversation starter fetched successfully."
    )
    assert got == data[1]


def test_sample_questions_set_by_edit_agent_are_starters(t: Tenant, db: Session):
    # As Create Agent By Configure leaves them: sample questions, no starter rows.
    agent = reload(db, Agent, t.agent.id)
    agent.sample_q1, agent.sample_q3 = "What is covered?", "How long does it take?"
    _save(db, agent)
    data = listed(t.member, t.base)
    assert [(s["id"], s["starter"], s["position"], s["sample_field"]) for s in data] == [
        (None, "What is covered?", 1, "sample_q1"),
        (None, "How long does it take?", 2, "sample_q2"),
    ]
    assert data[0]["created_by"] == t.owner.email  # the agent's audit fields
    assert live_rows(db, t.agent) == 0  # reading writes nothing

    # The next write stores them; the empty sample field leaves no gap.
    add(t.owner, t.base, "Can I cancel?")
    data = listed(t.member, t.base)
    assert texts(t.member, t.base) == ["What is covered?", "How long does it take?", "Can I cancel?"]
    assert all(s["id"] is not None for s in data) and live_rows(db, t.agent) == 3
    assert samples(db, t.agent) == ("What is covered?", "How long does it take?", "Can I cancel?")

    # Edit Agent changes a sample question: it replaces that starter (same row), at once.
    r = t.owner.put(f"/v2/api/agent/{t.agent.id}", data={"sample_q2": "How long, roughly?"})
    assert r.status_code == 200, r.text
    after = listed(t.member, t.base)
    assert [s["starter"] for s in after] == ["What is covered?", "How long, roughly?", "Can I cancel?"]
    assert ids(after) == ids(data)
    add(t.owner, t.base, "Is there a fee?")
    row = reload(db, ConversationStarter, data[1]["id"])
    assert row.starter == "How long, roughly?" and row.modified_by == t.owner.email
    assert texts(t.member, t.base)[-1] == "Is there a fee?" and live_rows(db, t.agent) == 4

    # Clearing a sample question through Edit Agent removes that starter; the next moves up.
    r = t.owner.put(f"/v2/api/agent/{t.agent.id}", json={"sample_q1": ""})
    assert r.status_code == 200, r.text
    assert texts(t.member, t.base) == ["How long, roughly?", "Can I cancel?", "Is there a fee?"]
    add(t.owner, t.base, "Who answers?")
    assert reload(db, ConversationStarter, data[0]["id"]).is_deleted is True
    assert samples(db, t.agent) == ("How long, roughly?", "Can I cancel?", "Is there a fee?")


# -- get, edit, delete one -------------------------------------------------------------------------


def test_edit_and_delete_conversation_starters(t: Tenant, db: Session):
    a, b, c, d = (add(t.owner, t.base, text) for text in ("A?", "B?", "C?", "D?"))
    edited = succeeded(t.owner.put(f"{t.base}/{b['id']}", json={"starter": "  Bee?  "}), 200, UPDATED)
    assert edited["starter"] == "Bee?" and edited["position"] == 2 and edited["modified_by"] == t.owner.email
    assert samples(db, t.agent) == ("A?", "Bee?", "C?")

    moved = succeeded(t.owner.put(f"{t.base}/{d['id']}", json={"position": 1}), 200, UPDATED)
    assert moved["position"] == 1 and moved["sample_field"] == "sample_q1"
    assert texts(t.owner, t.base) == ["D?", "A?", "Bee?", "C?"]
    assert samples(db, t.agent) == ("D?", "A?", "Bee?")
    both = succeeded(t.owner.put(f"{t.base}/{a['id']}", json={"starter": "Ay?", "position": 4}), 200, UPDATED)
    assert (both["starter"], both["position"], both["sample_field"]) == ("Ay?", 4, None)
    assert texts(t.owner, t.base) == ["D?", "Bee?", "C?", "Ay?"]

    gone = succeeded(t.owner.delete(f"{t.base}/{b['id']}"), 200, DELETED)
    assert gone["id"] == b["id"] and gone["is_deleted"] is True and gone["sample_field"] is None
    assert reload(db, ConversationStarter, b["id"]).is_deleted is True
    # The fourth starter moves up into sample_q3.
    assert texts(t.owner, t.base) == ["D?", "C?", "Ay?"]
    assert samples(db, t.agent) == ("D?", "C?", "Ay?")
    for method in ("GET", "PUT", "DELETE"):
        assert_error(
            t.owner.request(method, f"{t.base}/{b['id']}", json={"starter": "x"}),
            404,
            "Conversation starter not found.",
        )
    for row in (d, c):
        succeeded(t.owner.delete(f"{t.base}/{row['id']}"), 200, DELETED)
    assert samples(db, t.agent) == ("Ay?", "", "")
    assert [s["id"] for s in listed(t.owner, t.base)] == [a["id"]]


def test_bad_input_writes_nothing(t: Tenant, db: Session):
    one = add(t.owner, t.base, "One?")
    add(t.owner, t.base, "Two?")
    other_agent = make_agent(db, t.owner, t.project, access="Public")
    for payload in (
        {},
        {"starter": ""},
        {"starter": "   "},
        {"starter": "x" * 1001},
        {"starter": 5},
        {"starter": None},
        {"starter": "nul\x00"},
        {"starter": "Three?", "position": 0},
        {"starter": "Three?", "position": "first"},
        {"starter": "Three?", "position": MAX_STARTERS + 1},
    ):
        assert_error(t.owner.post(t.base, json=payload), 400)
    assert_error(
        t.owner.post(t.base, json={"starter": "Three?", "position": 4}),
        400,
        "position must be between 1 and 3.",
    )
    assert_error(
        t.owner.post(t.base, json={"starter": "one?"}),
        409,
        "This agent already has this conversation starter.",
    )
    assert_error(t.owner.post(t.base, content=b"{nope", headers=JSON), 400, "Malformed JSON body.")
    path = f"{t.base}/{one['id']}"
    for payload in ({}, {"starter": ""}, {"position": 0}, {"starter": None}):
        assert_error(t.owner.put(path, json=payload), 400)
    assert_error(t.owner.put(path, json={"position": 3}), 400, "position must be between 1 and 2.")
    assert_error(
        t.owner.put(path, json={"starter": "TWO?"}), 409, "This agent already has this conversation starter."
    )
    # A starter of another agent is not this agent's.
    elsewhere = add(t.owner, f"/v2/api/agent/{other_agent.id}/conversation-starter", "Elsewhere?")
    for method in ("GET", "PUT", "DELETE"):
        assert_error(
            t.owner.request(method, f"{t.base}/{elsewhere['id']}", json={"starter": "x"}),
            404,
            "Conversation starter not found.",
        )
    for bad in ("abc", "0", "99999999999999999999999"):
        assert_error(t.owner.get(f"/v2/api/agent/{bad}/conversation-starter"), 400)
        assert_error(t.owner.get(f"{t.base}/{bad}"), 400)
    assert_error(
        t.owner.post("/v2/api/agent/987654/conversation-starter", json={"starter": "x"}),
        404,
        "Agent not found.",
    )
    assert texts(t.owner, t.base) == ["One?", "Two?"] and samples(db, t.agent) == ("One?", "Two?", "")
    assert live_rows(db, t.agent) == 2

    # At most MAX_STARTERS per agent.
    for i in range(MAX_STARTERS - 2):
        add(t.owner, t.base, f"Q{i}?")
    assert_error(
        t.owner.post(t.base, json={"starter": "One too many?"}),
        400,
        f"An agent has at most {MAX_STARTERS} conversation starters.",
    )
    assert live_rows(db, t.agent) == MAX_STARTERS


# -- permissions --------------------------------------------------------------------------------


def test_editing_needs_edit_rights_on_the_agent(t: Tenant, world: World, db: Session):
    one = add(t.owner, t.base, "One?")
    path = f"{t.base}/{one['id']}"
    # A member who sees the Public agent reads its starters but may not change them.
    assert texts(t.member, t.base) == ["One?"]
    denied = "You do not have permission to edit this agent's conversation starters."
    assert_error(t.member.post(t.base, json={"starter": "Mine?"}), 403, denied)
    assert_error(t.member.put(path, json={"starter": "Mine?"}), 403, denied)
    assert_error(t.member.delete(path), 403, denied)
    # Org admins may.
    add(t.admin, t.base, "Admin's?")
    # An "Only me" agent is invisible to the member: 404 for reads and writes.
    private = make_agent(db, t.owner, t.project, access="Only me")
    private_base = f"/v2/api/agent/{private.id}/conversation-starter"
    secret = add(t.owner, private_base, "Secret plan?")
    assert_hidden(
        t.member,
        [
            ("GET", private_base, None),
            ("POST", private_base, {"starter": "x"}),
            ("GET", f"{private_base}/{secret['id']}", None),
            ("PUT", f"{private_base}/{secret['id']}", {"starter": "x"}),
            ("DELETE", f"{private_base}/{secret['id']}", None),
        ],
        "Secret plan?",
    )
    assert texts(t.owner, t.base) == ["One?", "Admin's?"] and texts(t.owner, private_base) == ["Secret plan?"]


def test_another_organisation_gets_404(t: Tenant, other: Actor, db: Session):
    one = add(t.owner, t.base, "Internal question?")
    path = f"{t.base}/{one['id']}"
    assert_hidden(
        other,
        [
            ("GET", t.base, None),
            ("POST", t.base, {"starter": "x"}),
            ("GET", path, None),
            ("PUT", path, {"starter": "x"}),
            ("DELETE", path, None),
        ],
        "Internal question?",
    )
    assert live_rows(db, t.agent) == 1 and samples(db, t.agent) == ("Internal question?", "", "")


def test_read_only_and_restricted_keys(t: Tenant, world: World, db: Session):
    one = add(t.owner, t.base, "One?")
    path = f"{t.base}/{one['id']}"
    writes = [
        ("POST", t.base, {"starter": "Two?"}),
        ("PUT", path, {"starter": "Uno?"}),
        ("DELETE", path, None),
    ]
    for scope, permissions in (("read_only", None), ("restricted", {"agents": "read"})):
        assert_read_only(world.key_for(t.owner, scope, permissions), [t.base, path], writes)
    wrong_category = world.key_for(
        t.owner, "restricted", {"notifications": "write", "feature_flags": "write"}
    )
    for method, p, body in [("GET", t.base, None), ("GET", path, None), *writes]:
        assert_error(wrong_category.request(method, p, json=body), 403)
    assert texts(t.owner, t.base) == ["One?"] and live_rows(db, t.agent) == 1
    writer = world.key_for(t.owner, "restricted", {"agents": "write"})
    succeeded(writer.put(path, json={"starter": "Uno?"}), 200, UPDATED)
