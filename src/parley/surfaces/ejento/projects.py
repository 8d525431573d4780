"""Ejento V2 endpoints: Project and User Project.

Only the endpoint names are documented; paths follow the SEEN naming pattern (see
docs/api/ejento.md). Static paths come before ``/project/{project_id}``.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy.orm import Session

from parley.http.deps import CurrentPrincipal, SessionDep, api_category
from parley.projects import service as projects
from parley.projects.models import Project, RecentProject
from parley.surfaces.ejento.envelope import PageDep, created, ok, paginate
from parley.surfaces.ejento.params import (
    BodyId,
    DateRangeQuery,
    Description,
    IdsQuery,
    Name,
    PathId,
    SearchQuery,
    UserIdsBody,
    id_list,
    ids_to_remove,
)
from parley.surfaces.ejento.serializers import agents_full, projects_full, user_compact

router = APIRouter(tags=["Ejento: Project"], dependencies=[api_category("projects")])


class ProjectBody(BaseModel):
    project_name: Name
    description: Description = ""
    team_id: BodyId


class ProjectEditBody(BaseModel):
    """Every field optional; ``null`` leaves a field unchanged."""

    project_name: Name | None = None
    description: Description | None = None
    team_id: BodyId | None = None


def project_one(session: Session, project: Project) -> dict:
    return projects_full(session, [project])[0]


def recent_list(session: Session, rows: list[tuple[RecentProject, Project]]) -> list[dict]:
    serialized = projects_full(session, [project for _, project in rows])
    return [{"id": recent.id, "project": data} for (recent, _), data in zip(rows, serialized, strict=True)]


# -- Project: static paths -----------------------------------------------------------------


@router.post("/v2/api/project")
def create_project(body: ProjectBody, session: SessionDep, principal: CurrentPrincipal):
    project = projects.create_project(
        session, principal, project_name=body.project_name, description=body.description, team_id=body.team_id
    )
    return created(project_one(session, project), "Project created successfully.")


@router.get("/v2/api/project")
def list_projects(session: SessionDep, principal: CurrentPrincipal, page: PageDep, query: SearchQuery = None):
    stmt = projects.projects_query(principal, query)
    return ok(
        paginate(session, stmt, page, "projects", lambda rows: projects_full(session, rows)),
        "Projects fetched successfully.",
    )


@router.get("/v2/api/project/filtered")
def filter_projects(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    created_on: DateRangeQuery,
    team_ids: IdsQuery = None,
    user_ids: IdsQuery = None,
    query: SearchQuery = None,
):
    stmt = projects.filtered_projects_query(
        principal,
        team_ids=id_list(team_ids, "team_ids"),
        user_ids=id_list(user_ids, "user_ids"),
        start=created_on.start,
        end=created_on.end,
        query=query,
    )
    return ok(
        paginate(session, stmt, page, "projects", lambda rows: projects_full(session, rows)),
        "Projects fetched successfully.",
    )


@router.get("/v2/api/project/recent")
def list_recent_projects(session: SessionDep, principal: CurrentPrincipal):
    return ok(
        recent_list(session, projects.recent_projects(session, principal)),
        "Recent Projects fetched successfully.",
    )


@router.get("/v2/api/project/user-team")
def list_projects_of_user_teams(session: SessionDep, principal: CurrentPrincipal):
    """User Project: Get All Projects By User Teams."""
    rows = projects.projects_of_own_teams(session, principal)
    return ok(projects_full(session, rows), "Projects of user teams fetched successfully.")


@router.get("/v2/api/team/{team_id}/project")
def list_projects_of_team(team_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    rows = projects.projects_of_team(session, principal, team_id)
    return ok(projects_full(session, rows), "Projects of team fetched successfully.")


@router.get("/v2/api/user/{user_id}/team/{team_id}/project")
def list_projects_of_user_in_team(
    user_id: PathId, team_id: PathId, session: SessionDep, principal: CurrentPrincipal
):
    """User Project: Get Projects By User and Team (projects the user is a member of)."""
    rows = projects.member_projects_in_team(session, principal, user_id, team_id)
    return ok(projects_full(session, rows), "Projects of user in team fetched successfully.")


# -- Project: one project ------------------------------------------------------------------


@router.get("/v2/api/project/{project_id}")
def get_project(project_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    return ok(
        project_one(session, projects.get_project(session, principal, project_id)),
        "Project fetched successfully.",
    )


@router.put("/v2/api/project/{project_id}")
def edit_project(project_id: PathId, body: ProjectEditBody, session: SessionDep, principal: CurrentPrincipal):
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    project = projects.edit_project(session, principal, project_id, changes)
    return ok(project_one(session, project), "Project updated successfully.")


@router.delete("/v2/api/project/{project_id}")
def delete_project(project_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    project = projects.delete_project(session, principal, project_id)
    return ok(project_one(session, project), "Project deleted successfully.")


@router.get("/v2/api/project/{project_id}/agent")
def list_project_agents(project_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    agents = projects.project_agents(session, principal, project_id)
    return ok(agents_full(session, agents), "Agents of project fetched successfully.")


@router.get("/v2/api/project/{project_id}/details")
def project_details(project_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    details = projects.project_details(session, principal, project_id)
    data = {
        **project_one(session, details.project),
        "agent_count": details.agent_count,
        "member_count": len(details.members),
        "members": [user_compact(user) for user in details.members],
    }
    return ok(data, "Project details fetched successfully.")


@router.post("/v2/api/project/{project_id}/recent")
def add_recent_project(project_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    recent, project = projects.mark_recent(session, principal, project_id)
    return created(recent_list(session, [(recent, project)])[0], "Recent Project created successfully")


# -- User Project: project members ---------------------------------------------------------


def members_view(session: Session, project: Project) -> dict:
    return {
        "project": project_one(session, project),
        "users": [user_compact(user) for user in projects.project_members(session, project.id)],
    }


@router.post("/v2/api/project/{project_id}/user")
def add_project_users(
    project_id: PathId, body: UserIdsBody, session: SessionDep, principal: CurrentPrincipal
):
    project = projects.add_members(session, principal, project_id, body.user_ids)
    return created(members_view(session, project), "Users added to project successfully.")


@router.delete("/v2/api/project/{project_id}/user")
def remove_project_users(
    project_id: PathId,
    session: SessionDep,
    principal: CurrentPrincipal,
    body: UserIdsBody | None = None,
    user_ids: IdsQuery = None,
):
    project = projects.remove_members(session, principal, project_id, ids_to_remove(body, user_ids))
    return ok(members_view(session, project), "Users removed from project successfully.")
