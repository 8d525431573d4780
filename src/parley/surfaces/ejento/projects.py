"""Ejento V2 endpoints: Project and User Project.

Only the endpoint names are documented; paths follow the SEEN naming pattern (see
docs/api/ejento-parts/project.md). Static paths come before ``/project/{project_id}``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy.orm import Session

from parley.errors import InvalidInputError
from parley.http.deps import CurrentPrincipal, SessionDep, api_category
from parley.projects import service as projects
from parley.projects.models import Project, RecentProject
from parley.surfaces.ejento.envelope import PageDep, created, ok, paginate
from parley.surfaces.ejento.serializers import agents_full, projects_full, user_compact

router = APIRouter(tags=["Ejento: Project"], dependencies=[api_category("projects")])

# Ids are 64-bit integers in the database; larger numbers are malformed (400), not unknown.
MAX_ID = 2**63 - 1
MAX_IDS = 500
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
BodyId = Annotated[int, Field(ge=1, le=MAX_ID)]
# PostgreSQL refuses NUL characters in text; they are malformed input (400), not a server error.
NO_NUL = r"^[^\x00]*$"
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)]
Description = Annotated[str, StringConstraints(max_length=5000, pattern=NO_NUL)]
SearchQuery = Annotated[str | None, Query(max_length=200, pattern=NO_NUL)]
IdList = Annotated[list[BodyId], Field(min_length=1, max_length=MAX_IDS)]


class ProjectBody(BaseModel):
    project_name: Name
    description: Description = ""
    team_id: BodyId


class ProjectEditBody(BaseModel):
    """Every field optional; ``null`` leaves a field unchanged."""

    project_name: Name | None = None
    description: Description | None = None
    team_id: BodyId | None = None


class UserIdsBody(BaseModel):
    user_ids: IdList


def project_one(session: Session, project: Project) -> dict:
    return projects_full(session, [project])[0]


def recent_list(session: Session, rows: list[tuple[RecentProject, Project]]) -> list[dict]:
    serialized = projects_full(session, [project for _, project in rows])
    return [{"id": recent.id, "project": data} for (recent, _), data in zip(rows, serialized, strict=True)]


def id_list(values: list[str] | None, name: str) -> list[int]:
    """Ids from repeated (``?x=1&x=2``) or comma-separated (``?x=1,2``) query parameters."""
    parts = [part.strip() for value in values or [] for part in value.split(",") if part.strip()]
    if len(parts) > MAX_IDS:
        raise InvalidInputError(f"{name} accepts at most {MAX_IDS} ids.")
    try:
        ids = [int(part) for part in parts]
    except ValueError:
        ids = [0]
    if not all(1 <= i <= MAX_ID for i in ids):
        raise InvalidInputError(f"{name} must be a list of integer ids.")
    return ids


def ids_to_remove(body: UserIdsBody | None, query: list[str] | None) -> list[int]:
    """DELETE takes ``{user_ids}`` in a JSON body or ``?user_ids=1,2`` (some clients drop
    DELETE bodies)."""
    ids = body.user_ids if body is not None else id_list(query, "user_ids")
    if not ids:
        raise InvalidInputError("user_ids is required.")
    return ids


def moment(value: str | None, name: str, *, end_of_day: bool = False) -> datetime | None:
    """An ISO date or datetime (UTC unless it says otherwise); a bare date as ``end_date``
    includes that whole day."""
    if not value:
        return None
    try:
        if len(value) == 10:
            parsed = datetime.combine(date.fromisoformat(value), time.max if end_of_day else time.min)
        else:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.astimezone(UTC) if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset beyond year 1 or 9999
        raise InvalidInputError(f"{name} must be an ISO date (YYYY-MM-DD) or datetime.") from None


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
    team_ids: Annotated[list[str] | None, Query()] = None,
    user_ids: Annotated[list[str] | None, Query()] = None,
    start_date: Annotated[str | None, Query(max_length=40)] = None,
    end_date: Annotated[str | None, Query(max_length=40)] = None,
    query: SearchQuery = None,
):
    start = moment(start_date, "start_date")
    end = moment(end_date, "end_date", end_of_day=True)
    if start is not None and end is not None and start > end:
        raise InvalidInputError("start_date must not be after end_date.")
    stmt = projects.filtered_projects_query(
        principal,
        team_ids=id_list(team_ids, "team_ids"),
        user_ids=id_list(user_ids, "user_ids"),
        start=start,
        end=end,
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
    user_ids: Annotated[list[str] | None, Query()] = None,
):
    project = projects.remove_members(session, principal, project_id, ids_to_remove(body, user_ids))
    return ok(members_view(session, project), "Users removed from project successfully.")
