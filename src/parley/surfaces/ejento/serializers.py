"""Ejento JSON shapes of the core entities, shared by every group's router.

Lists are serialised in batches (one query per related table, not one per row).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.accounts.models import Organization, Team, User
from parley.agents.models import Agent, AgentInstruction, AgentType
from parley.corpora.models import INDEXING_MODES, AgentCorpus, Corpus
from parley.projects.models import Project
from parley.responses.models import AgentResponse
from parley.surfaces.ejento.envelope import iso
from parley.threads.models import ChatThread
from parley.tools.models import AgentTool, Tool
from parley.usage.service import cost_text


def _by_id(session: Session, model: type, ids: set[int]) -> dict[int, object]:
    ids.discard(None)  # type: ignore[arg-type]
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(ids)))}


def audit(row: object) -> dict:
    return {
        "created_by": row.created_by,  # type: ignore[attr-defined]
        "created_on": iso(row.created_on),  # type: ignore[attr-defined]
        "modified_by": row.modified_by,  # type: ignore[attr-defined]
        "modified_on": iso(row.modified_on),  # type: ignore[attr-defined]
    }


# -- users, teams, projects --------------------------------------------------------------


def user_compact(user: User) -> dict:
    return {
        "id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "organization": user.org_id,
    }


def user_full(user: User, org: Organization | None = None) -> dict:
    return {
        **user_compact(user),
        "organization": {"id": org.id, "org_name": org.org_name} if org else user.org_id,
        "is_superuser": user.is_superuser,
        "is_active": user.is_active,
        "is_deleted": user.is_deleted,
        "last_login": iso(user.last_login),
        **audit(user),
    }


def team_compact(team: Team) -> dict:
    return {"id": team.id, "team_name": team.team_name}


def team_full(team: Team) -> dict:
    return {
        "id": team.id,
        "team_name": team.team_name,
        "description": team.description,
        "organization": team.org_id,
        "is_deleted": team.is_deleted,
        **audit(team),
    }


def project_compact(project: Project, team: Team | None) -> dict:
    return {
        "id": project.id,
        "project_name": project.project_name,
        "team": team_compact(team) if team else project.team_id,
    }


def projects_full(session: Session, projects: Sequence[Project]) -> list[dict]:
    teams = _by_id(session, Team, {p.team_id for p in projects})
    return [
        {
            "id": p.id,
            "project_name": p.project_name,
            "description": p.description,
            "team": team_compact(teams[p.team_id]) if p.team_id in teams else p.team_id,  # type: ignore[arg-type]
            "organization": p.org_id,
            "is_deleted": p.is_deleted,
            **audit(p),
        }
        for p in projects
    ]


# -- agents --------------------------------------------------------------------------------


def agent_type(t: AgentType) -> dict:
    return {"id": t.id, "name": t.name, "description": t.description, **audit(t)}


def instruction(i: AgentInstruction) -> dict:
    return {
        "id": i.id,
        "instruction": i.instruction,
        "is_deleted": i.is_deleted,
        "created_by": i.created_by,
        "created_on": iso(i.created_on),
        "agent": i.agent_id,
    }


def agents_full(session: Session, agents: Sequence[Agent], *, with_users: bool = False) -> list[dict]:
    """The full Agent form (create, edit, get, recent); ``with_users`` gives the
    "Get All Agents with Users" variant with nested project and training progress."""
    if not agents:
        return []
    ids = [a.id for a in agents]
    types = _by_id(session, AgentType, {a.agent_type_id for a in agents})
    owners = _by_id(session, User, {a.user_id for a in agents})
    instructions: dict[int, list[dict]] = defaultdict(list)
    for row in session.scalars(
        select(AgentInstruction)
        .where(AgentInstruction.agent_id.in_(ids), AgentInstruction.is_deleted.is_(False))
        .order_by(AgentInstruction.id)
    ):
        instructions[row.agent_id].append(instruction(row))
    tools: dict[int, list[str]] = defaultdict(list)
    for agent_id, name in session.execute(
        select(AgentTool.agent_id, Tool.name)
        .join(Tool, Tool.id == AgentTool.tool_id)
        .where(AgentTool.agent_id.in_(ids), AgentTool.is_enabled.is_(True), Tool.is_deleted.is_(False))
        .order_by(AgentTool.id)
    ):
        tools[agent_id].append(name)
    projects: dict[int, object] = {}
    teams: dict[int, object] = {}
    if with_users:
        projects = _by_id(session, Project, {a.project_id for a in agents})
        teams = _by_id(session, Team, {p.team_id for p in projects.values()})  # type: ignore[attr-defined]

    out = []
    for a in agents:
        owner = owners.get(a.user_id)
        data = {
            "id": a.id,
            "agent_type": agent_type(types[a.agent_type_id]) if a.agent_type_id in types else None,  # type: ignore[arg-type]
            "instructions": instructions.get(a.id, []),
            "user": user_compact(owner) if owner else a.user_id,  # type: ignore[arg-type]
            "connected_tool_names": tools.get(a.id, []),
            "agent_name": a.agent_name,
            "industry_area": a.industry_area,
            "domain": a.domain,
            "sample_q1": a.sample_q1,
            "sample_q2": a.sample_q2,
            "sample_q3": a.sample_q3,
            "prefix_prompt": a.prefix_prompt,
            "alias": a.alias,
            "is_active": a.is_active,
            "is_deleted": a.is_deleted,
            "created_by": a.created_by,
            "created_on": iso(a.created_on),
            "modified_by": a.modified_by,
            "modified_on": iso(a.modified_on),
            "agent_image": a.agent_image,
            "access": a.access,
            "status": a.status,
            "caching_enabled": a.caching_enabled,
            "chunk_count": a.chunk_count,
            "react_enabled": a.react_enabled,
            "react_max_iteration_count": a.react_max_iteration_count,
            "project": a.project_id,
            "llm_config": a.llm_config_id,
            "cloned_from": a.cloned_from_id,
        }
        if with_users:
            project = projects.get(a.project_id)
            team = teams.get(project.team_id) if project else None  # type: ignore[attr-defined]
            data["project"] = project_compact(project, team) if project else a.project_id  # type: ignore[arg-type]
            data["summary"] = a.summary
            data["notes"] = a.notes
            data["training_progress"] = {"status": "Complete", "progress": 100}
        out.append(data)
    return out


def agent_compact(a: Agent, t: AgentType | None) -> dict:
    """The form nested inside an agent–corpus connection."""
    return {
        "id": a.id,
        "agent_type": {"id": t.id, "name": t.name} if t else None,
        "instructions": [],
        "agent_name": a.agent_name,
        "domain": a.domain,
        "prefix_prompt": a.prefix_prompt,
        "alias": a.alias,
        "is_deleted": a.is_deleted,
        "created_by": a.created_by,
        "access": a.access,
        "project": a.project_id,
        "llm_config": a.llm_config_id,
    }


# -- corpora --------------------------------------------------------------------------------


def indexing_mode(mode_id: int) -> dict:
    return {"id": mode_id, "mode": INDEXING_MODES.get(mode_id, "exhaustive")}


def corpus(c: Corpus) -> dict:
    """The Corpus as created: flat owner and org ids."""
    return {
        "id": c.id,
        "indexing_mode": indexing_mode(c.indexing_mode_id),
        **audit(c),
        "name": c.name,
        "description": c.description,
        "type": c.corpus_type,
        "tags": list(c.tags or []),
        "is_public": c.is_public,
        "is_deleted": c.is_deleted,
        "owner": c.owner_id,
        "org": c.org_id,
    }


def corpora_nested(session: Session, corpora: Sequence[Corpus]) -> dict[int, dict]:
    """The nested Corpus form (owner as an object with its organization), keyed by id."""
    owners = _by_id(session, User, {c.owner_id for c in corpora})
    orgs = _by_id(session, Organization, {u.org_id for u in owners.values()})  # type: ignore[attr-defined]
    out = {}
    for c in corpora:
        owner = owners.get(c.owner_id)
        org = orgs.get(owner.org_id) if owner else None  # type: ignore[attr-defined]
        out[c.id] = {
            "id": c.id,
            "indexing_mode": indexing_mode(c.indexing_mode_id),
            "name": c.name,
            "description": c.description,
            "owner": {
                "id": owner.id,  # type: ignore[attr-defined]
                "email": owner.email,  # type: ignore[attr-defined]
                "is_superuser": owner.is_superuser,  # type: ignore[attr-defined]
                "first_name": owner.first_name,  # type: ignore[attr-defined]
                "last_name": owner.last_name,  # type: ignore[attr-defined]
                "organization": {"id": org.id, "org_name": org.org_name} if org else None,  # type: ignore[attr-defined]
            }
            if owner
            else c.owner_id,
            "tags": list(c.tags or []),
        }
    return out


def agent_corpora(session: Session, links: Sequence[AgentCorpus]) -> list[dict]:
    if not links:
        return []
    agents = _by_id(session, Agent, {link.agent_id for link in links})
    types = _by_id(session, AgentType, {a.agent_type_id for a in agents.values()})  # type: ignore[attr-defined]
    corpora = _by_id(session, Corpus, {link.corpus_id for link in links})
    nested = corpora_nested(session, list(corpora.values()))  # type: ignore[arg-type]
    out = []
    for link in links:
        agent = agents[link.agent_id]
        out.append(
            {
                "id": link.id,
                "agent": agent_compact(agent, types.get(agent.agent_type_id)),  # type: ignore[arg-type, attr-defined]
                "corpus": nested[link.corpus_id],
                **audit(link),
                "is_enabled": link.is_enabled,
                "is_default": link.is_default,
                "is_deleted": link.is_deleted,
                "connected_by": link.connected_by,
            }
        )
    return out


# -- chat threads ---------------------------------------------------------------------------


def chat_thread(t: ChatThread) -> dict:
    return {
        "id": t.id,
        "corpus_id": t.corpus_id,
        "created_by": t.created_by,
        "created_on": iso(t.created_on),
        "modified_by": t.modified_by,
        "modified_on": iso(t.modified_on),
        "title": t.title,
        "is_deleted": t.is_deleted,
        "chat_id": t.chat_id,
        "agent": t.agent_id,
        "user": t.user_id,
    }


# -- agent responses ----------------------------------------------------------------------------


def agent_response(r: AgentResponse) -> dict:
    """The stored response row, as Create Agent Response Log returns it."""
    return {
        "id": r.id,
        "question": r.question,
        "response": r.response,
        "created_by": r.created_by,
        "created_on": iso(r.created_on),
        "is_deleted": r.is_deleted,
        "total_tokens": r.total_tokens,
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "cache_hit": r.cache_hit,
        "query_source": r.query_source,
        "message_id": r.message_id,
        "cost": cost_text(r.cost),
        "pinned": r.pinned,
        "chat_thread": r.chat_thread_id,
        "agent": r.agent_id,
        "user": r.user_id,
        "llm_config": r.llm_config_id,
    }
