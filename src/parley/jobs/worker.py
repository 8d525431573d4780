"""Runs jobs: in threads inside ``parley serve`` (embedded mode) or as ``parley worker``
processes (scale-out), with the same code."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from parley.db.engine import session_scope
from parley.jobs import service as jobs
from parley.jobs.models import Job

logger = logging.getLogger("parley.jobs")


class JobAbandoned(Exception):
    """The job was cancelled or taken over; stop without writing its results."""


class PermanentJobError(Exception):
    """A failure that retrying cannot fix (a corrupt file, an unsupported type)."""


@dataclass
class JobContext:
    """One claimed job as its handler sees it: stage and progress reporting, and the outcome."""

    job_id: int
    kind: str
    document_id: int | None
    corpus_id: int | None
    org_id: int
    payload: dict
    attempt: int
    worker_id: str
    sessions: sessionmaker[Session]
    lease_seconds: float
    on_stage: Callable[[Session, str], None] | None = None
    finished: bool = False
    _stage: str = "queued"
    _stage_started: float = field(default_factory=time.monotonic)
    _last_beat: float = field(default_factory=time.monotonic)

    def stage(self, name: str, progress: float = 0.0) -> None:
        """Enter a stage; records how long the previous one took."""
        elapsed = (
            {self._stage: round(time.monotonic() - self._stage_started, 3)} if self._stage != "queued" else {}
        )
        self._stage = name
        self._stage_started = time.monotonic()
        self._beat(stage=name, progress=progress, stage_seconds=elapsed)

    def progress(self, fraction: float) -> None:
        """Report progress within the stage; heartbeats at most once a second."""
        if time.monotonic() - self._last_beat >= 1.0:
            self._beat(progress=fraction)

    def finish_stage_timing(self) -> dict[str, float]:
        return {self._stage: round(time.monotonic() - self._stage_started, 3)}

    def _beat(self, **kwargs: object) -> None:
        with session_scope(self.sessions) as session:
            alive = jobs.heartbeat(session, self.job_id, self.worker_id, self.lease_seconds, **kwargs)  # type: ignore[arg-type]
            if alive and self.on_stage is not None and "stage" in kwargs:
                self.on_stage(session, str(kwargs["stage"]))
        self._last_beat = time.monotonic()
        if not alive:
            self.finished = True
            raise JobAbandoned(f"job {self.job_id} was cancelled or taken over")


# A handler gets the jobs claimed together (one or more of the same kind). It marks each
# context ``finished`` once its job is completed; a job it leaves unfinished is failed with
# the error raised for it (see Worker.fail_job) or, if the handler raises, retried.
Handler = Callable[[list[JobContext]], None]
FailureHook = Callable[[Session, Job, str], None]


@dataclass(frozen=True)
class JobKind:
    handler: Handler
    batch_size: int = 1


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release_dead_local_workers(sessions: sessionmaker[Session]) -> int:
    with session_scope(sessions) as session:
        return jobs.release_dead_local_workers(session, socket.gethostname(), process_alive)


class Worker:
    """Claims and runs jobs until stopped."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        kinds: dict[str, JobKind],
        *,
        on_failure: FailureHook | None = None,
        worker_id: str | None = None,
        lease_seconds: float = 60.0,
        poll_interval: float = 0.5,
    ) -> None:
        self.sessions = sessions
        self.kinds = kinds
        self.on_failure = on_failure
        self.worker_id = worker_id or default_worker_id()
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval

    def run_once(self) -> bool:
        """Claim and run one batch of jobs; False when there was nothing to do."""
        for kind, spec in self.kinds.items():
            try:
                with session_scope(self.sessions) as session:
                    claimed = jobs.claim(session, self.worker_id, self.lease_seconds, kind, spec.batch_size)
                    contexts = [self._context(job) for job in claimed]
            except OperationalError:
                logger.warning("could not claim jobs (database busy or unavailable)", exc_info=True)
                return False
            if contexts:
                self._run(spec.handler, contexts)
                return True
        return False

    def _context(self, job: Job) -> JobContext:
        return JobContext(
            job_id=job.id,
            kind=job.kind,
            document_id=job.document_id,
            corpus_id=job.corpus_id,
            org_id=job.org_id,
            payload=dict(job.payload or {}),
            attempt=job.attempts,
            worker_id=self.worker_id,
            sessions=self.sessions,
            lease_seconds=self.lease_seconds,
        )

    def _run(self, handler: Handler, contexts: list[JobContext]) -> None:
        done = threading.Event()
        keeper = threading.Thread(target=self._keep_leases, args=(contexts, done), daemon=True)
        keeper.start()
        try:
            handler(contexts)
        except JobAbandoned:
            # One job was cancelled or taken over during work the batch shares (embedding): the
            # others did nothing wrong, so they go back to the queue without being charged.
            logger.info("batch interrupted", extra={"job_ids": [c.job_id for c in contexts]})
            for context in contexts:
                if not context.finished:
                    self.release_job(context)
        except Exception as exc:  # a worker must survive any batch's failure
            logger.exception("job batch failed", extra={"job_ids": [c.job_id for c in contexts]})
            for context in contexts:
                if not context.finished:
                    self.fail_job(
                        context, f"Internal error while processing: {type(exc).__name__}.", retryable=True
                    )
        finally:
            done.set()
            keeper.join()

    def _keep_leases(self, contexts: list[JobContext], done: threading.Event) -> None:
        """Renew the batch's leases every third of a lease while it runs, so that a lease runs out
        only when its worker is gone (or cut off from the database), not because one step (a
        large file, an embedding batch on a busy machine) outlasted it."""
        while not done.wait(self.lease_seconds / 3):
            for context in contexts:
                if context.finished:
                    continue
                try:
                    with session_scope(self.sessions) as session:
                        jobs.heartbeat(session, context.job_id, self.worker_id, self.lease_seconds)
                except SQLAlchemyError:
                    logger.warning("could not renew a job lease", extra={"job_id": context.job_id})

    def release_job(self, context: JobContext) -> None:
        context.finished = True
        with session_scope(self.sessions) as session:
            if jobs.release(session, context.job_id, self.worker_id) and context.on_stage is not None:
                context.on_stage(session, "queued")

    def fail_job(self, context: JobContext, reason: str, *, retryable: bool) -> None:
        context.finished = True
        with session_scope(self.sessions) as session:
            job = jobs.fail(session, context.job_id, self.worker_id, reason, retryable=retryable)
            if job is not None and self.on_failure is not None:
                self.on_failure(session, job, reason)

    def run_each(self, contexts: list[JobContext], step: Callable[[JobContext], None]) -> None:
        """Run ``step`` for every context, turning its errors into that job's outcome."""
        for context in contexts:
            if context.finished:
                continue
            try:
                step(context)
            except JobAbandoned:
                context.finished = True
                logger.info("job abandoned", extra={"job_id": context.job_id})
            except PermanentJobError as exc:
                self.fail_job(context, str(exc), retryable=False)
            except Exception as exc:
                logger.exception("job failed", extra={"job_id": context.job_id})
                self.fail_job(
                    context, f"Internal error while processing: {type(exc).__name__}.", retryable=True
                )

    def run_forever(self, stop: threading.Event) -> None:
        logger.info("worker started", extra={"worker_id": self.worker_id})
        while not stop.is_set():
            try:
                worked = self.run_once()
            except Exception:
                logger.exception("worker loop error")
                worked = False
            if not worked:
                stop.wait(self.poll_interval)
        logger.info("worker stopped", extra={"worker_id": self.worker_id})


class WorkerThreads:
    """Background worker threads for embedded mode."""

    def __init__(
        self, sessions: sessionmaker[Session], make_worker: Callable[[], Worker], count: int
    ) -> None:
        self.sessions = sessions
        self.stop_event = threading.Event()
        self.threads = [
            threading.Thread(
                target=make_worker().run_forever,
                args=(self.stop_event,),
                name=f"parley-worker-{i}",
                daemon=True,
            )
            for i in range(count)
        ]

    def start(self) -> None:
        if self.threads:
            released = release_dead_local_workers(self.sessions)
            if released:
                logger.info("requeued jobs of dead workers", extra={"jobs": released})
        for thread in self.threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)
