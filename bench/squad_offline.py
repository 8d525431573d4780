"""The offline answer path on SQuAD v1.1 dev-part-a, in process: retrieval, extractive answer,
citations, groundedness and follow-ups.

    python bench/squad_offline.py [--limit N] [--top-k 5] [--data-dir DIR]

Each SQuAD paragraph is ingested as one text document ("<article title> #<n>") through the
normal pipeline (queue, parse, chunk, embed, index) into a fresh SQLite database, one corpus
per article. Every question (or ``--limit`` of them, evenly spread over the articles) is then
embedded, searched over all corpora (hybrid, ``--top-k`` chunks) and answered offline.

Prints: gold-paragraph hit@1 / hit@k; gold-in-answer (some gold answer, SQuAD-normalised,
appears in the answer with its citation markers removed); mean answer words; the share
answered "not found"; groundedness mean and minimum; and the latency of the steps after
retrieval: the extractive answer alone, and answer + citations + groundedness + follow-ups.
Then two relevance probes: 30 questions about nothing in the corpus, and SQuAD questions asked
with their own article's corpus left out of the search (some are still answerable from the
other articles), each with its "not found" rate.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

SQUAD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "squad-v1.1" / "dev-part-a.json"
OFF_TOPIC = [
    "How do I reset my router password?",
    "What is the recommended daily intake of vitamin D for adults?",
    "Who won the 2018 FIFA World Cup?",
    "What is the capital of Mongolia?",
    "How many calories are in a banana?",
    "What programming language is used for iOS apps?",
    "When was the Eiffel Tower built?",
    "How do you make sourdough bread?",
    "Which planet has the most moons?",
    "How does a blockchain reach consensus?",
    "What is the boiling point of ethanol?",
    "Who painted the Mona Lisa?",
    "What is the refund policy for annual subscriptions?",
    "How do I configure two-factor authentication?",
    "What are the symptoms of diabetes?",
    "What is the population of Tokyo?",
    "Who wrote Pride and Prejudice?",
    "What is the tallest mountain in Africa?",
    "How do vaccines train the immune system?",
    "What is the exchange rate between the euro and the yen?",
    "What does a product manager do?",
    "How many players are on a basketball team?",
    "What is the best way to learn to play the guitar?",
    "When does the next iPhone come out?",
    "What are the opening hours of the library on Sundays?",
    "How do I cook rice in a pressure cooker?",
    "What is machine learning?",
    "Who is the CEO of Microsoft?",
    "What is the speed of light in a vacuum?",
    "How do I file my taxes online?",
]
HELD_OUT_QUESTIONS = 200


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def document_name(title: str, index: int) -> str:
    return f"{title.replace('_', ' ')} #{index + 1}"


def spread(count: int, limit: int | None) -> list[int]:
    """``limit`` indexes evenly spaced over ``range(count)`` (all of them without a limit)."""
    if not limit or limit >= count:
        return list(range(count))
    return [round(i * count / limit) for i in range(limit)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=None, help="questions to ask (default: all 5,696)")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="keep the SQLite data here; reused when already built"
    )
    args = parser.parse_args()
    os.environ.setdefault("PARLEY_ENVIRONMENT", "development")

    import numpy as np
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from parley.accounts import service as accounts
    from parley.answers.citations import parse_citations, strip_citation_markers
    from parley.answers.extractive import answer_extractively
    from parley.answers.followups import suggest_followups
    from parley.answers.grounding import assess_grounding
    from parley.answers.sources import Source, sources_from_hits
    from parley.app import prepare_database
    from parley.corpora.models import Corpus, Document
    from parley.db.engine import create_db_engine, create_session_factory, session_scope
    from parley.evaluation.squad import gold_in_answer, load_squad, word_count
    from parley.ingest.local import LocalItem, queue_items
    from parley.ingest.pipeline import EmbedderProvider, make_worker
    from parley.search.service import SearchOptions, hybrid_search
    from parley.search.vector import VectorCache
    from parley.settings import Settings

    squad = load_squad(SQUAD)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="parley-bench-"))
    reuse = (data_dir / "parley.db").exists()
    settings = Settings(data_dir=data_dir)
    prepare_database(settings)
    sessions = create_session_factory(create_db_engine(settings))
    embedders = EmbedderProvider(settings)
    embedder = embedders.get()

    titles = list(dict.fromkeys(p.title for p in squad.paragraphs))
    if not reuse:
        started = time.perf_counter()
        with session_scope(sessions) as session:
            org = accounts.create_organization(session, "Bench")
            user = accounts.create_user(session, org_id=org.id, email="bench@example.com", password=None)
            for title in titles:
                corpus = Corpus(org_id=org.id, owner_id=user.id, name=title)
                session.add(corpus)
                session.flush()
                items = [
                    LocalItem(document_name(p.title, p.index), p.context.encode(), "text")
                    for p in squad.paragraphs
                    if p.title == title
                ]
                queue_items(session, user, corpus, items)
        worker = make_worker(settings, sessions, embedders)
        while worker.run_once():
            pass
        print(f"ingested {len(squad.paragraphs)} paragraphs in {time.perf_counter() - started:.0f} s")
    with session_scope(sessions) as session:
        corpora = dict(session.execute(select(Corpus.name, Corpus.id)).all())
        done = session.scalar(
            select(func.count()).select_from(Document).where(Document.status == "completed")
        )
    assert done == len(squad.paragraphs), (done, len(squad.paragraphs))
    paragraph_of = {document_name(p.title, p.index): i for i, p in enumerate(squad.paragraphs)}
    options = SearchOptions(top_k=args.top_k)
    cache = VectorCache()

    def search(session: Session, question: str, corpus_ids: list[int]) -> tuple[np.ndarray, list[Source]]:
        vector = embedder.embed_query(question)
        return vector, sources_from_hits(
            hybrid_search(session, cache, question, vector, corpus_ids, options=options)
        )

    questions = [squad.questions[i] for i in spread(len(squad.questions), args.limit)]
    hit1 = hitk = in_answer = not_found = 0
    words: list[int] = []
    grounded: list[float] = []
    followup_counts: list[int] = []
    answer_ms: list[float] = []
    path_ms: list[float] = []
    with session_scope(sessions) as session:
        search(session, "warm-up", list(corpora.values()))
        for question in questions:
            vector, sources = search(session, question.question, list(corpora.values()))
            ranked = [paragraph_of[s.document_name] for s in sources]
            hit1 += ranked[:1] == [question.paragraph]
            hitk += question.paragraph in ranked
            started = time.perf_counter()
            answer = answer_extractively(question.question, sources, embedder, query_vector=vector)
            answered = time.perf_counter()
            parse_citations(answer.text, sources)
            followups: list[str] = []
            if answer.found:
                grounding = assess_grounding(answer.text, sources, embedder)
                followups = suggest_followups(question.question, answer.text, sources)
                grounded.append(grounding.mean_score)
            finished = time.perf_counter()
            answer_ms.append((answered - started) * 1000)
            path_ms.append((finished - started) * 1000)
            plain = strip_citation_markers(answer.text)
            in_answer += gold_in_answer(plain, question.answers)
            not_found += not answer.found
            words.append(word_count(plain))
            followup_counts.append(len(followups))

        off_topic_found = 0
        for text in OFF_TOPIC:
            vector, sources = search(session, text, list(corpora.values()))
            off_topic_found += answer_extractively(text, sources, embedder, query_vector=vector).found
        held_out = [squad.questions[i] for i in spread(len(squad.questions), HELD_OUT_QUESTIONS)]
        held_out_found = 0
        for question in held_out:
            own = corpora[squad.paragraphs[question.paragraph].title]
            vector, sources = search(session, question.question, [c for c in corpora.values() if c != own])
            held_out_found += answer_extractively(
                question.question, sources, embedder, query_vector=vector
            ).found

    n = len(questions)
    print(
        f"questions {n}, paragraphs {len(squad.paragraphs)}, top_k {args.top_k}, "
        f"embedder {embedder.model_name}"
    )
    print(f"retrieval: gold paragraph hit@1 {hit1 / n:.1%}, hit@{args.top_k} {hitk / n:.1%}")
    print(
        f"answers: gold in answer {in_answer / n:.1%}, mean words {statistics.fmean(words):.1f} "
        f"(median {statistics.median(words):.0f}), not found {not_found / n:.1%}, "
        f"follow-ups per answer {statistics.fmean(followup_counts):.2f}"
    )
    if grounded:
        print(f"groundedness: mean {statistics.fmean(grounded):.3f}, min {min(grounded):.3f}")
    print(
        f"latency after retrieval (ms): answer p50 {percentile(answer_ms, 0.5):.1f} "
        f"p95 {percentile(answer_ms, 0.95):.1f}; answer + citations + groundedness + follow-ups "
        f"p50 {percentile(path_ms, 0.5):.1f} p95 {percentile(path_ms, 0.95):.1f}"
    )
    print(
        f"relevance probes: off-topic questions answered 'not found' "
        f"{1 - off_topic_found / len(OFF_TOPIC):.0%} of {len(OFF_TOPIC)}; SQuAD questions with their "
        f"article left out {1 - held_out_found / len(held_out):.0%} of {len(held_out)}"
    )


if __name__ == "__main__":
    main()
