"""Ejento V2 endpoints: Corpus (create, list, get, edit, delete), corpus permissions and the
agents that search a corpus.

Only Create Corpus is documented by Ejento; the other paths follow its pattern
(docs/api/ejento.md). Documents and the other corpus sub-resources live elsewhere.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, StringConstraints

from parley.agents import service as agents
from parley.corpora import service as corpora
from parley.http.deps import CurrentPrincipal, SessionDep, api_category
from parley.surfaces.ejento.envelope import PageDep, created, iso, ok, paginate
from parley.surfaces.ejento.params import BodyId, PathId, SearchQuery
from parley.surfaces.ejento.serializers import agents_full, corpus, team_compact, user_compact

router = APIRouter(tags=["Ejento: Corpus"], dependencies=[api_category("corpora")])

CorpusName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Description = Annotated[str, Field(max_length=10_000)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Tags = Annotated[list[Tag], Field(max_length=50)]
CorpusType = Literal["document", "attachment"]


class CreateCorpusBody(BaseModel):
    name: CorpusName
    description: Description = ""
    type: CorpusType = "document"
    is_public: bool = False
    tags: Tags = Field(default_factory=list)


class EditCorpusBody(BaseModel):
    # Explicit nulls are rejected (400); omitted fields are left unchanged.
    name: CorpusName = Field(default=None)
    description: Description = Field(default=None)
    is_public: bool = Field(default=None)
    tags: Tags = Field(default=None)


class GrantBody(BaseModel):
    user_id: BodyId | None = None
    team_id: BodyId | None = None
    permission: Literal["read", "write"]


def _grant(grant: corpora.PermissionGrant) -> dict:
    row, user, team = grant
    return {
        "id": row.id,
        "corpus": row.corpus_id,
        "user": user_compact(user) if user else None,
        "team": team_compact(team) if team else None,
        "permission": row.permission,
        "created_by": row.created_by,
        "created_on": iso(row.created_on),
    }


@router.post("/v2/api/corpus")
def create_corpus(body: CreateCorpusBody, session: SessionDep, principal: CurrentPrincipal):
    row = corpora.create_corpus(
        session,
        principal,
        name=body.name,
        description=body.description,
        corpus_type=body.type,
        is_public=body.is_public,
        tags=body.tags,
    )
    return created(corpus(row), "Corpus created successfully.")


@router.get("/v2/api/corpus")
def get_all_corpus(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    query: SearchQuery = None,
    type: CorpusType | None = None,  # noqa: A002 - the query parameter's public name
):
    stmt = corpora.corpora_query(principal, query, type)
    data = paginate(session, stmt, page, "corpora", lambda rows: [corpus(c) for c in rows])
    return ok(data, "Corpora fetched successfully.")


@router.get("/v2/api/corpus/{corpus_id}")
def get_corpus(corpus_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    return ok(corpus(corpora.get_corpus(session, principal, corpus_id)), "Corpus fetched successfully.")


@router.put("/v2/api/corpus/{corpus_id}")
def edit_corpus(corpus_id: PathId, body: EditCorpusBody, session: SessionDep, principal: CurrentPrincipal):
    row = corpora.edit_corpus(session, principal, corpus_id, body.model_dump(exclude_unset=True))
    return ok(corpus(row), "Corpus updated successfully.")


@router.delete("/v2/api/corpus/{corpus_id}")
def delete_corpus(corpus_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    return ok(corpus(corpora.delete_corpus(session, principal, corpus_id)), "Corpus deleted successfully.")


@router.get("/v2/api/corpus/{corpus_id}/agent")
def get_all_agents_by_corpus(
    corpus_id: PathId, session: SessionDep, principal: CurrentPrincipal, page: PageDep
):
    stmt = agents.corpus_agents_query(session, principal, corpus_id)
    data = paginate(session, stmt, page, "agents", lambda rows: agents_full(session, rows))
    return ok(data, "Corpus agents fetched successfully.")


@router.get("/v2/api/corpus/{corpus_id}/permission")
def get_corpus_permissions(corpus_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    grants = corpora.corpus_permissions(session, principal, corpus_id)
    return ok([_grant(g) for g in grants], "Corpus permissions fetched successfully.")


@router.post("/v2/api/corpus/{corpus_id}/permission")
def grant_corpus_permission(
    corpus_id: PathId, body: GrantBody, session: SessionDep, principal: CurrentPrincipal
):
    grant = corpora.grant_corpus_permission(
        session, principal, corpus_id, permission=body.permission, user_id=body.user_id, team_id=body.team_id
    )
    return created(_grant(grant), "Corpus permission granted successfully.")


@router.get("/v2/api/corpus/{corpus_id}/permission/user/{user_id}")
def get_corpus_permission_by_user(
    corpus_id: PathId, user_id: PathId, session: SessionDep, principal: CurrentPrincipal
):
    found = corpora.effective_permission(session, principal, corpus_id, user_id)
    data = {
        "corpus": found.corpus.id,
        "user": user_compact(found.user),
        "permission": found.permission,
        "reason": found.reason,
    }
    return ok(data, "Corpus permission fetched successfully.")


@router.delete("/v2/api/corpus/{corpus_id}/permission/{permission_id}")
def revoke_corpus_permission(
    corpus_id: PathId, permission_id: PathId, session: SessionDep, principal: CurrentPrincipal
):
    grant = corpora.revoke_corpus_permission(session, principal, corpus_id, permission_id)
    return ok(_grant(grant), "Corpus permission revoked successfully.")
