"""Mixed load on one real ``parley serve``: streamed chats, ingestion and dashboard reads at once.

    python bench/load_mixed.py [--minutes 3] [--chats 50] [--dashboards 2] [--database-url URL]
                               [--data-dir DIR]

Starts ``parley serve`` on a free loopback port (a fresh SQLite data folder unless --database-url
names an empty PostgreSQL database), creates an agent and a corpus through the Ejento API and
indexes a few made-up product sheets. Then, for --minutes:

* --chats virtual users each ask questions one after another on the SSE answer endpoint
  (``/response-service/api/v2/agents/{id}/responses/stream``), five per thread, then a new thread;
* one uploader adds a product sheet every second and waits for nothing (the server's in-process
  worker indexes them);
* --dashboards readers each read the organisation dashboard, the agent's dashboard and the
  agent's first page of chat logs, once a second.

When the time is up it lets the answers in flight finish and the uploads index, then checks the
database: every answer the clients received (its ``agent_response_id``) is stored, with usage
records whose token counts add up to the answer's, and every uploaded document is completed. It
prints p50 / p95 / max latency per request type and exits with status 1 on any error, missing
row or unfinished document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import bindparam, create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import API_KEY, agent_with_corpus, ejento_data, start_parley  # noqa: E402

from parley.evaluation.beir import percentile  # noqa: E402
from parley.settings import normalise_database_url  # noqa: E402

HEADERS = {"Ocp-Apim-Subscription-Key": API_KEY}
SEED_DOCUMENTS = 6
TURNS_PER_THREAD = 5
CITIES = ["Oslo", "Lyon", "Porto", "Graz", "Turku", "Gent", "Brno", "Cork"]


def product_sheet(n: int) -> str:
    city = CITIES[n % len(CITIES)]
    return (
        f"Product sheet for the model P{n} kettle.\n\n"
        f"The P{n} kettle is assembled in {city} and ships within {n % 5 + 2} working days. "
        f"Its warranty lasts {n % 4 + 1} years and covers the heating element and the lid. "
        f"The P{n} holds {1 + n % 3} litres and boils water in {90 + n % 60} seconds. "
        f"Spare lids for the P{n} are sold separately; returns are accepted within 30 days."
    )


def questions(n: int) -> list[str]:
    return [
        f"Where is the P{n} kettle assembled?",
        f"How long is the warranty of the P{n}?",
        "How quickly does it boil water?",
        "Does the warranty cover the lid?",
        f"How many litres does the P{n} hold?",
    ]


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    answers: dict[int, int] = field(default_factory=dict)  # agent_response_id -> thread id
    uploads: dict[int, float] = field(default_factory=dict)  # document id -> upload time

    def took(self, kind: str, seconds: float) -> None:
        self.latencies[kind].append(seconds * 1000)


def setup(base: str) -> tuple[int, int]:
    """Agent and corpus ids, the corpus seeded and indexed."""
    with httpx.Client(base_url=base, headers=HEADERS, timeout=60) as api:
        agent, corpus = agent_with_corpus(api, "Kettles")
        seeded = [upload_form(api, corpus["id"], n) for n in range(SEED_DOCUMENTS)]
        while any(
            ejento_data(api.get(f"/v2/api/document/{d}/polling"))["status"] != "completed" for d in seeded
        ):
            time.sleep(0.5)
    return agent["id"], corpus["id"]


def upload_form(api: httpx.Client, corpus_id: int, n: int) -> int:
    form = {"content_type": "text", "source": product_sheet(n), "upload_from": "web"}
    return ejento_data(api.post(f"/v2/api/corpus/{corpus_id}/document", data=form))["id"]


async def chat_user(
    api: httpx.AsyncClient, agent_id: int, user: int, deadline: float, results: Results
) -> None:
    rng = random.Random(user)
    while time.monotonic() < deadline:
        thread_id = None
        for question in questions(rng.randrange(SEED_DOCUMENTS)):
            if time.monotonic() >= deadline:
                return
            thread_id = await ask(api, agent_id, question, thread_id, results)
            if thread_id is None:
                break


async def ask(
    api: httpx.AsyncClient, agent_id: int, question: str, thread_id: int | None, results: Results
) -> int | None:
    """One streamed answer; the thread it went to, or None after an error."""
    started = time.monotonic()
    first = None
    event = ""
    path = f"/response-service/api/v2/agents/{agent_id}/responses/stream"
    try:
        async with api.stream("POST", path, json={"user_query": question, "chat_thread_id": thread_id}) as r:
            if r.status_code != 200:
                results.errors.append(f"chat: HTTP {r.status_code} {(await r.aread())[:200]!r}")
                return None
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    if event == "token" and first is None:
                        first = time.monotonic() - started
                    elif event == "error":
                        results.errors.append(f"chat: error event {line[6:200]}")
                        return None
                    elif event == "end":
                        output = json.loads(line[6:])["output"]
                        results.answers[output["agent_response_id"]] = output["thread_id"]
                        results.took("chat: whole answer", time.monotonic() - started)
                        results.took("chat: first token", first if first is not None else 0.0)
                        return output["thread_id"]
    except httpx.HTTPError as exc:
        results.errors.append(f"chat: {type(exc).__name__} {exc}")
        return None
    results.errors.append("chat: the stream ended without an end event")
    return None


async def uploader(api: httpx.AsyncClient, corpus_id: int, deadline: float, results: Results) -> None:
    n = SEED_DOCUMENTS
    while time.monotonic() < deadline:
        started = time.monotonic()
        form = {"content_type": "text", "source": product_sheet(n), "upload_from": "web"}
        r = await timed(api, "POST", f"/v2/api/corpus/{corpus_id}/document", "upload", results, data=form)
        if r is not None:
            results.uploads[r.json()["data"]["id"]] = started
        n += 1
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))


async def indexing_watcher(api: httpx.AsyncClient, deadline: float, results: Results) -> None:
    """Records upload-to-indexed times; runs until the load is over and every upload is done."""
    done: set[int] = set()
    while time.monotonic() < deadline or len(done) < len(results.uploads):
        for document_id, uploaded in list(results.uploads.items()):
            if document_id in done:
                continue
            r = await api.get(f"/v2/api/document/{document_id}/polling")
            status = r.json()["data"]["status"] if r.status_code == 200 else f"HTTP {r.status_code}"
            if status == "completed":
                done.add(document_id)
                results.took("ingestion: upload to indexed", time.monotonic() - uploaded)
            elif status in ("failed", "cancelled") or status.startswith("HTTP"):
                done.add(document_id)
                results.errors.append(f"document {document_id}: {status}")
        if time.monotonic() > deadline + 300:
            results.errors.append(
                f"{len(results.uploads) - len(done)} uploads not indexed 5 min after the load"
            )
            return
        await asyncio.sleep(0.5)


async def dashboard_reader(api: httpx.AsyncClient, agent_id: int, deadline: float, results: Results) -> None:
    while time.monotonic() < deadline:
        started = time.monotonic()
        await timed(
            api, "POST", "/v2/api/agent-response/dashboard", "dashboard: organisation", results, json={}
        )
        await timed(
            api, "POST", f"/v2/api/agent/{agent_id}/response/dashboard", "dashboard: agent", results, json={}
        )
        await timed(api, "GET", f"/v2/api/agent/{agent_id}/response", "chat logs: first page", results)
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))


async def timed(
    api: httpx.AsyncClient, method: str, path: str, kind: str, results: Results, **kwargs: object
) -> httpx.Response | None:
    started = time.monotonic()
    try:
        r = await api.request(method, path, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        results.errors.append(f"{kind}: {type(exc).__name__} {exc}")
        return None
    if not r.is_success:
        results.errors.append(f"{kind}: HTTP {r.status_code} {r.text[:200]}")
        return None
    results.took(kind, time.monotonic() - started)
    return r


async def run_load(base: str, agent_id: int, corpus_id: int, args: argparse.Namespace) -> Results:
    results = Results()
    deadline = time.monotonic() + args.minutes * 60
    limits = httpx.Limits(max_connections=args.chats + args.dashboards + 4)
    async with httpx.AsyncClient(base_url=base, headers=HEADERS, timeout=300, limits=limits) as api:
        await asyncio.gather(
            *(chat_user(api, agent_id, user, deadline, results) for user in range(args.chats)),
            uploader(api, corpus_id, deadline, results),
            indexing_watcher(api, deadline, results),
            *(dashboard_reader(api, agent_id, deadline, results) for _ in range(args.dashboards)),
        )
    return results


def check_rows(database_url: str, results: Results) -> list[str]:
    """What the database lacks of what the clients were told."""
    problems = []
    ids = sorted(results.answers)
    engine = create_engine(normalise_database_url(database_url))
    by_ids = bindparam("ids", expanding=True)
    try:
        with engine.connect() as conn:
            for start in range(0, len(ids), 500):
                batch = ids[start : start + 500]
                stored = conn.execute(
                    text(
                        "SELECT r.id, r.prompt_tokens + r.completion_tokens, count(u.id), "
                        "coalesce(sum(u.request_tokens + u.response_tokens), 0) FROM agent_responses r "
                        "LEFT JOIN llm_usage_records u ON u.agent_response_id = r.id "
                        "WHERE r.id IN :ids GROUP BY r.id, r.prompt_tokens, r.completion_tokens"
                    ).bindparams(by_ids),
                    {"ids": batch},
                ).all()
                missing = set(batch) - {row[0] for row in stored}
                problems += [f"answer {i} was streamed but is not stored" for i in sorted(missing)]
                problems += [
                    f"answer {row[0]}: {row[2]} usage records with {row[3]} tokens, the answer says {row[1]}"
                    for row in stored
                    if row[2] == 0 or row[1] != row[3]
                ]
            documents = sorted(results.uploads)
            if documents:
                unfinished = conn.execute(
                    text(
                        "SELECT count(*) FROM documents WHERE id IN :ids AND status <> 'completed'"
                    ).bindparams(by_ids),
                    {"ids": documents},
                ).scalar()
                if unfinished:
                    problems.append(f"{unfinished} uploaded documents are not completed")
    finally:
        engine.dispose()
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--chats", type=int, default=50, help="concurrent streamed chats")
    parser.add_argument("--dashboards", type=int, default=2, help="concurrent dashboard readers")
    parser.add_argument(
        "--database-url",
        default=None,
        help="default: SQLite in the data folder; or an empty PostgreSQL database",
    )
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="parley-load-"))
    database_url = args.database_url or f"sqlite:///{(data_dir / 'parley.db').resolve()}"
    extra = {"PARLEY_LOG_LEVEL": "WARNING", "PARLEY_DATABASE_URL": database_url}
    server = start_parley(data_dir, **extra)
    try:
        setup_started = time.monotonic()
        agent_id, corpus_id = setup(server.base)
        print(
            f"server ready in {server.ready_seconds:.1f} s; agent, corpus and {SEED_DOCUMENTS} documents "
            f"indexed in {time.monotonic() - setup_started:.1f} s",
            flush=True,
        )
        started = time.monotonic()
        results = asyncio.run(run_load(server.base, agent_id, corpus_id, args))
        elapsed = time.monotonic() - started
        rss = server.rss_mb()
    finally:
        server.stop()
    problems = results.errors + check_rows(database_url, results)

    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    print(
        f"{backend}, {args.chats} streamed chats + 1 uploader + {args.dashboards} dashboard readers, "
        f"{args.minutes:g} min of load ({elapsed:.0f} s with the drain), server RSS at the end {rss:.0f} MB"
    )
    print(f"{'request':<30} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for kind, values in sorted(results.latencies.items()):
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        print(f"{kind:<30} {len(values):>6} {p50:>8.0f} {p95:>8.0f} {max(values):>8.0f}")
    answered = len(results.answers)
    print(f"answers {answered} ({answered / elapsed:.1f}/s), uploads {len(results.uploads)}")
    if problems:
        print(f"FAILED: {len(problems)} problems", *problems[:20], sep="\n  ")
        sys.exit(1)
    print("verified: every streamed answer is stored with its usage records; every upload is indexed")


if __name__ == "__main__":
    main()
