"""Hybrid retrieval latency through the API: ``parley serve`` on the 100k-chunk corpus.

    python bench/retrieval_latency_http.py --data-dir DIR [--chunks 100000] [--queries 200]

The same corpus, queries and filter as ``retrieval_latency.py`` (built into ``--data-dir`` when
missing), served by a real ``parley serve`` in its own process (SQLite, default settings, one
worker). The bench user gets a bootstrap API key and a Contextual agent on the corpus, then each
SciFact query is sent as ``POST /v1/agents/{id}/query?retrievals_only=true`` (Contextual AI),
with and without ``documents_filters``, one request at a time over a kept-alive connection.

The server embeds every query (the response says nothing of its own timings), so the figures
are given with the embedding, and without it as each request's time minus that query's
embedding time measured in this process afterwards (same model, server idle). For scale, an
authenticated ``GET /v1/agents/{id}/metadata`` is timed too: the per-request cost of the HTTP
stack and authentication, which every query pays.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import httpx
from retrieval_latency import FILTER, SCIFACT, build_corpus, percentile
from serving import API_KEY, start_parley


def timed(client: httpx.Client, method: str, url: str, **kwargs) -> tuple[float, dict]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    response = client.request(method, url, **kwargs)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{method} {url}: {response.status_code} {response.text[:500]}")
    return elapsed, response.json()


def summary(values: list[float]) -> str:
    return f"{percentile(values, 0.5):7.1f} {percentile(values, 0.95):7.1f} {statistics.fmean(values):7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("PARLEY_ENVIRONMENT", "development")
    queries = [json.loads(line)["text"] for line in (SCIFACT / "queries.jsonl").open()][: args.queries]

    if not (args.data_dir / "parley.db").exists():
        from parley.app import prepare_database
        from parley.db.engine import create_db_engine, create_session_factory
        from parley.settings import Settings

        settings = Settings(data_dir=args.data_dir)
        prepare_database(settings)
        engine = create_db_engine(settings)
        build_corpus(create_session_factory(engine), args.chunks, postgres=False)
        engine.dispose()

    server = start_parley(args.data_dir, PARLEY_LOG_LEVEL="WARNING")
    try:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        with httpx.Client(base_url=server.base, headers=headers, timeout=120) as client:
            _, page = timed(client, "GET", "/v1/datastores")
            datastore = next(d["id"] for d in page["datastores"] if d["name"] == "bench")
            _, agent = timed(
                client, "POST", "/v1/agents", json={"name": "latency bench", "datastore_ids": [datastore]}
            )
            url = f"/v1/agents/{agent['id']}/query"
            params = {"retrievals_only": "true"}

            def body(query: str, filtered: bool) -> dict:
                message = {"messages": [{"role": "user", "content": query}]}
                return {**message, "documents_filters": FILTER} if filtered else message

            first, _ = timed(client, "POST", url, params=params, json=body(queries[0], True))
            for query in queries[:5]:  # warm both paths
                timed(client, "POST", url, params=params, json=body(query, False))
            load_before = os.getloadavg()[0]
            results: dict[str, list[float]] = {}
            for label, filtered in (("no filter", False), ("with filter", True)):
                results[label] = []
                for query in queries:
                    elapsed, answer = timed(client, "POST", url, params=params, json=body(query, filtered))
                    assert answer["retrieval_contents"], query
                    results[label].append(elapsed)
            overhead = [timed(client, "GET", f"/v1/agents/{agent['id']}/metadata")[0] for _ in queries]
            load_after = os.getloadavg()[0]
            rss = server.rss_mb()
    finally:
        server.stop()

    from parley.ingest.pipeline import EmbedderProvider
    from parley.settings import Settings

    embedder = EmbedderProvider(Settings(data_dir=args.data_dir)).get()
    embedder.embed_query(queries[0])
    embed_ms = []
    for query in queries:
        started = time.perf_counter()
        embedder.embed_query(query)
        embed_ms.append((time.perf_counter() - started) * 1000)

    print(
        f"parley serve, {len(queries)} queries, SQLite, {embedder.model_name}; first query (cache load) "
        f"{first / 1000:.1f} s; server RSS {rss:.0f} MB; load average {load_before:.1f} -> {load_after:.1f}"
    )
    print(f"{'ms':40} {'p50':>7} {'p95':>7} {'mean':>7}")
    for label, values in results.items():
        print(f"{'HTTP retrievals_only, ' + label:40} {summary(values)}")
        minus = [total - embed for total, embed in zip(values, embed_ms, strict=True)]
        print(f"{'  minus the query embedding, ' + label:40} {summary(minus)}")
    print(f"{'query embedding alone (in-process)':40} {summary(embed_ms)}")
    print(f"{'HTTP GET agent metadata (authenticated)':40} {summary(overhead)}")
    print("target (with filter, search only): p50 <= 15 ms, p95 <= 40 ms")


if __name__ == "__main__":
    main()
