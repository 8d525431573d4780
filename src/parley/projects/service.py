"""Projects data layer: projects, their members, recent projects and the agents they hold.

Plain typed functions taking a session and the caller. Visibility and management follow the
policy (team members, project members and organisation admins see a project; the team's
Owners/Admins and organisation admins manage it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.orm import Session

from parley.access.capabilities import require_capability
from parley.access.policy import load_allowed, load_visible, project_manageable, project_visible
from parley.access.principal import Principal
from parley.accounts import teams, users
from parley.accounts.models import Team, User
from parley.agents import service as agents_service
from parley.agents.models import Agent
from parley.db.rows import (
    apply_changes,
    marks_with_targets,
    name_taken,
    record_use,
    refuse_to_orphan,
    soft_delete,
)
from parley.errors import ConflictError
from parley.projects.models import Project, ProjectMember, RecentProject


def _refuse_duplicate(session: Session, team_id: int, name: str, exclude_id: int | None = None) -> None:
    if name_taken(session, Project.project_name, name, Project.team_id == team_id, exclude_id=exclude_id):
        raise ConflictError("A project with this name already exists in this team.")


def create_project(
    session: Session, principal: Principal, *, project_name: str, description: str, team_id: int
) -> Project:
    """Any member of the team (or an organisation admin) may create a project in it; the
    creator becomes a project member."""
    require_capability(session, principal, "create_project")
    team = teams.get_team(session, principal, team_id)
    _refuse_duplicate(session, team.id, project_name)
    project = Project(
        org_id=principal.org_id,
        team_id=team.id,
        project_name=project_name,
        description=description,
        created_by=principal.email,
    )
    session.add(project)
    session.flush()
    session.add(ProjectMember(project_id=project.id, user_id=principal.user_id, created_by=principal.email))
    session.flush()
    return project


def _matching(stmt: Select[Any], query: str | None) -> Select[Any]:
    if not query:
        return stmt
    needle = query.lower()
    return stmt.where(
        or_(
            func.lower(Project.project_name).contains(needle, autoescape=True),
            func.lower(Project.description).contains(needle, autoescape=True),
        )
    )


def projects_query(principal: Principal, query: str | None) -> Select[tuple[Project]]:
    return _matching(select(Project).where(project_visible(principal)), query).order_by(Project.id)


def filtered_projects_query(
    principal: Principal,
    *,
    team_ids: Sequence[int],
    user_ids: Sequence[int],
    start: datetime | None,
    end: datetime | None,
    query: str | None,
) -> Select[tuple[Project]]:
    """Visible projects in any of ``team_ids``, having any of ``user_ids`` as members, created
    within [start, end) (``end`` exclusive); every filter is optional."""
    stmt = select(Project).where(project_visible(principal))
    if team_ids:
        stmt = stmt.where(Project.team_id.in_(sorted(set(team_ids))))
    if user_ids:
        members = select(ProjectMember.project_id).where(ProjectMember.user_id.in_(sorted(set(user_ids))))
        stmt = stmt.where(Project.id.in_(members))
    if start is not None:
        stmt = stmt.where(Project.created_on >= start)
    if end is not None:
        stmt = stmt.where(Project.created_on < end)
    return _matching(stmt, query).order_by(Project.id)


def get_project(session: Session, principal: Principal, project_id: int) -> Project:
    return load_visible(session, Project, project_id, project_visible(principal), "Project")


def manageable_project(session: Session, principal: Principal, project_id: int, action: str) -> Project:
    """A visible project the caller manages: 404 when invisible, 403 when only visible."""
    return load_allowed(
        session,
        Project,
        project_id,
        project_visible(principal),
        project_manageable(principal),
        "Project",
        action,
    )


def edit_project(
    session: Session, principal: Principal, project_id: int, changes: Mapping[str, Any]
) -> Project:
    """Change name, description or team; moving to another team needs the right to manage it."""
    project = manageable_project(session, principal, project_id, "edit this project")
    team_id = changes.get("team_id", project.team_id)
    if team_id != project.team_id:
        teams.manageable_team(session, principal, team_id, "move projects into this team")
    if "project_name" in changes or team_id != project.team_id:
        _refuse_duplicate(
            session, team_id, changes.get("project_name", project.project_name), exclude_id=project.id
        )
    apply_changes(session, principal, project, changes)
    return project


def delete_project(session: Session, principal: Principal, project_id: int) -> Project:
    project = manageable_project(session, principal, project_id, "delete this project")
    refuse_to_orphan(session, "project", project.id, Agent.project_id, "agent")
    soft_delete(session, principal, project)
    return project


def _agents_query(session: Session, principal: Principal, project: Project) -> Select[tuple[Agent]]:
    """The project's agents the caller can see, newest first (as the Agent group lists them)."""
    return agents_service.agents_query(
        session, principal, agents_service.AgentFilter(project_ids=[project.id])
    )


def project_agents(session: Session, principal: Principal, project_id: int) -> list[Agent]:
    project = get_project(session, principal, project_id)
    return list(session.scalars(_agents_query(session, principal, project)))


def project_members(session: Session, project_id: int) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .join(ProjectMember, ProjectMember.user_id == User.id)
            .where(ProjectMember.project_id == project_id, User.is_deleted.is_(False))
            .order_by(User.id)
        )
    )


@dataclass(frozen=True)
class ProjectDetails:
    project: Project
    members: list[User]
    agent_count: int  # agents the caller can see


def project_details(session: Session, principal: Principal, project_id: int) -> ProjectDetails:
    project = get_project(session, principal, project_id)
    visible_agents = _agents_query(session, principal, project).order_by(None).subquery()
    agent_count = session.scalar(select(func.count()).select_from(visible_agents))
    return ProjectDetails(
        project=project, members=project_members(session, project.id), agent_count=agent_count or 0
    )


# -- recent projects -----------------------------------------------------------------------


def mark_recent(session: Session, principal: Principal, project_id: int) -> tuple[RecentProject, Project]:
    """Record a visit; visiting again moves the project to the front."""
    project = get_project(session, principal, project_id)
    return record_use(session, principal, RecentProject.project_id, project.id), project


def recent_projects(session: Session, principal: Principal) -> list[tuple[RecentProject, Project]]:
    return marks_with_targets(
        session, principal, RecentProject.project_id, Project, project_visible(principal)
    )


# -- project members (User Project) --------------------------------------------------------


def add_members(session: Session, principal: Principal, project_id: int, user_ids: Iterable[int]) -> Project:
    """Users of the organisation become project members; existing members are left as they are."""
    project = manageable_project(session, principal, project_id, "manage the members of this project")
    found = teams.visible_user_ids(session, principal, user_ids)
    existing = set(
        session.scalars(select(ProjectMember.user_id).where(ProjectMember.project_id == project.id))
    )
    for user_id in sorted(set(found) - existing):
        session.add(ProjectMember(project_id=project.id, user_id=user_id, created_by=principal.email))
    session.flush()
    return project


def remove_members(
    session: Session, principal: Principal, project_id: int, user_ids: Iterable[int]
) -> Project:
    """Remove project members; ids of users who are not members are ignored."""
    project = manageable_project(session, principal, project_id, "manage the members of this project")
    found = teams.visible_user_ids(session, principal, user_ids)
    session.execute(
        delete(ProjectMember).where(ProjectMember.project_id == project.id, ProjectMember.user_id.in_(found))
    )
    session.flush()
    return project


def projects_of_team(session: Session, principal: Principal, team_id: int) -> list[Project]:
    team = teams.get_team(session, principal, team_id)
    return list(
        session.scalars(
            select(Project).where(Project.team_id == team.id, project_visible(principal)).order_by(Project.id)
        )
    )


def projects_of_own_teams(session: Session, principal: Principal) -> list[Project]:
    own = select(Team.id).where(teams.own_teams(principal))
    return list(
        session.scalars(
            select(Project).where(Project.team_id.in_(own), project_visible(principal)).order_by(Project.id)
        )
    )


def member_projects_in_team(
    session: Session, principal: Principal, user_id: int, team_id: int
) -> list[Project]:
    """Projects of a team the caller can see in which the user is a project member."""
    team = teams.get_team(session, principal, team_id)
    user = users.get_user(session, principal, user_id)
    memberships = select(ProjectMember.project_id).where(ProjectMember.user_id == user.id)
    return list(
        session.scalars(
            select(Project)
            .where(Project.team_id == team.id, Project.id.in_(memberships), project_visible(principal))
            .order_by(Project.id)
        )
    )
