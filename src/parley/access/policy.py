"""The permission policy, as SQL: every read is scoped by one of these clauses, so another
organisation's rows (or rows a user may not see) are never loaded at all.

Visibility rules
- Everything is confined to the caller's organisation.
- Organisation admins (``is_superuser``) see and manage everything in it.
- Teams: members see their teams; Owners and Admins of a team manage it.
- Projects: visible to members of the project's team and to project members; managed by the
  team's Owners/Admins.
- Agents: the owner; everyone in the organisation when ``Public``; the project team's members
  when ``Only team``; users it was shared with (Agent User). Editable by the owner, users it was
  shared with for editing, and managers of the project's team.
- Corpora: the owner; everyone when ``is_public``; users or teams granted a corpus permission.
  Editable by the owner and holders of a ``write`` permission.
- Chat threads and responses: the user who owns them; admins and the agent's editors see them
  in admin views.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import Session

from parley.access.principal import Principal
from parley.accounts.models import Team, User
from parley.agents.models import Agent, AgentUser
from parley.corpora.models import Corpus, CorpusPermission
from parley.db.base import Base
from parley.errors import NotFoundError, PermissionDeniedError
from parley.projects.models import Project, ProjectMember
from parley.threads.models import ChatThread

ModelT = TypeVar("ModelT", bound=Base)


def _in_teams(column: ColumnElement[int], principal: Principal) -> ColumnElement[bool]:
    return column.in_(sorted(principal.team_ids)) if principal.team_ids else false()


def _managed_team_ids(principal: Principal) -> list[int]:
    return sorted(t for t, role in principal.team_roles.items() if role in ("Owner", "Admin"))


def user_visible(principal: Principal) -> ColumnElement[bool]:
    return and_(User.org_id == principal.org_id, User.is_deleted.is_(False))


def team_visible(principal: Principal) -> ColumnElement[bool]:
    scope = and_(Team.org_id == principal.org_id, Team.is_deleted.is_(False))
    if principal.is_admin:
        return scope
    return and_(scope, _in_teams(Team.id, principal))


def team_manageable(principal: Principal) -> ColumnElement[bool]:
    scope = and_(Team.org_id == principal.org_id, Team.is_deleted.is_(False))
    if principal.is_admin:
        return scope
    managed = _managed_team_ids(principal)
    return and_(scope, Team.id.in_(managed) if managed else false())


def project_visible(principal: Principal) -> ColumnElement[bool]:
    scope = and_(Project.org_id == principal.org_id, Project.is_deleted.is_(False))
    if principal.is_admin:
        return scope
    member_of = select(ProjectMember.project_id).where(ProjectMember.user_id == principal.user_id)
    return and_(scope, or_(_in_teams(Project.team_id, principal), Project.id.in_(member_of)))


def project_manageable(principal: Principal) -> ColumnElement[bool]:
    scope = and_(Project.org_id == principal.org_id, Project.is_deleted.is_(False))
    if principal.is_admin:
        return scope
    managed = _managed_team_ids(principal)
    return and_(scope, Project.team_id.in_(managed) if managed else false())


def agent_visible(principal: Principal) -> ColumnElement[bool]:
    scope = and_(Agent.org_id == principal.org_id, Agent.is_deleted.is_(False))
    if principal.is_admin:
        return scope
    team_projects = select(Project.id).where(_in_teams(Project.team_id, principal))
    shared = select(AgentUser.agent_id).where(AgentUser.user_id == principal.user_id)
    return and_(
        scope,
        or_(
            Agent.user_id == principal.user_id,
            Agent.access == "Public",
            and_(Agent.access == "Only team", Agent.project_id.in_(team_projects)),
            Agent.id.in_(shared),
        ),
    )


def agent_editable(principal: Principal) -> ColumnElement[bool]:
    scope = and_(Agent.org_id == principal.org_id, Agent.is_deleted.is_(False))
    if principal.is_admin:
        return scope
    managed = _managed_team_ids(principal)
    managed_projects = select(Project.id).where(Project.team_id.in_(managed) if managed else false())
    editors = select(AgentUser.agent_id).where(
        AgentUser.user_id == principal.user_id, AgentUser.permission == "edit"
    )
    return and_(
        scope,
        or_(
            Agent.user_id == principal.user_id, Agent.id.in_(editors), Agent.project_id.in_(managed_projects)
        ),
    )


def corpus_visible(principal: Principal) -> ColumnElement[bool]:
    scope = and_(Corpus.org_id == principal.org_id, Corpus.is_deleted.is_(False))
    if principal.is_admin:
        return scope
    granted = select(CorpusPermission.corpus_id).where(
        or_(CorpusPermission.user_id == principal.user_id, _in_teams(CorpusPermission.team_id, principal))
    )
    return and_(
        scope, or_(Corpus.owner_id == principal.user_id, Corpus.is_public.is_(True), Corpus.id.in_(granted))
    )


def corpus_editable(principal: Principal) -> ColumnElement[bool]:
    scope = and_(Corpus.org_id == principal.org_id, Corpus.is_deleted.is_(False))
    if principal.is_admin:
        return scope
    writers = select(CorpusPermission.corpus_id).where(
        CorpusPermission.permission == "write",
        or_(CorpusPermission.user_id == principal.user_id, _in_teams(CorpusPermission.team_id, principal)),
    )
    return and_(scope, or_(Corpus.owner_id == principal.user_id, Corpus.id.in_(writers)))


def thread_visible(principal: Principal, *, admin_view: bool = False) -> ColumnElement[bool]:
    """A user's own threads; with ``admin_view`` also those of agents the caller may edit."""
    scope = and_(ChatThread.org_id == principal.org_id, ChatThread.is_deleted.is_(False))
    if not admin_view:
        return and_(scope, ChatThread.user_id == principal.user_id)
    if principal.is_admin:
        return scope
    editable_agents = select(Agent.id).where(agent_editable(principal))
    return and_(scope, or_(ChatThread.user_id == principal.user_id, ChatThread.agent_id.in_(editable_agents)))


def everything() -> ColumnElement[bool]:
    return true()


def load_visible(
    session: Session,
    model: type[ModelT],
    entity_id: int,
    visible: ColumnElement[bool],
    entity: str,
) -> ModelT:
    """Load one row the caller may see, or raise NotFoundError (never revealing that it exists)."""
    row = session.scalars(select(model).where(model.id == entity_id, visible)).first()  # type: ignore[attr-defined]
    if row is None:
        raise NotFoundError(entity)
    return row


def load_all_visible(
    session: Session,
    model: type[ModelT],
    entity_ids: Iterable[int],
    visible: ColumnElement[bool],
    entity: str,
) -> list[ModelT]:
    """All or nothing: the rows (by id, repeats ignored) the caller may see, in id order; one
    unknown or invisible id raises NotFoundError."""
    wanted = sorted(set(entity_ids))
    rows = session.scalars(
        select(model).where(model.id.in_(wanted), visible).order_by(model.id)  # type: ignore[attr-defined]
    ).all()
    if len(rows) != len(wanted):
        raise NotFoundError(entity)
    return list(rows)


def require(
    session: Session, model: type[ModelT], row: ModelT, allowed: ColumnElement[bool], action: str
) -> None:
    """Raise PermissionDeniedError unless ``row`` satisfies ``allowed`` (a row already known visible)."""
    ok = session.scalar(select(model.id).where(model.id == row.id, allowed))  # type: ignore[attr-defined]
    if ok is None:
        raise PermissionDeniedError(f"You do not have permission to {action}.")


def load_allowed(
    session: Session,
    model: type[ModelT],
    entity_id: int,
    visible: ColumnElement[bool],
    allowed: ColumnElement[bool],
    entity: str,
    action: str,
) -> ModelT:
    """A row the caller may see and may ``action``: NotFoundError when they cannot see it,
    PermissionDeniedError when they can see it but not act on it."""
    row = load_visible(session, model, entity_id, visible, entity)
    require(session, model, row, allowed, action)
    return row
