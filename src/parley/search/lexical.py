"""BM25 lexical search: SQLite FTS5, or BM25 over a postings table on PostgreSQL.

Both rank with BM25 (k1=1.2, b=0.75) and treat the query as an OR of its words, so the two
backends return close to the same ranking (measured on SciFact: 0.699 vs 0.698 nDCG@10).
Collection statistics (document frequency, average length) cover the whole index here. On
SQLite a search normally scores from the in-memory postings of ``bm25_index`` (same tokens and
formula, statistics of the searched corpora); FTS5 itself answers for words it matches as
phrases and for databases too large for those postings, keeping the query's rarest words up
to a postings budget (see ``POSTINGS_BUDGET``).
"""

from __future__ import annotations

import re
import threading
import time

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from parley.corpora.models import Chunk, Corpus
from parley.db.engine import execute_request_shaped
from parley.search.filters import BaseFilter, CompositeFilter, FilterCompiler

MAX_QUERY_TERMS = 64
K1 = 1.2
B = 0.75
# A word in a chunk's context (document title, section path) counts half as much as in its text.
CONTEXT_WEIGHT = 0.5
# ``chunks_fts``'s tokenizer (migration 0002); temporary tables that tokenize like it use it too.
FTS5_TOKENIZER = "porter unicode61"
_WORD = re.compile(r"\w+", re.UNICODE)


# PostgreSQL's English configuration's stop words; FTS5 gets the same list so both backends
# match the same words, and an OR query is not dragged through every chunk containing "the".
STOP_WORDS = frozenset(
    (
        "i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she "
        "her hers herself it its itself they them their theirs themselves what which who whom this that "
        "these those am is are was were be been being have has had having do does did doing a an the and "
        "but if or because as until while of at by for with about against between into through during "
        "before after above below to from up down in out on off over under again further then once here "
        "there when where why how all any both each few more most other some such no nor not only own "
        "same so than too very s t can will just don should now"
    ).split()
)


def query_terms(query: str) -> list[str]:
    """The query's distinct words, stop words removed (kept when nothing else is left)."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        seen.setdefault(word, None)
        if len(seen) >= MAX_QUERY_TERMS:
            break
    content = [word for word in seen if word not in STOP_WORDS]
    return content or list(seen)


# How many postings (chunk, term) one FTS5 query may score. Query words are taken rarest first
# until the next one would pass the budget, so search time stays bounded as the index grows;
# the words left out are the most common ones, which weigh least in BM25.
POSTINGS_BUDGET = 20_000


def fts5_matches(
    session: Session, terms: list[str], budget: int = POSTINGS_BUDGET
) -> tuple[np.ndarray, np.ndarray]:
    """Every chunk matching the query's kept words, as ``(chunk ids, BM25 scores)`` (higher is
    better). Not restricted to any corpus: callers keep the ids they are allowed to see."""
    kept = _vocabulary.within_budget(session, terms, budget)
    if not kept:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    match = " OR ".join('"' + t.replace('"', "") + '"' for t in kept)
    # bm25() is lower-is-better; its arguments are the column weights (context, text).
    rows = session.execute(
        text(
            f"SELECT rowid, bm25(chunks_fts, {CONTEXT_WEIGHT}, 1.0) FROM chunks_fts "
            "WHERE chunks_fts MATCH :match"
        ),
        {"match": match},
    ).all()
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    scores = np.fromiter((-row[1] for row in rows), dtype=np.float64, count=len(rows))
    return ids, scores


# The per-word caches below hold at most max_words words, and only words up to this length: a
# question may be 20,000 characters of one "word", and real words are far shorter (the longest
# English words are ~30 letters), so the caches stay within a few megabytes whatever is asked.
MAX_CACHED_WORD = 64


class _Vocabulary:
    """Document frequencies of query words in the FTS5 index, for pruning.

    FTS5 stems with Porter, so a word's frequency is that of its stem: the stem comes from
    FTS5's own tokenizer (a one-row temporary FTS5 table per connection), the frequency from
    an ``fts5vocab`` table. Counting costs time in proportion to the frequency, so counts are
    cached per process for a minute; a slightly stale count only shifts where pruning cuts.
    """

    def __init__(self, ttl_seconds: float = 60.0, max_words: int = 50_000) -> None:
        self.ttl = ttl_seconds
        self.max_words = max_words
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}

    def within_budget(self, session: Session, terms: list[str], budget: int) -> list[str]:
        counts = self._document_counts(session, terms)
        kept, total = [], 0
        for term in sorted((t for t in terms if counts[t]), key=lambda t: counts[t]):
            if kept and total + counts[term] > budget:
                break
            kept.append(term)
            total += counts[term]
        return kept

    def _document_counts(self, session: Session, terms: list[str]) -> dict[str, int]:
        now = time.monotonic()
        with self._lock:
            cached = {t: self._counts.get(t) for t in terms}
        counts = {t: hit[0] for t, hit in cached.items() if hit and now - hit[1] < self.ttl}
        missing = [t for t in terms if t not in counts]
        if missing:
            fresh = _count_documents(session, missing)
            with self._lock:
                if len(self._counts) > self.max_words:
                    self._counts.clear()
                self._counts.update({t: (c, now) for t, c in fresh.items() if len(t) <= MAX_CACHED_WORD})
            counts.update(fresh)
        return counts


def _count_documents(session: Session, words: list[str]) -> dict[str, int]:
    """Each word's document frequency: that of its stem, or its rarest part's for words FTS5
    splits (``foo_bar``), since the phrase can only match where that part does."""
    tokens = word_tokens(session, words)
    session.execute(text(_CHUNK_VOCABULARY))
    frequency = {
        stem: session.scalar(text("SELECT doc FROM temp.parley_chunk_vocab WHERE term = :t"), {"t": stem})
        or 0
        for stem in {stem for stems in tokens.values() for stem in stems}
    }
    return {word: min((frequency[stem] for stem in tokens[word]), default=0) for word in words}


class _Tokens:
    """Query words as FTS5's tokenizer splits and stems them, cached per process (a word's
    tokens never change): one temporary FTS5 table per connection does the tokenizing, so
    query words and the index always agree, whatever the tokenizer does to case, diacritics
    or punctuation."""

    def __init__(self, max_words: int = 50_000) -> None:
        self.max_words = max_words
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, ...]] = {}

    def get(self, session: Session, words: list[str]) -> dict[str, tuple[str, ...]]:
        with self._lock:
            found = {word: self._tokens[word] for word in words if word in self._tokens}
        missing = [word for word in dict.fromkeys(words) if word not in found]
        if missing:
            fresh = _tokenize(session, missing)
            with self._lock:
                if len(self._tokens) > self.max_words:
                    self._tokens.clear()
                self._tokens.update(
                    (word, tokens) for word, tokens in fresh.items() if len(word) <= MAX_CACHED_WORD
                )
            found.update(fresh)
        return found


def _tokenize(session: Session, words: list[str]) -> dict[str, tuple[str, ...]]:
    for statement in _TEMPORARY_TABLES:
        session.execute(text(statement))
    session.execute(text("DELETE FROM temp.parley_words"))
    session.execute(
        text("INSERT INTO temp.parley_words(rowid, w) VALUES (:row, :word)"),
        [{"row": row, "word": word} for row, word in enumerate(words)],
    )
    instances = session.execute(text("SELECT doc, offset, term FROM temp.parley_word_stems")).all()
    session.execute(text("DELETE FROM temp.parley_words"))
    tokens: dict[str, list[tuple[int, str]]] = {word: [] for word in words}
    for row, offset, stem in instances:
        tokens[words[row]].append((offset, stem))
    return {word: tuple(stem for _, stem in sorted(found)) for word, found in tokens.items()}


# Per connection (temporary tables live as long as it does); created on first use.
_TEMPORARY_TABLES = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.parley_words USING fts5(w, tokenize='{FTS5_TOKENIZER}')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.parley_word_stems USING fts5vocab(temp, parley_words, instance)",
)
_CHUNK_VOCABULARY = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.parley_chunk_vocab USING fts5vocab(main, chunks_fts, row)"
)

_tokens = _Tokens()


def word_tokens(session: Session, words: list[str]) -> dict[str, tuple[str, ...]]:
    """Each word's FTS5 tokens (stems), in order: one for a plain word, none for a word of
    separators only, several for a word FTS5 splits (matched as a phrase)."""
    return _tokens.get(session, words)


_vocabulary = _Vocabulary()


class _CollectionStats:
    """Chunk count and average length (PostgreSQL), computed again only when some corpus's
    ``index_version`` moved: every change to chunks bumps one in the same transaction, so the
    statistics are never stale, in this process or after another process's change, and the
    check is a read of the small corpora table."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: tuple[int, float] | None = None
        self._versions: tuple[int, int] | None = None

    def get(self, session: Session) -> tuple[int, float]:
        row = session.execute(select(func.count(), func.coalesce(func.sum(Corpus.index_version), 0))).one()
        versions = (int(row[0]), int(row[1]))
        with self._lock:
            if self._value is not None and self._versions == versions:
                return self._value
        count, average = session.execute(select(func.count(), func.avg(Chunk.lexical_length))).one()
        value = (int(count or 0), float(average or 1.0) or 1.0)
        with self._lock:
            self._value, self._versions = value, versions
        return value


_stats = _CollectionStats()


def postgres_bm25(
    session: Session,
    terms: list[str],
    corpus_ids: list[int],
    filters: BaseFilter | CompositeFilter | None,
    limit: int,
) -> list[tuple[int, float]]:
    """``(chunk_id, BM25)`` best first, over the given corpora, filter compiled into the query."""
    total, average = _stats.get(session)
    compiler = FilterCompiler("postgresql")
    filter_sql = compiler.sql(filters) if filters is not None else "TRUE"
    stmt = text(
        f"""
        WITH q AS (
            SELECT DISTINCT lexeme AS term FROM unnest(to_tsvector('english', :query))
        ),
        w AS (
            SELECT ct.term, ln(1 + (:total - count(*) + 0.5) / (count(*) + 0.5)) AS idf
            FROM chunk_terms ct JOIN q ON q.term = ct.term GROUP BY ct.term
        )
        SELECT chunks.id, SUM(w.idf * ct.tf * ({K1} + 1)
               / (ct.tf + {K1} * (1 - {B} + {B} * chunks.lexical_length / :avgdl))) AS score
        FROM chunk_terms ct
        JOIN w ON w.term = ct.term
        JOIN chunks ON chunks.id = ct.chunk_id
        JOIN documents ON documents.id = chunks.document_id
        WHERE chunks.corpus_id = ANY(:corpus_ids) AND NOT documents.is_deleted AND {filter_sql}
        GROUP BY chunks.id
        ORDER BY score DESC
        LIMIT :limit
        """
    ).bindparams(
        query=" ".join(terms),
        total=max(total, 1),
        avgdl=average,
        corpus_ids=list(corpus_ids),
        limit=limit,
        **compiler.params,
    )
    return [(row[0], float(row[1])) for row in execute_request_shaped(session, stmt)]
