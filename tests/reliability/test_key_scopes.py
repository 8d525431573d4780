"""API key scopes, generated from the route table like the isolation matrix.

A read-only key is refused every write of every surface, on the caller's own rows, and nothing is
written; a restricted key with no category allowed is refused every route that touches data,
reads included. Routes that need no category (signing in, the caller's own identity) are listed
with why, so a new route without a scope check fails here instead of slipping through.
"""

from __future__ import annotations

import re
from typing import Any

from tests.reliability.conftest import Tenancy
from tests.reliability.routes import Bodies, Operation, operations
from tests.reliability.tenants import Tenant, caller, made
from tests.reliability.test_isolation import READING_POST, request_for, shared_values, spelled
from tests.support.world import Actor

# Routes any valid key may call, whatever its scope, and why.
UNSCOPED: dict[tuple[str, str], str] = {
    ("POST", "/v2/api/auth/login"): "signing in needs no key",
    ("POST", "/v2/api/auth/refresh"): "exchanges a refresh token, not a key",
    ("POST", "/v2/api/auth/logout"): "ends the caller's own session",
    ("GET", "/v2/api/auth/me"): "the caller's own identity",
    ("GET", "/v2/api/api-key"): "the caller's own keys: names and prefixes, never secrets",
    ("GET", "/auth-service/api/v2/feature-flags/logins"): "public: the sign-in page reads it first",
}
UNSCOPED_PATHS = re.compile(r"^/assets/|^/$")  # the console's page and files


def scoped_key(t: Tenancy, tenant: Tenant, scope: str, permissions: dict[str, str] | None = None) -> Actor:
    body: dict[str, Any] = {"name": f"{scope} scope matrix", "scope": scope}
    if permissions is not None:
        body["permissions"] = permissions
    secret = made(tenant.owner.post("/v2/api/api-key", json=body))["secret"]
    return caller(t.db, Actor(tenant.owner.client, tenant.owner.user, secret))


def checked(t: Tenancy, *, writes_only: bool) -> list[Operation]:
    return [
        op
        for op in operations(t.app)
        if (op.method, op.path) not in UNSCOPED
        and not UNSCOPED_PATHS.search(op.path)
        and (not writes_only or (op.method != "GET" and not READING_POST.search(op.path)))
    ]


def refusals(t: Tenancy, actor: Actor, ops: list[Operation]) -> list[str]:
    bodies = Bodies(t.app)
    shared = shared_values(t)
    wrong = []
    for op in ops:
        url = op.url(spelled(op, t.alpha.ids, shared))
        r = actor.request(op.method, url, **request_for(bodies, op, t.alpha))
        if r.status_code != 403:
            wrong.append(f"{op.method} {url} -> {r.status_code} {r.text[:200]}")
    return wrong


def test_read_only_keys_write_nothing_anywhere(tenancy: Tenancy) -> None:
    t = tenancy
    actor = scoped_key(t, t.alpha, "read_only")
    ops = checked(t, writes_only=True)
    assert len(ops) > 100  # every surface's writes, not an empty list
    before = t.row_counts()
    assert refusals(t, actor, ops) == []
    assert t.row_counts() == before
    # The same key still reads, and may revoke itself (not other keys: that is in the matrix).
    assert actor.get(f"/v2/api/agent/{t.alpha.ids['agent']}").status_code == 200
    own = next(k for k in made(actor.get("/v2/api/api-key")) if k["name"] == "read_only scope matrix")
    made(actor.delete(f"/v2/api/api-key/{own['id']}"))
    assert actor.get(f"/v2/api/agent/{t.alpha.ids['agent']}").status_code == 401


def test_a_key_with_no_category_reaches_no_data(tenancy: Tenancy) -> None:
    t = tenancy
    actor = scoped_key(t, t.alpha, "restricted", {})
    ops = checked(t, writes_only=False)
    before = t.row_counts()
    assert refusals(t, actor, ops) == []
    assert t.row_counts() == before
    assert actor.get("/v2/api/auth/me").status_code == 200
