"""Ejento V2 Project and User Project groups."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from parley.accounts.models import Organization, Team, TeamMember, UserPermission
from parley.agents.models import Agent
from parley.projects.models import Project, ProjectMember, RecentProject
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
    succeeded,
)

PROJECT_KEYS = {"id", "project_name", "description", "team", "organization", *AUDIT_KEYS}


@dataclass
class Tenant:
    org: Organization
    admin: Actor  # organisation admin, in no team
    owner: Actor  # Owner of team_a
    alice: Actor  # Member of team_a
    carol: Actor  # Member of team_b only
    team_a: Team
    team_b: Team
    project_a: Project
    project_b: Project
    stranger: Actor  # admin of another organisation


@pytest.fixture
def t(world: World) -> Tenant:
    org = world.org()
    admin = world.user(org, admin=True)
    owner, alice, carol = world.user(org), world.user(org), world.user(org)
    team_a = world.team(org, {owner: "Owner", alice: "Member"}, name="Alpha")
    team_b = world.team(org, {carol: "Member"}, name="Beta")
    project_a = world.project(team_a, name="Apollo")
    project_b = world.project(team_b, name="Borealis")
    stranger = world.user(world.org(), admin=True)
    return Tenant(org, admin, owner, alice, carol, team_a, team_b, project_a, project_b, stranger)


def members_of(db: Session, project: Project) -> set[int]:
    fresh(db)
    return set(db.scalars(select(ProjectMember.user_id).where(ProjectMember.project_id == project.id)))


# -- Create Project ------------------------------------------------------------------------


def test_team_member_creates_a_project_and_becomes_a_member(t: Tenant, db: Session):
    r = t.alice.post(
        "/v2/api/project", json={"project_name": "  Zephyr  ", "description": "Wind", "team_id": t.team_a.id}
    )
    data = succeeded(r, 201, "Project created successfully.")
    assert set(data) == PROJECT_KEYS
    assert data["project_name"] == "Zephyr" and data["description"] == "Wind"
    assert data["team"] == {"id": t.team_a.id, "team_name": "Alpha"}
    assert data["organization"] == t.org.id and data["is_deleted"] is False
    assert data["created_by"] == t.alice.email and data["modified_by"] == ""
    assert TIMESTAMP.match(data["created_on"]) and TIMESTAMP.match(data["modified_on"])
    assert members_of(db, reload(db, Project, data["id"])) == {t.alice.id}
    assert t.owner.get(f"/v2/api/project/{data['id']}").json()["data"] == data

    # An organisation admin may create in any team; description defaults to "".
    r = t.admin.post("/v2/api/project", json={"project_name": "Admin's", "team_id": t.team_b.id})
    assert r.status_code == 201 and r.json()["data"]["description"] == ""


def test_create_project_rejects_bad_input_and_writes_nothing(t: Tenant, db: Session):
    before = count(db, Project), count(db, ProjectMember)
    bad_bodies = [
        {"team_id": t.team_a.id},
        {"project_name": "   ", "team_id": t.team_a.id},
        {"project_name": "x" * 201, "team_id": t.team_a.id},
        {"project_name": "Fine"},
        {"project_name": "Fine", "team_id": "abc"},
        {"project_name": "Fine", "team_id": 2**70},
        {"project_name": ["list"], "team_id": t.team_a.id},
        {"project_name": "nul\x00byte", "team_id": t.team_a.id},
        {"project_name": "Fine", "description": "nul\x00byte", "team_id": t.team_a.id},
    ]
    for body in bad_bodies:
        assert_error(t.alice.post("/v2/api/project", json=body), 400)
    malformed = t.alice.post(
        "/v2/api/project", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert_error(malformed, 400, "Malformed JSON body.")
    # Unknown team, a team of the same org the caller is not in, another org's team: 404.
    for team_id in (999_999, t.team_b.id):
        assert_error(
            t.alice.post("/v2/api/project", json={"project_name": "X", "team_id": team_id}),
            404,
            "Team not found.",
        )
    assert_error(t.stranger.post("/v2/api/project", json={"project_name": "X", "team_id": t.team_a.id}), 404)
    # Same name in the same team (case-insensitive): 409; in another team it is fine.
    assert_error(
        t.alice.post("/v2/api/project", json={"project_name": "apollo", "team_id": t.team_a.id}), 409
    )
    assert count(db, Project) == before[0] and count(db, ProjectMember) == before[1]
    assert (
        t.carol.post("/v2/api/project", json={"project_name": "Apollo", "team_id": t.team_b.id}).status_code
        == 201
    )


def test_create_project_needs_the_capability(t: Tenant, db: Session):
    db.add(UserPermission(org_id=t.org.id, user_id=t.alice.id, permission="create_project", is_allowed=False))
    db.commit()
    before = count(db, Project)
    r = t.alice.post("/v2/api/project", json={"project_name": "Nope", "team_id": t.team_a.id})
    assert_error(r, 403, "You do not have permission to create projects.")
    assert count(db, Project) == before


# -- Get All Projects, Project Filtered ------------------------------------------------------


def test_get_all_projects_is_scoped_paginated_and_searchable(t: Tenant, world: World, db: Session):
    extra = [world.project(t.team_a, name=f"Extra {i}") for i in range(3)]
    # A project member sees the project even outside its team.
    db.add(ProjectMember(project_id=t.project_b.id, user_id=t.alice.id))
    db.commit()

    r = t.alice.get("/v2/api/project")
    assert r.status_code == 200 and r.json()["message"] == "Projects fetched successfully."
    data = r.json()["data"]
    assert set(data) == {"count", "num_pages", "current_page", "projects"}
    assert ids(data["projects"]) == sorted([t.project_a.id, t.project_b.id, *[p.id for p in extra]])
    assert data["count"] == 5 and data["num_pages"] == 1 and data["current_page"] == 1
    assert set(data["projects"][0]) == PROJECT_KEYS

    page = t.alice.get("/v2/api/project", params={"page": 2, "items_per_page": 2}).json()["data"]
    assert page["count"] == 5 and page["num_pages"] == 3 and page["current_page"] == 2
    assert ids(page["projects"]) == ids(data["projects"])[2:4]
    far = t.alice.get("/v2/api/project", params={"page": 1000}).json()["data"]
    assert far["projects"] == [] and far["count"] == 5

    found = t.alice.get("/v2/api/project", params={"query": "EXTRA"}).json()["data"]
    assert ids(found["projects"]) == [p.id for p in extra]
    assert t.alice.get("/v2/api/project", params={"query": "%"}).json()["data"]["count"] == 0

    assert ids(t.carol.get("/v2/api/project").json()["data"]["projects"]) == [t.project_b.id]
    assert t.admin.get("/v2/api/project").json()["data"]["count"] == 5
    assert t.stranger.get("/v2/api/project").json()["data"]["count"] == 0

    for params in (
        {"items_per_page": 0},
        {"page": 0},
        {"page": "x"},
        {"query": "q" * 201},
        {"query": "a\x00"},
    ):
        assert_error(t.alice.get("/v2/api/project", params=params), 400)


def test_project_filtered_by_team_member_date_and_query(t: Tenant, world: World, db: Session):
    old = world.project(t.team_b, name="Old times")
    db.execute(
        update(Project).where(Project.id == old.id).values(created_on=datetime(2020, 5, 1, 12, tzinfo=UTC))
    )
    db.add(ProjectMember(project_id=t.project_a.id, user_id=t.carol.id))
    db.commit()
    admin = t.admin

    def filtered(**params: object) -> list[int]:
        r = admin.get("/v2/api/project/filtered", params=params)
        assert r.status_code == 200, r.text
        assert set(r.json()["data"]) == {"count", "num_pages", "current_page", "projects"}
        return ids(r.json()["data"]["projects"])

    everything = [t.project_a.id, t.project_b.id, old.id]
    assert filtered() == everything
    assert filtered(team_ids=t.team_b.id) == [t.project_b.id, old.id]
    assert filtered(team_ids=f"{t.team_a.id},{t.team_b.id}") == everything
    assert filtered(team_ids=[t.team_a.id, 999_999]) == [t.project_a.id]
    assert filtered(user_ids=t.carol.id) == [t.project_a.id]
    assert filtered(start_date="2020-05-01", end_date="2020-05-01") == [old.id]
    assert filtered(end_date="2020-05-01T11:00:00Z") == []
    assert filtered(start_date="2021-01-01") == [t.project_a.id, t.project_b.id]
    assert filtered(team_ids=t.team_b.id, query="old") == [old.id]
    # The caller's visibility still applies: carol sees Beta's projects and Apollo (member).
    carol = t.carol.get("/v2/api/project/filtered", params={"team_ids": t.team_a.id}).json()["data"]
    assert ids(carol["projects"]) == [t.project_a.id]
    assert (
        t.stranger.get("/v2/api/project/filtered", params={"team_ids": t.team_a.id}).json()["data"]["count"]
        == 0
    )

    for params in (
        {"team_ids": "a,b"},
        {"user_ids": "1,x"},
        {"team_ids": str(2**64)},
        {"start_date": "yesterday"},
        {"start_date": "0001-01-01T00:00:00+05:00"},
        {"start_date": "2024-02-01", "end_date": "2024-01-01"},
        {"items_per_page": 0},
    ):
        assert_error(admin.get("/v2/api/project/filtered", params=params), 400)


# -- one project ---------------------------------------------------------------------------


def test_get_project_hides_other_teams_orgs_and_deleted_rows(t: Tenant, db: Session):
    r = t.alice.get(f"/v2/api/project/{t.project_a.id}")
    assert r.status_code == 200 and r.json()["message"] == "Project fetched successfully."
    data = r.json()["data"]
    assert data["id"] == t.project_a.id and data["project_name"] == "Apollo"
    assert data["team"] == {"id": t.team_a.id, "team_name": "Alpha"} and data["created_by"] == "tests"
    assert t.admin.get(f"/v2/api/project/{t.project_a.id}").status_code == 200
    assert_error(t.carol.get(f"/v2/api/project/{t.project_a.id}"), 404, "Project not found.")
    assert_error(t.stranger.get(f"/v2/api/project/{t.project_a.id}"), 404, "Project not found.")
    assert_error(t.alice.get("/v2/api/project/abc"), 400)
    assert_error(t.alice.get(f"/v2/api/project/{2**64}"), 400)
    assert_error(t.alice.get("/v2/api/project/999999"), 404)
    db.execute(update(Project).where(Project.id == t.project_a.id).values(is_deleted=True))
    db.commit()
    assert_error(t.alice.get(f"/v2/api/project/{t.project_a.id}"), 404)


def test_edit_project_by_a_team_manager(t: Tenant, world: World, db: Session):
    path = f"/v2/api/project/{t.project_a.id}"
    r = t.owner.put(path, json={"project_name": "Apollo 2", "description": "Moon"})
    assert r.status_code == 200 and r.json()["message"] == "Project updated successfully."
    data = r.json()["data"]
    assert data["project_name"] == "Apollo 2" and data["description"] == "Moon"
    assert data["modified_by"] == t.owner.email and data["created_by"] == "tests"
    # Omitted and null fields are left as they are.
    r = t.owner.put(path, json={"description": None})
    assert r.json()["data"]["description"] == "Moon" and r.json()["data"]["project_name"] == "Apollo 2"

    # Visible but not managed (a plain Member): 403; invisible or foreign: 404.
    assert_error(
        t.alice.put(path, json={"project_name": "Mine"}),
        403,
        "You do not have permission to edit this project.",
    )
    assert_error(t.carol.put(path, json={"project_name": "Mine"}), 404)
    assert_error(t.stranger.put(path, json={"project_name": "Mine"}), 404)
    for body in ({"project_name": ""}, {"project_name": 5}, {"team_id": "x"}, {"description": "d" * 5001}):
        assert_error(t.owner.put(path, json=body), 400)
    world.project(t.team_a, name="Taken")
    assert_error(t.owner.put(path, json={"project_name": "TAKEN"}), 409)
    # Moving to a team the caller cannot see (404) or only sees (403), then to one they manage.
    assert_error(t.owner.put(path, json={"team_id": t.team_b.id}), 404, "Team not found.")
    db.add(TeamMember(team_id=t.team_b.id, user_id=t.owner.id, role="Member"))
    db.commit()
    assert_error(t.owner.put(path, json={"team_id": t.team_b.id}), 403)
    row = reload(db, Project, t.project_a.id)
    assert row.project_name == "Apollo 2" and row.team_id == t.team_a.id
    moved = t.admin.put(path, json={"team_id": t.team_b.id}).json()["data"]
    assert moved["team"] == {"id": t.team_b.id, "team_name": "Beta"} and moved["modified_by"] == t.admin.email


def test_delete_project_is_soft_and_refused_while_agents_remain(t: Tenant, db: Session):
    path = f"/v2/api/project/{t.project_a.id}"
    agent = make_agent(db, t.alice, t.project_a)
    r = t.owner.delete(path)
    assert_error(r, 400)
    assert "agent" in r.json()["message"]
    assert_error(t.alice.delete(path), 403)
    assert_error(t.carol.delete(path), 404)
    assert_error(t.stranger.delete(path), 404)
    assert reload(db, Project, t.project_a.id).is_deleted is False

    db.execute(update(Agent).where(Agent.id == agent.id).values(is_deleted=True))
    db.commit()
    r = t.owner.delete(path)
    assert r.status_code == 200 and r.json()["message"] == "Project deleted successfully."
    assert r.json()["data"]["is_deleted"] is True and r.json()["data"]["modified_by"] == t.owner.email
    assert reload(db, Project, t.project_a.id).is_deleted is True  # the row stays
    assert_error(t.owner.get(path), 404)
    assert_error(t.owner.delete(path), 404)
    assert t.project_a.id not in ids(t.owner.get("/v2/api/project").json()["data"]["projects"])


def test_agents_of_project_follow_agent_visibility(t: Tenant, db: Session):
    public = make_agent(db, t.owner, t.project_a, access="Public", name="Open")
    team_only = make_agent(db, t.owner, t.project_a, access="Only team", name="Team")
    private = make_agent(db, t.owner, t.project_a, access="Only me", name="Mine")
    make_agent(db, t.carol, t.project_b, access="Public")
    gone = make_agent(db, t.owner, t.project_a, access="Public")
    db.execute(update(Agent).where(Agent.id == gone.id).values(is_deleted=True))
    db.commit()
    path = f"/v2/api/project/{t.project_a.id}/agent"

    r = t.alice.get(path)
    assert r.status_code == 200 and r.json()["message"] == "Agents of project fetched successfully."
    data = r.json()["data"]
    assert ids(data) == [team_only.id, public.id]  # newest first, as the Agent group lists agents
    assert data[1]["agent_name"] == "Open" and data[1]["project"] == t.project_a.id
    assert data[1]["agent_type"]["name"] == "QnA" and data[1]["user"]["id"] == t.owner.id
    assert ids(t.owner.get(path).json()["data"]) == [private.id, team_only.id, public.id]
    assert ids(t.admin.get(path).json()["data"]) == [private.id, team_only.id, public.id]
    assert_error(t.carol.get(path), 404)
    assert_error(t.stranger.get(path), 404)
    assert_error(t.alice.get("/v2/api/project/x/agent"), 400)


def test_adding_a_user_to_the_team_reveals_its_only_team_agents(t: Tenant, db: Session):
    agent = make_agent(db, t.owner, t.project_a, access="Only team")
    path = f"/v2/api/project/{t.project_a.id}/agent"
    assert_error(t.carol.get(path), 404)
    r = t.owner.post(f"/v2/api/team/{t.team_a.id}/user", json={"user_ids": [t.carol.id]})
    assert r.status_code == 201, r.text
    assert ids(t.carol.get(path).json()["data"]) == [agent.id]
    t.owner.delete(f"/v2/api/team/{t.team_a.id}/user", json={"user_ids": [t.carol.id]})
    assert_error(t.carol.get(path), 404)


def test_projects_by_team(t: Tenant, world: World, db: Session):
    second = world.project(t.team_a, name="Second")
    gone = world.project(t.team_a, name="Gone")
    db.execute(update(Project).where(Project.id == gone.id).values(is_deleted=True))
    db.commit()
    path = f"/v2/api/team/{t.team_a.id}/project"
    r = t.alice.get(path)
    assert r.status_code == 200 and r.json()["message"] == "Projects of team fetched successfully."
    assert ids(r.json()["data"]) == [t.project_a.id, second.id]
    assert set(r.json()["data"][0]) == PROJECT_KEYS
    assert ids(t.admin.get(path).json()["data"]) == [t.project_a.id, second.id]
    assert_error(t.carol.get(path), 404, "Team not found.")
    assert_error(t.stranger.get(path), 404)
    assert_error(t.alice.get("/v2/api/team/abc/project"), 400)


def test_fetch_project_details(t: Tenant, db: Session):
    make_agent(db, t.owner, t.project_a, access="Public")
    make_agent(db, t.owner, t.project_a, access="Only me")
    db.add_all([ProjectMember(project_id=t.project_a.id, user_id=u.id) for u in (t.alice, t.carol)])
    db.commit()
    path = f"/v2/api/project/{t.project_a.id}/details"
    r = t.alice.get(path)
    assert r.status_code == 200 and r.json()["message"] == "Project details fetched successfully."
    data = r.json()["data"]
    assert set(data) == PROJECT_KEYS | {"agent_count", "member_count", "members"}
    assert data["team"] == {"id": t.team_a.id, "team_name": "Alpha"}
    assert data["agent_count"] == 1  # the private agent is not counted for alice
    assert data["member_count"] == 2
    assert data["members"][0] == {
        "id": t.alice.id,
        "email": t.alice.email,
        "first_name": t.alice.user.first_name,
        "last_name": t.alice.user.last_name,
        "organization": t.org.id,
    }
    assert t.owner.get(path).json()["data"]["agent_count"] == 2
    assert t.carol.get(path).status_code == 200  # a project member outside the team
    assert_error(t.stranger.get(path), 404)
    assert_error(t.alice.get("/v2/api/project/999999/details"), 404)


def test_recent_projects(t: Tenant, world: World, db: Session):
    second = world.project(t.team_a, name="Second")
    first = t.alice.post(f"/v2/api/project/{t.project_a.id}/recent")
    assert first.status_code == 201 and first.json()["message"] == "Recent Project created successfully"
    data = first.json()["data"]
    assert set(data) == {"id", "project"} and data["project"]["id"] == t.project_a.id
    assert set(data["project"]) == PROJECT_KEYS
    time.sleep(0.01)
    t.alice.post(f"/v2/api/project/{second.id}/recent")
    time.sleep(0.01)
    again = t.alice.post(f"/v2/api/project/{t.project_a.id}/recent").json()["data"]
    assert again["id"] == data["id"] and count(db, RecentProject) == 2

    r = t.alice.get("/v2/api/project/recent")
    assert r.status_code == 200 and r.json()["message"] == "Recent Projects fetched successfully."
    assert [row["project"]["id"] for row in r.json()["data"]] == [t.project_a.id, second.id]
    assert t.owner.get("/v2/api/project/recent").json()["data"] == []  # per user

    # Deleted projects and projects the user can no longer see drop out.
    db.execute(update(Project).where(Project.id == second.id).values(is_deleted=True))
    db.commit()
    assert [row["project"]["id"] for row in t.alice.get("/v2/api/project/recent").json()["data"]] == [
        t.project_a.id
    ]
    db.execute(TeamMember.__table__.delete().where(TeamMember.user_id == t.alice.id))
    db.commit()
    assert t.alice.get("/v2/api/project/recent").json()["data"] == []

    before = count(db, RecentProject)
    assert_error(t.carol.post(f"/v2/api/project/{t.project_a.id}/recent"), 404)
    assert_error(t.stranger.post(f"/v2/api/project/{t.project_a.id}/recent"), 404)
    assert_error(t.carol.post("/v2/api/project/x/recent"), 400)
    assert count(db, RecentProject) == before
    assert t.stranger.get("/v2/api/project/recent").json()["data"] == []


# -- User Project --------------------------------------------------------------------------


def test_add_users_to_project(t: Tenant, world: World, db: Session):
    dave = world.user(t.org)
    path = f"/v2/api/project/{t.project_a.id}/user"
    assert_error(dave.get(f"/v2/api/project/{t.project_a.id}"), 404)
    r = t.owner.post(path, json={"user_ids": [dave.id, t.carol.id, dave.id]})
    assert r.status_code == 201 and r.json()["message"] == "Users added to project successfully."
    data = r.json()["data"]
    assert data["project"]["id"] == t.project_a.id
    assert [u["id"] for u in data["users"]] == sorted([dave.id, t.carol.id])
    assert set(data["users"][0]) == {"id", "email", "first_name", "last_name", "organization"}
    assert members_of(db, t.project_a) == {dave.id, t.carol.id}
    # Project members see the project (not the rest of the team's projects).
    assert dave.get(f"/v2/api/project/{t.project_a.id}").status_code == 200
    # Adding again is idempotent.
    assert t.owner.post(path, json={"user_ids": [dave.id]}).status_code == 201
    assert members_of(db, t.project_a) == {dave.id, t.carol.id}

    # One unknown or foreign id: 404 and nothing written.
    eve = world.user(t.org)
    for user_ids in ([eve.id, 999_999], [eve.id, t.stranger.id]):
        assert_error(t.owner.post(path, json={"user_ids": user_ids}), 404, "User not found.")
    for body in (
        {"user_ids": []},
        {"user_ids": ["x"]},
        {},
        {"user_ids": [0]},
        {"user_ids": list(range(1, 502))},
    ):
        assert_error(t.owner.post(path, json=body), 400)
    assert_error(t.alice.post(path, json={"user_ids": [eve.id]}), 403)
    assert_error(t.stranger.post(path, json={"user_ids": [t.stranger.id]}), 404)
    assert members_of(db, t.project_a) == {dave.id, t.carol.id}


def test_delete_users_from_project_by_body_or_query(t: Tenant, world: World, db: Session):
    dave, eve = world.user(t.org), world.user(t.org)
    db.add_all([ProjectMember(project_id=t.project_a.id, user_id=u.id) for u in (dave, eve, t.carol)])
    db.commit()
    path = f"/v2/api/project/{t.project_a.id}/user"

    r = t.owner.delete(path, json={"user_ids": [dave.id, t.alice.id]})  # alice is no member: ignored
    assert r.status_code == 200 and r.json()["message"] == "Users removed from project successfully."
    assert [u["id"] for u in r.json()["data"]["users"]] == sorted([eve.id, t.carol.id])
    assert_error(dave.get(f"/v2/api/project/{t.project_a.id}"), 404)
    assert t.admin.delete(path, params={"user_ids": f"{eve.id},{t.carol.id}"}).status_code == 200
    assert members_of(db, t.project_a) == set()

    db.add(ProjectMember(project_id=t.project_a.id, user_id=eve.id))
    db.commit()
    assert_error(t.owner.delete(path), 400, "user_ids is required.")
    assert_error(t.owner.delete(path, params={"user_ids": "x"}), 400)
    assert_error(t.owner.delete(path, json={"user_ids": [eve.id, 999_999]}), 404)
    assert_error(t.owner.delete(path, json={"user_ids": [t.stranger.id]}), 404)
    assert_error(t.alice.delete(path, json={"user_ids": [eve.id]}), 403)
    assert_error(t.stranger.delete(path, json={"user_ids": [eve.id]}), 404)
    assert members_of(db, t.project_a) == {eve.id}


def test_projects_by_user_teams(t: Tenant, world: World, db: Session):
    db.add(ProjectMember(project_id=t.project_b.id, user_id=t.alice.id))
    db.commit()
    r = t.alice.get("/v2/api/project/user-team")
    assert r.status_code == 200 and r.json()["message"] == "Projects of user teams fetched successfully."
    # Only projects of alice's teams, not the one she is a member of elsewhere.
    assert ids(r.json()["data"]) == [t.project_a.id]
    assert set(r.json()["data"][0]) == PROJECT_KEYS
    # An admin in no team has no team projects, though they can see every project.
    assert t.admin.get("/v2/api/project/user-team").json()["data"] == []
    assert t.stranger.get("/v2/api/project/user-team").json()["data"] == []


def test_projects_by_user_and_team(t: Tenant, world: World, db: Session):
    second = world.project(t.team_a, name="Second")
    db.add(ProjectMember(project_id=second.id, user_id=t.alice.id))
    db.add(ProjectMember(project_id=t.project_b.id, user_id=t.alice.id))
    db.commit()
    path = f"/v2/api/user/{t.alice.id}/team/{t.team_a.id}/project"
    r = t.owner.get(path)
    assert r.status_code == 200 and r.json()["message"] == "Projects of user in team fetched successfully."
    assert ids(r.json()["data"]) == [second.id]
    assert ids(t.admin.get(f"/v2/api/user/{t.alice.id}/team/{t.team_b.id}/project").json()["data"]) == [
        t.project_b.id
    ]
    assert_error(t.carol.get(path), 404, "Team not found.")
    assert_error(t.owner.get(f"/v2/api/user/999999/team/{t.team_a.id}/project"), 404, "User not found.")
    assert_error(t.owner.get(f"/v2/api/user/{t.stranger.id}/team/{t.team_a.id}/project"), 404)
    assert_error(t.stranger.get(path), 404)
    assert_error(t.owner.get(f"/v2/api/user/x/team/{t.team_a.id}/project"), 400)


# -- API key scopes and isolation ----------------------------------------------------------


def test_read_only_key_reads_but_cannot_write(t: Tenant, world: World, db: Session):
    pid = t.project_a.id
    before = count(db, Project), count(db, ProjectMember), count(db, RecentProject)
    reads = (
        "/v2/api/project",
        "/v2/api/project/filtered",
        "/v2/api/project/recent",
        "/v2/api/project/user-team",
        f"/v2/api/project/{pid}",
        f"/v2/api/project/{pid}/agent",
        f"/v2/api/project/{pid}/details",
        f"/v2/api/team/{t.team_a.id}/project",
        f"/v2/api/user/{t.owner.id}/team/{t.team_a.id}/project",
    )
    writes = (
        ("POST", "/v2/api/project", {"project_name": "RO", "team_id": t.team_a.id}),
        ("PUT", f"/v2/api/project/{pid}", {"project_name": "RO"}),
        ("DELETE", f"/v2/api/project/{pid}", None),
        ("POST", f"/v2/api/project/{pid}/recent", None),
        ("POST", f"/v2/api/project/{pid}/user", {"user_ids": [t.carol.id]}),
        ("DELETE", f"/v2/api/project/{pid}/user", {"user_ids": [t.owner.id]}),
    )
    assert_read_only(world.key_for(t.owner, "read_only"), reads, writes)
    assert (count(db, Project), count(db, ProjectMember), count(db, RecentProject)) == before
    assert reload(db, Project, pid).project_name == "Apollo"


def test_restricted_keys_follow_the_projects_category(t: Tenant, world: World):
    reader = world.key_for(t.owner, "restricted", {"projects": "read"})
    assert reader.get("/v2/api/project").status_code == 200
    assert reader.get(f"/v2/api/project/{t.project_a.id}").status_code == 200
    assert_error(reader.post("/v2/api/project", json={"project_name": "R", "team_id": t.team_a.id}), 403)
    assert_error(reader.post(f"/v2/api/project/{t.project_a.id}/user", json={"user_ids": [t.carol.id]}), 403)
    other = world.key_for(t.owner, "restricted", {"agents": "write", "teams": "write"})
    for path in ("/v2/api/project", f"/v2/api/project/{t.project_a.id}", "/v2/api/project/user-team"):
        assert_error(other.get(path), 403)
    writer = world.key_for(t.owner, "restricted", {"projects": "write"})
    r = writer.post("/v2/api/project", json={"project_name": "W", "team_id": t.team_a.id})
    assert r.status_code == 201


def test_another_organisation_gets_404_for_every_project_path(t: Tenant, db: Session):
    make_agent(db, t.owner, t.project_a, access="Public")
    pid = t.project_a.id
    hijack, users = {"project_name": "Hijack"}, {"user_ids": [t.stranger.id]}
    requests = [
        ("GET", f"/v2/api/project/{pid}", users),
        ("PUT", f"/v2/api/project/{pid}", hijack),
        ("DELETE", f"/v2/api/project/{pid}", users),
        ("GET", f"/v2/api/project/{pid}/agent", users),
        ("GET", f"/v2/api/project/{pid}/details", users),
        ("POST", f"/v2/api/project/{pid}/recent", users),
        ("POST", f"/v2/api/project/{pid}/user", users),
        ("DELETE", f"/v2/api/project/{pid}/user", users),
        ("GET", f"/v2/api/team/{t.team_a.id}/project", users),
        ("GET", f"/v2/api/user/{t.owner.id}/team/{t.team_a.id}/project", users),
    ]
    assert_hidden(t.stranger, requests, t.project_a.project_name)
    for path in ("/v2/api/project", "/v2/api/project/filtered", "/v2/api/project/user-team"):
        assert "Apollo" not in t.stranger.get(path).text
    row = reload(db, Project, pid)
    assert row.project_name == "Apollo" and not row.is_deleted
    assert members_of(db, t.project_a) == set()


def test_created_on_filters_accept_timezones(t: Tenant, db: Session):
    when = datetime(2024, 3, 10, 23, 30, tzinfo=UTC)
    db.execute(update(Project).where(Project.id == t.project_a.id).values(created_on=when))
    db.commit()
    # 23:30 UTC on the 10th is 01:30 on the 11th at +02:00.
    r = t.admin.get("/v2/api/project/filtered", params={"start_date": "2024-03-11T00:00:00+02:00"})
    assert ids(r.json()["data"]["projects"]) == [t.project_a.id, t.project_b.id]
    r = t.admin.get(
        "/v2/api/project/filtered",
        params={"start_date": "2024-03-10", "end_date": (when + timedelta(minutes=1)).isoformat()},
    )
    assert ids(r.json()["data"]["projects"]) == [t.project_a.id]
