"""Ejento V2 endpoints: Feature Flag.

Ejento documents only the names of this group. The collection path is the spec's suggestion
(``/v2/api/feature-flag``); each "Get <X> Feature Flag" of the sidebar is
``/v2/api/feature-flag/<flag name>`` and "Get OAuth Feature Flags" the static ``.../oauth``.
Setting and resetting an organisation's override are Parley's additions, and the login page's
flags answer, unauthenticated, at the Stable path the spec saw in Ejento's client
(docs/api/ejento-parts/feature-flags.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, StrictBool

from parley.flags import service as flags
from parley.http.deps import CurrentPrincipal, SessionDep, api_category
from parley.surfaces.ejento.envelope import ok
from parley.surfaces.ejento.serializers import audit

router = APIRouter(tags=["Ejento: Feature Flag"], dependencies=[api_category("feature_flags")])
# Read before sign-in, so without credentials (and without an organisation).
login_router = APIRouter(tags=["Ejento: Feature Flag"])

FlagName = Annotated[str, Path(min_length=1, max_length=100)]


class FlagOverrideBody(BaseModel):
    is_enabled: StrictBool


def feature_flag(state: flags.FlagState) -> dict:
    # The audit fields say who set the organisation's value, or else where the default came from.
    source = state.override or state.flag
    return {
        "id": state.flag.id,
        "name": state.flag.name,
        "description": state.flag.description,
        "is_enabled": state.is_enabled,
        "default_is_enabled": state.flag.is_enabled,
        "is_overridden": state.override is not None,
        "organization": state.override.org_id if state.override is not None else None,
        **audit(source),
    }


@login_router.get("/auth-service/api/v2/feature-flags/logins")
def get_login_feature_flags(session: SessionDep):
    return ok(flags.login_defaults(session), "Login feature flags fetched successfully.")


@router.get("/v2/api/feature-flag")
def get_all_feature_flags(session: SessionDep, principal: CurrentPrincipal):
    states = flags.all_flags(session, principal)
    return ok([feature_flag(s) for s in states], "Feature flags fetched successfully.")


# Static before "{flag_name}".
@router.get("/v2/api/feature-flag/oauth")
def get_oauth_feature_flags(session: SessionDep, principal: CurrentPrincipal):
    states = flags.oauth_flags(session, principal)
    return ok([feature_flag(s) for s in states], "OAuth feature flags fetched successfully.")


@router.get("/v2/api/feature-flag/{flag_name}")
def get_feature_flag(flag_name: FlagName, session: SessionDep, principal: CurrentPrincipal):
    state = flags.get_flag(session, principal, flag_name)
    return ok(feature_flag(state), "Feature flag fetched successfully.")


@router.put("/v2/api/feature-flag/{flag_name}")
def set_feature_flag(
    flag_name: FlagName, body: FlagOverrideBody, session: SessionDep, principal: CurrentPrincipal
):
    state = flags.set_override(session, principal, flag_name, body.is_enabled)
    return ok(feature_flag(state), "Feature flag updated successfully.")


@router.delete("/v2/api/feature-flag/{flag_name}")
def reset_feature_flag(flag_name: FlagName, session: SessionDep, principal: CurrentPrincipal):
    state = flags.reset_override(session, principal, flag_name)
    return ok(feature_flag(state), "Feature flag reset to default successfully.")
