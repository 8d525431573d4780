"""Agents data layer: create, read, list and filter, edit, the agent builder, instructions,
email aliases, the default corpus, and each user's recent and starred agents.

Plain typed functions taking a session and the caller. Every read is scoped by the policy
clauses, so another organisation's ids (and agents the caller may not see) answer "not found";
visible agents the caller may not change answer "permission denied".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from parley.access.capabilities import require_capability
from parley.access.policy import (
    agent_editable,
    agent_visible,
    corpus_visible,
    load_allowed,
    load_visible,
    project_visible,
    team_visible,
    user_visible,
)
from parley.access.principal import Principal
from parley.accounts.models import Team, User
from parley.agents.models import Agent, AgentInstruction, AgentType, RecentAgent, StarredAgent
from parley.corpora import links
from parley.corpora.models import AgentCorpus, Corpus
from parley.db.base import MAX_ID
from parley.db.rows import add_mark, find_mark, marks_with_targets, record_use
from parley.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from parley.flags import service as flags
from parley.llm.models import LLMConfig
from parley.projects.models import Project

# Email aliases are "<AgentName>_<id>@" this domain. Settings has no alias domain yet, so it is
# fixed here; an organisation-specific domain can replace it without changing the alias shape.
ALIAS_DOMAIN = "agents.parley.local"
DEFAULT_AGENT_TYPE = "QnA"


class AgentFields(BaseModel):
    """What a caller may set on an agent. On edit only the fields that were set change."""

    project_id: int | None = None
    owner_id: int | None = None
    agent_name: str | None = None
    domain: str | None = None
    agent_type: int | str | None = None  # an AgentType id or name
    prefix_prompt: str | None = None
    instructions: list[str] | None = None
    access: Literal["Only me", "Only team", "Public"] | None = None
    llm_config: int | str | None = None  # an LLMConfig id, name or model; None clears it
    sample_q1: str | None = None
    sample_q2: str | None = None
    sample_q3: str | None = None
    status: str | None = None
    cloned_from_id: int | None = None
    character_voice_id: str | None = None
    create_email_alias: bool = False


@dataclass(frozen=True)
class AgentFilter:
    """Filters of the agent lists; empty ones do not restrict."""

    query: str | None = None
    access: str | None = None
    agent_type: str | None = None
    user_ids: Sequence[int] = field(default_factory=tuple)
    project_ids: Sequence[int] = field(default_factory=tuple)
    team_ids: Sequence[int] = field(default_factory=tuple)
    start: datetime | None = None  # created on or after
    end: datetime | None = None  # created before (exclusive)


def parse_id(text: str) -> int | None:
    """A database id written as ASCII digits, or None (also for numbers no table can hold)."""
    if not re.fullmatch(r"[0-9]+", text) or int(text) > MAX_ID:
        return None
    return int(text)


# -- lookups ----------------------------------------------------------------------------------


def get_agent(session: Session, principal: Principal, agent_id: int) -> Agent:
    return load_visible(session, Agent, agent_id, agent_visible(principal), "Agent")


def get_editable_agent(
    session: Session, principal: Principal, agent_id: int, action: str = "edit this agent"
) -> Agent:
    """404 when the caller cannot see the agent, 403 when they see it but may not change it."""
    return load_allowed(
        session, Agent, agent_id, agent_visible(principal), agent_editable(principal), "Agent", action
    )


def _project_for_agents(session: Session, principal: Principal, project_id: int) -> Project:
    # Adding agents is open to admins, the team's managers and members, and project members:
    # exactly the people the project is visible to.
    return load_visible(session, Project, project_id, project_visible(principal), "Project")


def resolve_agent_type(session: Session, value: int | str) -> AgentType:
    """An agent type by id (an int or a string of digits) or by name, case-insensitively."""
    text = str(value).strip()
    if re.fullmatch(r"[0-9]+", text):
        type_id = parse_id(text)
        found = session.get(AgentType, type_id) if type_id is not None else None
    else:
        found = session.scalars(select(AgentType).where(func.lower(AgentType.name) == text.lower())).first()
    if found is None:
        raise InvalidInputError(f"Unknown agent type: {text!r}.")
    return found


def resolve_llm_config(session: Session, principal: Principal, value: int | str | None) -> int | None:
    """An LLM config of the caller's organisation by id, name or model; None means no config."""
    if value is None:
        return None
    text = str(value).strip()
    scope = select(LLMConfig.id).where(LLMConfig.org_id == principal.org_id, LLMConfig.is_deleted.is_(False))
    if re.fullmatch(r"[0-9]+", text):
        config_id = parse_id(text)
        found = session.scalar(scope.where(LLMConfig.id == config_id)) if config_id is not None else None
    else:
        found = session.scalar(
            scope.where((LLMConfig.name == text) | (LLMConfig.model == text)).order_by(LLMConfig.id)
        )
    if found is None:
        raise NotFoundError("LLM config")
    return found


def _owner_id(session: Session, principal: Principal, owner_id: int | None) -> int:
    if owner_id is None or owner_id == principal.user_id:
        return principal.user_id
    if not principal.is_admin:
        raise PermissionDeniedError("Only organization administrators can create agents for other users.")
    return load_visible(session, User, owner_id, user_visible(principal), "User").id


def email_alias(agent: Agent) -> str:
    local = re.sub(r"[^A-Za-z0-9]", "", agent.agent_name) or "Agent"
    return f"{local}_{agent.id}@{ALIAS_DOMAIN}"


def _replace_instructions(session: Session, principal: Principal, agent: Agent, texts: list[str]) -> None:
    """Old instructions are soft-deleted, so responses logged with them keep their history."""
    for old in session.scalars(
        select(AgentInstruction).where(
            AgentInstruction.agent_id == agent.id, AgentInstruction.is_deleted.is_(False)
        )
    ):
        old.is_deleted = True
    for text in texts:
        if text.strip():
            session.add(AgentInstruction(agent_id=agent.id, instruction=text, created_by=principal.email))


# -- create and edit --------------------------------------------------------------------------

# Fields copied as given; the others need a lookup or a check first.
_PLAIN_FIELDS = (
    "agent_name",
    "domain",
    "prefix_prompt",
    "access",
    "sample_q1",
    "sample_q2",
    "sample_q3",
    "status",
    "character_voice_id",
)
# The only fields an edit may set to None.
_CLEARABLE = {"llm_config", "cloned_from_id", "character_voice_id"}


def create_agent(session: Session, principal: Principal, fields: AgentFields) -> Agent:
    """A new agent in a project the caller may add agents to, with its default corpus."""
    require_capability(session, principal, "create_agent")
    if not fields.agent_name or fields.project_id is None:
        raise InvalidInputError("An agent needs a name and a project.")
    project = _project_for_agents(session, principal, fields.project_id)
    agent = Agent(
        org_id=principal.org_id,
        project_id=project.id,
        user_id=_owner_id(session, principal, fields.owner_id),
        agent_type_id=resolve_agent_type(session, fields.agent_type or DEFAULT_AGENT_TYPE).id,
        llm_config_id=resolve_llm_config(session, principal, fields.llm_config),
        created_by=principal.email,
        settings={},
    )
    if fields.cloned_from_id is not None:
        agent.cloned_from_id = get_agent(session, principal, fields.cloned_from_id).id
    for name in _PLAIN_FIELDS:
        value = getattr(fields, name)
        if value is not None:
            setattr(agent, name, value)
    if fields.create_email_alias:
        flags.require_enabled(session, principal.org_id, "agent_alias")
    session.add(agent)
    session.flush()
    if fields.create_email_alias:
        agent.alias = email_alias(agent)
    _replace_instructions(session, principal, agent, fields.instructions or [])
    _create_default_corpus(session, principal, agent)
    session.flush()
    return agent


def _create_default_corpus(session: Session, principal: Principal, agent: Agent) -> None:
    """Every agent starts with its own corpus "<Agent name>_Default", owned by the agent's owner."""
    corpus = Corpus(
        org_id=agent.org_id,
        owner_id=agent.user_id,
        name=f"{agent.agent_name}_Default",
        created_by=principal.email,
        tags=[],
        settings={},
    )
    session.add(corpus)
    session.flush()
    links.add_link(session, principal, agent, corpus, is_default=True)


def edit_agent(session: Session, principal: Principal, agent_id: int, fields: AgentFields) -> Agent:
    """Change only the fields that were given."""
    agent = get_editable_agent(session, principal, agent_id)
    if fields.create_email_alias and agent.alias is None:
        flags.require_enabled(session, agent.org_id, "agent_alias")
    given = fields.model_fields_set
    emptied = sorted(name for name in given - _CLEARABLE if getattr(fields, name) is None)
    if emptied:
        raise InvalidInputError(f"{emptied[0]} cannot be empty.")
    if fields.project_id is not None:
        agent.project_id = _project_for_agents(session, principal, fields.project_id).id
    if fields.agent_type is not None:
        agent.agent_type_id = resolve_agent_type(session, fields.agent_type).id
    if "llm_config" in given:
        agent.llm_config_id = resolve_llm_config(session, principal, fields.llm_config)
    if "cloned_from_id" in given:
        if fields.cloned_from_id == agent.id:
            raise InvalidInputError("An agent cannot be cloned from itself.")
        source = fields.cloned_from_id
        agent.cloned_from_id = None if source is None else get_agent(session, principal, source).id
    for name in _PLAIN_FIELDS:
        if name in given:
            setattr(agent, name, getattr(fields, name))
    if fields.instructions is not None:
        _replace_instructions(session, principal, agent, fields.instructions)
    # Removing an alias belongs to the Agent Alias endpoints; here it can only be created.
    if fields.create_email_alias and agent.alias is None:
        agent.alias = email_alias(agent)
    agent.modified_by = principal.email
    session.flush()
    return agent


def build_agent(
    session: Session,
    principal: Principal,
    agent_id: int,
    project_id: int,
    *,
    history: str | None,
    image_generation_enabled: bool | None,
) -> Agent:
    """The agent builder's save step. Parley has no builder model yet, so the conversation is
    kept in the agent's ``notes`` for whoever (or whatever) continues it."""
    agent = get_editable_agent(session, principal, agent_id)
    flags.require_enabled(session, agent.org_id, "chat_agent_creation")
    project = _project_for_agents(session, principal, project_id)
    agent.project_id = project.id
    if history is not None:
        agent.notes = history
    if image_generation_enabled is not None:
        # A new dict: the JSON column does not track in-place changes.
        agent.settings = {**(agent.settings or {}), "image_generation_enabled": image_generation_enabled}
    agent.modified_by = principal.email
    session.flush()
    return agent


# -- lists ------------------------------------------------------------------------------------


def corpus_agents_query(session: Session, principal: Principal, corpus_id: int) -> Select[tuple[Agent]]:
    """Get All Agents By Corpus: the visible agents with a live link to a visible corpus."""
    load_visible(session, Corpus, corpus_id, corpus_visible(principal), "Corpus")
    linked = select(AgentCorpus.agent_id).where(
        AgentCorpus.corpus_id == corpus_id, AgentCorpus.is_deleted.is_(False)
    )
    return select(Agent).where(agent_visible(principal), Agent.id.in_(linked)).order_by(Agent.id.desc())


def agents_query(session: Session, principal: Principal, filters: AgentFilter) -> Select[tuple[Agent]]:
    """The agents the caller may see that match every given filter, newest first.

    Filter ids outside the caller's reach simply match nothing.
    """
    stmt = select(Agent).where(agent_visible(principal))
    if filters.query:
        stmt = stmt.where(func.lower(Agent.agent_name).contains(filters.query.lower(), autoescape=True))
    if filters.access:
        stmt = stmt.where(Agent.access == filters.access)
    if filters.agent_type:
        stmt = stmt.where(Agent.agent_type_id == resolve_agent_type(session, filters.agent_type).id)
    if filters.user_ids:
        stmt = stmt.where(Agent.user_id.in_(filters.user_ids))
    if filters.project_ids:
        stmt = stmt.where(Agent.project_id.in_(filters.project_ids))
    if filters.team_ids:
        stmt = stmt.where(
            Agent.project_id.in_(select(Project.id).where(Project.team_id.in_(filters.team_ids)))
        )
    if filters.start:
        stmt = stmt.where(Agent.created_on >= filters.start)
    if filters.end:
        stmt = stmt.where(Agent.created_on < filters.end)
    return stmt.order_by(Agent.created_on.desc(), Agent.id.desc())


def team_agents(session: Session, principal: Principal, team_id: int) -> Sequence[Agent]:
    """Agents in the projects of a team the caller can see."""
    team = load_visible(session, Team, team_id, team_visible(principal), "Team")
    return session.scalars(agents_query(session, principal, AgentFilter(team_ids=[team.id]))).all()


def user_team_agents(session: Session, principal: Principal) -> Sequence[Agent]:
    """Agents in the projects of the caller's own (non-deleted) teams, even for admins."""
    if not principal.team_ids:
        return []
    teams = session.scalars(
        select(Team.id).where(Team.id.in_(sorted(principal.team_ids)), Team.is_deleted.is_(False))
    ).all()
    if not teams:
        return []
    return session.scalars(agents_query(session, principal, AgentFilter(team_ids=teams))).all()


# -- recent and starred -------------------------------------------------------------------------


def _unmark(
    session: Session, principal: Principal, target_fk: InstrumentedAttribute[int], agent_id: int, entity: str
) -> None:
    row = find_mark(session, principal, target_fk, agent_id)
    if row is None:
        raise NotFoundError(entity)
    session.delete(row)
    session.flush()


def mark_recent(session: Session, principal: Principal, agent_id: int) -> tuple[RecentAgent, Agent]:
    """Record a use of the agent; using it again only moves it to the top."""
    agent = get_agent(session, principal, agent_id)
    return record_use(session, principal, RecentAgent.agent_id, agent.id), agent


def recent_agents(session: Session, principal: Principal) -> list[tuple[RecentAgent, Agent]]:
    return marks_with_targets(session, principal, RecentAgent.agent_id, Agent, agent_visible(principal))


def remove_recent(session: Session, principal: Principal, agent_id: int) -> None:
    _unmark(session, principal, RecentAgent.agent_id, agent_id, "Recent agent")


def star(session: Session, principal: Principal, agent_id: int) -> tuple[StarredAgent, Agent]:
    """Star the agent; starring it again changes nothing."""
    agent = get_agent(session, principal, agent_id)
    row = add_mark(session, principal, StarredAgent.agent_id, agent.id)
    session.flush()
    return row, agent


def starred_agents(session: Session, principal: Principal) -> list[tuple[StarredAgent, Agent]]:
    return marks_with_targets(session, principal, StarredAgent.agent_id, Agent, agent_visible(principal))


def unstar(session: Session, principal: Principal, agent_id: int) -> None:
    _unmark(session, principal, StarredAgent.agent_id, agent_id, "Starred agent")
