"""The offline answer path on SQuAD v1.1 dev-part-a, in process: retrieval, extractive answer,
citations, groundedness and follow-ups.

    python bench/squad_offline.py [--limit N] [--top-k 5] [--half a|b] [--fit] [--data-dir DIR]

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

``--half a`` / ``--half b`` asks only the questions of every other article (the 1st, 3rd...
or the 2nd, 4th...): fit on one half, report on the other. ``--fit`` fits the sentence-scoring
weights (:class:`parley.answers.sentence_scoring.Weights`) on the questions asked instead of
answering them, and prints them with the gold-in-answer rate and mean words that each price
per word (``MIN_PROBABILITY_PER_WORD``) would give.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from sqlalchemy.orm import Session, sessionmaker

    from parley.answers.sources import Source
    from parley.embeddings.base import Embedder
    from parley.evaluation.squad import SquadData, SquadQuestion

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
PRICES_PER_WORD = (0.008, 0.007, 0.006, 0.005, 0.0045, 0.004, 0.003)


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
    parser.add_argument("--squad", type=Path, default=SQUAD, help="SQuAD v1.1 JSON file")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="keep the SQLite data here; reused when already built"
    )
    parser.add_argument("--half", choices=("a", "b"), default=None, help="every other article only")
    parser.add_argument("--fit", action="store_true", help="fit the sentence-scoring weights instead")
    args = parser.parse_args()
    os.environ.setdefault("PARLEY_ENVIRONMENT", "development")

    from parley.answers.citations import parse_citations, strip_citation_markers
    from parley.answers.extractive import answer_extractively
    from parley.answers.followups import suggest_followups
    from parley.answers.grounding import assess_grounding
    from parley.db.engine import session_scope
    from parley.evaluation.squad import gold_in_answer, word_count

    index = open_squad_index(args.data_dir, args.top_k, args.squad)
    squad, sessions, embedder, search = index.squad, index.sessions, index.embedder, index.search
    corpora = index.corpora
    paragraph_of = {document_name(p.title, p.index): i for i, p in enumerate(squad.paragraphs)}

    asked = squad.questions
    if args.half:
        asked = [q for q in asked if index.question_half(q) == args.half]
    questions = [asked[i] for i in spread(len(asked), args.limit)]
    if args.fit:
        with session_scope(sessions) as session:
            fit_weights(questions, lambda text: search(session, text), embedder)
        return
    hit1 = hitk = in_answer = not_found = 0
    words: list[int] = []
    by_half: dict[str, list[tuple[bool, int]]] = {"a": [], "b": []}
    grounded: list[float] = []
    followup_counts: list[int] = []
    answer_ms: list[float] = []
    path_ms: list[float] = []
    with session_scope(sessions) as session:
        search(session, "warm-up")
        for question in questions:
            vector, sources = search(session, question.question)
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
            found = gold_in_answer(plain, question.answers)
            in_answer += found
            not_found += not answer.found
            words.append(word_count(plain))
            by_half[index.question_half(question)].append((found, words[-1]))
            followup_counts.append(len(followups))

        off_topic_found = 0
        for text in OFF_TOPIC:
            vector, sources = search(session, text)
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
    print(
        "by half (a: the weights were fit on it, b: held out): "
        + "; ".join(
            f"{half} {statistics.fmean(f for f, _ in rows):.1%} "
            f"in {statistics.fmean(w for _, w in rows):.1f} words"
            for half, rows in by_half.items()
            if rows
        )
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


class SquadIndex:
    """dev-part-a ingested into a SQLite data folder (one corpus per article, each paragraph a
    text document named by :func:`document_name`) and a hybrid search over it."""

    def __init__(
        self,
        squad: SquadData,
        sessions: sessionmaker[Session],
        embedder: Embedder,
        corpora: dict[str, int],
        top_k: int,
    ) -> None:
        from parley.search.vector import VectorCache

        self.squad = squad
        self.sessions = sessions
        self.embedder = embedder
        self.corpora = corpora  # article title as named in the corpus -> corpus id, in file order
        self.top_k = top_k
        self._cache = VectorCache()
        self._half = {title: "ab"[i % 2] for i, title in enumerate(corpora)}

    def question_half(self, question: SquadQuestion) -> str:
        """ "a" for a question of the 1st, 3rd... article, "b" for the 2nd, 4th..."""
        return self._half[self.squad.paragraphs[question.paragraph].title]

    def search(
        self, session: Session, question: str, corpus_ids: list[int] | None = None
    ) -> tuple[np.ndarray, list[Source]]:
        """The question's vector and its top-k sources over ``corpus_ids`` (default: all)."""
        from parley.answers.sources import sources_from_hits
        from parley.search.service import SearchOptions, hybrid_search

        vector = self.embedder.embed_query(question)
        ids = list(self.corpora.values()) if corpus_ids is None else corpus_ids
        hits = hybrid_search(
            session, self._cache, question, vector, ids, options=SearchOptions(top_k=self.top_k)
        )
        return vector, sources_from_hits(hits)


def open_squad_index(data_dir: Path | None, top_k: int, squad_file: Path = SQUAD) -> SquadIndex:
    """Ingest dev-part-a into ``data_dir`` (a new temporary folder when None), or reuse the
    index already there."""
    from sqlalchemy import func, select

    from parley.accounts import service as accounts
    from parley.app import prepare_database
    from parley.corpora.models import Corpus, Document
    from parley.db.engine import create_db_engine, create_session_factory, session_scope
    from parley.evaluation.squad import load_squad
    from parley.ingest.local import LocalItem, queue_items
    from parley.ingest.pipeline import EmbedderProvider, make_worker
    from parley.settings import Settings

    squad = load_squad(squad_file)
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="parley-bench-"))
    reuse = (data_dir / "parley.db").exists()
    settings = Settings(data_dir=data_dir)
    prepare_database(settings)
    sessions = create_session_factory(create_db_engine(settings))
    embedders = EmbedderProvider(settings)
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
    return SquadIndex(squad, sessions, embedders.get(), {t: corpora[t] for t in titles}, top_k)


def fit_weights(
    questions: list[SquadQuestion],
    search: Callable[[str], tuple[np.ndarray, list[Source]]],
    embedder: Embedder,
) -> None:
    """Fit and print the sentence-scoring weights: the lexical pass on every candidate, then
    the shortlist with the cosine, each maximising the probability of the sentences that hold
    a gold answer; then what each price per word gives with them."""
    import numpy as np

    from parley.answers.extractive import choose_sentences
    from parley.answers.sentence_scoring import (
        SHORTLIST,
        Weights,
        candidate_sentences,
        embedding_text,
        lexical_features,
        rank_sentences,
    )
    from parley.evaluation.squad import gold_in_answer

    asked = []
    for question in questions:
        vector, sources = search(question.question)
        candidates = candidate_sentences(sources)
        if candidates:
            labels = np.array([gold_in_answer(c.sentence.text, question.answers) for c in candidates])
            features = lexical_features(question.question, candidates)
            asked.append((question, vector, candidates, features, labels))
    cached = CachedEmbedder(embedder)
    texts = list(dict.fromkeys(embedding_text(c) for *_, candidates, _, _ in asked for c in candidates))
    for start in range(0, len(texts), 64):
        cached.embed_documents(texts[start : start + 64])
    lexical = fit_listwise([(features, labels) for *_, features, labels in asked])
    shortlisted = []
    for _, vector, candidates, features, labels in asked:
        best = np.argsort(-(features @ lexical), kind="stable")[:SHORTLIST]
        cosines = cached.embed_documents([embedding_text(candidates[i]) for i in best]) @ vector
        shortlisted.append((np.column_stack([features[best], cosines]), labels[best]))
    second = fit_listwise(shortlisted)
    weights = Weights(
        lexical=tuple(round(float(w), 2) for w in lexical),
        shortlist=tuple(round(float(w), 2) for w in second[:-1]),
        cosine=round(float(second[-1]), 2),
    )
    rankings = [
        (question, rank_sentences(question.question, candidates, cached, vector, weights))
        for question, vector, candidates, _, _ in asked
    ]
    print(f"questions {len(questions)}, with candidates {len(asked)}")
    print(weights)
    for price in PRICES_PER_WORD:
        found = words = 0
        for question, ranking in rankings:
            quoted = " ".join(c.sentence.text for c in choose_sentences(ranking, price))
            found += gold_in_answer(quoted, question.answers)
            words += len(quoted.split())
        rate, mean = found / len(questions), words / len(asked)
        print(f"price per word {price}: gold in answer {rate:.1%}, mean words {mean:.1f}")


def fit_listwise(groups: list[tuple[np.ndarray, np.ndarray]], steps: int = 1500) -> np.ndarray:
    """Weights maximising the mean log-probability, under a softmax over each group's rows, of
    the group's positive rows (Adam on the full batch; groups without both kinds are skipped)."""
    import numpy as np

    groups = [(x, y) for x, y in groups if y.any() and not y.all()]
    features = np.vstack([x for x, _ in groups])
    positive = np.concatenate([y for _, y in groups]).astype(float)
    starts = np.cumsum([0] + [len(y) for _, y in groups[:-1]])
    group_of = np.repeat(np.arange(len(groups)), [len(y) for _, y in groups])
    weights = np.zeros(features.shape[1])
    moment, velocity = np.zeros_like(weights), np.zeros_like(weights)
    for step in range(1, steps + 1):
        scores = features @ weights
        exp = np.exp(scores - np.maximum.reduceat(scores, starts)[group_of])
        probabilities = exp / np.add.reduceat(exp, starts)[group_of]
        covered = np.add.reduceat(probabilities * positive, starts)[group_of]
        # d(-log covered)/dw = E_p[x] - E_p[x | positive], averaged over the groups
        gradient = ((probabilities - probabilities * positive / covered) @ features) / len(groups)
        moment = 0.9 * moment + 0.1 * gradient
        velocity = 0.999 * velocity + 0.001 * gradient**2
        weights -= 0.05 * (moment / (1 - 0.9**step)) / (np.sqrt(velocity / (1 - 0.999**step)) + 1e-8)
    return weights


class CachedEmbedder:
    """The embedder with its document vectors kept by text (fitting embeds each sentence once)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.model_name = embedder.model_name
        self.max_tokens = embedder.max_tokens
        self.dimension = embedder.dimension
        self.vectors: dict[str, np.ndarray] = {}

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        missing = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if missing:
            self.vectors.update(zip(missing, self.embedder.embed_documents(missing), strict=True))
        return np.stack([self.vectors[t] for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self.embedder.embed_query(text)

    def count_tokens(self, text: str) -> int:
        return self.embedder.count_tokens(text)

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return self.embedder.token_offsets(text)


if __name__ == "__main__":
    main()
