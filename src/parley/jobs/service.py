"""Durable jobs in the database.

A worker claims a job by taking a lease (``locked_by``, ``lease_expires_on``) and renews it with
heartbeats while it works; a job whose worker died is claimed again once its lease expires, so
a crash mid-job resumes elsewhere. Each state change is its own short transaction: no
transaction stays open while a job parses or embeds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from parley.db.base import utcnow
from parley.jobs.models import Job

RETRY_BACKOFF_SECONDS = (5, 30, 120)


def enqueue(
    session: Session,
    *,
    org_id: int,
    kind: str,
    document_id: int | None = None,
    corpus_id: int | None = None,
    payload: dict | None = None,
    max_attempts: int = 3,
) -> Job:
    job = Job(
        org_id=org_id,
        kind=kind,
        document_id=document_id,
        corpus_id=corpus_id,
        payload=payload or {},
        max_attempts=max_attempts,
        status="queued",
        stage="queued",
    )
    session.add(job)
    session.flush()
    return job


def claim(session: Session, worker_id: str, lease_seconds: float, kind: str, limit: int = 1) -> list[Job]:
    """Take up to ``limit`` of the oldest runnable jobs of one kind: queued and due, or running
    with an expired lease (their worker died)."""
    now = utcnow()
    runnable = or_(
        (Job.status == "queued") & (Job.available_on <= now),
        (Job.status == "running") & (Job.lease_expires_on < now),
    )
    stmt = select(Job).where(runnable, Job.kind == kind).order_by(Job.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    # On SQLite the claiming session holds the write lock (BEGIN IMMEDIATE), which serialises claims.
    claimed = list(session.scalars(stmt))
    for job in claimed:
        job.status = "running"
        job.locked_by = worker_id
        job.lease_expires_on = now + timedelta(seconds=lease_seconds)
        job.attempts += 1
        job.started_on = job.started_on or now
        job.error = ""
    session.flush()
    return claimed


def heartbeat(
    session: Session,
    job_id: int,
    worker_id: str,
    lease_seconds: float,
    *,
    stage: str | None = None,
    progress: float | None = None,
    stage_seconds: dict[str, float] | None = None,
) -> bool:
    """Renew the lease (and record stage and progress). False when the job is no longer ours:
    cancelled, or taken over after our lease expired."""
    job = session.get(Job, job_id, with_for_update=session.get_bind().dialect.name == "postgresql")
    if job is None or job.status != "running" or job.locked_by != worker_id:
        return False
    job.lease_expires_on = utcnow() + timedelta(seconds=lease_seconds)
    if stage is not None:
        job.stage = stage
    if progress is not None:
        job.progress = max(0.0, min(1.0, progress))
    if stage_seconds:
        job.stage_timings = {**(job.stage_timings or {}), **stage_seconds}
    return True


def complete(session: Session, job: Job) -> None:
    job.status = "completed"
    job.stage = "completed"
    job.progress = 1.0
    job.finished_on = utcnow()
    job.lease_expires_on = None
    job.locked_by = ""


def fail(session: Session, job_id: int, worker_id: str, reason: str, *, retryable: bool) -> Job | None:
    """Record a failure: back to the queue with a delay while attempts remain and the error
    may pass, otherwise failed for good. Returns the job, or None if it was not ours."""
    job = session.get(Job, job_id)
    if job is None or job.locked_by != worker_id or job.status != "running":
        return None
    job.error = reason
    job.locked_by = ""
    job.lease_expires_on = None
    if retryable and job.attempts < job.max_attempts:
        delay = RETRY_BACKOFF_SECONDS[min(job.attempts - 1, len(RETRY_BACKOFF_SECONDS) - 1)]
        job.status = "queued"
        job.stage = "queued"
        job.available_on = utcnow() + timedelta(seconds=delay)
    else:
        job.status = "failed"
        job.stage = "failed"
        job.finished_on = utcnow()
    return job


def release(session: Session, job_id: int, worker_id: str) -> bool:
    """Put a job we hold back in the queue, due now and its attempt not counted: it was
    interrupted through no fault of its own. False when it was not ours any more."""
    job = session.get(Job, job_id)
    if job is None or job.locked_by != worker_id or job.status != "running":
        return False
    job.status = "queued"
    job.stage = "queued"
    job.locked_by = ""
    job.lease_expires_on = None
    job.attempts = max(0, job.attempts - 1)
    job.available_on = utcnow()
    return True


def cancel_for_document(session: Session, document_id: int) -> int:
    """Cancel the document's unfinished jobs; a worker notices at its next heartbeat."""
    result = session.execute(
        update(Job)
        .where(Job.document_id == document_id, Job.status.in_(("queued", "running")))
        .values(
            status="cancelled", stage="cancelled", finished_on=utcnow(), locked_by="", lease_expires_on=None
        )
    )
    return result.rowcount or 0


def latest_for_document(session: Session, document_id: int) -> Job | None:
    return session.scalars(
        select(Job).where(Job.document_id == document_id).order_by(Job.id.desc()).limit(1)
    ).first()


def release_dead_local_workers(session: Session, hostname: str, is_alive: Callable[[int], bool]) -> int:
    """Requeue running jobs held by worker processes of this host that no longer exist, so a
    restart after a crash resumes them at once instead of waiting for their leases to expire.
    Worker ids look like ``host:pid:suffix``."""
    released = 0
    for job in session.scalars(
        select(Job).where(Job.status == "running", Job.locked_by.like(f"{hostname}:%"))
    ):
        parts = job.locked_by.split(":")
        if len(parts) >= 3 and parts[1].isdigit() and not is_alive(int(parts[1])):
            job.lease_expires_on = utcnow() - timedelta(seconds=1)
            released += 1
    return released
