"""The isolation matrix, generated from the app's route table.

Every route with an id in its path is called, for every method, with the other side's ids: another
organisation's (by its admin, a team Owner and a plain Member) must answer 404; a teammate's
private rows, by a Member of another team, 404 or 403 (403 only where the row is visible and the
action is not allowed). Every list, search, dashboard, usage-log and answer route is then called
by everyone with their own ids, and no other side's names, texts or ids may appear in what it
answers. Nothing may be written by a refused call.

Both backends run it: the visibility rules are SQL clauses, and each dialect runs its own SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from parley.access import capabilities
from parley.agents.models import AgentType
from parley.app import create_app
from parley.flags.models import FeatureFlag
from tests.conftest import make_settings
from tests.reliability.conftest import Tenancy
from tests.reliability.routes import (
    ID_PARAMETERS,
    Bodies,
    Operation,
    id_parameter,
    operations,
    unknown_parameters,
)
from tests.reliability.tenants import Tenant
from tests.support.world import Actor

# Body fields that reference a row by id (beyond the path parameter names themselves): the matrix
# fills them with the caller's own rows, so only the path decides the answer.
BODY_ID_FIELDS = {
    **{name: parameter.kind for name, parameter in ID_PARAMETERS.items()},
    "chat_thread_id": "thread",
    "llm_config_id": "llm_config",
    "api_tool_template_id": "tool_template",
    "AgentId": "agent",
    "UserId": "user",
}
# Bodies whose rules the OpenAPI schema cannot state (model validators, checks in the handler).
BODY_OVERRIDES: dict[tuple[str, str], Callable[[dict[str, int]], dict[str, Any]]] = {
    ("PUT", "/v2/api/agent/{agent_id}/conversation-starter/{starter_id}"): lambda ids: {
        "json": {"position": 1}
    },
    ("PUT", "/v2/api/document/{document_id}/tags"): lambda ids: {"json": {"add": ["reliability"]}},
    ("POST", "/v2/api/corpus/{corpus_id}/document/duplicates"): lambda ids: {
        "json": {"names": ["reliability"]}
    },
    ("POST", "/v2/api/corpus/{corpus_id}/document"): lambda ids: {
        "data": {"content_type": "text", "source": "reliability", "upload_from": "web"},
        "files": {"_": ("", b"")},
    },
    ("POST", "/v2/api/agent/{agent_id}/user"): lambda ids: {"json": {"user_ids": [ids["user_id"]]}},
    ("POST", "/v2/api/team/{team_id}/user"): lambda ids: {"json": {"user_ids": [ids["user_id"]]}},
    ("POST", "/api/v2/agent-responses/{agent_response_id}/feedbacks"): lambda ids: {
        "json": {"vote_type": "up"}
    },
    ("POST", "/v2/api/agent-response/{agent_response_id}/feedback"): lambda ids: {
        "json": {"vote_type": "up"}
    },
}
# Read-only POST routes: dashboards, usage logs, answers, turn and binding lists, searches.
READING_POST = re.compile(
    r"dashboard|getLLMUsageLogs|/GetChatbot|/query$|/responses(/stream)?$|/completions|search"
)


def test_every_path_parameter_is_in_the_id_table(tmp_path: Path) -> None:
    """A new route whose path names a parameter the matrix cannot fill fails here."""
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'unused.db'}", tmp_path))
    ops = operations(app)
    assert len(ops) > 200  # the route table was read, not an empty router
    assert unknown_parameters(ops) == []


@dataclass(frozen=True)
class Side:
    """Who calls (``actor``, owning ``own``) and whose ids they try (``victim``)."""

    name: str
    actor: Actor
    own: Tenant
    victim: Tenant
    same_org: bool = False

    @property
    def marker(self) -> str:
        # A teammate may see the organisation's shared rows, never the owner's private ones.
        return self.victim.private_label if self.same_org else self.victim.label


def sides(t: Tenancy) -> list[Side]:
    a, b = t.alpha, t.bravo
    return [
        Side("bravo admin -> alpha", b.admin, b, a),
        Side("bravo owner -> alpha", b.owner, b, a),
        Side("bravo member -> alpha", b.member, b, a),
        Side("alpha admin -> bravo", a.admin, a, b),
        Side("alpha member -> alpha owner", a.member, a, a, same_org=True),
    ]


def shared_values(t: Tenancy) -> dict[str, str]:
    """Values for the parameters that name no tenant row (reference data)."""
    t.db.rollback()
    type_id = t.db.scalar(select(AgentType.id).order_by(AgentType.id))
    flag = t.db.scalar(
        select(FeatureFlag.name).where(FeatureFlag.org_id.is_(None)).order_by(FeatureFlag.name)
    )
    return {
        "type_id": str(type_id),
        "flag_name": str(flag),
        "permission": next(iter(capabilities.CAPABILITIES)),
        "name": "favicon.svg",
    }


def spelled(op: Operation, ids: dict[str, int], shared: dict[str, str]) -> dict[str, str]:
    values = {}
    for name in op.parameters:
        parameter = id_parameter(op.path, name)
        values[name] = shared[name] if parameter is None else parameter.spell(ids[parameter.kind])
    return values


def variants(op: Operation, side: Side, shared: dict[str, str]) -> Iterator[str]:
    """The op's URL with each id parameter in turn set to the victim's row (the others the
    caller's own), then with all of them the victim's."""
    own = spelled(op, side.own.ids, shared)
    foreign = spelled(op, side.victim.ids, shared)
    targets = [
        name
        for name in op.parameters
        if (parameter := id_parameter(op.path, name)) is not None
        and (not side.same_org or parameter.kind in side.victim.private_kinds)
    ]
    for name in targets:
        yield op.url({**own, name: foreign[name]})
    if len(targets) > 1:
        yield op.url({**own, **{name: foreign[name] for name in targets}})


def body_ids(tenant: Tenant) -> dict[str, int]:
    return {name: tenant.ids[kind] for name, kind in BODY_ID_FIELDS.items()}


def request_for(bodies: Bodies, op: Operation, tenant: Tenant) -> dict[str, Any]:
    """A request the op accepts from ``tenant``'s users on their own rows."""
    ids = body_ids(tenant)
    override = BODY_OVERRIDES.get((op.method, op.path))
    return override(ids) if override else bodies.request(op, ids)


def leaks(text: str, side: Side) -> list[str]:
    found = [side.marker] if side.marker in text else []
    if not side.same_org:
        found += [public for public in side.victim.public_ids if public in text]
    return found


def refused(status: int, side: Side, op: Operation, kwargs: dict[str, Any], shared: dict[str, str]) -> bool:
    """404; or 403 where the caller may see the row but not act on it (their own organisation),
    or where the caller's role is refused whatever the id (their own row gets 403 too)."""
    if status == 404:
        return True
    if status != 403:
        return False
    if side.same_org:
        return True
    own = side.actor.request(op.method, op.url(spelled(op, side.own.ids, shared)), **kwargs)
    return own.status_code == 403


def test_other_sides_ids_are_not_found(tenancy: Tenancy) -> None:
    t = tenancy
    ops = [op for op in operations(t.app) if any(id_parameter(op.path, n) for n in op.parameters)]
    bodies = Bodies(t.app)
    shared = shared_values(t)
    before = t.row_counts()
    failures: list[str] = []
    calls = 0
    for side in sides(t):
        for op in ops:
            kwargs = request_for(bodies, op, side.own)
            for url in variants(op, side, shared):
                r = side.actor.request(op.method, url, **kwargs)
                calls += 1
                if leaks(r.text, side) or not refused(r.status_code, side, op, kwargs, shared):
                    failures.append(f"{side.name}: {op.method} {url} -> {r.status_code} {r.text[:300]}")
    assert calls > 300
    assert failures == [], "\n".join(failures)
    assert t.row_counts() == before


def own_ids(value: Any, keys: dict[str, str]) -> Iterator[tuple[str, int]]:
    """(kind, id) for every id-valued field of a JSON document whose name says its kind."""
    if isinstance(value, dict):
        for key, item in value.items():
            kind = keys.get(key) or keys.get(key.removesuffix("s"))
            if kind and isinstance(item, int) and not isinstance(item, bool):
                yield kind, item
            elif kind and isinstance(item, list):
                yield from ((kind, i) for i in item if isinstance(i, int) and not isinstance(i, bool))
            else:
                yield from own_ids(item, keys)
    elif isinstance(value, list):
        for item in value:
            yield from own_ids(item, keys)


def test_lists_searches_and_logs_show_only_the_callers_rows(tenancy: Tenancy) -> None:
    t = tenancy
    reading = [
        op
        for op in operations(t.app)
        if op.method == "GET" or (op.method == "POST" and READING_POST.search(op.path))
    ]
    bodies = Bodies(t.app)
    shared = shared_values(t)
    before = t.row_counts(except_answers=True)
    failures: list[str] = []
    answered = 0
    for side in sides(t):
        foreign = {kind: row for kind, row in side.victim.ids.items() if row != side.own.ids.get(kind)}
        for op in reading:
            url = op.url(spelled(op, side.own.ids, shared))
            r = side.actor.request(op.method, url, **request_for(bodies, op, side.own))
            answered += r.status_code < 300
            if r.status_code >= 500:
                failures.append(f"{side.name}: {op} -> {r.status_code} {r.text[:300]}")
                continue
            found = leaks(r.text, side)
            if not side.same_org and r.headers.get("content-type", "").startswith("application/json"):
                found += [
                    f"{kind} {row}"
                    for kind, row in own_ids(r.json(), BODY_ID_FIELDS)
                    if foreign.get(kind) == row
                ]
            if found:
                failures.append(f"{side.name}: {op.method} {url} shows {found}: {r.text[:300]}")
    assert answered > 100  # the calls reached the handlers
    assert failures == [], "\n".join(failures)
    assert t.row_counts(except_answers=True) == before
