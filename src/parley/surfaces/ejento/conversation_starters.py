"""Ejento V2 endpoints: Conversation Starters.

The sidebar names "Create Conversation Starter" and "Get Conversation Starters"; the path is
the spec's suggestion (``/v2/api/agent/{agent_id}/conversation-starter``), and getting, editing
and deleting one starter are Parley's additions on ``.../{starter_id}``. How starters relate to
the agent's ``sample_q1..3``: parley/agents/starters.py and
docs/api/ejento-parts/conversation-starters.md.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import AliasChoices, BaseModel, Field, StringConstraints, model_validator

from parley.agents import starters
from parley.http.deps import CurrentPrincipal, SessionDep, api_category
from parley.surfaces.ejento.envelope import created, ok
from parley.surfaces.ejento.params import NO_NUL, PathId
from parley.surfaces.ejento.serializers import audit

router = APIRouter(tags=["Ejento: Conversation Starters"], dependencies=[api_category("agents")])

# The same limit as the agent's sample_q1..3.
StarterText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000, pattern=NO_NUL)
]
Position = Annotated[int, Field(ge=1, le=starters.MAX_STARTERS)]
TEXT_NAMES = AliasChoices("starter", "conversation_starter")


class CreateStarterBody(BaseModel):
    starter: StarterText = Field(validation_alias=TEXT_NAMES)
    position: Position | None = None  # 1-based; the end when left out


class EditStarterBody(BaseModel):
    starter: StarterText | None = Field(default=None, validation_alias=TEXT_NAMES)
    position: Position | None = None

    @model_validator(mode="after")
    def _something(self) -> EditStarterBody:
        if self.starter is None and self.position is None:
            raise ValueError("send starter and/or position")
        return self


def conversation_starter(s: starters.Starter) -> dict:
    # A sample question not stored as a starter yet lives on the agent: so do its audit fields.
    return {
        "id": s.row.id if s.row is not None else None,
        "agent": s.agent.id,
        "starter": s.text,
        "position": s.position,
        "sample_field": s.sample_field,
        "is_deleted": s.row.is_deleted if s.row is not None else False,
        **audit(s.row if s.row is not None else s.agent),
    }


@router.post("/v2/api/agent/{agent_id}/conversation-starter")
def create_conversation_starter(
    agent_id: PathId, body: CreateStarterBody, session: SessionDep, principal: CurrentPrincipal
):
    found = starters.create_starter(session, principal, agent_id, body.starter, body.position)
    return created(conversation_starter(found), "Conversation starter created successfully.")


@router.get("/v2/api/agent/{agent_id}/conversation-starter")
def get_conversation_starters(agent_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    found = starters.starters(session, principal, agent_id)
    return ok([conversation_starter(s) for s in found], "Conversation starters fetched successfully.")


@router.get("/v2/api/agent/{agent_id}/conversation-starter/{starter_id}")
def get_conversation_starter(
    agent_id: PathId, starter_id: PathId, session: SessionDep, principal: CurrentPrincipal
):
    found = starters.get_starter(session, principal, agent_id, starter_id)
    return ok(conversation_starter(found), "Conversation starter fetched successfully.")


@router.put("/v2/api/agent/{agent_id}/conversation-starter/{starter_id}")
def edit_conversation_starter(
    agent_id: PathId,
    starter_id: PathId,
    body: EditStarterBody,
    session: SessionDep,
    principal: CurrentPrincipal,
):
    found = starters.edit_starter(
        session, principal, agent_id, starter_id, text=body.starter, position=body.position
    )
    return ok(conversation_starter(found), "Conversation starter updated successfully.")


@router.delete("/v2/api/agent/{agent_id}/conversation-starter/{starter_id}")
def delete_conversation_starter(
    agent_id: PathId, starter_id: PathId, session: SessionDep, principal: CurrentPrincipal
):
    found = starters.delete_starter(session, principal, agent_id, starter_id)
    return ok(conversation_starter(found), "Conversation starter deleted successfully.")
