"""Ejento V2 Chat Thread group: threads, admin-panel views and attachment corpora."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from parley.accounts.models import Organization
from parley.agents.models import Agent
from parley.projects.models import Project
from parley.threads.models import ChatThread, ChatThreadCorpus
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import (
    TIMESTAMP,
    assert_error,
    count,
    make_agent,
    make_corpus,
    make_feedback,
    make_response,
    make_thread,
    reload,
    succeeded,
)

# Field for field the "Get All Chat Threads Of An Agent" example of the Ejento docs.
THREAD_KEYS = [
    "id",
    "corpus_id",
    "created_by",
    "created_on",
    "modified_by",
    "modified_on",
    "title",
    "is_deleted",
    "chat_id",
    "agent",
    "user",
]


@dataclass
class Tenant:
    org: Organization
    admin: Actor  # organisation admin
    owner: Actor  # owns the agent, so may edit it
    alice: Actor
    bob: Actor
    project: Project
    agent: Agent  # Public, owned by ``owner``


@pytest.fixture
def t(world: World, db: Session) -> Tenant:
    org = world.org()
    admin = world.user(org, admin=True)
    owner, alice, bob = world.user(org), world.user(org), world.user(org)
    team = world.team(org, {owner: "Member", alice: "Member", bob: "Member"})
    project = world.project(team)
    agent = make_agent(db, owner, project, access="Public", name="Helpdesk")
    return Tenant(org, admin, owner, alice, bob, project, agent)


def set_created_on(db: Session, thread: ChatThread, when: datetime) -> None:
    db.execute(update(ChatThread).where(ChatThread.id == thread.id).values(created_on=when))
    db.commit()


# -- Create Chat Thread ------------------------------------------------------------------------


def test_create_chat_thread_without_body_and_with_title(t: Tenant, db: Session):
    data = succeeded(
        t.alice.post(f"/v2/api/agent/{t.agent.id}/chat-thread"), 201, "Chat Thread created successfully."
    )
    assert list(data) == THREAD_KEYS
    assert data["title"] == "New Chat"
    assert data["agent"] == t.agent.id and data["user"] == t.alice.id
    assert data["corpus_id"] is None and data["chat_id"] is None and data["is_deleted"] is False
    assert data["created_by"] == t.alice.email and data["modified_by"] == ""
    assert TIMESTAMP.match(data["created_on"]) and TIMESTAMP.match(data["modified_on"])

    # The V2 client's {agent, created_by} are accepted and ignored: the path and the caller win.
    payload = {"title": "  Billing  ", "agent": 999, "created_by": "x@else.com", "query_source": "slack"}
    r = t.alice.post(f"/v2/api/agent/{t.agent.id}/chat-thread", json=payload)
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert data["title"] == "Billing" and data["agent"] == t.agent.id and data["created_by"] == t.alice.email
    row = reload(db, ChatThread, data["id"])
    assert (row.user_id, row.org_id, row.query_source) == (t.alice.id, t.org.id, "slack")


def test_create_chat_thread_bad_input_writes_nothing(t: Tenant, db: Session):
    private = make_agent(db, t.owner, t.project, access="Only me")
    before = count(db, ChatThread)
    base = f"/v2/api/agent/{t.agent.id}/chat-thread"
    for payload in (
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 501},
        {"title": 5},
        {"query_source": ""},
    ):
        assert_error(t.alice.post(base, json=payload), 400)
    r = t.alice.post(base, content=b"{not json", headers={"Content-Type": "application/json"})
    assert_error(r, 400, "Malformed JSON body.")
    for bad_id in ("abc", "0", "-3", "99999999999999999999999"):
        assert_error(t.alice.post(f"/v2/api/agent/{bad_id}/chat-thread"), 400)
    assert_error(t.alice.post("/v2/api/agent/987654/chat-thread"), 404, "Agent not found.")
    # An agent the caller may not use looks exactly like an unknown one.
    assert_error(t.alice.post(f"/v2/api/agent/{private.id}/chat-thread"), 404, "Agent not found.")
    assert count(db, ChatThread) == before


def test_only_team_agent_threads_are_for_team_members(t: Tenant, world: World, db: Session):
    team_agent = make_agent(db, t.owner, t.project, access="Only team")
    not_in_team = world.user(t.org)
    assert t.alice.post(f"/v2/api/agent/{team_agent.id}/chat-thread").status_code == 201
    assert_error(not_in_team.post(f"/v2/api/agent/{team_agent.id}/chat-thread"), 404)
    assert_error(not_in_team.get(f"/v2/api/agent/{team_agent.id}/chat-thread"), 404)


# -- Get All Chat Threads Of An Agent ----------------------------------------------------------


def test_list_threads_of_agent_matches_the_documented_example(t: Tenant, db: Session):
    other_agent = make_agent(db, t.owner, t.project, access="Public")
    first = make_thread(db, t.alice, t.agent, title="First")
    make_thread(db, t.alice, t.agent, title="Second")
    gone = make_thread(db, t.alice, t.agent, title="Deleted")
    gone.is_deleted = True
    db.commit()
    bobs = make_thread(db, t.bob, t.agent, title="Bob's")  # threads are private
    make_thread(db, t.alice, other_agent, title="Elsewhere")
    set_created_on(db, first, datetime(2025, 1, 8, 22, 0, 19, 910507, tzinfo=UTC))

    data = succeeded(
        t.alice.get(f"/v2/api/agent/{t.agent.id}/chat-thread"), 200, "Chat Threads Found Successfully."
    )
    assert isinstance(data, list)
    assert [d["title"] for d in data] == ["Second", "First"]  # newest first
    for item in data:
        assert list(item) == THREAD_KEYS
        assert TIMESTAMP.match(item["created_on"]) and TIMESTAMP.match(item["modified_on"])
    item = data[1]
    assert item == {
        "id": first.id,
        "corpus_id": None,
        "created_by": t.alice.email,
        "created_on": "2025-01-08T22:00:19.910507Z",
        "modified_by": "",
        "modified_on": item["modified_on"],
        "title": "First",
        "is_deleted": False,
        "chat_id": None,
        "agent": t.agent.id,
        "user": t.alice.id,
    }
    assert [d["id"] for d in t.bob.get(f"/v2/api/agent/{t.agent.id}/chat-thread").json()["data"]] == [bobs.id]
    # Even an organisation admin sees only their own threads here.
    assert t.admin.get(f"/v2/api/agent/{t.agent.id}/chat-thread").json()["data"] == []


def test_list_threads_of_agent_bad_ids(t: Tenant, db: Session):
    private = make_agent(db, t.owner, t.project, access="Only me")
    assert_error(t.alice.get("/v2/api/agent/abc/chat-thread"), 400)
    assert_error(t.alice.get("/v2/api/agent/424242/chat-thread"), 404, "Agent not found.")
    assert_error(t.alice.get(f"/v2/api/agent/{private.id}/chat-thread"), 404, "Agent not found.")
    deleted = make_agent(db, t.alice, t.project)
    make_thread(db, t.alice, deleted)
    deleted.is_deleted = True
    db.commit()
    assert_error(t.alice.get(f"/v2/api/agent/{deleted.id}/chat-thread"), 404)


# -- Get All Chat Threads With Admin Panel Filters And Pagination ------------------------------


def admin_path(agent: Agent) -> str:
    return f"/v2/api/agent/{agent.id}/chat-thread/admin"


def test_admin_panel_lists_all_users_threads_with_activity_and_pagination(t: Tenant, db: Session):
    a1 = make_thread(db, t.alice, t.agent, title="Alice one")
    b1 = make_thread(db, t.bob, t.agent, title="Bob one")
    a2 = make_thread(db, t.alice, t.agent, title="Alice two")
    make_response(db, t.alice, t.agent, a1, question="q1")
    last = make_response(db, t.alice, t.agent, a1, question="q2")
    make_response(db, t.alice, t.agent, a1, question="gone", is_deleted=True)
    other_agent = make_agent(db, t.owner, t.project, access="Public")
    make_thread(db, t.alice, other_agent)

    for caller in (t.admin, t.owner):  # the organisation admin and the agent's editor
        r = caller.get(admin_path(t.agent), params={"items_per_page": 2})
        data = succeeded(r, 200, "Chat Threads Found Successfully.")
        assert (data["count"], data["num_pages"], data["current_page"]) == (3, 2, 1)
        assert [c["id"] for c in data["chat_threads"]] == [a2.id, b1.id]
    page2 = t.admin.get(admin_path(t.agent), params={"items_per_page": 2, "page": 2}).json()["data"]
    assert page2["current_page"] == 2
    [item] = page2["chat_threads"]
    assert list(item) == [*THREAD_KEYS, "user_email", "response_count", "last_activity_on"]
    assert item["id"] == a1.id and item["user"] == t.alice.id and item["user_email"] == t.alice.email
    assert item["response_count"] == 2
    assert item["last_activity_on"] == reload(db, type(last), last.id).created_on.strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )
    idle = t.admin.get(admin_path(t.agent), params={"user_id": t.bob.id}).json()["data"]["chat_threads"]
    assert idle[0]["response_count"] == 0 and idle[0]["last_activity_on"] == idle[0]["created_on"]
    # A page past the end is empty, not an error.
    far = t.admin.get(admin_path(t.agent), params={"page": 999999}).json()["data"]
    assert far["count"] == 3 and far["chat_threads"] == []


def test_admin_panel_filters(t: Tenant, db: Session):
    jan = make_thread(db, t.alice, t.agent, title="Refund 100% please")
    feb = make_thread(db, t.bob, t.agent, title="Password reset", query_source="slack")
    mar = make_thread(db, t.owner, t.agent, title="refund_policy")
    set_created_on(db, jan, datetime(2025, 1, 15, 10, 0, tzinfo=UTC))
    set_created_on(db, feb, datetime(2025, 2, 15, 10, 0, tzinfo=UTC))
    set_created_on(db, mar, datetime(2025, 3, 15, 10, 0, tzinfo=UTC))

    def ids(**params: object) -> list[int]:
        r = t.admin.get(admin_path(t.agent), params=params)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["data"]["chat_threads"]]

    assert ids() == [mar.id, feb.id, jan.id]
    assert ids(user_id=t.bob.id) == [feb.id]
    assert ids(user_id=[t.alice.id, t.owner.id]) == [mar.id, jan.id]
    assert ids(user_ids=f"{t.alice.id},{t.bob.id}") == [feb.id, jan.id]
    assert ids(start_date="2025-02-01") == [mar.id, feb.id]
    assert ids(end_date="2025-02-15") == [feb.id, jan.id]  # a bare end date includes that day
    assert ids(start_date="2025-02-15T10:00:00Z", end_date="2025-02-15T10:00:00") == [feb.id]
    assert ids(start_date="2025-01-01", end_date="2025-01-31") == [jan.id]
    assert ids(query_source="slack") == [feb.id]
    assert ids(search="REFUND") == [mar.id, jan.id]
    assert ids(search="100%") == [jan.id]  # LIKE wildcards are literal
    assert ids(search="d_p") == [mar.id]
    assert ids(search="", query_source="", user_ids="", start_date="") == [mar.id, feb.id, jan.id]


def test_admin_panel_bad_input_and_permissions(t: Tenant, db: Session):
    make_thread(db, t.alice, t.agent)
    path = admin_path(t.agent)
    for params in (
        {"start_date": "yesterday"},
        {"end_date": "2025-13-01"},
        {"end_date": "9999-12-31"},  # the exclusive bound would be past the last representable day
        {"start_date": "0001-01-01T00:00:00+01:00"},
        {"search": "s" * 501},
        {"start_date": "2025-03-01", "end_date": "2025-02-01"},
        {"user_id": "abc"},
        {"user_ids": "1,x"},
        {"user_ids": "99999999999999999999"},
        {"items_per_page": 0},
        {"page": 0},
        {"page": "two"},
    ):
        assert_error(t.admin.get(path, params=params), 400)
    # A user of the agent who may not edit it is refused; one who cannot see it gets 404.
    assert_error(t.alice.get(path), 403)
    private = make_agent(db, t.owner, t.project, access="Only me")
    assert_error(t.alice.get(admin_path(private)), 404, "Agent not found.")
    assert t.admin.get(admin_path(private)).status_code == 200
    assert_error(t.admin.get("/v2/api/agent/55555/chat-thread/admin"), 404)


# -- Get Reduced Chatlogs by Thread ID for Admin Panel -----------------------------------------


def reduced_path(thread: ChatThread | int) -> str:
    return f"/v2/api/chat-thread/{getattr(thread, 'id', thread)}/chatlogs/reduced"


def test_reduced_chatlogs_for_admins_and_agent_editors(t: Tenant, db: Session):
    thread = make_thread(db, t.alice, t.agent)
    first = make_response(
        db, t.alice, t.agent, thread, question="Q1", answer="A1", total_tokens=4809, cost="0.02404"
    )
    second = make_response(db, t.alice, t.agent, thread, question="Q2", answer="A2", cost="0")
    make_response(db, t.alice, t.agent, thread, question="deleted", is_deleted=True)
    make_response(db, t.alice, t.agent, make_thread(db, t.alice, t.agent), question="other thread")
    make_feedback(db, t.alice, first, up=True)
    make_feedback(db, t.owner, first, up=True)
    make_feedback(db, t.bob, first, up=False)

    for caller in (t.admin, t.owner):
        data = succeeded(caller.get(reduced_path(thread)), 200, "Chatlogs Found Successfully.")
        assert [d["id"] for d in data] == [first.id, second.id]  # oldest first
    one, two = data
    assert list(one) == [
        "id",
        "question",
        "answer",
        "created_by",
        "created_on",
        "total_tokens",
        "cost",
        "feedback",
    ]
    assert one["question"] == "Q1" and one["answer"] == "A1" and one["created_by"] == t.alice.email
    assert one["total_tokens"] == 4809 and one["cost"] == "0.02404"
    assert one["feedback"] == {"upvotes": 2, "downvotes": 1}
    assert two["cost"] == "0" and two["feedback"] == {"upvotes": 0, "downvotes": 0}
    assert TIMESTAMP.match(one["created_on"])
    empty = make_thread(db, t.bob, t.agent)
    assert t.admin.get(reduced_path(empty)).json()["data"] == []


def test_reduced_chatlogs_permissions_and_bad_ids(t: Tenant, db: Session):
    alices = make_thread(db, t.alice, t.agent)
    make_response(db, t.alice, t.agent, alices)
    # Plain users may not use the admin view, not even on their own thread.
    assert_error(t.alice.get(reduced_path(alices)), 403)
    assert_error(t.bob.get(reduced_path(alices)), 404, "Chat Thread not found.")
    assert_error(t.admin.get(reduced_path("abc")), 400)
    assert_error(t.admin.get(reduced_path(777777)), 404)
    alices.is_deleted = True
    db.commit()
    assert_error(t.admin.get(reduced_path(alices)), 404)


# -- Get / Edit / Delete Chat Thread -----------------------------------------------------------


def test_get_edit_and_delete_own_thread(t: Tenant, db: Session):
    thread = make_thread(db, t.alice, t.agent, title="Draft")
    path = f"/v2/api/chat-thread/{thread.id}"
    r = t.alice.get(path)
    assert r.status_code == 200, r.text
    assert r.json()["message"] == "Chat Thread Found Successfully."
    got = r.json()["data"]
    assert list(got) == THREAD_KEYS and got["id"] == thread.id and got["title"] == "Draft"

    r = t.alice.put(path, json={"title": "Quarterly report"})
    assert r.status_code == 200, r.text
    assert r.json()["message"] == "Chat Thread Updated Successfully."
    edited = r.json()["data"]
    assert edited["title"] == "Quarterly report" and edited["modified_by"] == t.alice.email
    assert edited["modified_on"] > got["modified_on"] and edited["created_on"] == got["created_on"]
    assert reload(db, ChatThread, thread.id).title == "Quarterly report"

    data = succeeded(t.alice.delete(path), 200, "Chat Thread Deleted Successfully.")
    assert isinstance(data, list) and len(data) == 1
    deleted = data[0]
    assert list(deleted) == THREAD_KEYS and deleted["id"] == thread.id and deleted["is_deleted"] is True
    assert reload(db, ChatThread, thread.id).is_deleted is True  # soft delete: the row stays
    assert_error(t.alice.get(path), 404, "Chat Thread not found.")
    assert_error(t.alice.put(path, json={"title": "again"}), 404)
    assert_error(t.alice.delete(path), 404)
    assert t.alice.get(f"/v2/api/agent/{t.agent.id}/chat-thread").json()["data"] == []


def test_edit_chat_thread_bad_input_changes_nothing(t: Tenant, db: Session):
    thread = make_thread(db, t.alice, t.agent, title="Keep me")
    path = f"/v2/api/chat-thread/{thread.id}"
    for payload in (
        {},
        {"title": ""},
        {"title": "  "},
        {"title": "y" * 501},
        {"title": None},
        {"title": ["a"]},
    ):
        assert_error(t.alice.put(path, json=payload), 400)
    assert_error(t.alice.put(path, content=b"[", headers={"Content-Type": "application/json"}), 400)
    assert_error(t.alice.put("/v2/api/chat-thread/abc", json={"title": "x"}), 400)
    assert_error(t.alice.put("/v2/api/chat-thread/313131", json={"title": "x"}), 404)
    assert_error(t.alice.get("/v2/api/chat-thread/abc"), 400)
    assert_error(t.alice.delete("/v2/api/chat-thread/0"), 400)
    row = reload(db, ChatThread, thread.id)
    assert (row.title, row.modified_by, row.is_deleted) == ("Keep me", "", False)


def test_threads_are_private_within_an_organisation(t: Tenant, db: Session):
    thread = make_thread(db, t.alice, t.agent, title="Mine")
    path = f"/v2/api/chat-thread/{thread.id}"
    # Another user of the same organisation, even the agent's owner, cannot tell it exists.
    for caller in (t.bob, t.owner):
        assert_error(caller.get(path), 404, "Chat Thread not found.")
        assert_error(caller.put(path, json={"title": "hijacked"}), 404)
        assert_error(caller.delete(path), 404)
        assert thread.id not in [
            d["id"] for d in caller.get(f"/v2/api/agent/{t.agent.id}/chat-thread").json()["data"]
        ]
    # Admins read others' threads only through the admin views; Get and Edit are the owner's.
    assert_error(t.admin.get(path), 404)
    assert_error(t.admin.put(path, json={"title": "renamed"}), 404)
    row = reload(db, ChatThread, thread.id)
    assert (row.title, row.is_deleted) == ("Mine", False)
    # ... but an organisation admin may delete any thread of the organisation.
    r = t.admin.delete(path)
    assert r.status_code == 200, r.text
    assert r.json()["data"][0]["is_deleted"] is True and r.json()["data"][0]["modified_by"] == t.admin.email
    assert_error(t.alice.get(path), 404)


# -- ChatThread-Corpus Connection --------------------------------------------------------------


def link_path(thread: ChatThread | int, corpus: object) -> str:
    return f"/v2/api/chat-thread/{getattr(thread, 'id', thread)}/corpus/{getattr(corpus, 'id', corpus)}"


def test_connect_get_and_delete_attachment_corpus(t: Tenant, db: Session):
    thread = make_thread(db, t.alice, t.agent)
    corpus = make_corpus(db, t.alice, corpus_type="attachment", name="Uploads")
    path = link_path(thread, corpus)

    link = succeeded(t.alice.post(path), 201, "Chat thread corpus connection created successfully.")
    assert list(link) == [
        "id",
        "chatthread",
        "corpus",
        "created_by",
        "created_on",
        "modified_by",
        "modified_on",
        "is_deleted",
        "connected_by",
    ]
    assert link["chatthread"]["id"] == thread.id and list(link["chatthread"]) == THREAD_KEYS
    assert link["chatthread"]["corpus_id"] == corpus.id and link["chatthread"]["modified_by"] == t.alice.email
    assert link["corpus"] == {
        "id": corpus.id,
        "indexing_mode": {"id": 1, "mode": "exhaustive"},
        "name": "Uploads",
        "description": "",
        "owner": {
            "id": t.alice.id,
            "email": t.alice.email,
            "is_superuser": False,
            "first_name": t.alice.user.first_name,
            "last_name": t.alice.user.last_name,
            "organization": {"id": t.org.id, "org_name": t.org.org_name},
        },
        "tags": [],
    }
    assert link["created_by"] == t.alice.email and link["modified_by"] == ""
    assert link["is_deleted"] is False and link["connected_by"] == t.alice.id
    assert TIMESTAMP.match(link["created_on"])
    assert reload(db, ChatThread, thread.id).corpus_id == corpus.id

    r = t.alice.get(path)
    assert r.status_code == 200, r.text
    assert r.json()["message"] == "Chat thread corpus connection fetched successfully."
    assert r.json()["data"]["id"] == link["id"] and r.json()["data"]["corpus"] == link["corpus"]

    r = t.alice.delete(path)
    assert r.status_code == 200, r.text
    assert r.json()["message"] == "Chat thread corpus connection deleted successfully."
    removed = r.json()["data"]
    assert (
        removed["id"] == link["id"]
        and removed["is_deleted"] is True
        and removed["modified_by"] == t.alice.email
    )
    assert removed["chatthread"]["corpus_id"] is None
    assert reload(db, ChatThreadCorpus, link["id"]).is_deleted is True
    assert reload(db, ChatThread, thread.id).corpus_id is None
    assert_error(t.alice.get(path), 404, "ChatThread-Corpus connection not found.")
    assert_error(t.alice.delete(path), 404)
    # Once removed, the corpus can be connected again.
    assert t.alice.post(path).status_code == 201


def test_corpus_connection_rules_write_nothing_when_refused(t: Tenant, db: Session):
    thread = make_thread(db, t.alice, t.agent)
    attachment = make_corpus(db, t.alice, corpus_type="attachment")
    documents = make_corpus(db, t.alice, corpus_type="document")
    bobs_private = make_corpus(db, t.bob, corpus_type="attachment")
    bobs_public = make_corpus(db, t.bob, corpus_type="attachment", is_public=True)
    before = count(db, ChatThreadCorpus)

    r = t.alice.post(link_path(thread, documents))
    assert_error(r, 400, "Only a corpus of type 'attachment' can be connected to a chat thread.")
    assert_error(t.alice.post(link_path(thread, bobs_private)), 404, "Corpus not found.")
    assert_error(t.alice.post(link_path(thread, 919191)), 404, "Corpus not found.")
    assert_error(t.alice.post(link_path(thread, "abc")), 400)
    assert_error(t.alice.post(link_path("abc", attachment)), 400)
    assert_error(t.alice.post(link_path(828282, attachment)), 404, "Chat Thread not found.")
    # Bob may not attach anything to Alice's thread, even his own corpus.
    assert_error(t.bob.post(link_path(thread, bobs_public)), 404, "Chat Thread not found.")
    assert count(db, ChatThreadCorpus) == before
    assert reload(db, ChatThread, thread.id).corpus_id is None

    assert t.alice.post(link_path(thread, bobs_public)).status_code == 201  # a visible corpus
    assert t.alice.post(link_path(thread, attachment)).status_code == 201
    assert_error(
        t.alice.post(link_path(thread, attachment)),
        409,
        "This corpus is already connected to the chat thread.",
    )
    assert count(db, ChatThreadCorpus) == before + 2
    assert reload(db, ChatThread, thread.id).corpus_id == attachment.id  # the latest attached
    # Removing a corpus the thread does not point at leaves corpus_id alone.
    assert t.alice.delete(link_path(thread, bobs_public)).status_code == 200
    assert reload(db, ChatThread, thread.id).corpus_id == attachment.id
    # Other users of the organisation see none of it.
    for caller in (t.bob, t.admin):
        assert_error(caller.get(link_path(thread, attachment)), 404)
        assert_error(caller.delete(link_path(thread, attachment)), 404)
    assert_error(t.alice.get(link_path(thread, documents)), 404, "ChatThread-Corpus connection not found.")
    assert count(db, ChatThreadCorpus) == before + 2


# -- isolation between organisations and API key scopes ----------------------------------------


def test_another_organisation_gets_404_for_every_id(t: Tenant, world: World, db: Session):
    thread = make_thread(db, t.alice, t.agent, title="Secret")
    make_response(db, t.alice, t.agent, thread)
    corpus = make_corpus(db, t.alice, corpus_type="attachment", is_public=True)
    assert t.alice.post(link_path(thread, corpus)).status_code == 201
    before = (count(db, ChatThread), count(db, ChatThreadCorpus))

    other = world.org()
    for mallory in (world.user(other, admin=True), world.user(other)):
        own_agent = make_agent(db, mallory, world.project(world.team(other)), access="Public")
        own_thread = make_thread(db, mallory, own_agent)
        assert_error(mallory.post(f"/v2/api/agent/{t.agent.id}/chat-thread"), 404)
        assert_error(mallory.get(f"/v2/api/agent/{t.agent.id}/chat-thread"), 404)
        assert_error(mallory.get(admin_path(t.agent)), 404)
        assert_error(mallory.get(reduced_path(thread)), 404)
        assert_error(mallory.get(f"/v2/api/chat-thread/{thread.id}"), 404)
        assert_error(mallory.put(f"/v2/api/chat-thread/{thread.id}", json={"title": "x"}), 404)
        assert_error(mallory.delete(f"/v2/api/chat-thread/{thread.id}"), 404)
        for method in ("post", "get", "delete"):
            assert_error(getattr(mallory, method)(link_path(thread, corpus)), 404)
        # Their own thread with the first organisation's corpus: the corpus is unknown to them.
        assert_error(mallory.post(link_path(own_thread, corpus)), 404, "Corpus not found.")
        # Their lists hold only their own organisation's rows.
        listed = mallory.get(admin_path(own_agent)).json()["data"]["chat_threads"]
        assert [c["id"] for c in listed] == [own_thread.id]
    assert (count(db, ChatThread) - 2, count(db, ChatThreadCorpus)) == before
    assert (
        reload(db, ChatThread, thread.id).title == "Secret"
        and reload(db, ChatThread, thread.id).is_deleted is False
    )


def test_read_only_and_restricted_keys(t: Tenant, world: World, db: Session):
    thread = make_thread(db, t.owner, t.agent)
    corpus = make_corpus(db, t.owner, corpus_type="attachment")
    before = (count(db, ChatThread), count(db, ChatThreadCorpus))
    read_only = world.key_for(t.owner, "read_only")
    can_read = world.key_for(t.owner, "restricted", {"chat_threads": "read"})
    other_category = world.key_for(t.owner, "restricted", {"agents": "write", "corpora": "write"})

    for key in (read_only, can_read, other_category):
        assert_error(key.post(f"/v2/api/agent/{t.agent.id}/chat-thread"), 403)
        assert_error(key.put(f"/v2/api/chat-thread/{thread.id}", json={"title": "no"}), 403)
        assert_error(key.delete(f"/v2/api/chat-thread/{thread.id}"), 403)
        assert_error(key.post(link_path(thread, corpus)), 403)
        assert_error(key.delete(link_path(thread, corpus)), 403)
    for key in (read_only, can_read):
        assert key.get(f"/v2/api/agent/{t.agent.id}/chat-thread").json()["data"][0]["id"] == thread.id
        assert key.get(f"/v2/api/chat-thread/{thread.id}").status_code == 200
        assert key.get(admin_path(t.agent)).json()["data"]["count"] == 1
        assert key.get(reduced_path(thread)).status_code == 200
        assert_error(key.get(link_path(thread, corpus)), 404)  # not connected: allowed to ask
    for path in (
        f"/v2/api/agent/{t.agent.id}/chat-thread",
        f"/v2/api/chat-thread/{thread.id}",
        admin_path(t.agent),
        reduced_path(thread),
        link_path(thread, corpus),
    ):
        assert_error(other_category.get(path), 403, "This API key is not allowed to read chat threads.")
    assert (count(db, ChatThread), count(db, ChatThreadCorpus)) == before
    assert reload(db, ChatThread, thread.id).title == "New Chat"
