"""Ejento V2 endpoints: agents (create, builder, lists and filters, get, edit, recent, starred).

Paths not seen in the Ejento docs follow the naming of the seen ones; see
docs/api/ejento.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, StrictInt, StrictStr, ValidationError, field_validator, model_validator
from sqlalchemy.orm import Session

from parley.agents import service as agents
from parley.agents.models import Agent, RecentAgent, StarredAgent
from parley.http import json_body
from parley.http.deps import CurrentPrincipal, SessionDep, api_category
from parley.surfaces.ejento.envelope import PageDep, created, ok, paginate
from parley.surfaces.ejento.params import BodyId, DateRangeQuery, IdsQuery, PathId, SearchQuery, id_list
from parley.surfaces.ejento.serializers import agents_full

router = APIRouter(tags=["Ejento: Agent"], dependencies=[api_category("agents")])

Access = Literal["Only me", "Only team", "Public"]
# Ejento names of the agent fields, where they differ from Parley's.
FIELD_NAMES = {
    "user_id": "owner_id",
    "name": "agent_name",
    "description": "domain",
    "type": "agent_type",
    "custom_instructions": "instructions",
    "llm_model": "llm_config",
    "cloned_from": "cloned_from_id",
}
Instruction = Annotated[str, Field(max_length=5000)]


def agent_fields(body: BaseModel) -> agents.AgentFields:
    """Only the fields the client sent, so an edit leaves the others alone."""
    given = body.model_dump(exclude_unset=True)
    return agents.AgentFields(**{FIELD_NAMES.get(name, name): value for name, value in given.items()})


def full(session: Session, agent: Agent) -> dict:
    return agents_full(session, [agent])[0]


def marks(session: Session, pairs: Sequence[tuple[RecentAgent | StarredAgent, Agent]]) -> list[dict]:
    """RecentAgent / StarredAgent: ``{id, agent: full Agent}``."""
    serialized = agents_full(session, [agent for _, agent in pairs])
    return [{"id": mark.id, "agent": agent} for (mark, _), agent in zip(pairs, serialized, strict=True)]


class AgentCreateBody(BaseModel):
    user_id: BodyId | None = None
    project_id: BodyId
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    type: StrictInt | StrictStr = agents.DEFAULT_AGENT_TYPE
    prefix_prompt: str = Field(default="", max_length=20_000)
    # One instruction as a string, or several as a list.
    custom_instructions: list[Instruction] = Field(default_factory=list, max_length=100)
    create_email_alias: bool = False
    access: Access = "Only me"
    llm_model: StrictInt | StrictStr | None = None
    sample_q1: str = Field(default="", max_length=1000)
    sample_q2: str = Field(default="", max_length=1000)
    sample_q3: str = Field(default="", max_length=1000)

    @model_validator(mode="before")
    @classmethod
    def _null_is_default(cls, data: object) -> object:
        # Clients send null for fields they leave empty.
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data

    @field_validator("custom_instructions", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


# Edit fields that may be cleared; the others may be left out but not set to null.
CLEARABLE = ("llm_model", "cloned_from", "character_voice_id")


class AgentEditBody(BaseModel):
    """Multipart form fields (all strings) or the same names in JSON."""

    project_id: BodyId | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    sample_q1: str | None = Field(default=None, max_length=1000)
    sample_q2: str | None = Field(default=None, max_length=1000)
    sample_q3: str | None = Field(default=None, max_length=1000)
    status: str | None = Field(default=None, min_length=1, max_length=30)
    type: StrictInt | StrictStr | None = None
    prefix_prompt: str | None = Field(default=None, max_length=20_000)
    # A JSON-encoded list of strings in the form ("[]" clears them); a list in JSON.
    custom_instructions: list[Instruction] | None = Field(default=None, max_length=100)
    access: Access | None = None
    create_email_alias: bool | None = None
    cloned_from: BodyId | None = None
    llm_model: StrictInt | StrictStr | None = None
    character_voice_id: str | None = Field(default=None, max_length=100)

    @field_validator("custom_instructions", mode="before")
    @classmethod
    def _json_list(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            return json_body.loads(value)
        except (ValueError, RecursionError) as exc:  # deep nesting is refused, not a crash
            raise ValueError("must be a JSON-encoded list of strings") from exc

    @field_validator(*CLEARABLE, mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        # Forms cannot send null; an empty field clears these.
        return None if value == "" else value

    @model_validator(mode="after")
    def _no_nulls(self) -> AgentEditBody:
        for name in sorted(self.model_fields_set - set(CLEARABLE)):
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


async def edit_body(request: Request) -> AgentEditBody:
    """Edit Agent takes multipart (as documented) or urlencoded form, or JSON."""
    try:
        if request.headers.get("content-type", "").startswith("application/json"):
            return AgentEditBody.model_validate_json(await request.body() or b"{}")
        async with request.form() as form:  # closes any uploaded temporary files
            return AgentEditBody.model_validate(dict(form.items()))
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from exc


class BuilderFlags(BaseModel):
    image_generation_enabled: bool | None = None


class AgentBuilderBody(BaseModel):
    agent_id: BodyId
    project_id: BodyId
    history: str | None = Field(default=None, max_length=200_000)
    flags: BuilderFlags | None = None


# Static paths first: "{agent_id}" would otherwise capture "recent", "starred", ...


@router.post("/v2/api/agent/agentbuilder")
def create_agent_by_agent_builder(body: AgentBuilderBody, session: SessionDep, principal: CurrentPrincipal):
    agent = agents.build_agent(
        session,
        principal,
        body.agent_id,
        body.project_id,
        history=body.history,
        image_generation_enabled=body.flags.image_generation_enabled if body.flags else None,
    )
    return created(full(session, agent), "Agent chat created successfully")


@router.post("/v2/api/agent")
def create_agent_by_configure(body: AgentCreateBody, session: SessionDep, principal: CurrentPrincipal):
    agent = agents.create_agent(session, principal, agent_fields(body))
    return created(full(session, agent), "Agent created successfully")


@router.get("/v2/api/agent")
def get_all_agents(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    query: SearchQuery = None,
    access: Access | None = None,
):
    stmt = agents.agents_query(session, principal, agents.AgentFilter(query=query, access=access))
    data = paginate(session, stmt, page, "agents", lambda rows: agents_full(session, rows))
    return ok(data, "Agents fetched successfully")


@router.get("/v2/api/team/{team_id}/agent")
def get_agent_by_team(team_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    return ok(
        agents_full(session, agents.team_agents(session, principal, team_id)),
        "Team agents fetched successfully",
    )


@router.get("/v2/api/agent/user-team")
def get_agent_by_user_team(session: SessionDep, principal: CurrentPrincipal):
    rows = agents.user_team_agents(session, principal)
    return ok(agents_full(session, rows), "User team agents fetched successfully")


@router.get("/v2/api/agent/filtered")
def agent_filtered(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    created_on: DateRangeQuery,
    user_ids: IdsQuery = None,
    project_ids: IdsQuery = None,
    team_ids: IdsQuery = None,
    agent_type: Annotated[str | None, Query(max_length=100)] = None,
    access: Access | None = None,
    query: SearchQuery = None,
):
    filters = agents.AgentFilter(
        query=query,
        access=access,
        agent_type=agent_type,
        user_ids=id_list(user_ids, "user_ids"),
        project_ids=id_list(project_ids, "project_ids"),
        team_ids=id_list(team_ids, "team_ids"),
        start=created_on.start,
        end=created_on.end,
    )
    stmt = agents.agents_query(session, principal, filters)
    data = paginate(session, stmt, page, "agents", lambda rows: agents_full(session, rows))
    return ok(data, "Filtered agents fetched successfully")


@router.get("/v2/api/agent/recent")
def get_recent_agents(session: SessionDep, principal: CurrentPrincipal):
    return ok(marks(session, agents.recent_agents(session, principal)), "Recent Agents fetched successfully")


@router.get("/v2/api/agent/starred")
def get_starred_agents(session: SessionDep, principal: CurrentPrincipal):
    return ok(
        marks(session, agents.starred_agents(session, principal)), "Starred Agents fetched successfully"
    )


@router.get("/v2/api/agent/{agent_id}")
def get_agent(agent_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    return ok(full(session, agents.get_agent(session, principal, agent_id)), "Agent fetched successfully")


@router.put("/v2/api/agent/{agent_id}")
def edit_agent(
    agent_id: PathId,
    body: Annotated[AgentEditBody, Depends(edit_body)],
    session: SessionDep,
    principal: CurrentPrincipal,
):
    agent = agents.edit_agent(session, principal, agent_id, agent_fields(body))
    return ok(full(session, agent), "Agent data updated successfully")


@router.post("/v2/api/agent/{agent_id}/recent")
def create_recent_agent(agent_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    return created(
        marks(session, [agents.mark_recent(session, principal, agent_id)])[0],
        "Recent Agent created successfully",
    )


@router.delete("/v2/api/agent/{agent_id}/recent")
def delete_recent_agent(agent_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    agents.remove_recent(session, principal, agent_id)
    return ok(None, "Recent Agent deleted successfully")


@router.post("/v2/api/agent/{agent_id}/starred")
def create_starred_agent(agent_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    return created(
        marks(session, [agents.star(session, principal, agent_id)])[0], "Starred Agent created successfully"
    )


@router.delete("/v2/api/agent/{agent_id}/starred")
def delete_starred_agent(agent_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    agents.unstar(session, principal, agent_id)
    return ok(None, "Starred Agent deleted successfully")
