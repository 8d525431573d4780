"""Ejento V2 Agent User: share an agent with users, list them, their permission, stop sharing,
and Get All Agents with Users.

Other organisations and scoped keys, for every endpoint: test_agent_extras.py.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.accounts.models import User, UserPermission
from parley.agents.models import AgentUser
from parley.notifications.models import Notification
from tests.support.world import World
from tests.surfaces.ejento.agent_extras_support import SHARE_KEYS, Tenant, make_tenant, snapshot, user_json
from tests.surfaces.ejento.factories import TIMESTAMP, assert_error, fresh, make_agent, succeeded


@pytest.fixture
def t(world: World, db: Session) -> Tenant:
    return make_tenant(world, db)


def notifications(db: Session, user_id: int) -> list[tuple]:
    fresh(db)
    rows = db.execute(
        select(
            Notification.kind,
            Notification.title,
            Notification.message,
            Notification.target,
            Notification.created_by,
        )
        .where(Notification.user_id == user_id)
        .order_by(Notification.id)
    ).all()
    db.rollback()
    return [tuple(row) for row in rows]


def test_add_users_shares_the_agent_and_notifies_them(t, world, db):
    url = f"/v2/api/agent/{t.private.id}/user"
    assert_error(t.carol.get(f"/v2/api/agent/{t.private.id}"), 404)
    r = t.alice.post(url, json={"user_ids": [t.carol.id, t.bob.id]})
    shares = succeeded(r, 201, "Users added to agent successfully.")
    # In the order they were shared; the users of one request by id (bob was created before carol).
    assert [s["user"] for s in shares] == [user_json(t.bob), user_json(t.carol)]
    first = shares[1]
    assert set(first) == SHARE_KEYS and first["agent"] == t.private.id and first["permission"] == "view"
    assert (
        first["created_by"] == t.alice.email
        and first["modified_by"] == ""
        and TIMESTAMP.match(first["created_on"])
    )
    # The agent is now visible to them, not editable.
    assert t.carol.get(f"/v2/api/agent/{t.private.id}").status_code == 200
    assert_error(t.carol.put(f"/v2/api/agent/{t.private.id}/access", json={"access": "Public"}), 403)
    assert notifications(db, t.carol.id) == [
        (
            "agent_shared",
            "Agent shared with you: Private helper",
            f'{t.alice.email} shared the agent "Private helper" with you (view).',
            {"type": "agent", "id": t.private.id, "permission": "view"},
            t.alice.email,
        )
    ]

    # Sharing again changes the permission (and tells them); the same permission changes nothing.
    r = t.alice.post(
        url, json={"users": [{"user_id": t.carol.id, "permission": "edit"}, {"user_id": t.bob.id}]}
    )
    shares = succeeded(r, 201, "Users added to agent successfully.")
    assert [(s["user"]["id"], s["permission"], s["modified_by"]) for s in shares] == [
        (t.bob.id, "view", ""),
        (t.carol.id, "edit", t.alice.email),
    ]
    assert [n[3]["permission"] for n in notifications(db, t.carol.id)] == ["view", "edit"]
    assert len(notifications(db, t.bob.id)) == 1
    # An editor may now edit the agent and share it further.
    assert t.carol.put(f"/v2/api/agent/{t.private.id}/access", json={"access": "Only me"}).status_code == 200
    r = t.carol.post(url, json={"user_ids": [t.manager.id], "permission": "edit"})
    assert [s["user"]["id"] for s in r.json()["data"]] == [t.bob.id, t.carol.id, t.manager.id]
    assert (
        notifications(db, t.manager.id)[0][2]
        == f'{t.carol.email} shared the agent "Private helper" with you (edit).'
    )
    # Adding oneself raises no notification.
    admin_share = t.admin.post(url, json={"user_ids": [t.admin.id]})
    assert admin_share.status_code == 201 and notifications(db, t.admin.id) == []


def test_add_users_rejects_bad_input_and_writes_nothing(t, world, db):
    url = f"/v2/api/agent/{t.agent.id}/user"
    foreigner = world.user(world.org())
    deleted = world.user(t.org)
    db.get(User, deleted.id).is_deleted = True
    db.commit()
    before = snapshot(db)
    for body, status, message in (
        ({}, 400, None),
        ({"user_ids": []}, 400, None),
        ({"user_ids": ["x"]}, 400, None),
        ({"user_ids": [0]}, 400, None),
        ({"user_ids": [t.bob.id], "users": [{"user_id": t.carol.id}]}, 400, None),
        ({"user_ids": [t.bob.id], "permission": "admin"}, 400, None),
        ({"users": [{"user_id": t.bob.id, "permission": "owner"}]}, 400, None),
        ({"users": []}, 400, None),
        ({"user_ids": list(range(1, 502))}, 400, None),
        ({"user_ids": [t.carol.id, 999999]}, 404, "User not found."),
        ({"user_ids": [t.carol.id, foreigner.id]}, 404, "User not found."),
        ({"user_ids": [deleted.id]}, 404, "User not found."),
        ({"user_ids": [t.carol.id, t.alice.id]}, 400, "The agent's owner already has full access to it."),
    ):
        assert_error(t.alice.post(url, json=body), status, message)
    assert_error(
        t.alice.post("/v2/api/agent/999999/user", json={"user_ids": [t.carol.id]}), 404, "Agent not found."
    )
    # Only editors share, and only with the share_agent capability.
    body = {"user_ids": [t.carol.id]}
    assert_error(t.bob.post(url, json=body), 403, "You do not have permission to share this agent.")
    assert_error(t.carol.post(url, json=body), 404, "Agent not found.")
    db.add(UserPermission(org_id=t.org.id, user_id=t.manager.id, permission="share_agent", is_allowed=False))
    db.commit()
    r = t.manager.post(url, json=body)
    assert_error(r, 403, "You do not have permission to share agents with other users.")
    assert snapshot(db) == before


def test_get_users_of_agent_and_delete_user_from_agent(t, db):
    url = f"/v2/api/agent/{t.agent.id}/user"
    t.alice.post(url, json={"users": [{"user_id": t.carol.id}, {"user_id": t.bob.id, "permission": "edit"}]})
    r = t.manager.get(url)
    shares = succeeded(r, 200, "Users of agent fetched successfully.")
    assert [(s["user"], s["permission"]) for s in shares] == [
        (user_json(t.bob), "edit"),
        (user_json(t.carol), "view"),
    ]
    assert all(set(s) == SHARE_KEYS for s in shares)
    assert t.bob.get(url).json()["data"] == shares  # an editor through the share
    assert_error(t.carol.get(url), 403, "You do not have permission to view this agent's users.")  # a viewer
    assert t.alice.get(f"/v2/api/agent/{t.private.id}/user").json()["data"] == []

    before = snapshot(db)
    assert_error(
        t.carol.delete(f"{url}/{t.bob.id}"),
        403,
        "You do not have permission to remove users from this agent.",
    )
    assert_error(t.alice.delete(f"{url}/{t.manager.id}"), 404, "Agent user not found.")
    assert_error(t.alice.delete(f"{url}/999999"), 404, "Agent user not found.")
    assert_error(t.alice.delete(f"{url}/abc"), 400)
    assert snapshot(db) == before

    r = t.bob.delete(f"{url}/{t.carol.id}")  # an editor removes a viewer
    removed = succeeded(r, 200, "User removed from agent successfully.")
    assert (
        removed["id"] == shares[1]["id"]
        and removed["user"] == user_json(t.carol)
        and removed["permission"] == "view"
    )
    assert_error(t.carol.get(f"/v2/api/agent/{t.agent.id}"), 404)  # no longer shared with carol
    # A user may leave an agent shared with them.
    t.alice.post(f"/v2/api/agent/{t.private.id}/user", json={"user_ids": [t.carol.id]})
    assert t.carol.delete(f"/v2/api/agent/{t.private.id}/user/{t.carol.id}").status_code == 200
    assert_error(t.carol.get(f"/v2/api/agent/{t.private.id}"), 404)
    fresh(db)
    assert db.scalars(select(AgentUser.user_id).where(AgentUser.agent_id == t.agent.id)).all() == [t.bob.id]
    db.rollback()


def test_get_user_agent_permission(t, world, db):
    t.alice.post(
        f"/v2/api/agent/{t.private.id}/user",
        json={"users": [{"user_id": t.bob.id, "permission": "edit"}, {"user_id": t.carol.id}]},
    )
    public = make_agent(db, t.alice, t.project, access="Public", name="Open")

    def permission(actor, agent_id, user_id):  # type: ignore[no-untyped-def]
        r = actor.get(f"/v2/api/agent/{agent_id}/user/{user_id}")
        data = succeeded(r, 200, "User agent permission fetched successfully.")
        assert (
            data["agent"] == agent_id
            and data["user"]["id"] == user_id
            and set(data) == {"agent", "user", "permission", "reason"}
        )
        return data["permission"], data["reason"]

    assert permission(t.alice, t.agent.id, t.alice.id) == ("owner", "Owner of the agent.")
    assert permission(t.alice, t.agent.id, t.admin.id) == (
        "edit",
        "Organization administrators manage every agent of the organization.",
    )
    assert permission(t.alice, t.agent.id, t.manager.id) == (
        "edit",
        "Owner or admin of the team of the agent's project.",
    )
    assert permission(t.alice, t.agent.id, t.bob.id) == ("view", "Member of the team of the agent's project.")
    assert permission(t.alice, t.agent.id, t.carol.id) == ("none", "The agent is not shared with this user.")
    assert permission(t.alice, t.private.id, t.bob.id) == ("edit", "Shared with the user for editing.")
    assert permission(t.alice, t.private.id, t.carol.id) == ("view", "Shared with the user for viewing.")
    assert permission(t.alice, public.id, t.carol.id) == ("view", "The agent is public.")
    # The user themselves may ask; otherwise only the agent's editors.
    assert permission(t.carol, t.private.id, t.carol.id)[0] == "view"
    assert permission(t.bob, t.private.id, t.carol.id)[0] == "view"
    r = t.carol.get(f"/v2/api/agent/{public.id}/user/{t.bob.id}")
    assert_error(r, 403, "You do not have permission to view this agent's users.")
    assert_error(t.carol.get(f"/v2/api/agent/{t.agent.id}/user/{t.carol.id}"), 404, "Agent not found.")
    assert_error(t.alice.get(f"/v2/api/agent/{t.agent.id}/user/999999"), 404, "User not found.")
    foreigner = world.user(world.org())
    assert_error(t.alice.get(f"/v2/api/agent/{t.agent.id}/user/{foreigner.id}"), 404, "User not found.")


def test_get_all_agents_with_users(t, world, db):
    other_team = world.team(t.org, {t.carol: "Member"}, name="Elsewhere")
    public = make_agent(
        db, t.carol, world.project(other_team, name="Open project"), access="Public", name="Open"
    )
    r = t.bob.get("/v2/api/agent/user")
    data = succeeded(r, 200, "All Agents with users fetched successfully")
    assert [a["id"] for a in data] == [public.id, t.agent.id]  # newest first; not alice's private agent
    open_agent = data[0]
    assert open_agent["user"] == user_json(t.carol)
    assert open_agent["project"] == {
        "id": public.project_id,
        "project_name": "Open project",
        "team": {"id": other_team.id, "team_name": "Elsewhere"},
    }
    assert open_agent["summary"] == "" and open_agent["notes"] == ""
    assert open_agent["training_progress"] == {"status": "Complete", "progress": 100}
    # The rest is the full Agent, as Get Agent returns it.
    fetched = t.bob.get(f"/v2/api/agent/{public.id}").json()["data"]
    assert {k: v for k, v in open_agent.items() if k in fetched and k != "project"} == {
        k: v for k, v in fetched.items() if k != "project"
    }
    assert [a["id"] for a in t.carol.get("/v2/api/agent/user").json()["data"]] == [public.id]
    assert [a["id"] for a in t.alice.get("/v2/api/agent/user").json()["data"]] == [
        public.id,
        t.private.id,
        t.agent.id,
    ]
    # Sharing adds the agent to the user's list.
    t.alice.post(f"/v2/api/agent/{t.private.id}/user", json={"user_ids": [t.carol.id]})
    assert [a["id"] for a in t.carol.get("/v2/api/agent/user").json()["data"]] == [public.id, t.private.id]
