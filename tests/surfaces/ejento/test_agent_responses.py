"""Ejento V2 Agent Response group: lists, one response, delete, comments, feedback and pins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from parley.accounts.models import Organization
from parley.agents.models import Agent, AgentUser
from parley.notifications.models import Notification
from parley.projects.models import Project
from parley.responses.models import AgentResponse, ResponseComment, ResponseFeedback
from parley.threads.models import ChatThread
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import (
    TIMESTAMP,
    assert_error,
    count,
    ids,
    make_agent,
    make_feedback,
    make_response,
    make_thread,
    reload,
    succeeded,
)

FOUND = "Agent Response Found Successfully."
# The stored row (Create Agent Response Log's example) with its comments and feedback first.
FULL_KEYS = [
    "id",
    "comments",
    "feedback",
    "question",
    "response",
    "created_by",
    "created_on",
    "is_deleted",
    "total_tokens",
    "prompt_tokens",
    "completion_tokens",
    "cache_hit",
    "query_source",
    "message_id",
    "cost",
    "pinned",
    "chat_thread",
    "agent",
    "user",
    "llm_config",
]
COMMENT_KEYS = ["id", "comment", "created_by", "created_on", "user", "agent_response"]
FEEDBACK_KEYS = [
    "id",
    "is_upvote",
    "is_downvote",
    "comment",
    "created_by",
    "created_on",
    "user",
    "agent_response",
]
PINNED_KEYS = [
    "id",
    "question",
    "response",
    "created_by",
    "created_on",
    "total_tokens",
    "prompt_tokens",
    "completion_tokens",
    "pinned",
    "chat_thread_id",
]


@dataclass
class Tenant:
    org: Organization
    admin: Actor  # organisation admin
    owner: Actor  # owns the agent, so edits it and sees all its responses
    alice: Actor
    bob: Actor
    project: Project
    agent: Agent  # Public, owned by ``owner``
    thread: ChatThread  # alice's thread with ``agent``


@pytest.fixture
def t(world: World, db: Session) -> Tenant:
    org = world.org()
    admin = world.user(org, admin=True)
    owner, alice, bob = world.user(org), world.user(org), world.user(org)
    team = world.team(org, {owner: "Member", alice: "Member", bob: "Member"})
    project = world.project(team)
    agent = make_agent(db, owner, project, access="Public", name="Helpdesk")
    return Tenant(org, admin, owner, alice, bob, project, agent, make_thread(db, alice, agent))


def at(db: Session, response: AgentResponse, when: datetime) -> None:
    db.execute(update(AgentResponse).where(AgentResponse.id == response.id).values(created_on=when))
    db.commit()


def listed(actor: Actor, path: str, **params: object) -> dict:
    return succeeded(actor.get(path, params=params), 200, FOUND)


def agent_path(agent: Agent) -> str:
    return f"/v2/api/agent/{agent.id}/response"


def pin_path(agent: Agent, response: AgentResponse | int) -> str:
    rid = response if isinstance(response, int) else response.id
    return f"/v2/api/agent/{agent.id}/response/{rid}/pin"


# -- Get All Agent Responses ------------------------------------------------------------------


def test_get_all_agent_responses_shape_visibility_and_pagination(t: Tenant, db: Session):
    first = make_response(db, t.alice, t.agent, t.thread, question="Q1", total_tokens=4809, cost="0.02404")
    second = make_response(db, t.alice, t.agent, t.thread, question="Q2", query_source="slack-ejento")
    third = make_response(db, t.alice, t.agent, t.thread, question="Q3")
    bobs = make_response(db, t.bob, t.agent, make_thread(db, t.bob, t.agent), question="Bob's")
    make_response(db, t.alice, t.agent, t.thread, question="gone", is_deleted=True)
    make_response(db, t.alice, make_agent(db, t.alice, t.project, access="Public"), question="elsewhere")
    at(db, first, datetime(2025, 4, 4, 18, 32, 35, 981741, tzinfo=UTC))
    at(db, second, datetime(2025, 4, 5, tzinfo=UTC))
    at(db, third, datetime(2025, 4, 6, tzinfo=UTC))
    at(db, bobs, datetime(2025, 4, 7, tzinfo=UTC))
    make_feedback(db, t.owner, first, up=True)
    db.add(ResponseComment(agent_response_id=first.id, user_id=t.owner.id, comment="Good", created_by="x"))
    db.commit()

    # The agent's owner and the organisation admin see every user's responses, newest first.
    for caller in (t.owner, t.admin):
        data = listed(caller, agent_path(t.agent))
        assert (data["count"], data["num_pages"], data["current_page"]) == (4, 1, 1)
        assert ids(data["agent_responses"]) == [bobs.id, third.id, second.id, first.id]
    # Everyone else sees their own only.
    assert ids(listed(t.alice, agent_path(t.agent))["agent_responses"]) == [third.id, second.id, first.id]
    assert ids(listed(t.bob, agent_path(t.agent))["agent_responses"]) == [bobs.id]

    item = listed(t.owner, agent_path(t.agent))["agent_responses"][3]
    assert list(item) == FULL_KEYS
    assert item == {
        "id": first.id,
        "comments": [item["comments"][0]],
        "feedback": [item["feedback"][0]],
        "question": "Q1",
        "response": {
            "query": "Q1",
            "answer": "Retrieval-augmented generation.",
            "references": [],
            "agent_mode": "QnA",
        },
        "created_by": t.alice.email,
        "created_on": "2025-04-04T18:32:35.981741Z",
        "is_deleted": False,
        "total_tokens": 4809,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cache_hit": False,
        "query_source": "web",
        "message_id": None,
        "cost": "0.02404",
        "pinned": False,
        "chat_thread": t.thread.id,
        "agent": t.agent.id,
        "user": t.alice.id,
        "llm_config": None,
    }
    assert list(item["comments"][0]) == COMMENT_KEYS and item["comments"][0]["comment"] == "Good"
    assert list(item["feedback"][0]) == FEEDBACK_KEYS
    assert item["feedback"][0]["is_upvote"] is True and item["feedback"][0]["user"] == t.owner.id

    page = listed(t.owner, agent_path(t.agent), items_per_page=3, page=2)
    assert (page["count"], page["num_pages"], page["current_page"]) == (4, 2, 2)
    assert ids(page["agent_responses"]) == [first.id]
    assert listed(t.owner, agent_path(t.agent), page=999_999)["agent_responses"] == []
    sources = listed(t.owner, agent_path(t.agent), query_source="slack-ejento")
    assert sources["count"] == 1 and ids(sources["agent_responses"]) == [second.id]
    assert listed(t.owner, agent_path(t.agent), query_source="")["count"] == 4  # blank: no filter


def test_get_all_agent_responses_bad_input_and_hidden_agents(t: Tenant, world: World, db: Session):
    team_agent = make_agent(db, t.owner, t.project, access="Only team")
    private = make_agent(db, t.owner, t.project, access="Only me")
    outsider = world.user(t.org)  # not in the project's team
    for params in ({"items_per_page": 0}, {"page": 0}, {"page": "x"}, {"query_source": "x" * 51}):
        assert_error(t.alice.get(agent_path(t.agent), params=params), 400)
    for bad in ("abc", "0", "-1", "99999999999999999999999"):
        assert_error(t.alice.get(f"/v2/api/agent/{bad}/response"), 400)
    assert_error(t.alice.get("/v2/api/agent/987654/response"), 404, "Agent not found.")
    assert_error(t.alice.get(agent_path(private)), 404, "Agent not found.")
    assert listed(t.alice, agent_path(team_agent))["count"] == 0
    assert_error(outsider.get(agent_path(team_agent)), 404, "Agent not found.")


def test_agent_editors_by_share_and_team_managers_see_all_responses(t: Tenant, world: World, db: Session):
    make_response(db, t.alice, t.agent, t.thread)
    editor, viewer, manager = world.user(t.org), world.user(t.org), world.user(t.org)
    db.add_all(
        [
            AgentUser(agent_id=t.agent.id, user_id=editor.id, permission="edit"),
            AgentUser(agent_id=t.agent.id, user_id=viewer.id, permission="view"),
        ]
    )
    db.commit()
    other_team = world.team(t.org, {manager: "Admin"})
    managed = make_agent(db, t.owner, world.project(other_team), access="Public")
    make_response(db, t.alice, managed)
    assert listed(editor, agent_path(t.agent))["count"] == 1
    assert listed(viewer, agent_path(t.agent))["count"] == 0
    assert listed(manager, agent_path(managed))["count"] == 1
    assert listed(manager, agent_path(t.agent))["count"] == 0


# -- By User / By Project / By Chat Thread ----------------------------------------------------


def test_responses_by_user_compact_shape_and_visibility(t: Tenant, db: Session):
    mine = make_agent(db, t.alice, t.project, access="Only me", name="Alice's own")
    on_owners = make_response(db, t.alice, t.agent, t.thread, question="Q1", answer="A1")
    on_own = make_response(db, t.alice, mine, question="Q2")
    make_response(db, t.bob, t.agent)
    at(db, on_owners, datetime(2025, 1, 1, tzinfo=UTC))
    path = f"/v2/api/user/{t.alice.id}/agent-response"

    data = listed(t.alice, path)
    assert (data["count"], data["num_pages"], data["current_page"]) == (2, 1, 1)
    assert ids(data["agent_responses"]) == [on_own.id, on_owners.id]
    item = data["agent_responses"][1]
    assert list(item) == [k for k in FULL_KEYS if k not in ("comments", "feedback")]
    assert item["response"] == {"query": "Q1", "answer": "A1", "references": [], "agent_mode": "QnA"}
    assert item["user"] == t.alice.id and item["chat_thread"] == t.thread.id
    assert item["agent"] == {
        "id": t.agent.id,
        "agent_name": "Helpdesk",
        "agent_type": {"name": "QnA"},
        "created_by": t.owner.email,
        "created_on": item["agent"]["created_on"],
        "agent_image": None,
        "user": t.owner.id,
        "project": t.project.id,
    }
    assert TIMESTAMP.match(item["agent"]["created_on"])

    assert listed(t.admin, path)["count"] == 2
    # The owner of Helpdesk sees alice's responses on Helpdesk only; bob sees none of hers.
    assert ids(listed(t.owner, path)["agent_responses"]) == [on_owners.id]
    assert listed(t.bob, path)["count"] == 0
    assert listed(t.alice, path, query_source="teams-ejento")["count"] == 0
    assert_error(t.alice.get("/v2/api/user/987654/agent-response"), 404, "User not found.")
    assert_error(t.alice.get("/v2/api/user/abc/agent-response"), 400)
    assert_error(t.alice.get(path, params={"items_per_page": 0}), 400)


def test_responses_by_project(t: Tenant, world: World, db: Session):
    other_team = world.team(t.org, {t.bob: "Member"})
    hidden_project = world.project(other_team)
    hidden_agent = make_agent(db, t.bob, hidden_project, access="Public")
    in_project = make_response(db, t.alice, t.agent, t.thread)
    make_response(db, t.bob, t.agent)
    make_response(db, t.bob, hidden_agent)
    path = f"/v2/api/project/{t.project.id}/agent-response"

    owners = listed(t.owner, path)
    assert owners["count"] == 2
    assert all(item["agent"]["id"] == t.agent.id for item in owners["agent_responses"])
    alices = listed(t.alice, path)
    assert ids(alices["agent_responses"]) == [in_project.id]
    assert alices["agent_responses"][0]["agent"]["agent_name"] == "Helpdesk"
    assert listed(t.admin, f"/v2/api/project/{hidden_project.id}/agent-response")["count"] == 1
    # A project of a team alice is not in does not exist for her.
    assert_error(
        t.alice.get(f"/v2/api/project/{hidden_project.id}/agent-response"), 404, "Project not found."
    )
    assert_error(t.alice.get("/v2/api/project/987654/agent-response"), 404, "Project not found.")
    assert_error(t.alice.get("/v2/api/project/x/agent-response"), 400)


def test_responses_by_chat_thread_plain_list_oldest_first(t: Tenant, db: Session):
    first = make_response(db, t.alice, t.agent, t.thread, question="Q1")
    second = make_response(db, t.alice, t.agent, t.thread, question="Q2")
    make_response(db, t.alice, t.agent, t.thread, question="gone", is_deleted=True)
    make_response(db, t.alice, t.agent, make_thread(db, t.alice, t.agent), question="other thread")
    at(db, first, datetime.now(UTC) - timedelta(hours=1))
    path = f"/v2/api/chat-thread/{t.thread.id}/agent-response"

    for caller in (t.alice, t.owner, t.admin):
        data = succeeded(caller.get(path), 200, FOUND)
        assert isinstance(data, list) and ids(data) == [first.id, second.id]
    assert list(data[0]) == FULL_KEYS and data[0]["question"] == "Q1" and data[0]["comments"] == []
    assert (
        succeeded(
            t.alice.get(f"/v2/api/chat-thread/{make_thread(db, t.alice, t.agent).id}/agent-response"),
            200,
            FOUND,
        )
        == []
    )
    assert_error(t.bob.get(path), 404, "Chat Thread not found.")
    assert_error(t.alice.get("/v2/api/chat-thread/abc/agent-response"), 400)
    t.thread.is_deleted = True
    db.commit()
    assert_error(t.alice.get(path), 404, "Chat Thread not found.")


# -- Get / Delete Agent Response --------------------------------------------------------------


def test_get_agent_response_with_comments_and_feedback(t: Tenant, db: Session):
    response = make_response(db, t.alice, t.agent, t.thread, question="Q1")
    make_feedback(db, t.alice, response, up=False)
    path = f"/v2/api/agent-response/{response.id}"
    assert t.owner.post(f"{path}/comment", json={"comment": "Looked into it"}).status_code == 201

    for caller in (t.alice, t.owner, t.admin):
        data = succeeded(caller.get(path), 200, FOUND)
        assert list(data) == FULL_KEYS and data["id"] == response.id and data["question"] == "Q1"
    comment = data["comments"][0]
    assert comment["comment"] == "Looked into it" and comment["created_by"] == t.owner.email
    assert comment["user"] == t.owner.id and comment["agent_response"] == response.id
    assert TIMESTAMP.match(comment["created_on"])
    assert [(f["is_upvote"], f["is_downvote"], f["user"]) for f in data["feedback"]] == [
        (False, True, t.alice.id)
    ]

    assert_error(t.bob.get(path), 404, "Agent Response not found.")
    assert_error(t.alice.get("/v2/api/agent-response/987654"), 404, "Agent Response not found.")
    assert_error(t.alice.get("/v2/api/agent-response/abc"), 400)
    assert_error(t.alice.get("/v2/api/agent-response/0"), 400)


def test_delete_agent_response_is_soft_and_for_the_asker_or_admins(t: Tenant, db: Session):
    response = make_response(db, t.alice, t.agent, t.thread)
    by_admin = make_response(db, t.alice, t.agent, t.thread)
    path = f"/v2/api/agent-response/{response.id}"

    assert_error(t.owner.delete(path), 403)  # an editor sees it but may not remove it
    assert_error(t.bob.delete(path), 404, "Agent Response not found.")
    assert_error(t.alice.delete("/v2/api/agent-response/987654"), 404)
    assert_error(t.alice.delete("/v2/api/agent-response/abc"), 400)
    assert reload(db, AgentResponse, response.id).is_deleted is False

    data = succeeded(t.alice.delete(path), 200, "Agent Response Deleted Successfully.")
    assert list(data) == FULL_KEYS and data["id"] == response.id and data["is_deleted"] is True
    assert reload(db, AgentResponse, response.id).is_deleted is True
    assert_error(t.alice.get(path), 404)
    assert_error(t.alice.delete(path), 404)
    assert ids(listed(t.owner, agent_path(t.agent))["agent_responses"]) == [by_admin.id]
    assert succeeded(
        t.admin.delete(f"/v2/api/agent-response/{by_admin.id}"), 200, "Agent Response Deleted Successfully."
    )
    assert listed(t.owner, agent_path(t.agent))["count"] == 0


# -- comments ---------------------------------------------------------------------------------


def test_comments_create_list_and_notify_the_asker(t: Tenant, db: Session):
    response = make_response(db, t.alice, t.agent, t.thread, question="What is RAG?")
    path = f"/v2/api/agent-response/{response.id}/comment"

    data = succeeded(
        t.owner.post(path, json={"comment": "  Please cite the policy.  ", "created_by": "someone@else.com"}),
        201,
        "Agent Response Comment Created Successfully.",
    )
    assert list(data) == COMMENT_KEYS
    assert data["comment"] == "Please cite the policy." and data["created_by"] == t.owner.email
    assert (data["user"], data["agent_response"]) == (t.owner.id, response.id)
    assert TIMESTAMP.match(data["created_on"])
    # The asker hears about it; their own comment notifies nobody.
    succeeded(
        t.alice.post(path, json={"comment": "Thanks"}), 201, "Agent Response Comment Created Successfully."
    )
    # The V2 path and body do the same.
    v2 = t.admin.post(
        f"/api/v2/agent-responses/{response.id}/comments", json={"comment": "Noted", "created_by": "x"}
    )
    assert v2.status_code == 201 and v2.json()["data"]["created_by"] == t.admin.email
    assert count(db, Notification) == 2
    notes = db.query(Notification).order_by(Notification.id).all()
    assert {n.user_id for n in notes} == {t.alice.id} and {n.kind for n in notes} == {"response_comment"}
    assert notes[0].message == "Please cite the policy." and t.owner.email in notes[0].title
    assert notes[0].target == {
        "type": "agent_response",
        "id": response.id,
        "agent_id": t.agent.id,
        "comment_id": data["id"],
    }

    listed_comments = succeeded(t.alice.get(path), 200, "Agent Response Comments Found Successfully.")
    assert [c["comment"] for c in listed_comments] == ["Please cite the policy.", "Thanks", "Noted"]
    assert all(list(c) == COMMENT_KEYS for c in listed_comments)
    db.execute(update(ResponseComment).where(ResponseComment.comment == "Thanks").values(is_deleted=True))
    db.commit()
    assert [c["comment"] for c in t.owner.get(path).json()["data"]] == ["Please cite the policy.", "Noted"]


def test_comment_bad_input_and_strangers_write_nothing(t: Tenant, db: Session):
    response = make_response(db, t.alice, t.agent, t.thread)
    path = f"/v2/api/agent-response/{response.id}/comment"
    for body in (
        {},
        {"comment": ""},
        {"comment": "   "},
        {"comment": 5},
        {"comment": "x" * 5001},
        {"comment": "a\x00b"},
    ):
        assert_error(t.alice.post(path, json=body), 400)
    assert_error(t.alice.post(path, content=b"{nope", headers={"Content-Type": "application/json"}), 400)
    assert_error(t.bob.post(path, json={"comment": "peek"}), 404, "Agent Response not found.")
    assert_error(t.bob.get(path), 404, "Agent Response not found.")
    assert_error(t.alice.post("/v2/api/agent-response/987654/comment", json={"comment": "x"}), 404)
    assert_error(t.alice.post("/v2/api/agent-response/abc/comment", json={"comment": "x"}), 400)
    assert (count(db, ResponseComment), count(db, Notification)) == (0, 0)


# -- feedback ---------------------------------------------------------------------------------


def test_feedback_one_vote_per_user_replaced_by_the_next(t: Tenant, db: Session):
    response = make_response(db, t.alice, t.agent, t.thread)
    path = f"/v2/api/agent-response/{response.id}/feedback"
    message = "Agent Response Feedback Created Successfully."

    first = succeeded(t.alice.post(path, json={"is_upvote": True, "is_downvote": False}), 201, message)
    assert list(first) == FEEDBACK_KEYS
    assert (first["is_upvote"], first["is_downvote"], first["comment"]) == (True, False, "")
    assert (first["user"], first["agent_response"], first["created_by"]) == (
        t.alice.id,
        response.id,
        t.alice.email,
    )
    # V2's {vote_type} replaces alice's vote (same row); the V2 path is the same endpoint.
    again = succeeded(t.alice.post(path, json={"vote_type": "down", "comment": "Wrong policy"}), 201, message)
    assert again["id"] == first["id"] and (again["is_upvote"], again["is_downvote"]) == (False, True)
    assert again["comment"] == "Wrong policy"
    v2 = t.owner.post(f"/api/v2/agent-responses/{response.id}/feedbacks", json={"vote_type": "up"})
    assert v2.status_code == 201 and v2.json()["data"]["is_upvote"] is True
    assert count(db, ResponseFeedback) == 2
    rows = {f.user_id: f for f in db.query(ResponseFeedback).all()}
    assert (rows[t.alice.id].is_upvote, rows[t.alice.id].is_downvote) == (False, True)
    # Neither flag withdraws the vote; one flag alone is enough.
    withdrawn = succeeded(t.alice.post(path, json={"is_upvote": False}), 201, message)
    assert (withdrawn["id"], withdrawn["is_upvote"], withdrawn["is_downvote"]) == (first["id"], False, False)
    assert succeeded(t.alice.post(path, json={"is_downvote": True}), 201, message)["is_downvote"] is True
    assert count(db, ResponseFeedback) == 2
    votes = t.owner.get(f"/v2/api/agent-response/{response.id}").json()["data"]["feedback"]
    assert sorted((f["user"], f["is_upvote"], f["is_downvote"]) for f in votes) == sorted(
        [(t.alice.id, False, True), (t.owner.id, True, False)]
    )


def test_feedback_bad_input_writes_nothing(t: Tenant, db: Session):
    response = make_response(db, t.alice, t.agent, t.thread)
    make_feedback(db, t.alice, response, up=True)
    path = f"/v2/api/agent-response/{response.id}/feedback"
    for body in (
        {},
        {"is_upvote": True, "is_downvote": True},
        {"vote_type": "sideways"},
        {"vote_type": "up", "is_upvote": True},
        {"is_upvote": "maybe"},
        {"vote_type": "up", "comment": "x" * 5001},
        {"vote_type": "up", "stars": 5},
    ):
        assert_error(t.alice.post(path, json=body), 400)
    assert_error(t.bob.post(path, json={"vote_type": "down"}), 404, "Agent Response not found.")
    assert_error(t.alice.post("/v2/api/agent-response/987654/feedback", json={"vote_type": "up"}), 404)
    row = db.query(ResponseFeedback).one()
    assert (count(db, ResponseFeedback), row.is_upvote, row.is_downvote) == (1, True, False)


# -- pins -------------------------------------------------------------------------------------


def test_pin_unpin_and_pinned_list(t: Tenant, db: Session):
    first = make_response(db, t.alice, t.agent, t.thread, question="Q1", total_tokens=10)
    second = make_response(db, t.alice, t.agent, t.thread, question="Q2")
    bobs = make_response(db, t.bob, t.agent, question="Bob's")
    pinned_path = f"/v2/api/agent/{t.agent.id}/response/pin"
    assert succeeded(t.alice.get(pinned_path), 200, "Pinned chat logs retrieved successfully") == []

    data = succeeded(t.alice.put(pin_path(t.agent, first)), 200, "Agent Response Pinned Successfully.")
    assert list(data) == PINNED_KEYS
    assert data == {
        "id": first.id,
        "question": "Q1",
        "response": {
            "query": "Q1",
            "answer": "Retrieval-augmented generation.",
            "references": [],
            "agent_mode": "QnA",
        },
        "created_by": t.alice.email,
        "created_on": data["created_on"],
        "total_tokens": 10,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "pinned": True,
        "chat_thread_id": t.thread.id,
    }
    pinned_on = reload(db, AgentResponse, first.id).pinned_on
    assert pinned_on is not None
    assert t.alice.put(pin_path(t.agent, first)).status_code == 200  # pinning again keeps the time
    assert reload(db, AgentResponse, first.id).pinned_on == pinned_on
    assert t.alice.put(pin_path(t.agent, second)).status_code == 200
    assert t.owner.put(pin_path(t.agent, bobs)).status_code == 200  # the agent's editor may pin

    assert ids(t.alice.get(pinned_path).json()["data"]) == [second.id, first.id]  # latest pin first
    assert ids(t.owner.get(pinned_path).json()["data"]) == [bobs.id, second.id, first.id]
    assert ids(t.bob.get(pinned_path).json()["data"]) == [bobs.id]

    data = succeeded(t.alice.delete(pin_path(t.agent, second)), 200, "Agent Response Unpinned Successfully.")
    assert data["pinned"] is False and reload(db, AgentResponse, second.id).pinned_on is None
    assert (
        succeeded(t.alice.delete(pin_path(t.agent, second)), 200, "Agent Response Unpinned Successfully.")[
            "pinned"
        ]
        is False
    )
    assert ids(t.alice.get(pinned_path).json()["data"]) == [first.id]
    assert listed(t.alice, f"/v2/api/agent-response/{first.id}")["pinned"] is True


def test_pin_bad_ids_change_nothing(t: Tenant, db: Session):
    response = make_response(db, t.alice, t.agent, t.thread)
    elsewhere = make_agent(db, t.alice, t.project, access="Public")
    private = make_agent(db, t.owner, t.project, access="Only me")
    for method in ("put", "delete"):
        call = getattr(t.alice, method)
        assert_error(call(pin_path(elsewhere, response)), 404, "Agent Response not found.")  # not its agent
        assert_error(call(pin_path(private, response)), 404, "Agent not found.")
        assert_error(call(pin_path(t.agent, 987654)), 404, "Agent Response not found.")
        assert_error(call(f"/v2/api/agent/{t.agent.id}/response/abc/pin"), 400)
        assert_error(getattr(t.bob, method)(pin_path(t.agent, response)), 404, "Agent Response not found.")
    assert_error(t.alice.get(f"/v2/api/agent/{private.id}/response/pin"), 404, "Agent not found.")
    assert_error(t.alice.get("/v2/api/agent/abc/response/pin"), 400)
    assert reload(db, AgentResponse, response.id).pinned is False


# -- isolation between organisations and API key scopes ---------------------------------------


def test_another_organisation_gets_404_for_every_id(t: Tenant, world: World, db: Session):
    response = make_response(db, t.alice, t.agent, t.thread, question="Secret question")
    make_feedback(db, t.alice, response, up=True)
    before = (count(db, ResponseComment), count(db, ResponseFeedback), count(db, Notification))

    other = world.org()
    for mallory in (world.user(other, admin=True), world.user(other)):
        own_agent = make_agent(
            db, mallory, world.project(world.team(other, {mallory: "Owner"})), access="Public"
        )
        own = make_response(db, mallory, own_agent)
        for method, path, body in (
            ("GET", agent_path(t.agent), None),
            ("GET", f"/v2/api/user/{t.alice.id}/agent-response", None),
            ("GET", f"/v2/api/project/{t.project.id}/agent-response", None),
            ("GET", f"/v2/api/chat-thread/{t.thread.id}/agent-response", None),
            ("GET", f"/v2/api/agent-response/{response.id}", None),
            ("DELETE", f"/v2/api/agent-response/{response.id}", None),
            ("POST", f"/v2/api/agent-response/{response.id}/comment", {"comment": "hi"}),
            ("GET", f"/v2/api/agent-response/{response.id}/comment", None),
            ("POST", f"/v2/api/agent-response/{response.id}/feedback", {"vote_type": "down"}),
            ("PUT", pin_path(t.agent, response), None),
            ("DELETE", pin_path(t.agent, response), None),
            ("PUT", pin_path(own_agent, response), None),
            ("GET", f"/v2/api/agent/{t.agent.id}/response/pin", None),
        ):
            r = mallory.request(method, path, json=body)
            assert r.status_code == 404, (method, path, r.text)
            assert "Secret question" not in r.text
        # Their own lists hold only their organisation's rows.
        assert ids(listed(mallory, agent_path(own_agent))["agent_responses"]) == [own.id]
        assert ids(listed(mallory, f"/v2/api/user/{mallory.id}/agent-response")["agent_responses"]) == [
            own.id
        ]
    row = reload(db, AgentResponse, response.id)
    assert (row.is_deleted, row.pinned) == (False, False)
    assert (count(db, ResponseComment), count(db, ResponseFeedback), count(db, Notification)) == before


def test_read_only_and_restricted_keys(t: Tenant, world: World, db: Session):
    response = make_response(db, t.owner, t.agent, make_thread(db, t.owner, t.agent))
    read_only = world.key_for(t.owner, "read_only")
    can_read = world.key_for(t.owner, "restricted", {"agent_responses": "read"})
    other_category = world.key_for(t.owner, "restricted", {"agents": "write", "chat_threads": "write"})
    can_write = world.key_for(t.owner, "restricted", {"agent_responses": "write"})
    rid = response.id
    writes = (
        ("DELETE", f"/v2/api/agent-response/{rid}", None),
        ("POST", f"/v2/api/agent-response/{rid}/comment", {"comment": "hi"}),
        ("POST", f"/v2/api/agent-response/{rid}/feedback", {"vote_type": "up"}),
        ("PUT", pin_path(t.agent, response), None),
        ("DELETE", pin_path(t.agent, response), None),
    )
    reads = (
        agent_path(t.agent),
        f"/v2/api/user/{t.owner.id}/agent-response",
        f"/v2/api/project/{t.project.id}/agent-response",
        f"/v2/api/chat-thread/{response.chat_thread_id}/agent-response",
        f"/v2/api/agent-response/{rid}",
        f"/v2/api/agent-response/{rid}/comment",
        f"/v2/api/agent/{t.agent.id}/response/pin",
    )
    for key in (read_only, can_read, other_category):
        for method, path, body in writes:
            assert_error(key.request(method, path, json=body), 403)
    for key in (read_only, can_read):
        for path in reads:
            assert key.get(path).status_code == 200, path
    for path in reads:
        assert_error(other_category.get(path), 403, "This API key is not allowed to read agent responses.")
    assert (count(db, ResponseComment), count(db, ResponseFeedback)) == (0, 0)
    row = reload(db, AgentResponse, rid)
    assert (row.is_deleted, row.pinned) == (False, False)
    # A key with write on the category writes.
    assert can_write.post(f"/v2/api/agent-response/{rid}/comment", json={"comment": "hi"}).status_code == 201
    assert can_write.put(pin_path(t.agent, response)).status_code == 200
