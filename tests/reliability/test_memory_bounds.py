"""What a process keeps from hostile input is bounded: a stream of distinct, large metadata
filters (each a new SQL text) does not pile up in the engine's compiled-statement cache, nor in
the prepared statements a driver keeps per connection.
The filter-result cache's own bounds are in tests/unit/search/test_filter_cache.py; the RSS of
a real server under such a run is bench/hostile_memory.py."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from parley.db.engine import LARGE_STATEMENT_CHARS, execute_request_shaped
from parley.surfaces.contextual import ids as contextual_ids
from parley.surfaces.contextual.ids import Kind
from tests.reliability.conftest import Tenancy


def test_distinct_large_filters_stay_out_of_the_compiled_statement_cache(tenancy: Tenancy) -> None:
    a = tenancy.alpha
    agent = contextual_ids.encode(Kind.AGENT, a.ids["agent"])
    question = [{"role": "user", "content": "What is the refund window?"}]
    compiled = tenancy.app.state.engine._compiled_cache

    def ask(n: int) -> None:
        # Names and values are bound parameters: the SQL text changes with the number of values.
        values = [f"{n}-{k}-" + "x" * 100 for k in range(300 + n)]
        filters = {"field": f"lang_{n}", "operator": "containsany", "value": values}
        r = a.owner.post(
            f"/v1/agents/{agent}/query", json={"messages": question, "documents_filters": filters}
        )
        assert r.status_code == 200, r.text

    ask(0)  # every statement of the answer path compiled once
    before = len(compiled)
    for n in range(1, 21):
        ask(n)
    assert len(compiled) < before + 5


def test_a_connection_that_ran_a_large_request_shaped_statement_is_not_reused(tmp_path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'pool.db'}")
    large = "SELECT '" + "x" * LARGE_STATEMENT_CHARS + "'"

    def run(sql: str) -> object:
        with Session(engine) as session:
            execute_request_shaped(session, text(sql)).all()
            return session.connection().connection.dbapi_connection

    first = run("SELECT 1")
    assert run("SELECT 1") is first  # the pool hands the same connection back
    assert run(large) is first
    assert run("SELECT 1") is not first  # closed at its next checkout, with what it prepared
    engine.dispose()
