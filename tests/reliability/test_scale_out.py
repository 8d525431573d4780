"""The scale-out topology of docs/deploy.md, run for real on one machine: PostgreSQL, migrations
by ``parley db upgrade``, two stateless ``parley serve`` processes without in-process workers, and
two ``parley worker`` processes. The test plays the load balancer (round robin, and it stops
sending to a process that no longer answers).

Which worker ran a job: a claim is committed (``jobs.locked_by`` = ``host:pid:suffix``) before
any work starts and stays until the job completes, so a watcher thread polling the running jobs
sees every claim. Completed jobs do not keep their worker (``locked_by`` is cleared).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.support.processes import ChildProcess, ServerProcess, parley_env, run_cli

KEY = "scale-out-test-key-0123456789"
HEADERS = {"Ocp-Apim-Subscription-Key": KEY}
BOOTSTRAP = {
    "PARLEY_INIT_ADMIN_EMAIL": "ops@example.com",
    "PARLEY_INIT_ADMIN_PASSWORD": "scale-out-password",
    "PARLEY_INIT_API_KEY": KEY,
}
# Every process of one installation shares the secret (API key encryption, Kore JWTs).
SECRET = "scale-out-test-secret-0123456789abcdef"
DONE = ("completed", "failed", "cancelled")


class Api:
    """An Ejento client of one API process, acting with the bootstrap admin's key."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, headers=HEADERS, timeout=120)

    def data(self, method: str, path: str, **kwargs: object) -> dict:
        """The envelope's ``data`` of a 2xx answer."""
        r = self.http.request(method, path, **kwargs)  # type: ignore[arg-type]
        assert r.is_success, (method, path, r.status_code, r.text)
        return r.json()["data"]

    def upload(self, corpus_id: int, body: str) -> int:
        form = {"content_type": "text", "source": body, "upload_from": "web"}
        return self.data("POST", f"/v2/api/corpus/{corpus_id}/document", data=form)["id"]

    def status(self, document_id: int) -> str:
        return self.data("GET", f"/v2/api/document/{document_id}/polling")["status"]

    def ask(self, agent_id: int, question: str, thread_id: int | None = None) -> dict:
        body = {"user_query": question, "chat_thread_id": thread_id}
        return self.data("POST", f"/response-service/api/v2/agents/{agent_id}/responses", json=body)

    def close(self) -> None:
        self.http.close()


@dataclass
class Desk:
    agent_id: int
    corpus_id: int


def make_desk(api: Api) -> Desk:
    """A team, project, agent and corpus, the corpus enabled for the agent."""
    team = api.data("POST", "/v2/api/team", json={"team_name": "Ops"})
    project = api.data("POST", "/v2/api/project", json={"project_name": "Ops", "team_id": team["id"]})
    agent = api.data("POST", "/v2/api/agent", json={"name": "Ops", "project_id": project["id"]})
    corpus = api.data("POST", "/v2/api/corpus", json={"name": "Ops"})
    api.data("POST", f"/v2/api/agent/{agent['id']}/corpus/{corpus['id']}")
    return Desk(agent["id"], corpus["id"])


def document_text(n: int, sentences: int) -> str:
    """A document about one made-up product, ``codename{n}``, long enough to take a while."""
    return " ".join(
        f"The codename{n} unit ships from depot {n} with warranty clause {i} covering topic {i % 13}."
        for i in range(sentences)
    )


def wait_completed(api: Api, ids: list[int], timeout: float) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    while True:
        states = {i: api.status(i) for i in ids}
        if all(s in DONE for s in states.values()) or time.monotonic() > deadline:
            return states
        time.sleep(0.5)


class WorkerProcess(ChildProcess):
    """``parley worker`` in a subprocess, its log (JSON lines) in ``log``. Killed, its claimed
    jobs stay ``running`` under its name until their lease runs out."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> WorkerProcess:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "parley.cli", "worker"], env=self.env, stdout=log, stderr=log
            )
        return self


class ClaimWatcher:
    """Polls the running jobs and records every (job, worker pid, attempt) claim it sees."""

    def __init__(self, database_url: str) -> None:
        self.engine = create_engine(database_url, pool_size=1)
        self.claims: dict[int, set[tuple[int, int]]] = defaultdict(set)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self.engine.connect() as conn:
                for job_id, locked_by, attempts in conn.execute(
                    text("SELECT id, locked_by, attempts FROM jobs WHERE status = 'running'")
                ):
                    self.claims[job_id].add((worker_pid(locked_by), attempts))
            self._stop.wait(0.05)

    def workers_of(self, job_ids: list[int]) -> set[int]:
        return {pid for job_id in job_ids for pid, _ in self.claims.get(job_id, ())}

    def __enter__(self) -> ClaimWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.engine.dispose()


def worker_pid(locked_by: str) -> int:
    return int(locked_by.split(":")[1])


def job_ids_of(conn, document_ids: list[int]) -> dict[int, int]:  # type: ignore[no-untyped-def]
    rows = conn.execute(
        text("SELECT document_id, id FROM jobs WHERE document_id = ANY(:ids)"), {"ids": document_ids}
    )
    return dict(rows.all())


@dataclass
class Uploads:
    """What the clients were told: documents acknowledged with a 2xx, per API process."""

    acknowledged: dict[int, tuple[str, int]]  # document id -> (process base URL, document number)
    unanswered: int = 0  # requests that got no answer (their process was killed)


def upload_burst(apis: list[Api], corpus_id: int, first: int, count: int, dead: set[str]) -> Uploads:
    """``count`` uploads, three at a time, round robin over the processes not known dead."""
    uploads = Uploads({})
    lock = threading.Lock()

    def one(n: int) -> None:
        with lock:
            live = [a for a in apis if a.base_url not in dead]
        api = live[n % len(live)]
        try:
            document_id = api.upload(corpus_id, document_text(n, 40))
        except httpx.TransportError:
            with lock:
                uploads.unanswered += 1
                dead.add(api.base_url)  # the balancer's health check takes it out
            return
        with lock:
            uploads.acknowledged[document_id] = (api.base_url, n)

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(one, range(first, first + count)))
    return uploads


@pytest.mark.slow
def test_two_apis_and_two_workers_share_the_work_and_survive_sigkill(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "sqlite":
        pytest.skip("scale-out needs PostgreSQL: a SQLite database is one file for one machine")
    database_url = request.getfixturevalue("database_url")
    common = {"PARLEY_SECRET_KEY": SECRET}
    # Migrations and the first-start bootstrap run once, before any process starts.
    upgrade = run_cli(
        ["db", "upgrade"], parley_env(database_url, tmp_path / "migrate", **common, **BOOTSTRAP)
    )
    assert upgrade.returncode == 0, upgrade.stderr
    api_env = {**common, "PARLEY_INGEST__WORKERS": "0", "PARLEY_RUN_MIGRATIONS_ON_START": "false"}
    # Small batches so that both workers get jobs; a short lease so a dead worker's jobs return soon.
    worker_env = {
        **common,
        "PARLEY_LOG_LEVEL": "INFO",
        "PARLEY_INGEST__DOCUMENTS_PER_BATCH": "2",
        "PARLEY_INGEST__JOB_LEASE_SECONDS": "8",
    }
    workers = [
        WorkerProcess(
            parley_env(database_url, tmp_path / f"worker{i}", **worker_env), tmp_path / f"worker{i}.log"
        )
        for i in (1, 2)
    ]
    servers = [ServerProcess(parley_env(database_url, tmp_path / f"api{i}", **api_env)) for i in (1, 2)]
    apis: list[Api] = []
    engine = create_engine(database_url)
    try:
        for worker in workers:
            worker.start()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(ServerProcess.start, servers))
        apis = [Api(server.base_url) for server in servers]
        api1, api2 = apis
        desk = make_desk(api1)
        with ClaimWatcher(database_url) as watcher:
            # 1. Uploads through both processes; both workers index.
            phase1 = upload_burst(apis, desk.corpus_id, 0, 8, set())
            assert phase1.unanswered == 0
            assert {url for url, _ in phase1.acknowledged.values()} == {a.base_url for a in apis}
            first_ids = sorted(phase1.acknowledged)
            states = wait_completed(api2, first_ids, 240)
            assert set(states.values()) == {"completed"}, _reasons(engine, first_ids)
            with engine.connect() as conn:
                first_jobs = job_ids_of(conn, first_ids)
            assert watcher.workers_of(list(first_jobs.values())) == {w.pid for w in workers}

            # Answers from both processes; a thread begun on one continues on the other.
            answer = api1.ask(desk.agent_id, "Which depot does the codename3 unit ship from?")
            assert answer["data_points"] and "depot 3" in answer["answer"]
            follow = api2.ask(
                desk.agent_id, "What warranty clauses does codename3 have?", answer["thread_id"]
            )
            assert follow["thread_id"] == answer["thread_id"] and "codename3" in follow["answer"]
            thread = api1.data("GET", f"/v2/api/chat-thread/{answer['thread_id']}")
            assert thread["id"] == answer["thread_id"]

            # 2. Kill one API process during an upload burst and one worker while it holds a job.
            dead: set[str] = set()
            burst: list[Uploads] = []
            uploader = threading.Thread(
                target=lambda: burst.append(upload_burst(apis, desk.corpus_id, 100, 12, dead))
            )
            uploader.start()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and _documents(engine, desk.corpus_id) < len(first_ids) + 4:
                time.sleep(0.02)
            servers[1].kill()
            victim, survivor = workers
            orphans: list[int] = []
            while time.monotonic() < deadline and not orphans:
                if _held_by(engine, victim.pid):
                    victim.kill()
                    # What it still held when it died (it may have finished some meanwhile).
                    orphans = _held_by(engine, victim.pid)
                time.sleep(0.02)
            assert orphans, "the worker died holding no job: the test proves nothing"
            uploader.join(180)
            [phase2] = burst
            assert servers[1].base_url in dead, "the killed API process answered every upload"
            second_ids = sorted(phase2.acknowledged)
            states = wait_completed(api1, second_ids, 240)
            assert set(states.values()) == {"completed"}, _reasons(engine, second_ids)
            # The dead worker's jobs were taken over once their lease ran out.
            with engine.connect() as conn:
                attempts = dict(
                    conn.execute(
                        text("SELECT id, attempts FROM jobs WHERE id = ANY(:ids) AND status = 'completed'"),
                        {"ids": orphans},
                    ).all()
                )
            assert set(attempts) == set(orphans) and min(attempts.values()) >= 2
            assert survivor.pid in watcher.workers_of(orphans)
            # The surviving API process still answers, from documents indexed after the kills.
            late = second_ids[-1]
            number = phase2.acknowledged[late][1]
            answer = api1.ask(desk.agent_id, f"Which depot does the codename{number} unit ship from?")
            assert late in {p["document_id"] for p in answer["data_points"]}

        # 3. Nothing acknowledged is lost, nothing is done twice.
        acknowledged = first_ids + second_ids
        with engine.connect() as conn:
            documents = conn.execute(
                text("SELECT id, status, chunk_count FROM documents WHERE corpus_id = :c"),
                {"c": desk.corpus_id},
            ).all()
            assert set(acknowledged) <= {d.id for d in documents}
            # A document stored just before its process died without answering is indexed as well.
            assert {d.status for d in documents} == {"completed"}
            for d in documents:
                ordinals = conn.execute(
                    text("SELECT ordinal FROM chunks WHERE document_id = :d ORDER BY ordinal"), {"d": d.id}
                ).scalars().all()  # fmt: skip
                assert ordinals == list(range(d.chunk_count)) and d.chunk_count > 0, d.id
                jobs = conn.execute(
                    text("SELECT status FROM jobs WHERE document_id = :d"), {"d": d.id}
                ).scalars().all()  # fmt: skip
                assert jobs == ["completed"], (d.id, jobs)
            assert conn.execute(text("SELECT count(*) FROM jobs WHERE status <> 'completed'")).scalar() == 0
    finally:
        for api in apis:
            api.close()
        for server in servers:
            server.stop()
        for worker in workers:
            worker.stop()
        engine.dispose()


def _held_by(engine, pid: int) -> list[int]:  # type: ignore[no-untyped-def]
    """The running jobs the worker with process id ``pid`` has claimed."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT id FROM jobs WHERE status = 'running' AND locked_by LIKE :me"),
                {"me": f"%:{pid}:%"},
            ).scalars()
        )


def _documents(engine, corpus_id: int) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM documents WHERE corpus_id = :c"), {"c": corpus_id}
        ).scalar_one()


def _reasons(engine, document_ids: list[int]) -> list[tuple]:  # type: ignore[no-untyped-def]
    """Each unfinished or failed document with its reason and its jobs' errors, for a failure message."""
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT d.id, d.status, d.status_reason, j.status, j.attempts, j.error FROM documents d "
                "JOIN jobs j ON j.document_id = d.id WHERE d.id = ANY(:ids) AND d.status <> 'completed'"
            ),
            {"ids": document_ids},
        ).all()
