"""Teams data layer: teams, memberships and roles, recent teams, and the caller's own teams
with their projects.

Plain typed functions taking a session and the caller; every read is scoped by the policy, so
another organisation's ids answer NotFoundError. Role rules beyond the policy:
- any team manager (Owner, Admin, organisation admin) adds and removes members;
- only Owners and organisation admins grant the Owner role or change or remove an Owner;
- a team that has an Owner keeps at least one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, delete, func, select
from sqlalchemy.orm import Session

from parley.access.capabilities import require_capability
from parley.access.policy import (
    load_all_visible,
    load_allowed,
    load_visible,
    project_visible,
    team_manageable,
    team_visible,
    user_visible,
)
from parley.access.principal import Principal
from parley.accounts import users
from parley.accounts.models import RecentTeam, Team, TeamMember, User
from parley.db.rows import (
    apply_changes,
    marks_with_targets,
    name_taken,
    record_use,
    refuse_to_orphan,
    soft_delete,
)
from parley.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from parley.projects.models import Project


def own_teams(principal: Principal) -> ColumnElement[bool]:
    """The caller's own (live) teams; unlike team_visible, not every team for an admin."""
    return and_(team_visible(principal), Team.id.in_(sorted(principal.team_ids)))


def visible_user_ids(session: Session, principal: Principal, user_ids: Iterable[int]) -> list[int]:
    """Ids of users of the caller's organisation, sorted; any unknown (or foreign) id is a 404."""
    return [u.id for u in load_all_visible(session, User, user_ids, user_visible(principal), "User")]


# -- teams ---------------------------------------------------------------------------------


def create_team(session: Session, principal: Principal, *, team_name: str, description: str) -> Team:
    require_capability(session, principal, "create_team")
    if name_taken(session, Team.team_name, team_name, Team.org_id == principal.org_id):
        raise ConflictError("A team with this name already exists.")
    team = Team(
        org_id=principal.org_id, team_name=team_name, description=description, created_by=principal.email
    )
    session.add(team)
    session.flush()
    session.add(
        TeamMember(team_id=team.id, user_id=principal.user_id, role="Owner", created_by=principal.email)
    )
    session.flush()
    return team


def teams_query(principal: Principal, query: str | None) -> Select[tuple[Team]]:
    stmt = select(Team).where(team_visible(principal))
    if query:
        stmt = stmt.where(func.lower(Team.team_name).contains(query.lower(), autoescape=True))
    return stmt.order_by(Team.id)


def get_team(session: Session, principal: Principal, team_id: int) -> Team:
    return load_visible(session, Team, team_id, team_visible(principal), "Team")


def manageable_team(session: Session, principal: Principal, team_id: int, action: str) -> Team:
    """A visible team the caller manages: 404 when invisible, 403 when only visible."""
    return load_allowed(
        session, Team, team_id, team_visible(principal), team_manageable(principal), "Team", action
    )


def edit_team(session: Session, principal: Principal, team_id: int, changes: Mapping[str, str]) -> Team:
    team = manageable_team(session, principal, team_id, "edit this team")
    name = changes.get("team_name")
    if name is not None and name_taken(
        session, Team.team_name, name, Team.org_id == team.org_id, exclude_id=team.id
    ):
        raise ConflictError("A team with this name already exists.")
    apply_changes(session, principal, team, changes)
    return team


def delete_team(session: Session, principal: Principal, team_id: int) -> Team:
    team = manageable_team(session, principal, team_id, "delete this team")
    refuse_to_orphan(session, "team", team.id, Project.team_id, "project")
    soft_delete(session, principal, team)
    return team


@dataclass(frozen=True)
class TeamDetails:
    team: Team
    role: str | None  # the caller's role, None for an organisation admin outside the team
    members: list[tuple[User, str]]
    project_count: int


def team_members(session: Session, team_id: int) -> list[tuple[User, str]]:
    rows = session.execute(
        select(User, TeamMember.role)
        .join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.team_id == team_id, User.is_deleted.is_(False))
        .order_by(User.id)
    ).all()
    return [(user, role) for user, role in rows]


def team_details(session: Session, principal: Principal, team_id: int) -> TeamDetails:
    team = get_team(session, principal, team_id)
    project_count = session.scalar(
        select(func.count(Project.id)).where(Project.team_id == team.id, project_visible(principal))
    )
    return TeamDetails(
        team=team,
        role=principal.team_roles.get(team.id),
        members=team_members(session, team.id),
        project_count=project_count or 0,
    )


# -- recent teams --------------------------------------------------------------------------


def mark_recent(session: Session, principal: Principal, team_id: int) -> tuple[RecentTeam, Team]:
    """Record a visit; visiting again moves the team to the front."""
    team = get_team(session, principal, team_id)
    return record_use(session, principal, RecentTeam.team_id, team.id), team


def recent_teams(session: Session, principal: Principal) -> list[tuple[RecentTeam, Team]]:
    return marks_with_targets(session, principal, RecentTeam.team_id, Team, team_visible(principal))


# -- members and roles ---------------------------------------------------------------------


def _holds_owner_power(principal: Principal, team_id: int) -> bool:
    return principal.is_admin or principal.team_roles.get(team_id) == "Owner"


def _check_owner_rules(
    principal: Principal, team_id: int, current: Mapping[int, str], after: Mapping[int, str | None]
) -> None:
    """``after`` maps each touched user to their new role (None: removed)."""
    touches_owner = any(
        (role == "Owner" or current.get(user_id) == "Owner") and current.get(user_id) != role
        for user_id, role in after.items()
    )
    if touches_owner and not _holds_owner_power(principal, team_id):
        raise PermissionDeniedError("Only team Owners can grant, change or remove the Owner role.")
    owners_before = {u for u, role in current.items() if role == "Owner"}
    owners_after = {u for u, role in {**current, **after}.items() if role == "Owner"}
    if owners_before and not owners_after:
        raise InvalidInputError("A team must keep at least one Owner.")


def _memberships(session: Session, team_id: int) -> dict[int, TeamMember]:
    return {m.user_id: m for m in session.scalars(select(TeamMember).where(TeamMember.team_id == team_id))}


def add_members(session: Session, principal: Principal, team_id: int, roles: Mapping[int, str]) -> Team:
    """Add users with a role; a user already in the team gets the given role."""
    team = manageable_team(session, principal, team_id, "manage the members of this team")
    visible_user_ids(session, principal, roles)
    members = _memberships(session, team.id)
    _check_owner_rules(principal, team.id, {u: m.role for u, m in members.items()}, roles)
    for user_id, role in roles.items():
        member = members.get(user_id)
        if member is None:
            session.add(TeamMember(team_id=team.id, user_id=user_id, role=role, created_by=principal.email))
        else:
            member.role = role
    session.flush()
    return team


def remove_members(session: Session, principal: Principal, team_id: int, user_ids: Iterable[int]) -> Team:
    """Remove users from the team; ids of users who are not members are ignored."""
    team = manageable_team(session, principal, team_id, "manage the members of this team")
    leaving = visible_user_ids(session, principal, user_ids)
    members = _memberships(session, team.id)
    current = {u: m.role for u, m in members.items()}
    _check_owner_rules(principal, team.id, current, {u: None for u in leaving if u in current})
    session.execute(delete(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id.in_(leaving)))
    session.flush()
    return team


def teams_of_user(session: Session, principal: Principal, user_id: int) -> list[tuple[Team, str]]:
    """The user's teams that the caller can see: all of them for the user themselves and for
    organisation admins, the teams they share otherwise."""
    user = users.get_user(session, principal, user_id)
    rows = session.execute(
        select(Team, TeamMember.role)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.user_id == user.id, team_visible(principal))
        .order_by(Team.id)
    ).all()
    return [(team, role) for team, role in rows]


def user_role(session: Session, principal: Principal, team_id: int, user_id: int) -> tuple[Team, User, str]:
    team = get_team(session, principal, team_id)
    user = users.get_user(session, principal, user_id)
    role = session.scalar(
        select(TeamMember.role).where(TeamMember.team_id == team.id, TeamMember.user_id == user.id)
    )
    if role is None:
        raise NotFoundError("Team member", "The user is not a member of this team.")
    return team, user, role


# -- what the caller's teams hold ----------------------------------------------------------


def own_teams_with_projects(session: Session, principal: Principal) -> list[tuple[Team, list[Project]]]:
    teams = list(session.scalars(select(Team).where(own_teams(principal)).order_by(Team.id)))
    projects = session.scalars(
        select(Project)
        .where(Project.team_id.in_([t.id for t in teams]), project_visible(principal))
        .order_by(Project.id)
    ).all()
    return [(team, [p for p in projects if p.team_id == team.id]) for team in teams]
