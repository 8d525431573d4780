"""Schemathesis over the app's own OpenAPI document: every operation of every surface, with valid
and invalid data, as an organisation admin, on a database full of real rows.

No answer may be a 5xx, none may break the response schema its operation declares, and every body
must parse (JSON, or the event stream or page its content type says). Each operation gets a
fixed, small number of examples, generated from a fixed seed (``derandomize``), so a CI run is
reproducible and bounded; path parameters are drawn both at random and from the real rows.

One backend: PostgreSQL, because it refuses far more values than SQLite does (NUL characters,
out-of-range integers, over-long strings), so it is where a value reaching the database unchecked
turns into a 5xx. The isolation and bad-input tests run on both backends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import response_schema_conformance

from parley.app import create_app
from tests.conftest import fresh_database, make_settings
from tests.reliability.conftest import open_world
from tests.reliability.routes import ID_PARAMETERS, SHARED_PARAMETERS, id_parameter
from tests.reliability.tenants import Tenant, caller, populate

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 4
SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
    suppress_health_check=list(HealthCheck),
)


@dataclass
class Target:
    app: FastAPI
    tenant: Tenant
    headers: dict[str, str]  # an organisation admin's key, sent every way a surface reads one
    key_id: int


@pytest.fixture(scope="module")
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    folder = tmp_path_factory.mktemp("fuzz")
    for url in fresh_database(request, "postgres", folder):
        for world in open_world(url, folder):
            tenant = populate(world, world.db, "fuzzqz")
            # Made last, so its ids are not the small integers generated data is full of.
            fuzzer = caller(world.db, world.user(tenant.org, email="fuzzer@fuzzqz.example.com", admin=True))
            key_id = fuzzer.get("/v2/api/api-key").json()["data"][0]["id"]
        # The fuzz run's own app on the same database, started by schemathesis's ASGI client.
        app = create_app(make_settings(url, folder))
        try:
            yield Target(app, tenant, fuzzer.headers, key_id)
        finally:
            asgi.shutdown_lifespans()


def real_parameters(path: str, names: list[str], tenant: Tenant) -> dict[str, str]:
    return {
        name: parameter.spell(tenant.ids[parameter.kind])
        for name in names
        if (parameter := id_parameter(path, name)) is not None
    }


def parseable(response: schemathesis.Response) -> bool:
    kind = response.headers.get("content-type", [""])[0]
    if kind.startswith("application/json"):
        try:
            json.loads(response.content)
        except ValueError:
            return False
    return True


def test_every_operation_survives_generated_requests(target: Target) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", target.app)
    headers = target.headers
    failures: list[str] = []
    statuses: dict[int, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        names = [p.name for p in operation.path_parameters]
        assert all(n in ID_PARAMETERS or (operation.path, n) in SHARED_PARAMETERS for n in names), operation
        strategies = [operation.as_strategy(generation_mode=mode) for mode in GenerationMode]
        real = real_parameters(operation.path, names, target.tenant)
        if names and len(real) == len(names):
            strategies.append(operation.as_strategy(path_parameters=real))

        @given(case=st.one_of(strategies))
        @SETTINGS
        def run(case: schemathesis.Case) -> None:
            own_key = f"/v2/api/api-key/{target.key_id}"
            if case.method.upper() == "DELETE" and case.formatted_path == own_key:
                hypothesis.reject()  # the fuzzer must keep its credentials
            response = case.call(headers=headers)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            problems = []
            for check in (not_a_server_error, response_schema_conformance):
                try:
                    case.validate_response(response, checks=[check], headers=headers)
                except Exception as exc:  # noqa: BLE001 - every failed check is reported together
                    problems.append(f"{check.__name__}: {str(exc)[:800]}")
            if not parseable(response):
                problems.append("the JSON body does not parse")
            if problems:
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code}\n" + "\n".join(problems)
                )

        run()
    assert failures == [], "\n\n".join(failures[:40])
    # The run was authenticated: the fuzzer still is, and few answers were 401.
    with asgi.get_client(target.app) as client:
        assert client.get("/v2/api/auth/me", headers=headers).status_code == 200
    assert statuses.get(401, 0) < sum(statuses.values()) / 10, statuses
