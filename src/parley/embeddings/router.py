"""Parley-native admin endpoints for an organisation's embedding model.

``/parley/v1/organizations/{org_id}/embedder``: GET shows it, PUT sets an OpenAI-compatible
endpoint, DELETE goes back to the installation's embedder. Administrators of that organisation
only (403 for members); any other organisation's id is 404. The key is write-only. Errors use
Parley's own format ``{"error": {"message", "detail"}}``; the rule a change follows is in
``org_config``'s docstring and docs/configuration.md.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from parley.access.principal import Principal
from parley.embeddings import org_config
from parley.errors import NotFoundError, PermissionDeniedError
from parley.http.deps import CurrentPrincipal, SessionDep, SettingsDep, api_category
from parley.surfaces.ejento.params import PathId

router = APIRouter(tags=["Parley: embeddings"], dependencies=[api_category("llm_configs")])
PATH = "/parley/v1/organizations/{org_id}/embedder"


class EndpointBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(max_length=org_config.MAX_BASE_URL)
    model: str = Field(max_length=org_config.MAX_MODEL)
    # Write-only, as an LLM config's: encrypted with the server secret, or a variable's name.
    api_key: SecretStr | None = None
    api_key_env: str | None = Field(default=None, max_length=128)
    dimension: int | None = None


def _admin_of(principal: Principal, org_id: int) -> None:
    if org_id != principal.org_id:
        raise NotFoundError("Organization")
    if not principal.is_admin:
        raise PermissionDeniedError("Only organization administrators can do this.")


def _view(view: org_config.EmbedderView, change: org_config.EmbedderChange | None = None) -> dict[str, Any]:
    body = asdict(view)
    if change is not None:
        body["previous_signature"] = change.previous
        body["withheld_corpus_ids"] = change.stale_corpus_ids
    return body


@router.get(PATH)
def get_embedder(
    org_id: PathId, principal: CurrentPrincipal, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    _admin_of(principal, org_id)
    return _view(org_config.describe(session, org_id, settings))


@router.put(PATH)
def set_embedder(
    org_id: PathId,
    body: EndpointBody,
    principal: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    _admin_of(principal, org_id)
    fields = org_config.EndpointFields(**body.model_dump())
    change = org_config.set_endpoint(session, org_id, fields, settings)
    return _view(org_config.describe(session, org_id, settings), change)


@router.delete(PATH)
def use_default_embedder(
    org_id: PathId, principal: CurrentPrincipal, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    _admin_of(principal, org_id)
    change = org_config.use_installation_default(session, org_id, settings)
    return _view(org_config.describe(session, org_id, settings), change)
