"""Ejento V2 endpoints: Team.

Only the endpoint names are documented; paths follow the SEEN naming pattern (see
docs/api/ejento.md). Static paths come before ``/team/{team_id}``; the agents of the
caller's teams live at ``/team/agent`` because ``/team/{team_id}/agent`` (Agent group) would
capture ``/team/user-team/agent``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, model_validator
from sqlalchemy.orm import Session

from parley.accounts import teams
from parley.accounts.models import RecentTeam, Team, User
from parley.agents import service as agents_service
from parley.http.deps import CurrentPrincipal, SessionDep, api_category
from parley.surfaces.ejento.envelope import PageDep, created, ok, paginate
from parley.surfaces.ejento.params import (
    MAX_IDS,
    BodyId,
    Description,
    IdList,
    IdsQuery,
    Name,
    PathId,
    SearchQuery,
    UserIdsBody,
    ids_to_remove,
)
from parley.surfaces.ejento.serializers import (
    agents_full,
    projects_full,
    team_compact,
    team_full,
    user_compact,
)

router = APIRouter(tags=["Ejento: Team"], dependencies=[api_category("teams")])

Role = Literal["Owner", "Admin", "Member"]


class TeamBody(BaseModel):
    team_name: Name
    description: Description = ""


class TeamEditBody(BaseModel):
    """Every field optional; ``null`` leaves a field unchanged."""

    team_name: Name | None = None
    description: Description | None = None


class TeamUser(BaseModel):
    user_id: BodyId
    role: Role = "Member"


class AddTeamUsersBody(BaseModel):
    """Either ``{users: [{user_id, role}]}`` or ``{user_ids: [...], role}``."""

    users: Annotated[list[TeamUser], Field(min_length=1, max_length=MAX_IDS)] | None = None
    user_ids: IdList | None = None
    role: Role = "Member"

    @model_validator(mode="after")
    def one_form(self) -> AddTeamUsersBody:
        if (self.users is None) == (self.user_ids is None):
            raise ValueError("send either users or user_ids")
        return self

    def roles(self) -> dict[int, str]:
        if self.users is not None:
            return {entry.user_id: entry.role for entry in self.users}
        return dict.fromkeys(self.user_ids or [], self.role)


def member_view(user: User, role: str) -> dict:
    return {**user_compact(user), "role": role}


def recent_view(recent: RecentTeam, team: Team) -> dict:
    return {"id": recent.id, "team": team_full(team)}


def members_view(session: Session, team: Team) -> dict:
    return {
        "team": team_full(team),
        "users": [member_view(u, r) for u, r in teams.team_members(session, team.id)],
    }


# -- static paths --------------------------------------------------------------------------


@router.post("/v2/api/team")
def create_team(body: TeamBody, session: SessionDep, principal: CurrentPrincipal):
    team = teams.create_team(session, principal, team_name=body.team_name, description=body.description)
    return created(team_full(team), "Team created successfully.")


@router.get("/v2/api/team")
def list_teams(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    query: SearchQuery = None,
):
    stmt = teams.teams_query(principal, query)
    data = paginate(session, stmt, page, "teams", lambda rows: [team_full(t) for t in rows])
    return ok(data, "Teams fetched successfully.")


@router.get("/v2/api/team/recent")
def list_recent_teams(session: SessionDep, principal: CurrentPrincipal):
    rows = teams.recent_teams(session, principal)
    return ok([recent_view(recent, team) for recent, team in rows], "Recent Teams fetched successfully.")


@router.get("/v2/api/team/agent")
def list_agents_of_user_teams(session: SessionDep, principal: CurrentPrincipal):
    """Get Agents Of User Team: agents the caller can see in projects of the caller's teams."""
    agents = agents_service.user_team_agents(session, principal)
    return ok(agents_full(session, agents), "Agents of user teams fetched successfully.")


@router.get("/v2/api/team/project")
def list_projects_and_teams(session: SessionDep, principal: CurrentPrincipal):
    """Get Projects And Team: the caller's teams, each with the projects the caller can see."""
    rows = teams.own_teams_with_projects(session, principal)
    data = [{**team_full(team), "projects": projects_full(session, projects)} for team, projects in rows]
    return ok(data, "Projects and teams fetched successfully.")


@router.get("/v2/api/user/{user_id}/team")
def list_teams_of_user(user_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    rows = teams.teams_of_user(session, principal, user_id)
    return ok([{**team_full(team), "role": role} for team, role in rows], "User teams fetched successfully.")


# -- one team ------------------------------------------------------------------------------


@router.get("/v2/api/team/{team_id}")
def get_team_details(team_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    details = teams.team_details(session, principal, team_id)
    data = {
        **team_full(details.team),
        "role": details.role,
        "member_count": len(details.members),
        "project_count": details.project_count,
        "members": [member_view(user, role) for user, role in details.members],
    }
    return ok(data, "Team details fetched successfully.")


@router.put("/v2/api/team/{team_id}")
def edit_team(team_id: PathId, body: TeamEditBody, session: SessionDep, principal: CurrentPrincipal):
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    return ok(team_full(teams.edit_team(session, principal, team_id, changes)), "Team updated successfully.")


@router.delete("/v2/api/team/{team_id}")
def delete_team(team_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    return ok(team_full(teams.delete_team(session, principal, team_id)), "Team deleted successfully.")


@router.post("/v2/api/team/{team_id}/recent")
def add_recent_team(team_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    recent, team = teams.mark_recent(session, principal, team_id)
    return created(recent_view(recent, team), "Recent Team created successfully")


@router.post("/v2/api/team/{team_id}/user")
def add_team_users(team_id: PathId, body: AddTeamUsersBody, session: SessionDep, principal: CurrentPrincipal):
    team = teams.add_members(session, principal, team_id, body.roles())
    return created(members_view(session, team), "Users added to team successfully.")


@router.get("/v2/api/team/{team_id}/user")
def list_team_users(team_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    team = teams.get_team(session, principal, team_id)
    users = [member_view(user, role) for user, role in teams.team_members(session, team.id)]
    return ok(users, "Team users fetched successfully.")


@router.delete("/v2/api/team/{team_id}/user")
def remove_team_users(
    team_id: PathId,
    session: SessionDep,
    principal: CurrentPrincipal,
    body: UserIdsBody | None = None,
    user_ids: IdsQuery = None,
):
    """A Parley addition (not in the Ejento sidebar): ``{user_ids}`` in the body or the query."""
    team = teams.remove_members(session, principal, team_id, ids_to_remove(body, user_ids))
    return ok(members_view(session, team), "Users removed from team successfully.")


@router.get("/v2/api/team/{team_id}/user/{user_id}/role")
def get_user_role(team_id: PathId, user_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    team, user, role = teams.user_role(session, principal, team_id, user_id)
    return ok(
        {"team": team_compact(team), "user": user_compact(user), "role": role},
        "User role fetched successfully.",
    )
