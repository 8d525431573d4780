"""Ejento V2 Team group."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from parley.accounts.models import Organization, RecentTeam, Team, TeamMember, UserPermission
from parley.agents.models import Agent
from parley.projects.models import Project
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import (
    AUDIT_KEYS,
    TIMESTAMP,
    assert_error,
    assert_hidden,
    assert_read_only,
    count,
    fresh,
    ids,
    make_agent,
    reload,
)

TEAM_KEYS = {"id", "team_name", "description", "organization", *AUDIT_KEYS}
USER_KEYS = {"id", "email", "first_name", "last_name", "organization"}


@dataclass
class Tenant:
    org: Organization
    admin: Actor  # organisation admin, in no team
    owner: Actor  # Owner of team_a
    manager: Actor  # Admin of team_a
    alice: Actor  # Member of team_a
    carol: Actor  # Member of team_b only
    team_a: Team
    team_b: Team
    project_a: Project
    stranger: Actor  # admin of another organisation


@pytest.fixture
def t(world: World) -> Tenant:
    org = world.org()
    admin = world.user(org, admin=True)
    owner, manager, alice, carol = world.user(org), world.user(org), world.user(org), world.user(org)
    team_a = world.team(org, {owner: "Owner", manager: "Admin", alice: "Member"}, name="Alpha")
    team_b = world.team(org, {carol: "Member"}, name="Beta")
    project_a = world.project(team_a, name="Apollo")
    stranger = world.user(world.org(), admin=True)
    return Tenant(org, admin, owner, manager, alice, carol, team_a, team_b, project_a, stranger)


def roles_in(db: Session, team: Team) -> dict[int, str]:
    fresh(db)
    return dict(
        db.execute(select(TeamMember.user_id, TeamMember.role).where(TeamMember.team_id == team.id)).all()
    )


# -- Create Team, Get All Teams ------------------------------------------------------------


def test_create_team_makes_the_creator_its_owner(t: Tenant, db: Session):
    r = t.alice.post("/v2/api/team", json={"team_name": "  Gamma ", "description": "Third"})
    assert r.status_code == 201 and r.json()["message"] == "Team created successfully."
    data = r.json()["data"]
    assert set(data) == TEAM_KEYS
    assert data["team_name"] == "Gamma" and data["description"] == "Third"
    assert data["organization"] == t.org.id and data["is_deleted"] is False
    assert data["created_by"] == t.alice.email and data["modified_by"] == ""
    assert TIMESTAMP.match(data["created_on"]) and TIMESTAMP.match(data["modified_on"])
    team = reload(db, Team, data["id"])
    assert roles_in(db, team) == {t.alice.id: "Owner"}
    # The new membership counts at once: alice sees and manages the team.
    assert t.alice.get(f"/v2/api/team/{team.id}").json()["data"]["role"] == "Owner"
    assert t.alice.put(f"/v2/api/team/{team.id}", json={"description": "3rd"}).status_code == 200
    assert_error(t.carol.get(f"/v2/api/team/{team.id}"), 404)


def test_create_team_rejects_bad_input_duplicates_and_missing_capability(t: Tenant, db: Session):
    before = count(db, Team), count(db, TeamMember)
    for body in (
        {},
        {"team_name": ""},
        {"team_name": "  "},
        {"team_name": "x" * 201},
        {"team_name": 3},
        {"team_name": "Ok", "description": "d" * 5001},
        {"team_name": "nul\x00"},
    ):
        assert_error(t.alice.post("/v2/api/team", json=body), 400)
    assert_error(
        t.alice.post("/v2/api/team", content=b"[", headers={"Content-Type": "application/json"}), 400
    )
    assert_error(
        t.alice.post("/v2/api/team", json={"team_name": "ALPHA"}),
        409,
        "A team with this name already exists.",
    )
    db.add(UserPermission(org_id=t.org.id, user_id=t.alice.id, permission="create_team", is_allowed=False))
    db.commit()
    assert_error(
        t.alice.post("/v2/api/team", json={"team_name": "New"}),
        403,
        "You do not have permission to create teams.",
    )
    assert (count(db, Team), count(db, TeamMember)) == before
    # Names are unique per organisation only.
    assert t.stranger.post("/v2/api/team", json={"team_name": "Alpha"}).status_code == 201


def test_get_all_teams_is_scoped_paginated_and_searchable(t: Tenant, world: World, db: Session):
    gone = world.team(t.org, name="Gone")
    db.execute(update(Team).where(Team.id == gone.id).values(is_deleted=True))
    db.add(TeamMember(team_id=gone.id, user_id=t.alice.id, role="Owner"))
    db.commit()
    r = t.alice.get("/v2/api/team")
    assert r.status_code == 200 and r.json()["message"] == "Teams fetched successfully."
    data = r.json()["data"]
    assert set(data) == {"count", "num_pages", "current_page", "teams"}
    assert ids(data["teams"]) == [t.team_a.id] and data["count"] == 1
    assert set(data["teams"][0]) == TEAM_KEYS
    everything = t.admin.get("/v2/api/team").json()["data"]
    assert ids(everything["teams"]) == [t.team_a.id, t.team_b.id]
    page = t.admin.get("/v2/api/team", params={"page": 2, "items_per_page": 1}).json()["data"]
    assert ids(page["teams"]) == [t.team_b.id] and page["num_pages"] == 2 and page["current_page"] == 2
    assert ids(t.admin.get("/v2/api/team", params={"query": "bet"}).json()["data"]["teams"]) == [t.team_b.id]
    assert t.admin.get("/v2/api/team", params={"query": "_"}).json()["data"]["count"] == 0
    assert t.stranger.get("/v2/api/team").json()["data"]["count"] == 0
    for params in ({"items_per_page": 0}, {"page": -1}, {"items_per_page": "many"}):
        assert_error(t.alice.get("/v2/api/team", params=params), 400)


# -- one team ------------------------------------------------------------------------------


def test_get_team_details(t: Tenant, world: World, db: Session):
    world.project(t.team_a, name="Second")
    path = f"/v2/api/team/{t.team_a.id}"
    r = t.alice.get(path)
    assert r.status_code == 200 and r.json()["message"] == "Team details fetched successfully."
    data = r.json()["data"]
    assert set(data) == TEAM_KEYS | {"role", "member_count", "project_count", "members"}
    assert data["team_name"] == "Alpha" and data["role"] == "Member"
    assert data["member_count"] == 3 and data["project_count"] == 2
    assert [(m["id"], m["role"]) for m in data["members"]] == [
        (t.owner.id, "Owner"),
        (t.manager.id, "Admin"),
        (t.alice.id, "Member"),
    ]
    assert set(data["members"][0]) == USER_KEYS | {"role"}
    assert t.admin.get(path).json()["data"]["role"] is None
    assert_error(t.carol.get(path), 404, "Team not found.")
    assert_error(t.stranger.get(path), 404, "Team not found.")
    assert_error(t.alice.get("/v2/api/team/abc"), 400)
    assert_error(t.alice.get(f"/v2/api/team/{2**63}"), 400)


def test_edit_team(t: Tenant, world: World, db: Session):
    path = f"/v2/api/team/{t.team_a.id}"
    r = t.manager.put(path, json={"team_name": "Alpha Prime", "description": "First"})
    assert r.status_code == 200 and r.json()["message"] == "Team updated successfully."
    data = r.json()["data"]
    assert data["team_name"] == "Alpha Prime" and data["description"] == "First"
    assert data["modified_by"] == t.manager.email and data["created_by"] == "tests"
    assert t.owner.put(path, json={"team_name": None}).json()["data"]["team_name"] == "Alpha Prime"
    assert_error(
        t.alice.put(path, json={"team_name": "Mine"}), 403, "You do not have permission to edit this team."
    )
    assert_error(t.carol.put(path, json={"team_name": "Mine"}), 404)
    assert_error(t.stranger.put(path, json={"team_name": "Mine"}), 404)
    assert_error(t.owner.put(path, json={"team_name": "beta"}), 409)
    for body in ({"team_name": ""}, {"team_name": ["x"]}, {"description": 1}):
        assert_error(t.owner.put(path, json=body), 400)
    assert reload(db, Team, t.team_a.id).team_name == "Alpha Prime"
    assert t.admin.put(f"/v2/api/team/{t.team_b.id}", json={"description": "by admin"}).status_code == 200


def test_delete_team_is_soft_and_refused_while_projects_remain(t: Tenant, db: Session):
    path = f"/v2/api/team/{t.team_a.id}"
    r = t.owner.delete(path)
    assert_error(r, 400)
    assert "project" in r.json()["message"]
    assert_error(t.alice.delete(path), 403)
    assert_error(t.carol.delete(path), 404)
    assert_error(t.stranger.delete(path), 404)
    assert reload(db, Team, t.team_a.id).is_deleted is False

    db.execute(update(Project).where(Project.id == t.project_a.id).values(is_deleted=True))
    db.commit()
    r = t.owner.delete(path)
    assert r.status_code == 200 and r.json()["message"] == "Team deleted successfully."
    assert r.json()["data"]["is_deleted"] is True and r.json()["data"]["modified_by"] == t.owner.email
    assert reload(db, Team, t.team_a.id).is_deleted is True
    assert_error(t.owner.get(path), 404)
    assert t.owner.get("/v2/api/team").json()["data"]["teams"] == []
    assert_error(t.owner.delete(path), 404)


def test_recent_teams(t: Tenant, world: World, db: Session):
    db.add(TeamMember(team_id=t.team_b.id, user_id=t.alice.id, role="Member"))
    db.commit()
    first = t.alice.post(f"/v2/api/team/{t.team_a.id}/recent")
    assert first.status_code == 201 and first.json()["message"] == "Recent Team created successfully"
    data = first.json()["data"]
    assert (
        set(data) == {"id", "team"} and data["team"]["id"] == t.team_a.id and set(data["team"]) == TEAM_KEYS
    )
    time.sleep(0.01)
    t.alice.post(f"/v2/api/team/{t.team_b.id}/recent")
    time.sleep(0.01)
    assert t.alice.post(f"/v2/api/team/{t.team_a.id}/recent").json()["data"]["id"] == data["id"]
    assert count(db, RecentTeam) == 2

    r = t.alice.get("/v2/api/team/recent")
    assert r.status_code == 200 and r.json()["message"] == "Recent Teams fetched successfully."
    assert [row["team"]["id"] for row in r.json()["data"]] == [t.team_a.id, t.team_b.id]
    assert t.owner.get("/v2/api/team/recent").json()["data"] == []
    # Leaving a team hides it; so does deleting it.
    t.admin.delete(f"/v2/api/team/{t.team_b.id}/user", json={"user_ids": [t.alice.id]})
    assert [row["team"]["id"] for row in t.alice.get("/v2/api/team/recent").json()["data"]] == [t.team_a.id]
    db.execute(update(Team).where(Team.id == t.team_a.id).values(is_deleted=True))
    db.commit()
    assert t.alice.get("/v2/api/team/recent").json()["data"] == []

    before = count(db, RecentTeam)
    assert_error(t.carol.post(f"/v2/api/team/{t.team_a.id}/recent"), 404)
    assert_error(t.stranger.post(f"/v2/api/team/{t.team_b.id}/recent"), 404)
    assert_error(t.carol.post("/v2/api/team/x/recent"), 400)
    assert count(db, RecentTeam) == before


# -- members and roles ---------------------------------------------------------------------


def test_add_users_to_team_in_both_body_forms(t: Tenant, world: World, db: Session):
    dave, eve = world.user(t.org), world.user(t.org)
    path = f"/v2/api/team/{t.team_a.id}/user"
    r = t.manager.post(path, json={"user_ids": [dave.id, t.carol.id]})
    assert r.status_code == 201 and r.json()["message"] == "Users added to team successfully."
    data = r.json()["data"]
    assert data["team"]["id"] == t.team_a.id and set(data["team"]) == TEAM_KEYS
    assert {u["id"]: u["role"] for u in data["users"]}[dave.id] == "Member"
    assert set(data["users"][0]) == USER_KEYS | {"role"}
    r = t.manager.post(path, json={"users": [{"user_id": eve.id, "role": "Admin"}, {"user_id": dave.id}]})
    assert r.status_code == 201
    r = t.manager.post(path, json={"user_ids": [t.carol.id], "role": "Admin"})  # an existing member: new role
    assert r.status_code == 201
    expected = {
        t.owner.id: "Owner",
        t.manager.id: "Admin",
        t.alice.id: "Member",
        dave.id: "Member",
        eve.id: "Admin",
        t.carol.id: "Admin",
    }
    assert roles_in(db, t.team_a) == expected
    # The new members see the team at once.
    assert dave.get(f"/v2/api/team/{t.team_a.id}").json()["data"]["role"] == "Member"

    frank = world.user(t.org)
    for body in (
        {"user_ids": [frank.id, 999_999]},
        {"user_ids": [frank.id, t.stranger.id]},
        {"users": [{"user_id": frank.id}, {"user_id": 999_999}]},
    ):
        assert_error(t.owner.post(path, json=body), 404, "User not found.")
    for body in (
        {},
        {"user_ids": []},
        {"user_ids": [frank.id], "users": [{"user_id": frank.id}]},
        {"user_ids": [frank.id], "role": "Boss"},
        {"users": [{"user_id": frank.id, "role": "owner"}]},
        {"users": [{"role": "Member"}]},
        {"user_ids": "1,2"},
    ):
        assert_error(t.owner.post(path, json=body), 400)
    assert_error(t.alice.post(path, json={"user_ids": [frank.id]}), 403)
    assert_error(t.carol.post(f"/v2/api/team/{t.team_b.id}/user", json={"user_ids": [frank.id]}), 403)
    assert_error(t.stranger.post(path, json={"user_ids": [t.stranger.id]}), 404)
    assert roles_in(db, t.team_a) == expected


def test_owner_role_rules(t: Tenant, world: World, db: Session):
    path = f"/v2/api/team/{t.team_a.id}/user"
    before = roles_in(db, t.team_a)
    # A team Admin may not grant Owner, change an Owner's role or remove an Owner.
    message = "Only team Owners can grant, change or remove the Owner role."
    assert_error(t.manager.post(path, json={"user_ids": [t.alice.id], "role": "Owner"}), 403, message)
    assert_error(t.manager.post(path, json={"user_ids": [t.owner.id], "role": "Member"}), 403, message)
    assert_error(t.manager.delete(path, json={"user_ids": [t.owner.id]}), 403, message)
    # Keeping an Owner's role is no change.
    assert t.manager.post(path, json={"users": [{"user_id": t.owner.id, "role": "Owner"}]}).status_code == 201
    # The last Owner cannot step down or leave...
    assert_error(t.owner.post(path, json={"user_ids": [t.owner.id], "role": "Admin"}), 400)
    assert_error(
        t.owner.delete(path, json={"user_ids": [t.owner.id]}), 400, "A team must keep at least one Owner."
    )
    assert roles_in(db, t.team_a) == before
    # ...but can hand over first.
    assert t.owner.post(path, json={"user_ids": [t.alice.id], "role": "Owner"}).status_code == 201
    assert t.owner.delete(path, json={"user_ids": [t.owner.id]}).status_code == 200
    assert roles_in(db, t.team_a) == {t.manager.id: "Admin", t.alice.id: "Owner"}
    # Organisation admins hold Owner power everywhere.
    assert t.admin.post(path, json={"user_ids": [t.manager.id], "role": "Owner"}).status_code == 201


def test_get_users_in_a_team(t: Tenant, db: Session):
    path = f"/v2/api/team/{t.team_a.id}/user"
    r = t.alice.get(path)
    assert r.status_code == 200 and r.json()["message"] == "Team users fetched successfully."
    assert r.json()["data"][0] == {
        "id": t.owner.id,
        "email": t.owner.email,
        "first_name": t.owner.user.first_name,
        "last_name": t.owner.user.last_name,
        "organization": t.org.id,
        "role": "Owner",
    }
    assert [(u["id"], u["role"]) for u in r.json()["data"]][1:] == [
        (t.manager.id, "Admin"),
        (t.alice.id, "Member"),
    ]
    assert len(t.admin.get(path).json()["data"]) == 3
    assert_error(t.carol.get(path), 404)
    assert_error(t.stranger.get(path), 404)
    assert_error(t.alice.get("/v2/api/team/0/user"), 400)


def test_remove_users_from_a_team(t: Tenant, world: World, db: Session):
    dave = world.user(t.org)
    path = f"/v2/api/team/{t.team_a.id}/user"
    r = t.manager.delete(path, json={"user_ids": [t.alice.id, dave.id]})  # dave is no member: ignored
    assert r.status_code == 200 and r.json()["message"] == "Users removed from team successfully."
    assert [u["id"] for u in r.json()["data"]["users"]] == [t.owner.id, t.manager.id]
    assert_error(t.alice.get(f"/v2/api/team/{t.team_a.id}"), 404)
    assert_error(t.alice.get(f"/v2/api/project/{t.project_a.id}"), 404)
    assert t.owner.delete(path, params={"user_ids": str(t.manager.id)}).status_code == 200
    assert roles_in(db, t.team_a) == {t.owner.id: "Owner"}

    assert_error(t.owner.delete(path), 400, "user_ids is required.")
    assert_error(t.owner.delete(path, params={"user_ids": "1,,x"}), 400)
    assert_error(t.owner.delete(path, json={"user_ids": [999_999]}), 404)
    assert_error(t.owner.delete(path, json={"user_ids": [t.stranger.id]}), 404)
    assert_error(t.carol.delete(path, json={"user_ids": [t.owner.id]}), 404)
    assert_error(t.stranger.delete(path, json={"user_ids": [t.owner.id]}), 404)
    assert roles_in(db, t.team_a) == {t.owner.id: "Owner"}


def test_teams_of_user(t: Tenant, db: Session):
    db.add(TeamMember(team_id=t.team_b.id, user_id=t.alice.id, role="Admin"))
    db.commit()
    path = f"/v2/api/user/{t.alice.id}/team"
    r = t.alice.get(path)
    assert r.status_code == 200 and r.json()["message"] == "User teams fetched successfully."
    data = r.json()["data"]
    assert [(row["id"], row["role"]) for row in data] == [(t.team_a.id, "Member"), (t.team_b.id, "Admin")]
    assert set(data[0]) == TEAM_KEYS | {"role"}
    assert ids(t.admin.get(path).json()["data"]) == [t.team_a.id, t.team_b.id]
    # Other users see only the teams they share with the user.
    assert ids(t.owner.get(path).json()["data"]) == [t.team_a.id]
    assert ids(t.carol.get(path).json()["data"]) == [t.team_b.id]
    assert t.alice.get(f"/v2/api/user/{t.admin.id}/team").json()["data"] == []
    assert_error(t.alice.get("/v2/api/user/999999/team"), 404, "User not found.")
    assert_error(t.alice.get(f"/v2/api/user/{t.stranger.id}/team"), 404)
    assert_error(t.stranger.get(path), 404)
    assert_error(t.alice.get("/v2/api/user/me/team"), 400)


def test_user_role_by_team(t: Tenant):
    r = t.alice.get(f"/v2/api/team/{t.team_a.id}/user/{t.manager.id}/role")
    assert r.status_code == 200 and r.json()["message"] == "User role fetched successfully."
    data = r.json()["data"]
    assert data["team"] == {"id": t.team_a.id, "team_name": "Alpha"}
    assert data["user"]["id"] == t.manager.id and set(data["user"]) == USER_KEYS
    assert data["role"] == "Admin"
    assert t.admin.get(f"/v2/api/team/{t.team_a.id}/user/{t.owner.id}/role").json()["data"]["role"] == "Owner"
    assert_error(t.alice.get(f"/v2/api/team/{t.team_a.id}/user/{t.carol.id}/role"), 404)
    assert_error(t.alice.get(f"/v2/api/team/{t.team_b.id}/user/{t.carol.id}/role"), 404, "Team not found.")
    assert_error(t.alice.get(f"/v2/api/team/{t.team_a.id}/user/{t.stranger.id}/role"), 404, "User not found.")
    assert_error(t.stranger.get(f"/v2/api/team/{t.team_a.id}/user/{t.owner.id}/role"), 404)
    assert_error(t.alice.get(f"/v2/api/team/{t.team_a.id}/user/x/role"), 400)


# -- what the caller's teams hold ----------------------------------------------------------


def test_agents_of_user_team(t: Tenant, world: World, db: Session):
    project_b = world.project(t.team_b, name="Borealis")
    team_only = make_agent(db, t.owner, t.project_a, access="Only team")
    public = make_agent(db, t.owner, t.project_a, access="Public")
    make_agent(db, t.owner, t.project_a, access="Only me")  # not alice's
    mine = make_agent(db, t.alice, t.project_a, access="Only me")
    make_agent(db, t.carol, project_b, access="Public")  # visible to alice, but not in her teams
    gone = make_agent(db, t.owner, t.project_a, access="Public")
    db.execute(update(Agent).where(Agent.id == gone.id).values(is_deleted=True))
    db.commit()

    r = t.alice.get("/v2/api/team/agent")
    assert r.status_code == 200 and r.json()["message"] == "Agents of user teams fetched successfully."
    data = r.json()["data"]
    assert ids(data) == [mine.id, public.id, team_only.id]  # newest first
    assert data[2]["access"] == "Only team" and data[2]["project"] == t.project_a.id
    assert data[2]["agent_type"]["name"] == "QnA" and data[2]["user"]["id"] == t.owner.id
    assert len(ids(t.carol.get("/v2/api/team/agent").json()["data"])) == 1
    assert t.admin.get("/v2/api/team/agent").json()["data"] == []  # an admin in no team
    assert t.stranger.get("/v2/api/team/agent").json()["data"] == []


def test_projects_and_team(t: Tenant, world: World, db: Session):
    second = world.project(t.team_a, name="Second")
    world.project(t.team_b, name="Borealis")
    db.add(TeamMember(team_id=t.team_b.id, user_id=t.alice.id, role="Member"))
    db.commit()
    r = t.alice.get("/v2/api/team/project")
    assert r.status_code == 200 and r.json()["message"] == "Projects and teams fetched successfully."
    data = r.json()["data"]
    assert ids(data) == [t.team_a.id, t.team_b.id]
    assert set(data[0]) == TEAM_KEYS | {"projects"}
    assert ids(data[0]["projects"]) == [t.project_a.id, second.id]
    assert data[0]["projects"][0]["team"] == {"id": t.team_a.id, "team_name": "Alpha"}
    assert [p["project_name"] for p in data[1]["projects"]] == ["Borealis"]
    assert ids(t.carol.get("/v2/api/team/project").json()["data"]) == [t.team_b.id]
    assert t.admin.get("/v2/api/team/project").json()["data"] == []
    assert t.stranger.get("/v2/api/team/project").json()["data"] == []


# -- API key scopes and isolation ----------------------------------------------------------


def test_read_only_key_reads_but_cannot_write(t: Tenant, world: World, db: Session):
    tid = t.team_a.id
    before = count(db, Team), count(db, TeamMember), count(db, RecentTeam)
    reads = (
        "/v2/api/team",
        "/v2/api/team/recent",
        "/v2/api/team/agent",
        "/v2/api/team/project",
        f"/v2/api/team/{tid}",
        f"/v2/api/team/{tid}/user",
        f"/v2/api/team/{tid}/user/{t.owner.id}/role",
        f"/v2/api/user/{t.owner.id}/team",
    )
    writes = (
        ("POST", "/v2/api/team", {"team_name": "RO"}),
        ("PUT", f"/v2/api/team/{tid}", {"team_name": "RO"}),
        ("DELETE", f"/v2/api/team/{tid}", None),
        ("POST", f"/v2/api/team/{tid}/recent", None),
        ("POST", f"/v2/api/team/{tid}/user", {"user_ids": [t.carol.id]}),
        ("DELETE", f"/v2/api/team/{tid}/user", {"user_ids": [t.alice.id]}),
    )
    assert_read_only(world.key_for(t.owner, "read_only"), reads, writes)
    assert (count(db, Team), count(db, TeamMember), count(db, RecentTeam)) == before
    assert reload(db, Team, tid).team_name == "Alpha"


def test_restricted_keys_follow_the_teams_category(t: Tenant, world: World):
    reader = world.key_for(t.owner, "restricted", {"teams": "read"})
    assert reader.get("/v2/api/team").status_code == 200
    assert reader.get(f"/v2/api/team/{t.team_a.id}/user").status_code == 200
    assert_error(reader.post("/v2/api/team", json={"team_name": "R"}), 403)
    assert_error(reader.post(f"/v2/api/team/{t.team_a.id}/user", json={"user_ids": [t.carol.id]}), 403)
    other = world.key_for(t.owner, "restricted", {"projects": "write", "users": "write"})
    for path in ("/v2/api/team", f"/v2/api/team/{t.team_a.id}", f"/v2/api/user/{t.owner.id}/team"):
        assert_error(other.get(path), 403)
    writer = world.key_for(t.owner, "restricted", {"teams": "write"})
    assert writer.post("/v2/api/team", json={"team_name": "W"}).status_code == 201


def test_another_organisation_gets_404_for_every_team_path(t: Tenant, db: Session):
    tid = t.team_a.id
    hijack, users = {"team_name": "Hijack"}, {"user_ids": [t.stranger.id]}
    requests = [
        ("GET", f"/v2/api/team/{tid}", users),
        ("PUT", f"/v2/api/team/{tid}", hijack),
        ("DELETE", f"/v2/api/team/{tid}", users),
        ("POST", f"/v2/api/team/{tid}/recent", users),
        ("POST", f"/v2/api/team/{tid}/user", users),
        ("GET", f"/v2/api/team/{tid}/user", users),
        ("DELETE", f"/v2/api/team/{tid}/user", users),
        ("GET", f"/v2/api/team/{tid}/user/{t.owner.id}/role", users),
        ("GET", f"/v2/api/user/{t.owner.id}/team", users),
    ]
    assert_hidden(t.stranger, requests, "Alpha")
    for path in ("/v2/api/team", "/v2/api/team/recent", "/v2/api/team/agent", "/v2/api/team/project"):
        assert "Alpha" not in t.stranger.get(path).text
    row = reload(db, Team, tid)
    assert row.team_name == "Alpha" and not row.is_deleted
    assert len(roles_in(db, t.team_a)) == 3
