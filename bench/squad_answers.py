"""Answer quality and latency on SQuAD v1.1, through the API of a real ``parley serve``.

    python bench/squad_answers.py [--questions 1000] [--database-url URL] [--data-dir DIR]

Starts ``parley serve`` on a free port (a fresh SQLite data folder unless --database-url),
creates a team, project, agent and corpus through the Ejento API, uploads every paragraph of
``dev-part-a.json`` as a text document (named by article and paragraph number), waits for
indexing, then asks the questions one by one on the streaming endpoint and prints:

* gold-in-answer: a gold answer (SQuAD-normalised) appears in the answer; target >= 90%
* mean answer words (without citation markers); target <= 40
* hit@1 / hit@k: the gold paragraph is the first / any of the answer's data points
* groundedness: mean and share of answers whose every sentence is supported
* time to first token and total latency p50 / p95, as the client sees them
* server-side overhead around generation p50 / p95 (everything but the model call, from the
  answer's ``timings``); target p95 <= 60 ms

Questions are taken round-robin over the articles so a --questions sample covers them all.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from itertools import zip_longest
from pathlib import Path

import httpx

SQUAD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "squad-v1.1" / "dev-part-a.json"
KEY = "bench-squad-key-0123456789abcdef"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def start_server(database_url: str | None, data_dir: Path) -> tuple[object, str]:
    import socket
    import subprocess

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(
        PARLEY_ENVIRONMENT="development",
        PARLEY_DATA_DIR=str(data_dir),
        PARLEY_LOG_LEVEL="WARNING",
        PARLEY_INIT_ADMIN_EMAIL="bench@example.com",
        PARLEY_INIT_ADMIN_PASSWORD="bench-password-1",
        PARLEY_INIT_API_KEY=KEY,
    )
    if database_url:
        env["PARLEY_DATABASE_URL"] = database_url
    process = subprocess.Popen(
        [sys.executable, "-m", "parley.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("parley serve did not start")


def data(response: httpx.Response) -> dict:
    if response.status_code >= 300:
        raise SystemExit(
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
        )
    return response.json()["data"]


def setup(api: httpx.Client, articles: list[dict]) -> tuple[int, dict[str, str]]:
    """Agent id, and paragraph document name -> paragraph id ("article/index")."""
    team = data(api.post("/v2/api/team", json={"team_name": "Bench"}))
    project = data(api.post("/v2/api/project", json={"project_name": "SQuAD", "team_id": team["id"]}))
    agent = data(api.post("/v2/api/agent", json={"name": "SQuAD", "project_id": project["id"]}))
    corpus = data(api.post("/v2/api/corpus", json={"name": "SQuAD paragraphs"}))
    data(api.post(f"/v2/api/agent/{agent['id']}/corpus/{corpus['id']}"))
    names = {}
    documents = []
    started = time.perf_counter()
    for article in articles:
        for index, paragraph in enumerate(article["paragraphs"]):
            # A file named by the article: the name heads every chunk's context, as for a real upload.
            name = f"{article['title'].replace('_', ' ')} {index + 1}.txt"
            names[name] = f"{article['title']}/{index}"
            upload = {"source": (name, paragraph["context"].encode(), "text/plain")}
            form = {"content_type": "file", "upload_from": "web"}
            documents.append(
                data(api.post(f"/v2/api/corpus/{corpus['id']}/document", data=form, files=upload))["id"]
            )
    pending = set(documents)
    while pending:
        for document_id in list(pending):
            status = data(api.get(f"/v2/api/document/{document_id}/polling"))["status"]
            if status in ("completed", "failed", "cancelled"):
                if status != "completed":
                    raise SystemExit(f"document {document_id} {status}")
                pending.discard(document_id)
        print(f"\rindexed {len(documents) - len(pending)}/{len(documents)}", end="", flush=True)
        time.sleep(1)
    print(f"\nindexed {len(documents)} paragraphs in {time.perf_counter() - started:.0f} s")
    return agent["id"], names


def ask_streaming(api: httpx.Client, agent_id: int, question: str) -> tuple[dict, float, float]:
    """The end event's output, time to first token and total seconds."""
    started = time.perf_counter()
    first = None
    output = None
    with api.stream(
        "POST", f"/response-service/api/v2/agents/{agent_id}/responses/stream", json={"user_query": question}
    ) as response:
        event = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                if event == "token" and first is None:
                    first = time.perf_counter() - started
                if event == "end":
                    output = json.loads(line[6:])["output"]
                if event == "error":
                    raise SystemExit(f"error event: {line}")
    total = time.perf_counter() - started
    assert output is not None
    return output, first if first is not None else total, total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--questions", type=int, default=1000, help="0: all 5,696")
    parser.add_argument("--squad", type=Path, default=SQUAD, help="SQuAD v1.1 JSON file")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()

    from parley.evaluation.squad import gold_in_answer, word_count

    articles = json.loads(args.squad.read_text())["data"]
    per_article = [
        [(qa, f"{a['title']}/{i}") for i, p in enumerate(a["paragraphs"]) for qa in p["qas"]]
        for a in articles
    ]
    interleaved = [q for group in zip_longest(*per_article) for q in group if q is not None]
    questions = interleaved[: args.questions] if args.questions else interleaved

    process, base = start_server(
        args.database_url, args.data_dir or Path(tempfile.mkdtemp(prefix="parley-squad-"))
    )
    try:
        with httpx.Client(base_url=base, headers={"Ocp-Apim-Subscription-Key": KEY}, timeout=300) as api:
            agent_id, names = setup(api, articles)
            hits = hit1 = hitk = grounded = 0
            words, groundedness, first_token, total, overhead = [], [], [], [], []
            for n, (qa, paragraph) in enumerate(questions, start=1):
                output, ttft, seconds = ask_streaming(api, agent_id, qa["question"])
                answer = re.sub(r"\s*\[\d+\]", "", output["answer"])
                hits += gold_in_answer(answer, [a["text"] for a in qa["answers"]])
                words.append(word_count(answer))
                points = [names.get(p["document_name"]) for p in output["data_points"]]
                hit1 += bool(points) and points[0] == paragraph
                hitk += paragraph in points
                if output["groundedness"] is not None:
                    groundedness.append(output["groundedness"])
                grounded += all(s["supported"] for s in output["groundedness_scores"])
                first_token.append(ttft * 1000)
                total.append(seconds * 1000)
                overhead.append(output["timings"]["overhead_ms"])
                if n % 100 == 0:
                    print(f"{n}/{len(questions)}: gold in answer {hits / n:.1%}", flush=True)
    finally:
        process.terminate()  # type: ignore[attr-defined]
    count = len(questions)
    backend = "postgresql" if args.database_url else "sqlite"

    def spread(values: list[float]) -> str:
        return f"p50 {percentile(values, 0.5):.1f} ms   p95 {percentile(values, 0.95):.1f} ms"

    print(f"questions {count}, paragraphs {len(names)}, backend {backend}")
    print(f"gold answer in answer   {hits / count:.1%}   (target >= 90%)")
    print(f"mean answer words       {statistics.fmean(words):.1f}   (target <= 40)")
    print(f"gold paragraph hit@1    {hit1 / count:.1%}   hit@k {hitk / count:.1%}")
    print(f"groundedness mean       {statistics.fmean(groundedness):.3f}   supported {grounded / count:.1%}")
    print(f"time to first token     {spread(first_token)}")
    print(f"total latency           {spread(total)}")
    print(f"overhead (server)       {spread(overhead)}   (target p95 <= 60 ms)")


if __name__ == "__main__":
    main()
