"""Hybrid search over the in-memory BM25 postings (SQLite) and through PostgreSQL.

On SQLite the lexical ranking comes from postings read out of the FTS5 index; these tests hold
it to FTS5's own ``bm25()`` on the same chunks, check that the cached postings follow every
change to a corpus (ingest, re-index with reused chunk ids, delete), and that filters and
permissions still decide what either backend returns. Chunks are written by the ingestion
pipeline's own writer, with small deterministic vectors instead of a model.
"""

from __future__ import annotations

import shutil
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from parley.accounts import service as accounts
from parley.accounts.models import User
from parley.corpora.documents import change_tags, delete_documents, edit_document
from parley.corpora.models import Chunk, Corpus, Document
from parley.db.engine import create_db_engine, create_session_factory, session_scope
from parley.ingest.chunking import ChunkSpan
from parley.ingest.pipeline import bump_index_version, write_chunks
from parley.search.bm25_index import inverse_document_frequencies
from parley.search.filters import parse_filter
from parley.search.lexical import fts5_matches, query_terms, word_tokens
from parley.search.service import SearchOptions, hybrid_search
from parley.search.vector import VectorCache
from parley.settings import Settings
from tests.conftest import make_settings

DIM = 384
UNLIMITED = 10**9

# Titles become each chunk's context (weighted half); stems, diacritics, repeats and one word
# ("study") in most chunks, whose FTS5 idf falls to its floor.
DOCUMENTS = {
    "Running shoes": [
        "Runners who run daily study how running shoes wear out.",
        "A study of cushioning: the runner's shoe matters less than training volume.",
    ],
    "Café culture": [
        "The cafe and the café: a study of coffee houses in Vienna.",
        "Coffee, coffee and more coffee: caffeine intake in a small study.",
    ],
    "Glacier retreat": [
        "Glaciers retreat as summers warm; this study measures the ice loss.",
        "Ice cores record past climate, and the study dates each layer.",
    ],
    "Sleep and memory": [
        "Sleep consolidates memory; a study of students before examinations.",
        "Memory of running routes improves after sleep, the study found.",
    ],
    "Bridges": ["Suspension bridges carry loads through cables anchored in rock."],
}
QUERIES = [
    "running shoe study",
    "cafe coffee",
    "Does sleep help memory?",
    "ice glacier climate study",
    "study",
    "suspension cables rock bridges runners",
]


def embed(text: str) -> np.ndarray:
    """A bag of hashed words: texts sharing words get close vectors."""
    vector = np.zeros(DIM, dtype=np.float32)
    for word in query_terms(text):
        vector[zlib.crc32(word.encode()) % DIM] += 1.0
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def add_document(
    session: Session,
    corpus: Corpus,
    name: str,
    texts: list[str],
    metadata: dict | None = None,
    tags: list[str] | None = None,
) -> Document:
    document = Document(
        org_id=corpus.org_id,
        corpus_id=corpus.id,
        user_id=corpus.owner_id,
        name=name,
        content_type="text",
        status="completed",
        doc_metadata=metadata or {},
        tags=tags or [],
    )
    session.add(document)
    session.flush()
    rewrite(session, document, texts)
    return document


def rewrite(session: Session, document: Document, texts: list[str]) -> None:
    """What ingestion and re-indexing do: replace the document's chunks, bump the index version."""
    spans = [ChunkSpan(text, 0, len(text), None, None, len(text.split())) for text in texts]
    vectors = np.stack([embed(f"{document.name} {text}") for text in texts])
    write_chunks(session, document, spans, [document.name] * len(texts), vectors, "hashed-words")


def empty_corpus(session: Session, owner: User, name: str = "c") -> Corpus:
    corpus = Corpus(org_id=owner.org_id, owner_id=owner.id, name=name)
    session.add(corpus)
    session.flush()
    return corpus


def make_corpus(session: Session, owner: User, name: str, documents: dict[str, list[str]]) -> int:
    corpus = empty_corpus(session, owner, name)
    for title, texts in documents.items():
        add_document(session, corpus, title, texts)
    return corpus.id


def new_owner(session: Session, org_name: str, email: str) -> User:
    org = accounts.create_organization(session, org_name)
    return accounts.create_user(session, org_id=org.id, email=email, password=None)


def search(
    reads: sessionmaker[Session],
    cache: VectorCache,
    query: str,
    corpus_ids: list[int],
    with_vector: bool = True,
    **kwargs,  # type: ignore[no-untyped-def]
):  # type: ignore[no-untyped-def]
    with reads() as session:
        vector = embed(query) if with_vector else None
        options = SearchOptions(top_k=20)
        return hybrid_search(session, cache, query, vector, corpus_ids, options=options, **kwargs)


def fts5_scores(session: Session, query: str) -> dict[int, float]:
    ids, scores = fts5_matches(session, query_terms(query), UNLIMITED)
    return dict(zip(ids.tolist(), scores.tolist(), strict=True))


def memory_scores(session: Session, cache: VectorCache, corpus_id: int, query: str) -> dict[int, float]:
    words = query_terms(query)
    tokens = word_tokens(session, words)
    stems = [stem for word in words for stem in tokens[word]]
    part = cache.corpora(session, [corpus_id])[0]
    index = cache.lexical(session, part)
    assert index is not None
    scores = index.scores(stems, inverse_document_frequencies([index], stems))
    matched = np.flatnonzero(scores > 0)
    return dict(zip(part.ids[matched].tolist(), scores[matched].tolist(), strict=True))


@pytest.fixture
def sqlite_sessions(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[sessionmaker, sessionmaker]]:
    """Writes and reads on a fresh migrated SQLite database (the in-memory index is SQLite's)."""
    path = tmp_path / "search.db"
    shutil.copyfile(sqlite_template, path)
    engine = create_db_engine(make_settings(f"sqlite:///{path}", tmp_path))
    yield create_session_factory(engine), create_session_factory(engine, writes=False)
    engine.dispose()


@pytest.fixture
def sessions(settings: Settings) -> Iterator[tuple[sessionmaker, sessionmaker]]:
    """Writes and reads on SQLite and on PostgreSQL."""
    engine = create_db_engine(settings)
    yield create_session_factory(engine), create_session_factory(engine, writes=False)
    engine.dispose()


def test_memory_postings_score_exactly_like_fts5_bm25(sqlite_sessions):
    writes, reads = sqlite_sessions
    with session_scope(writes) as session:
        corpus_id = make_corpus(session, new_owner(session, "Org", "a@example.com"), "c", DOCUMENTS)
    cache = VectorCache()
    with reads() as session:
        for query in QUERIES:
            expected, got = fts5_scores(session, query), memory_scores(session, cache, corpus_id, query)
            assert expected, query
            assert got.keys() == expected.keys(), query
            assert [got[i] for i in expected] == pytest.approx(list(expected.values()), rel=1e-5), query
    # The search itself returns every match with those scores, best first.
    for query in QUERIES:
        hits = search(reads, cache, query, [corpus_id], with_vector=False)
        with reads() as session:
            expected = fts5_scores(session, query)
        assert {h.chunk_id: h.lexical_score for h in hits} == pytest.approx(expected, rel=1e-5)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_another_tenants_chunks_do_not_move_a_corpus_scores(sqlite_sessions):
    writes, reads = sqlite_sessions
    with session_scope(writes) as session:
        corpus_id = make_corpus(session, new_owner(session, "Org", "a@example.com"), "c", DOCUMENTS)
    query = "coffee glacier memory"
    with reads() as session:
        before = memory_scores(session, VectorCache(), corpus_id, query)
        fts5_before = fts5_scores(session, query)
    with session_scope(writes) as session:
        other = new_owner(session, "Other Org", "b@example.com")
        make_corpus(session, other, "theirs", {f"Note {i}": ["coffee and memory notes"] for i in range(12)})
    with reads() as session:
        after = memory_scores(session, VectorCache(), corpus_id, query)
        fts5_after = {i: s for i, s in fts5_scores(session, query).items() if i in before}
    assert after == pytest.approx(before)
    # FTS5's statistics cover the whole database, so its scores for the same chunks moved.
    assert fts5_after != pytest.approx(fts5_before)


def test_a_word_fts5_splits_is_matched_as_a_phrase(sqlite_sessions):
    writes, reads = sqlite_sessions
    with session_scope(writes) as session:
        corpus_id = make_corpus(
            session,
            new_owner(session, "Org", "a@example.com"),
            "c",
            {"Adjacent": ["alpha beta gamma"], "Apart": ["beta delta alpha"], "Neither": ["gamma delta"]},
        )
    hits = search(reads, VectorCache(), "alpha_beta", [corpus_id], with_vector=False)
    assert [h.text for h in hits] == ["alpha beta gamma"]


def test_past_the_size_limit_fts5_ranks_the_same(sqlite_sessions):
    writes, reads = sqlite_sessions
    with session_scope(writes) as session:
        corpus_id = make_corpus(session, new_owner(session, "Org", "a@example.com"), "c", DOCUMENTS)
    in_memory, through_fts5 = VectorCache(), VectorCache(memory_index_max_chunks=0)
    with reads() as session:
        assert in_memory.lexical(session, in_memory.corpora(session, [corpus_id])[0]) is not None
        assert through_fts5.lexical(session, through_fts5.corpora(session, [corpus_id])[0]) is None
    for query in QUERIES:
        expected = search(reads, in_memory, query, [corpus_id])
        got = search(reads, through_fts5, query, [corpus_id])
        assert [h.chunk_id for h in got] == [h.chunk_id for h in expected]
        assert [h.score for h in got] == pytest.approx([h.score for h in expected])


def test_cached_postings_follow_ingest_reindex_and_delete(sessions):
    writes, reads = sessions
    with session_scope(writes) as session:
        owner = new_owner(session, "Org", "a@example.com")
        corpus_id = make_corpus(session, owner, "c", DOCUMENTS)
    cache = VectorCache()  # one cache across every change, as in a server process
    assert not search(reads, cache, "zebra crossing", [corpus_id], with_vector=False)

    with session_scope(writes) as session:
        corpus = session.get(Corpus, corpus_id)
        late = add_document(session, corpus, "Traffic", ["A zebra crossing near the school."]).id
    hits = search(reads, cache, "zebra crossing", [corpus_id])
    assert hits[0].document_id == late and hits[0].lexical_score

    # Re-indexing the newest document replaces its chunks; on SQLite the new rows take the
    # freed ids, so a cache keyed on ids alone would keep the old words.
    with session_scope(writes) as session:
        old_ids = set(session.scalars(select(Chunk.id).where(Chunk.document_id == late)))
        rewrite(session, session.get(Document, late), ["An okapi grazing by the river."])
    assert not search(reads, cache, "zebra crossing", [corpus_id], with_vector=False)
    hits = search(reads, cache, "okapi river", [corpus_id], with_vector=False)
    assert [h.document_id for h in hits] == [late] and hits[0].text == "An okapi grazing by the river."
    assert old_ids  # the document had chunks before it was rewritten
    # The vectors were reloaded too: the new chunk is the vector side's best match.
    hits = search(reads, cache, "okapi river", [corpus_id])
    assert hits[0].document_id == late and hits[0].vector_score

    with session_scope(writes) as session:
        user = session.get(User, owner.id)
        delete_documents(session, accounts.load_principal(session, user), corpus_id, [late])
    assert not search(reads, cache, "okapi river", [corpus_id], with_vector=False)
    assert all(h.document_id != late for h in search(reads, cache, "okapi river", [corpus_id]))
    assert search(reads, cache, "glacier ice", [corpus_id], with_vector=False)  # the rest remains


def test_filters_and_permissions_apply_to_both_rankings(sessions):
    writes, reads = sessions
    with session_scope(writes) as session:
        owner = new_owner(session, "Org", "owner@example.com")
        colleague = accounts.create_user(session, org_id=owner.org_id, email="c@example.com", password=None)
        mine = Corpus(org_id=owner.org_id, owner_id=owner.id, name="mine")
        theirs = Corpus(org_id=owner.org_id, owner_id=colleague.id, name="theirs")
        session.add_all([mine, theirs])
        session.flush()
        guide = add_document(session, mine, "Guide", ["Reset the router password."], {"kind": "guide"})
        # Its metadata says "stale", its tags say "fresh": a chunk filters on the tags.
        report = add_document(
            session,
            mine,
            "Report",
            ["Router password reset report, router password reset steps."],
            {"kind": "report", "tags": ["stale"]},
            tags=["fresh"],
        )
        private = add_document(session, theirs, "Private", ["Router password reset, private notes."])
        ids = {"mine": mine.id, "theirs": theirs.id, "owner": owner.id, "colleague": colleague.id}
    cache = VectorCache()
    query = "router password reset"
    both = [ids["mine"], ids["theirs"]]

    def documents(**kwargs) -> set[int]:  # type: ignore[no-untyped-def]
        return {h.document_id for h in search(reads, cache, query, both, **kwargs)}

    assert documents() == {guide.id, report.id, private.id}  # trusted caller, no filter
    with reads() as session:
        as_owner = accounts.load_principal(session, session.get(User, ids["owner"]))
        as_colleague = accounts.load_principal(session, session.get(User, ids["colleague"]))
    assert documents(principal=as_owner) == {guide.id, report.id}
    assert documents(principal=as_colleague) == {private.id}

    # The report is the best lexical match; a filter that refuses it must keep it out anyway.
    only_guides = parse_filter({"field": "kind", "operator": "equals", "value": "guide"})
    assert documents(filters=only_guides, principal=as_owner) == {guide.id}
    fresh = parse_filter({"field": "tags", "operator": "equals", "value": "fresh"})
    stale = parse_filter({"field": "tags", "operator": "equals", "value": "stale"})
    assert documents(filters=fresh) == {report.id}
    assert documents(filters=stale) == set()
    not_reports = parse_filter(
        {"filters": [{"field": "kind", "operator": "equals", "value": "report"}], "operator": "AND_NOT"}
    )
    assert documents(filters=not_reports) == {guide.id, private.id}


# -- incremental updates ---------------------------------------------------------------------

KINDS = {"Running shoes": "guide", "Café culture": "report", "Glacier retreat": "guide"}
ONLY_GUIDES = parse_filter({"field": "kind", "operator": "equals", "value": "guide"})


def ranked(reads: sessionmaker[Session], cache: VectorCache, corpus_id: int) -> list[list[tuple]]:
    """Every query's hits (ids and all three scores), with and without a vector and a filter."""
    out = []
    for query in [*QUERIES, "zebra crossing", "okapi river coffee"]:
        for filters in (None, ONLY_GUIDES):
            for with_vector in (True, False):
                hits = search(reads, cache, query, [corpus_id], with_vector, filters=filters)
                out.append([(h.chunk_id, h.score, h.lexical_score, h.vector_score) for h in hits])
    return out


def test_an_updated_cache_ranks_exactly_like_a_fresh_one(sessions):
    writes, reads = sessions
    with session_scope(writes) as session:
        owner = new_owner(session, "Org", "a@example.com")
        corpus = empty_corpus(session, owner)
        for title, texts in DOCUMENTS.items():
            add_document(session, corpus, title, texts, {"kind": KINDS.get(title, "memo")})
        corpus_id, principal = corpus.id, accounts.load_principal(session, owner)
    cache = VectorCache()  # one cache across every change, as in a server process
    assert ranked(reads, cache, corpus_id) == ranked(reads, VectorCache(), corpus_id)

    def change(apply) -> None:  # type: ignore[no-untyped-def]
        with session_scope(writes) as session:
            apply(session, session.get(Corpus, corpus_id))
        assert ranked(reads, cache, corpus_id) == ranked(reads, VectorCache(), corpus_id)

    def document(session: Session, name: str) -> Document:
        return session.scalars(select(Document).where(Document.name == name)).one()

    change(
        lambda s, c: add_document(s, c, "Traffic", ["A zebra crossing near the school."], {"kind": "guide"})
    )
    change(lambda s, c: rewrite(s, document(s, "Traffic"), ["An okapi grazing by the river.", "Zebra."]))
    change(lambda s, c: rewrite(s, document(s, "Running shoes"), ["Coffee for runners, a study."]))
    change(lambda s, c: delete_documents(s, principal, corpus_id, [document(s, "Café culture").id]))
    change(lambda s, c: [add_document(s, c, f"Note {i}", [f"coffee note {i}", "study"]) for i in range(3)])
    if reads.kw["bind"].dialect.name == "sqlite":
        # The cache was updated, not reloaded: the postings of the new chunks are segments of
        # their own beside the first build's.
        with reads() as session:
            part = cache.corpora(session, [corpus_id])[0]
        assert part.lexical is not None and len(part.lexical.segments) > 1


def test_masked_slots_are_compacted_and_rankings_stay_the_same(sqlite_sessions):
    writes, reads = sqlite_sessions
    with session_scope(writes) as session:
        corpus_id = make_corpus(session, new_owner(session, "Org", "a@example.com"), "c", DOCUMENTS)
    cache = VectorCache()
    ranked(reads, cache, corpus_id)
    with reads() as session:
        before = cache.corpora(session, [corpus_id])[0]
    for round_ in range(2):
        with session_scope(writes) as session:
            running = session.scalars(select(Document).where(Document.name == "Running shoes")).one()
            rewrite(session, running, [f"Round {round_}: runners and coffee.", "A study of shoes."])
        with reads() as session:
            part = cache.corpora(session, [corpus_id])[0]
        assert part.live is not None and part.ids.size == before.ids.size + 2 * (round_ + 1)
        assert ranked(reads, cache, corpus_id) == ranked(reads, VectorCache(), corpus_id)
    # Over a quarter of the slots masked (4 of 15): a thread of the cache compacts the arrays in
    # memory and swaps them in; searches used the masked ones meanwhile.
    deadline = time.monotonic() + 30
    while part.live is not None and time.monotonic() < deadline:
        time.sleep(0.05)
        with reads() as session:
            part = cache.corpora(session, [corpus_id])[0]
    assert part.live is None and part.ids.size == before.ids.size
    assert part.lexical is not None and len(part.lexical.segments) == 1
    assert set(part.vectors) == {DIM}
    assert ranked(reads, cache, corpus_id) == ranked(reads, VectorCache(), corpus_id)


def test_chunks_written_without_their_document_reload_the_corpus(sqlite_sessions):
    """A writer that adds chunks without marking their document (as the benchmarks do) is
    caught by the chunk count: the cache loads the corpus again."""
    writes, reads = sqlite_sessions
    with session_scope(writes) as session:
        corpus_id = make_corpus(session, new_owner(session, "Org", "a@example.com"), "c", DOCUMENTS)
    cache = VectorCache()
    ranked(reads, cache, corpus_id)
    with session_scope(writes) as session:
        bridges = session.scalars(select(Document).where(Document.name == "Bridges")).one()
        text = "A zebra crossing before the bridge."
        session.execute(
            insert(Chunk),
            [
                {
                    "org_id": bridges.org_id,
                    "corpus_id": corpus_id,
                    "document_id": bridges.id,
                    "ordinal": 1,
                    "text": text,
                    "context": "Bridges",
                    "char_start": 0,
                    "char_end": len(text),
                    "token_count": 6,
                    "embedding": embed(text).tobytes(),
                    "embedding_model": "hashed-words",
                    "embedding_dim": DIM,
                    "chunk_metadata": {},
                }
            ],
        )
        bump_index_version(session, corpus_id)
    assert ranked(reads, cache, corpus_id) == ranked(reads, VectorCache(), corpus_id)
    assert search(reads, cache, "zebra crossing", [corpus_id])[0].text == text


def test_searches_running_while_updates_land_see_their_own_version(sqlite_sessions):
    """Threads search one shared cache while documents are added, rewritten and deleted; each
    search returns what a fresh cache returns in the same read transaction."""
    writes, reads = sqlite_sessions
    with session_scope(writes) as session:
        owner = new_owner(session, "Org", "a@example.com")
        corpus_id = make_corpus(session, owner, "c", DOCUMENTS)
        principal = accounts.load_principal(session, owner)
    cache = VectorCache()
    done = threading.Event()
    mismatches: list[str] = []
    searches = [0]

    def searcher(query: str) -> None:
        while not done.is_set():
            with reads() as session:
                options = SearchOptions(top_k=20)
                got = hybrid_search(session, cache, query, embed(query), [corpus_id], options=options)
                fresh = hybrid_search(
                    session, VectorCache(), query, embed(query), [corpus_id], options=options
                )
            if [(h.chunk_id, h.score) for h in got] != [(h.chunk_id, h.score) for h in fresh]:
                mismatches.append(query)
            searches[0] += 1

    threads = [threading.Thread(target=searcher, args=(q,)) for q in ("coffee study", "zebra okapi")]
    for thread in threads:
        thread.start()
    try:
        for i in range(12):
            with session_scope(writes) as session:
                corpus = session.get(Corpus, corpus_id)
                note = add_document(session, corpus, f"Note {i}", [f"zebra coffee {i}", "okapi study"])
                if i % 3 == 2:
                    rewrite(session, note, ["okapi only"])
            if i % 4 == 3:
                with session_scope(writes) as session:
                    delete_documents(session, principal, corpus_id, [note.id])
    finally:
        done.set()
        for thread in threads:
            thread.join()
    assert searches[0] > 2 and not mismatches
    assert ranked(reads, cache, corpus_id) == ranked(reads, VectorCache(), corpus_id)


def test_a_change_to_the_corpus_settings_reloads_it(sqlite_sessions):
    """Chunks changed in place with the corpus's settings (as withholding an organisation's
    vectors after an embedder change does) leave no document marked: the cache reloads."""
    writes, reads = sqlite_sessions
    with session_scope(writes) as session:
        corpus_id = make_corpus(session, new_owner(session, "Org", "a@example.com"), "c", DOCUMENTS)
    cache = VectorCache()
    assert search(reads, cache, "glacier ice", [corpus_id])[0].vector_score is not None
    with session_scope(writes) as session:
        session.execute(update(Chunk).where(Chunk.corpus_id == corpus_id).values(embedding_dim=0))
        corpus = session.get(Corpus, corpus_id)
        corpus.settings = {**corpus.settings, "vectors withheld": True}
        bump_index_version(session, corpus_id)
    hits = search(reads, cache, "glacier ice", [corpus_id])
    assert hits and all(h.vector_score is None for h in hits)
    assert ranked(reads, cache, corpus_id) == ranked(reads, VectorCache(), corpus_id)


def test_a_remembered_filter_result_follows_metadata_tags_and_documents(sessions):
    """The documents a filter admits are remembered per corpus version (SQLite): editing a
    document's metadata or tags, adding or deleting a document must each change the answer."""
    writes, reads = sessions
    with session_scope(writes) as session:
        owner = new_owner(session, "Org", "a@example.com")
        corpus = empty_corpus(session, owner)
        guide = add_document(session, corpus, "Guide", ["Reset the router password."], {"kind": "guide"})
        report = add_document(
            session, corpus, "Report", ["Router password reset report."], {"kind": "report"}
        )
        corpus_id = corpus.id
    cache = VectorCache()  # one cache across every change, as in a server process
    query = "router password reset"
    tagged = parse_filter({"field": "tags", "operator": "equals", "value": "urgent"})

    def admitted(filters) -> set[int]:  # type: ignore[no-untyped-def]
        return {h.document_id for h in search(reads, cache, query, [corpus_id], filters=filters)}

    def as_owner(session: Session):  # type: ignore[no-untyped-def]
        return accounts.load_principal(session, session.get(User, owner.id))

    assert admitted(ONLY_GUIDES) == {guide.id}
    assert admitted(ONLY_GUIDES) == {guide.id}  # answered from the remembered result
    if reads.kw["bind"].dialect.name == "sqlite":
        assert len(cache.admitted) == 1
    assert admitted(tagged) == set()

    with session_scope(writes) as session:
        edit_document(session, as_owner(session), report.id, {"metadata": {"kind": "guide"}})
        change_tags(session, as_owner(session), guide.id, ["urgent"], [])
    assert admitted(ONLY_GUIDES) == {guide.id, report.id}
    assert admitted(tagged) == {guide.id}

    with session_scope(writes) as session:
        late = add_document(session, session.get(Corpus, corpus_id), "Late", [query], {"kind": "guide"}).id
    assert admitted(ONLY_GUIDES) == {guide.id, report.id, late}

    with session_scope(writes) as session:
        delete_documents(session, as_owner(session), corpus_id, [guide.id])
    assert admitted(ONLY_GUIDES) == {report.id, late}
    assert admitted(tagged) == set()
