"""BEIR-format retrieval evaluation: nDCG@10 (graded gains, log2 discounts, ideal ranking from
the judgements, as trec_eval computes it), recall@100 and search latency."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from parley.search.service import SearchHit


@dataclass(frozen=True)
class BeirData:
    corpus: list[dict]  # {"_id", "title", "text"}
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_beir(directory: Path, qrels_file: Path) -> BeirData:
    corpus = [json.loads(line) for line in (directory / "corpus.jsonl").open() if line.strip()]
    queries = {
        q["_id"]: q["text"]
        for q in (json.loads(line) for line in (directory / "queries.jsonl").open() if line.strip())
    }
    qrels: dict[str, dict[str, int]] = {}
    for line in qrels_file.open():
        parts = line.strip().split("\t")
        if len(parts) < 3 or parts[0] == "query-id":
            continue
        qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return BeirData(corpus, {qid: queries[qid] for qid in qrels if qid in queries}, qrels)


def document_text(entry: dict) -> str:
    title = entry.get("title") or ""
    return f"{title} {entry.get('text', '')}".strip()


def ndcg_at(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(gain / math.log2(i + 2) for i, gain in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], relevant: dict[str, int], k: int = 100) -> float:
    wanted = {doc for doc, gain in relevant.items() if gain > 0}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def rank_documents(hits: list[SearchHit], id_of: Callable[[SearchHit], str]) -> list[str]:
    """Chunk hits to a document ranking: each document at its best chunk's position."""
    seen: dict[str, None] = {}
    for hit in hits:
        seen.setdefault(id_of(hit), None)
    return list(seen)


@dataclass(frozen=True)
class EvalResult:
    queries: int
    ndcg10: float
    recall100: float
    search_p50_ms: float
    search_p95_ms: float
    total_p50_ms: float
    total_p95_ms: float


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))] if ordered else 0.0


def evaluate(
    data: BeirData,
    search: Callable[[str], tuple[list[str], float, float]],
    progress: Callable[[int], None] | None = None,
) -> EvalResult:
    """``search(query) -> (ranked document ids, embed_seconds, search_seconds)``."""
    ndcgs, recalls, search_times, totals = [], [], [], []
    for i, (qid, query) in enumerate(data.queries.items(), start=1):
        ranked, embed_seconds, search_seconds = search(query)
        ndcgs.append(ndcg_at(ranked, data.qrels[qid]))
        recalls.append(recall_at(ranked, data.qrels[qid]))
        search_times.append(search_seconds * 1000)
        totals.append((embed_seconds + search_seconds) * 1000)
        if progress:
            progress(i)
    return EvalResult(
        queries=len(ndcgs),
        ndcg10=statistics.fmean(ndcgs) if ndcgs else 0.0,
        recall100=statistics.fmean(recalls) if recalls else 0.0,
        search_p50_ms=percentile(search_times, 0.5),
        search_p95_ms=percentile(search_times, 0.95),
        total_p50_ms=percentile(totals, 0.5),
        total_p95_ms=percentile(totals, 0.95),
    )
