"""A server killed with SIGKILL in the middle of ingestion loses nothing and duplicates
nothing: after a restart every document completes with exactly one set of chunks."""

from __future__ import annotations

import time

import httpx
from sqlalchemy import create_engine, text

from tests.support.processes import ServerProcess, parley_env

KEY = "crash-test-key-0123456789abcdef"
BOOT = {
    "PARLEY_INIT_ADMIN_EMAIL": "crash@example.com",
    "PARLEY_INIT_ADMIN_PASSWORD": "crash-password",
    "PARLEY_INIT_API_KEY": KEY,
    "PARLEY_INGEST__DOCUMENTS_PER_BATCH": "2",
}
HEADERS = {"Ocp-Apim-Subscription-Key": KEY}


def _statuses(base: str, ids: list[int]) -> dict[int, str]:
    return {
        i: httpx.get(f"{base}/v2/api/document/{i}/polling", headers=HEADERS).json()["data"]["status"]
        for i in ids
    }


def test_sigkill_during_ingestion_then_restart_completes_every_document(database_url, tmp_path):
    env = parley_env(database_url, tmp_path, **BOOT)
    server = ServerProcess(env).start()
    base = server.base_url
    team = httpx.post(f"{base}/v2/api/team", headers=HEADERS, json={"team_name": "T"}).json()["data"]["id"]
    corpus = httpx.post(f"{base}/v2/api/corpus", headers=HEADERS, json={"name": "Crash"}).json()["data"]["id"]
    assert team
    ids = []
    for n in range(8):
        body = " ".join(
            f"Document {n} sentence {i} talks about topic {i % 17} in some detail." for i in range(600)
        )
        r = httpx.post(
            f"{base}/v2/api/corpus/{corpus}/document",
            headers=HEADERS,
            data={"content_type": "text", "source": body, "upload_from": "web"},
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["data"]["id"])

    # Kill the server once some work has started but before everything is done.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        states = _statuses(base, ids)
        if (
            any(s in ("chunking", "embedding", "indexing") for s in states.values())
            or "completed" in states.values()
        ):
            break
        time.sleep(0.05)
    server.kill()
    assert any(s != "completed" for s in states.values()), (
        "everything finished before the kill; test proves nothing"
    )

    with ServerProcess(env) as restarted:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            states = _statuses(restarted.base_url, ids)
            if all(s == "completed" for s in states.values()):
                break
            assert "failed" not in states.values(), states
            time.sleep(0.5)
        assert all(s == "completed" for s in states.values()), states

    engine = create_engine(database_url)
    with engine.connect() as conn:
        for doc_id in ids:
            ordinals = [
                r[0]
                for r in conn.execute(
                    text("SELECT ordinal FROM chunks WHERE document_id = :d"), {"d": doc_id}
                )
            ]
            count = conn.execute(
                text("SELECT chunk_count FROM documents WHERE id = :d"), {"d": doc_id}
            ).scalar()
            assert sorted(ordinals) == list(range(count)) and count > 0
        orphans = conn.execute(
            text(
                "SELECT count(*) FROM chunks c LEFT JOIN documents d ON d.id = c.document_id "
                "WHERE d.id IS NULL"
            )
        ).scalar()
        assert orphans == 0
        running = conn.execute(
            text("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")
        ).scalar()
        assert running == 0
    engine.dispose()
