"""Start-up time and memory (RSS) of ``parley serve`` with the embedding model loaded, against a
bare FastAPI app and the embedding model alone, in the same run.

    python bench/serve_footprint.py [--rounds 3] [--documents 20]

Each round:

1. cold start: ``parley serve`` on a fresh SQLite data folder (migrations and bootstrap run),
   timed from just before the process starts to the first 200 on ``/healthz`` (polled every
   10 ms); RSS at ready. Then an agent and a corpus are created through the Ejento API and
   ``--documents`` SciFact abstracts uploaded and indexed (the in-process worker loads the
   embedding model), and the server is stopped;
2. warm start: ``parley serve`` again on the same folder, as after a restart: time to ready,
   RSS at ready, then the first question through the answer endpoint (the query embedding
   loads the model: its time includes that), RSS after it, a second question, peak RSS;
3. alternatives: a bare FastAPI app under uvicorn (``bench/serving.py``): time to ready, RSS;
   and a plain Python process that loads Parley's configured embedder and embeds one query:
   its load time and RSS, the floor for any process serving this model.

Times are wall clock and, less sensitive to other load on a shared machine, the CPU time the
process had used by then. Medians over the rounds; targets: RSS <= 600 MB with the model
loaded, ready within 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import API_KEY, agent_with_corpus, ejento_data, index_documents, start_bare, start_parley  # noqa: E402

SCIFACT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scifact"
QUESTION = "Do mitochondria play a role in the remodelling of the heart after injury?"
EMBEDDER_ALONE = """
import json, time
t0 = time.perf_counter()
from parley.ingest.pipeline import EmbedderProvider
from parley.settings import Settings
embedder = EmbedderProvider(Settings()).get()
embedder.embed_query("warm up the model")
seconds = time.perf_counter() - t0
cpu = time.process_time()
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:")) / 1024
print(json.dumps({"seconds": seconds, "cpu": cpu, "rss_mb": rss}))
"""


def setup_and_index(base: str, documents: list[dict]) -> int:
    """An agent bound to a corpus holding ``documents``, indexed; returns the agent id."""
    with httpx.Client(base_url=base, headers={"Ocp-Apim-Subscription-Key": API_KEY}, timeout=120) as api:
        agent, corpus = agent_with_corpus(api, "Bench")
        files = ((f"{entry['title'][:80]}.txt", entry["text"]) for entry in documents)
        index_documents(api, corpus["id"], files, timeout_seconds=600)
        return agent["id"]


def ask(base: str, agent_id: int) -> float:
    """Seconds for one answer (non-streaming Ejento endpoint)."""
    with httpx.Client(base_url=base, headers={"Ocp-Apim-Subscription-Key": API_KEY}, timeout=120) as api:
        started = time.perf_counter()
        answer = ejento_data(
            api.post(f"/response-service/api/v2/agents/{agent_id}/responses", json={"user_query": QUESTION})
        )
        seconds = time.perf_counter() - started
    assert answer, "empty answer"
    return seconds


def one_round(documents: list[dict]) -> dict[str, float]:
    figures: dict[str, float] = {}
    data_dir = Path(tempfile.mkdtemp(prefix="parley-bench-footprint-"))
    try:
        server = start_parley(data_dir)
        try:
            figures["cold ready s"] = server.ready_seconds
            figures["cold ready CPU s"] = server.ready_cpu_seconds
            figures["cold RSS at ready MB"] = server.rss_mb()
            agent_id = setup_and_index(server.base, documents)
            figures["RSS after indexing MB"] = server.rss_mb()
        finally:
            server.stop()
        server = start_parley(data_dir)
        try:
            figures["warm ready s"] = server.ready_seconds
            figures["warm ready CPU s"] = server.ready_cpu_seconds
            figures["warm RSS at ready MB"] = server.rss_mb()
            cpu_before = server.cpu_seconds()
            figures["first answer s"] = ask(server.base, agent_id)
            figures["first answer CPU s"] = server.cpu_seconds() - cpu_before
            figures["RSS after first answer MB"] = server.rss_mb()
            figures["second answer s"] = ask(server.base, agent_id)
            figures["peak RSS MB"] = server.peak_rss_mb()
        finally:
            server.stop()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    bare = start_bare()
    try:
        figures["bare ready s"] = bare.ready_seconds
        figures["bare ready CPU s"] = bare.ready_cpu_seconds
        figures["bare RSS MB"] = bare.rss_mb()
    finally:
        bare.stop()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    alone = json.loads(
        subprocess.run(
            [sys.executable, "-c", EMBEDDER_ALONE], capture_output=True, text=True, check=True, env=env
        ).stdout
    )
    figures["embedder alone load s"] = alone["seconds"]
    figures["embedder alone CPU s"] = alone["cpu"]
    figures["embedder alone RSS MB"] = alone["rss_mb"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scifact", type=Path, default=SCIFACT, help="BEIR SciFact folder")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--documents", type=int, default=20, help="SciFact abstracts to index")
    args = parser.parse_args()
    documents = [
        json.loads(line)
        for line, _ in zip((args.scifact / "corpus.jsonl").open(), range(args.documents), strict=False)
    ]

    rounds = []
    for number in range(args.rounds):
        rounds.append(one_round(documents))
        print(f"round {number + 1}/{args.rounds} done", flush=True)
    median = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}

    print(
        f"\n{args.rounds} rounds (median), {args.documents} documents indexed, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    for key, value in median.items():
        spread = " ".join(f"{r[key]:.2f}" if key.endswith(" s") else f"{r[key]:.0f}" for r in rounds)
        shown = f"{value:.2f}" if key.endswith(" s") else f"{value:.0f}"
        print(f"  {key:28} {shown:>8}   ({spread})")
    rss = median["RSS after first answer MB"]
    print(
        f"  ratios: RSS with model / embedder alone {rss / median['embedder alone RSS MB']:.2f}, "
        f"/ bare FastAPI {rss / median['bare RSS MB']:.1f}; "
        f"warm start / bare FastAPI start {median['warm ready s'] / median['bare ready s']:.1f}, "
        f"cold start / bare {median['cold ready s'] / median['bare ready s']:.1f}; "
        f"CPU to ready warm / bare {median['warm ready CPU s'] / median['bare ready CPU s']:.1f}"
    )
    print(
        f"  target: RSS <= 600 MB with the model loaded ({rss:.0f} MB after the first answer, "
        f"peak {median['peak RSS MB']:.0f} MB); ready within 5 s "
        f"(cold {median['cold ready s']:.2f} s, warm {median['warm ready s']:.2f} s)"
    )


if __name__ == "__main__":
    main()
