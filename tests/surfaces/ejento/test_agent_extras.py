"""Ejento V2 Agent Reviews, Agent Rating, Agent Vote and Agent Comment, plus the checks every
endpoint of the agent extras shares: other organisations, scoped API keys, routing.

Alias, Access, Type and Tags: test_agent_extras_fields.py. Agent User: test_agent_extras_users.py.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from parley.agents.models import Agent, AgentComment, AgentRating, AgentReview, AgentVote
from tests.support.world import World
from tests.surfaces.ejento.agent_extras_support import (
    COMMENT_KEYS,
    RATING_KEYS,
    REVIEW_KEYS,
    Tenant,
    arrange_everything,
    make_tenant,
    reads,
    snapshot,
    user_json,
    writes,
)
from tests.surfaces.ejento.factories import TIMESTAMP, assert_error, fresh, make_agent, reload, succeeded


@pytest.fixture
def t(world: World, db: Session) -> Tenant:
    return make_tenant(world, db)


# -- every endpoint ------------------------------------------------------------------------------------


def test_another_organisation_gets_404_for_every_id_and_none_of_the_rows(t, world, db, other):
    ids = arrange_everything(t)
    theirs = make_agent(db, other, world.project(world.team(world.org())), access="Public")
    before = snapshot(db)
    by_agent = [path for path in reads(t, ids) if f"/{t.agent.id}/" in path]
    for path in by_agent:
        assert_error(other.get(path), 404, "Agent not found.")
    for method, path, body in writes(t, ids):
        r = other.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.text)
        assert "Policy Whisperer" not in r.text and "secret-tag" not in r.text
    # Their own agent cannot be shared with our users, nor their lists filtered to our rows.
    r = other.post(f"/v2/api/agent/{theirs.id}/user", json={"user_ids": [t.bob.id]})
    assert_error(r, 404, "User not found.")
    assert_error(other.get(f"/v2/api/agent/{theirs.id}/user/{t.bob.id}"), 404, "User not found.")
    assert_error(
        other.get("/v2/api/agent/tags", params={"project_id": t.project.id}), 404, "Project not found."
    )
    assert_error(
        other.get("/v2/api/agent/tags", params={"team_id": t.project.team_id}), 404, "Team not found."
    )
    assert snapshot(db) == before

    assert other.get("/v2/api/review").json()["data"]["reviews"] == []
    assert other.get("/v2/api/review", params={"user_ids": t.bob.id}).json()["data"]["count"] == 0
    assert other.get("/v2/api/agent/rating").json()["data"]["agent_ratings"] == []
    assert other.get("/v2/api/agent/alias").json()["data"]["aliases"] == []
    assert other.get("/v2/api/agent/tags").json()["data"] == []
    assert other.get("/v2/api/agent/tags/by-agent").json()["data"] == []
    assert [a["id"] for a in other.get("/v2/api/agent/user").json()["data"]] == [theirs.id]
    # Agent types are reference data every organisation shares.
    assert other.get("/v2/api/agent-type").json()["data"] == t.alice.get("/v2/api/agent-type").json()["data"]


def test_scoped_api_keys(t, world, db):
    ids = arrange_everything(t)
    before = snapshot(db)
    read_only = world.key_for(t.alice, "read_only")
    agents_read = world.key_for(t.alice, "restricted", {"agents": "read"})
    other_category = world.key_for(t.alice, "restricted", {"corpora": "write", "agent_responses": "write"})
    for key in (read_only, agents_read):
        for path in reads(t, ids):
            assert key.get(path).status_code == 200, path
        for method, path, body in writes(t, ids):
            assert_error(key.request(method, path, json=body), 403)
    for path in reads(t, ids):
        assert_error(other_category.get(path), 403, "This API key is not allowed to read agents.")
    for method, path, body in writes(t, ids):
        assert_error(other_category.request(method, path, json=body), 403)
    assert snapshot(db) == before
    # A key with write on agents may write.
    writer = world.key_for(t.bob, "restricted", {"agents": "write"})
    assert writer.post(f"/v2/api/agent/{t.agent.id}/vote", json={"vote": "down"}).status_code == 201


def test_static_paths_are_not_taken_for_agent_ids(t):
    # Registered before the Agent group's /agent/{agent_id}: these would otherwise answer 400.
    for path in ("/v2/api/agent/alias", "/v2/api/agent/rating", "/v2/api/agent/user", "/v2/api/agent/tags"):
        assert t.alice.get(path).status_code == 200, path
    assert t.alice.get(f"/v2/api/agent/{t.agent.id}").json()["data"]["id"] == t.agent.id
    assert_error(t.alice.get("/v2/api/agent/reviews"), 400)  # not a static path: an invalid id
    for bad in ("abc", "0", str(10**20)):
        assert_error(t.alice.get(f"/v2/api/agent/{bad}/review"), 400)
        assert_error(t.alice.put(f"/v2/api/review/{bad}", json={"review": "x"}), 400)
        assert_error(t.alice.get(f"/v2/api/agent/{bad}/comment"), 400)
        assert_error(t.alice.get(f"/v2/api/agent-type/{bad}"), 400)


# -- Agent Reviews ---------------------------------------------------------------------------------------


def test_create_review_and_the_review_lists(t, db):
    r = t.bob.post(f"/v2/api/agent/{t.agent.id}/review", json={"review": "  Very useful.  ", "rating": 4})
    bobs = succeeded(r, 201, "Review created successfully.")
    assert set(bobs) == REVIEW_KEYS
    assert bobs["agent"] == t.agent.id and bobs["user"] == user_json(t.bob)
    assert bobs["review"] == "Very useful." and bobs["rating"] == 4 and bobs["is_deleted"] is False
    assert bobs["created_by"] == t.bob.email and bobs["modified_by"] == ""
    assert TIMESTAMP.match(bobs["created_on"]) and TIMESTAMP.match(bobs["modified_on"])
    stored = reload(db, AgentReview, bobs["id"])
    assert (stored.user_id, stored.agent_id, stored.review, stored.rating) == (
        t.bob.id,
        t.agent.id,
        "Very useful.",
        4,
    )

    r = t.alice.post(f"/v2/api/agent/{t.agent.id}/review", json={"review": "Mine."})
    alices = succeeded(r, 201, "Review created successfully.")
    assert alices["rating"] is None
    on_private = t.alice.post(f"/v2/api/agent/{t.private.id}/review", json={"review": "Private."}).json()[
        "data"
    ]

    r = t.bob.get(f"/v2/api/agent/{t.agent.id}/review")
    assert succeeded(r, 200, "Agent reviews fetched successfully.") == [alices, bobs]  # newest first

    r = t.alice.get("/v2/api/review", params={"items_per_page": 2})
    data = succeeded(r, 200, "Reviews fetched successfully.")
    assert (data["count"], data["num_pages"], data["current_page"]) == (3, 2, 1)
    assert data["reviews"] == [on_private, alices]
    assert t.alice.get("/v2/api/review", params={"items_per_page": 2, "page": 2}).json()["data"][
        "reviews"
    ] == [bobs]
    assert t.alice.get("/v2/api/review", params={"user_ids": str(t.bob.id)}).json()["data"]["reviews"] == [
        bobs
    ]
    assert t.alice.get("/v2/api/review", params={"page": 999}).json()["data"]["reviews"] == []
    # Only reviews of agents the caller can see.
    assert [x["id"] for x in t.bob.get("/v2/api/review").json()["data"]["reviews"]] == [
        alices["id"],
        bobs["id"],
    ]
    assert t.carol.get("/v2/api/review").json()["data"]["count"] == 0
    assert_error(t.carol.get(f"/v2/api/agent/{t.agent.id}/review"), 404, "Agent not found.")
    for params in ({"items_per_page": 0}, {"page": 0}, {"user_ids": "x"}):
        assert_error(t.alice.get("/v2/api/review", params=params), 400)


def test_create_review_rejects_bad_input_and_writes_nothing(t, db):
    t.bob.post(f"/v2/api/agent/{t.agent.id}/review", json={"review": "First."})
    before = snapshot(db)
    url = f"/v2/api/agent/{t.agent.id}/review"
    for body in (
        {},
        {"rating": 3},
        {"review": ""},
        {"review": "   "},
        {"review": None},
        {"review": "x" * 10_001},
        {"review": "nul\x00"},
        {"review": 5},
        {"review": "Ok", "rating": 0},
        {"review": "Ok", "rating": 6},
        {"review": "Ok", "rating": "5"},
        {"review": "Ok", "rating": 4.5},
        {"review": "Ok", "rating": True},
    ):
        assert_error(t.alice.post(url, json=body), 400)
    assert_error(t.alice.post(url, content="{oops", headers={"Content-Type": "application/json"}), 400)
    assert_error(t.alice.post("/v2/api/agent/999999/review", json={"review": "x"}), 404, "Agent not found.")
    assert_error(t.carol.post(url, json={"review": "x"}), 404, "Agent not found.")
    # One live review per user and agent.
    r = t.bob.post(url, json={"review": "Second."})
    assert_error(r, 409, "You have already reviewed this agent; edit or delete that review instead.")
    assert snapshot(db) == before


def test_edit_and_delete_review(t, db):
    url = f"/v2/api/agent/{t.agent.id}/review"
    review = t.bob.post(url, json={"review": "Good.", "rating": 4}).json()["data"]
    path = f"/v2/api/review/{review['id']}"

    r = t.bob.put(path, json={"review": "Better now."})
    edited = succeeded(r, 200, "Review updated successfully.")
    assert (
        edited["review"] == "Better now." and edited["rating"] == 4 and edited["modified_by"] == t.bob.email
    )
    assert t.bob.put(path, json={"rating": None}).json()["data"]["rating"] is None  # null removes the rating
    assert t.bob.put(path, json={"rating": 2}).json()["data"]["rating"] == 2

    before = snapshot(db)
    for body in ({"review": None}, {"review": ""}, {"rating": 9}, {"rating": "2"}, ["x"]):
        assert_error(t.bob.put(path, json=body), 400)
    assert_error(t.bob.put("/v2/api/review/999999", json={"review": "x"}), 404, "Review not found.")
    # Only the author edits; the agent's owner and org admins cannot.
    for actor in (t.alice, t.admin, t.manager):
        assert_error(actor.put(path, json={"review": "Hijacked."}), 403, "Only the author can edit a review.")
    # Deleting: the author or an org admin, not the agent's owner or the team manager.
    for actor in (t.alice, t.manager):
        assert_error(actor.delete(path), 403)
    assert_error(t.carol.delete(path), 404, "Review not found.")  # cannot see the agent
    assert snapshot(db) == before

    r = t.admin.delete(path)
    gone = succeeded(r, 200, "Review deleted successfully.")
    assert gone["id"] == review["id"] and gone["is_deleted"] is True and gone["modified_by"] == t.admin.email
    assert reload(db, AgentReview, review["id"]).is_deleted is True
    assert_error(t.bob.delete(path), 404, "Review not found.")
    assert_error(t.bob.put(path, json={"review": "x"}), 404)
    assert t.bob.get(url).json()["data"] == []
    # A deleted review no longer counts as the user's review.
    again = t.bob.post(url, json={"review": "Fresh start."})
    assert again.status_code == 201
    assert t.bob.delete(f"/v2/api/review/{again.json()['data']['id']}").json()["data"]["is_deleted"] is True

    # A review of an agent that was deleted is gone too.
    other = t.bob.post(url, json={"review": "Third."}).json()["data"]
    db.execute(update(Agent).where(Agent.id == t.agent.id).values(is_deleted=True))
    db.commit()
    assert_error(t.bob.delete(f"/v2/api/review/{other['id']}"), 404)
    assert t.bob.get("/v2/api/review").json()["data"]["count"] == 0


# -- Agent Rating ----------------------------------------------------------------------------------------


def test_rating_one_per_user_and_the_averages(t, world, db):
    url = f"/v2/api/agent/{t.agent.id}/rating"
    r = t.bob.put(url, json={"rating": 4})
    data = succeeded(r, 200, "Agent rating updated successfully.")
    assert data == {
        "agent": t.agent.id,
        "agent_name": "Policy Whisperer",
        "average_rating": 4.0,
        "rating_count": 1,
        "user_rating": 4,
    }
    assert t.alice.put(url, json={"rating": 5}).json()["data"]["average_rating"] == 4.5
    data = t.bob.put(url, json={"rating": 2}).json()["data"]  # replaces bob's 4
    assert (data["average_rating"], data["rating_count"], data["user_rating"]) == (3.5, 2, 2)
    fresh(db)
    rows = db.execute(
        select(AgentRating.user_id, AgentRating.rating, AgentRating.modified_by).order_by(AgentRating.id)
    ).all()
    assert [tuple(row) for row in rows] == [(t.bob.id, 2, t.bob.email), (t.alice.id, 5, "")]
    db.rollback()
    assert t.manager.put(url, json={"rating": 1}).json()["data"]["average_rating"] == 2.67

    r = t.alice.get(url)
    assert succeeded(r, 200, "Agent rating fetched successfully.") == {
        "agent": t.agent.id,
        "agent_name": "Policy Whisperer",
        "average_rating": 2.67,
        "rating_count": 3,
        "user_rating": 5,
    }
    unrated = t.alice.get(f"/v2/api/agent/{t.private.id}/rating").json()["data"]
    assert (unrated["average_rating"], unrated["rating_count"], unrated["user_rating"]) == (None, 0, None)

    public = make_agent(db, t.carol, world.project(world.team(t.org)), access="Public", name="Open")
    t.carol.put(f"/v2/api/agent/{public.id}/rating", json={"rating": 3})
    r = t.bob.get("/v2/api/agent/rating")
    data = succeeded(r, 200, "Agent ratings fetched successfully.")
    assert (data["count"], data["num_pages"], data["current_page"]) == (2, 1, 1)
    assert [x["agent"] for x in data["agent_ratings"]] == [t.agent.id, public.id]  # only rated agents, by id
    assert all(set(x) == RATING_KEYS for x in data["agent_ratings"])
    assert data["agent_ratings"][1] == {
        "agent": public.id,
        "agent_name": "Open",
        "average_rating": 3.0,
        "rating_count": 1,
        "user_rating": None,
    }
    page_two = t.bob.get("/v2/api/agent/rating", params={"items_per_page": 1, "page": 2}).json()["data"]
    assert [x["agent"] for x in page_two["agent_ratings"]] == [public.id]
    assert [x["agent"] for x in t.carol.get("/v2/api/agent/rating").json()["data"]["agent_ratings"]] == [
        public.id
    ]
    assert_error(t.carol.get(url), 404, "Agent not found.")
    assert_error(t.bob.get("/v2/api/agent/rating", params={"items_per_page": 0}), 400)


def test_rating_rejects_bad_input_and_writes_nothing(t, db):
    t.bob.put(f"/v2/api/agent/{t.agent.id}/rating", json={"rating": 3})
    before = snapshot(db)
    url = f"/v2/api/agent/{t.agent.id}/rating"
    for body in (
        {},
        {"rating": None},
        {"rating": 0},
        {"rating": 6},
        {"rating": "3"},
        {"rating": 3.5},
        {"rating": True},
    ):
        assert_error(t.bob.put(url, json=body), 400)
    assert_error(t.bob.put("/v2/api/agent/999999/rating", json={"rating": 3}), 404, "Agent not found.")
    assert_error(t.carol.put(url, json={"rating": 3}), 404, "Agent not found.")
    assert_error(t.bob.put("/v2/api/agent/abc/rating", json={"rating": 3}), 400)
    assert snapshot(db) == before
    assert t.bob.get(url).json()["data"]["user_rating"] == 3


# -- Agent Vote ------------------------------------------------------------------------------------------


def test_votes_up_down_and_clear(t, db):
    url = f"/v2/api/agent/{t.agent.id}/vote"
    r = t.bob.post(url, json={"vote": "up"})
    assert succeeded(r, 201, "Successfully upvoted the agent") == {"like_count": 1, "dislike_count": 0}
    r = t.alice.post(url, json={"vote": "down"})
    assert succeeded(r, 201, "Successfully downvoted the agent") == {"like_count": 1, "dislike_count": 1}
    assert t.bob.post(url, json={"vote": "down"}).json()["data"] == {"like_count": 0, "dislike_count": 2}
    for _ in range(2):  # voting the same way again changes nothing
        assert t.bob.post(url, json={"vote": "up"}).json()["data"] == {"like_count": 1, "dislike_count": 1}
    fresh(db)
    votes = db.execute(
        select(AgentVote.user_id, AgentVote.vote, AgentVote.modified_by).order_by(AgentVote.id)
    ).all()
    assert [tuple(v) for v in votes] == [(t.bob.id, "up", t.bob.email), (t.alice.id, "down", "")]
    db.rollback()

    r = t.alice.post(url, json={"vote": "clear"})
    assert succeeded(r, 201, "Successfully cleared the vote on the agent") == {
        "like_count": 1,
        "dislike_count": 0,
    }
    assert t.alice.post(url, json={"vote": "clear"}).json()["data"] == {"like_count": 1, "dislike_count": 0}

    r = t.bob.get(url)
    assert succeeded(r, 200, "Agent vote fetched successfully.") == {
        "like_count": 1,
        "dislike_count": 0,
        "user_vote": "up",
    }
    assert t.alice.get(url).json()["data"]["user_vote"] is None
    assert t.alice.get(f"/v2/api/agent/{t.private.id}/vote").json()["data"] == {
        "like_count": 0,
        "dislike_count": 0,
        "user_vote": None,
    }


def test_vote_rejects_bad_input_and_writes_nothing(t, db):
    url = f"/v2/api/agent/{t.agent.id}/vote"
    t.bob.post(url, json={"vote": "up"})
    before = snapshot(db)
    for body in ({}, {"vote": "sideways"}, {"vote": "UP"}, {"vote": None}, {"vote": 1}, ["up"]):
        assert_error(t.bob.post(url, json=body), 400)
    assert_error(t.bob.post("/v2/api/agent/999999/vote", json={"vote": "up"}), 404, "Agent not found.")
    assert_error(t.carol.post(url, json={"vote": "down"}), 404, "Agent not found.")
    assert_error(t.carol.get(url), 404, "Agent not found.")
    assert_error(t.bob.post(f"/v2/api/agent/{t.private.id}/vote", json={"vote": "up"}), 404)
    assert snapshot(db) == before


# -- Agent Comment ---------------------------------------------------------------------------------------


def test_comments_create_list_edit_delete(t, db):
    url = f"/v2/api/agent/{t.agent.id}/comment"
    r = t.bob.post(url, json={"comment": " Works well. "})
    bobs = succeeded(r, 201, "Comment created successfully.")
    assert set(bobs) == COMMENT_KEYS
    assert (
        bobs["agent"] == t.agent.id and bobs["user"] == user_json(t.bob) and bobs["comment"] == "Works well."
    )
    assert bobs["created_by"] == t.bob.email and bobs["modified_by"] == "" and bobs["is_deleted"] is False
    alices = t.alice.post(url, json={"comment": "Thanks!"}).json()["data"]
    second = t.bob.post(url, json={"comment": "One more."}).json()["data"]
    r = t.manager.get(url)
    assert succeeded(r, 200, "Comments fetched successfully.") == [bobs, alices, second]  # oldest first
    assert t.alice.get(f"/v2/api/agent/{t.private.id}/comment").json()["data"] == []

    path = f"{url}/{bobs['id']}"
    r = t.bob.put(path, json={"comment": "Works very well."})
    edited = succeeded(r, 200, "Comment updated successfully.")
    assert edited["comment"] == "Works very well." and edited["modified_by"] == t.bob.email
    assert reload(db, AgentComment, bobs["id"]).comment == "Works very well."
    t.alice.post(f"/v2/api/agent/{t.private.id}/comment", json={"comment": "Note to self."})
    mine = t.alice.get(f"/v2/api/agent/{t.private.id}/comment").json()["data"][0]

    before = snapshot(db)
    for actor in (t.alice, t.admin, t.manager):
        assert_error(
            actor.put(path, json={"comment": "Hijacked."}), 403, "Only the author can edit a comment."
        )
    for actor in (t.alice, t.manager):
        assert_error(actor.delete(path), 403)
    assert_error(t.carol.put(path, json={"comment": "x"}), 404, "Agent not found.")
    # The comment must belong to the agent in the path.
    assert_error(t.bob.put(f"/v2/api/agent/{t.private.id}/comment/{bobs['id']}", json={"comment": "x"}), 404)
    assert_error(t.alice.put(f"{url}/{mine['id']}", json={"comment": "x"}), 404, "Comment not found.")
    assert_error(t.bob.put(f"{url}/999999", json={"comment": "x"}), 404, "Comment not found.")
    assert snapshot(db) == before

    r = t.admin.delete(path)  # org admins may delete anyone's comment
    gone = succeeded(r, 200, "Comment deleted successfully.")
    assert gone["is_deleted"] is True and gone["modified_by"] == t.admin.email
    assert t.bob.delete(f"{url}/{second['id']}").json()["data"]["is_deleted"] is True
    assert [c["id"] for c in t.bob.get(url).json()["data"]] == [alices["id"]]
    assert_error(t.bob.delete(path), 404, "Comment not found.")
    assert_error(t.bob.put(path, json={"comment": "x"}), 404, "Comment not found.")
    assert reload(db, AgentComment, second["id"]).is_deleted is True


def test_comment_rejects_bad_input_and_writes_nothing(t, db):
    url = f"/v2/api/agent/{t.agent.id}/comment"
    comment = t.bob.post(url, json={"comment": "Keep."}).json()["data"]
    before = snapshot(db)
    for body in (
        {},
        {"comment": ""},
        {"comment": "  "},
        {"comment": None},
        {"comment": "x" * 10_001},
        {"comment": 3},
    ):
        assert_error(t.bob.post(url, json=body), 400)
        assert_error(t.bob.put(f"{url}/{comment['id']}", json=body), 400)
    assert_error(t.bob.post(url, content="{oops", headers={"Content-Type": "application/json"}), 400)
    assert_error(t.bob.post("/v2/api/agent/999999/comment", json={"comment": "x"}), 404)
    assert_error(t.carol.post(url, json={"comment": "x"}), 404, "Agent not found.")
    assert_error(t.carol.get(url), 404, "Agent not found.")
    assert_error(t.bob.put(f"{url}/abc", json={"comment": "x"}), 400)
    assert snapshot(db) == before
    assert reload(db, AgentComment, comment["id"]).comment == "Keep."
