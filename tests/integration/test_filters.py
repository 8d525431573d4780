"""Metadata filters compile into SQL with the same meaning on SQLite and PostgreSQL.

Every filter is checked against an independent Python reading of the grammar, over rows
with scalars, lists, missing keys, nulls, numbers, booleans and date strings.
"""

from __future__ import annotations

import fnmatch
import random
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from parley.accounts import service as accounts
from parley.corpora.models import Chunk, Corpus, Document
from parley.errors import InvalidInputError
from parley.search.filters import MAX_VALUE_CHARS, MAX_VALUES, FilterCompiler, parse_filter

ROWS = [
    {
        "lang": "en",
        "tags": ["legal", "eu"],
        "year": 2021,
        "score": 0.5,
        "public": True,
        "published": "2021-03-01",
    },
    {"lang": "de", "tags": ["legal"], "year": 2019, "score": 1.5, "public": False, "published": "2019-12-31"},
    {"lang": "en", "tags": ["Finance", "us"], "year": 2023, "public": True, "published": "2023-06-15"},
    {"lang": "fr", "tags": [], "year": 2020.5, "score": None, "owner": "Marie Curie"},
    {"lang": "EN", "tags": "legal", "year": "2022", "owner": "marie-louise"},
    {"title": "Report [draft] 100%_done", "year": 2024, "tags": ["a_b", "c%d"]},
    {},
]
DOC_DATES = ["2023-01-05", "2023-02-10", "2023-03-15", "2024-01-01", "2024-06-30", "2025-01-01", "2025-02-02"]


def _values(meta, field):
    if field not in meta or meta[field] is None:
        return []
    value = meta[field]
    return value if isinstance(value, list) else [value]


def _same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _in_range(v, sign, bound):
    numeric = isinstance(bound, int | float) and not isinstance(bound, bool)
    if numeric:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return False
    elif not isinstance(v, str):
        return False
    return {">": v > bound, ">=": v >= bound, "<": v < bound, "<=": v <= bound}[sign]


def reference(node, meta, doc_id, date):
    """An independent reading of the grammar's semantics."""
    if "filters" in node:
        results = [reference(sub, meta, doc_id, date) for sub in node["filters"]]
        op = node.get("operator", "AND")
        return all(results) if op == "AND" else any(results) if op == "OR" else not any(results)
    field, op, value = node["field"], node["operator"], node.get("value")
    if field == "document_id":
        values = [doc_id]
        value = (
            [int(v) for v in value]
            if isinstance(value, list)
            else (int(value) if value is not None else None)
        )
    elif field == "date_created":
        values = [date]
    else:
        values = _values(meta, field)
    if op == "exists":
        return bool(values)
    if op == "equals":
        return any(_same(v, value) for v in values)
    if op == "notequals":
        return not any(_same(v, value) for v in values)
    if op == "containsany":
        return any(_same(v, x) for v in values for x in value)
    if op == "startswith":
        return any(isinstance(v, str) and v.startswith(value) for v in values)
    if op == "wildcard":
        return any(isinstance(v, str) and fnmatch.fnmatchcase(v.lower(), value.lower()) for v in values)
    signs = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
    if op in signs:
        return any(_in_range(v, signs[op], value) for v in values)
    low, high = value
    return any(_in_range(v, ">=", low) and _in_range(v, "<=", high) for v in values)


@pytest.fixture
def indexed(db):
    org = accounts.create_organization(db, "Filters")
    user = accounts.create_user(db, org_id=org.id, email="f@example.com", password=None)
    corpus = Corpus(org_id=org.id, owner_id=user.id, name="c")
    db.add(corpus)
    db.flush()
    rows = []
    for i, (meta, day) in enumerate(zip(ROWS, DOC_DATES, strict=True)):
        created = datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)
        doc = Document(
            org_id=org.id,
            corpus_id=corpus.id,
            user_id=user.id,
            name=f"d{i}",
            content_type="text",
            created_on=created,
            doc_metadata=meta,
        )
        db.add(doc)
        db.flush()
        chunk = Chunk(
            org_id=org.id,
            corpus_id=corpus.id,
            document_id=doc.id,
            ordinal=0,
            text=f"chunk {i}",
            char_start=0,
            char_end=7,
            chunk_metadata=meta,
        )
        db.add(chunk)
        db.flush()
        rows.append((chunk.id, doc.id, created.strftime("%Y-%m-%dT%H:%M:%S.%f"), meta))
    db.commit()
    return rows


def run(db, raw):
    compiler = FilterCompiler(db.get_bind().dialect.name)
    clause = compiler.clause(parse_filter(raw))
    stmt = select(Chunk.id).join(Document, Document.id == Chunk.document_id).where(clause).order_by(Chunk.id)
    return list(db.scalars(stmt))


def expected(rows, raw):
    return [cid for cid, doc_id, date, meta in rows if reference(raw, meta, doc_id, date)]


CASES = [
    {"field": "lang", "operator": "equals", "value": "en"},
    {"field": "lang.keyword", "operator": "equals", "value": "EN"},
    {"field": "lang", "operator": "notequals", "value": "en"},
    {"field": "tags", "operator": "equals", "value": "legal"},
    {"field": "tags", "operator": "containsany", "value": ["us", "eu", "nothing"]},
    {"field": "year", "operator": "equals", "value": 2021},
    {"field": "year", "operator": "equals", "value": "2022"},
    {"field": "public", "operator": "equals", "value": True},
    {"field": "public", "operator": "equals", "value": False},
    {"field": "score", "operator": "exists"},
    {"field": "owner", "operator": "exists"},
    {"field": "owner", "operator": "startswith", "value": "Marie"},
    {"field": "owner", "operator": "wildcard", "value": "marie*"},
    {"field": "title", "operator": "wildcard", "value": "*[draft]*100%_*"},
    {"field": "tags", "operator": "wildcard", "value": "c%d"},
    {"field": "tags", "operator": "startswith", "value": "a_"},
    {"field": "year", "operator": "gt", "value": 2020},
    {"field": "year", "operator": "lte", "value": 2020.5},
    {"field": "score", "operator": "between", "value": [0.5, 1.0]},
    {"field": "published", "operator": "gte", "value": "2021-01-01"},
    {"field": "published", "operator": "between", "value": ["2019-01-01", "2021-12-31"]},
    {"field": "document_id", "operator": "containsany", "value": ["1", 3]},
    {"field": "date_created", "operator": "lt", "value": "2024-01-01"},
    {"field": "date_created", "operator": "containsany", "value": ["2023-02-10T12:00:00.000000", "2024"]},
    {"field": "tags", "operator": "containsany", "value": ["legal", 2021, True, 0.5, "a_b"]},
    {"field": "date_created", "operator": "between", "value": ["2023-02-10", "2024-06-30T23:59:59"]},
    {
        "filters": [
            {"field": "lang", "operator": "equals", "value": "en"},
            {"field": "year", "operator": "gte", "value": 2022},
        ],
        "operator": "AND",
    },
    {
        "filters": [
            {"field": "lang", "operator": "equals", "value": "de"},
            {"field": "lang", "operator": "equals", "value": "fr"},
        ],
        "operator": "OR",
    },
    {"filters": [{"field": "tags", "operator": "equals", "value": "legal"}], "operator": "AND_NOT"},
    {
        "filters": [
            {
                "filters": [
                    {"field": "public", "operator": "equals", "value": True},
                    {"field": "owner", "operator": "exists"},
                ],
                "operator": "OR",
            },
            {"filters": [{"field": "year", "operator": "lt", "value": 2021}], "operator": "AND_NOT"},
        ]
    },
]


@pytest.mark.parametrize("raw", CASES, ids=[str(i) for i in range(len(CASES))])
def test_each_operator_matches_the_reference(db, indexed, raw):
    got = run(db, raw)
    want = expected(indexed, _without_keyword(raw))
    assert got == want


def _without_keyword(raw):
    if "filters" in raw:
        return {**raw, "filters": [_without_keyword(f) for f in raw["filters"]]}
    return {**raw, "field": raw["field"].removesuffix(".keyword")}


def _random_filter(rng, depth=0):
    if depth < 3 and rng.random() < 0.35:
        return {
            "filters": [_random_filter(rng, depth + 1) for _ in range(rng.randint(1, 3))],
            "operator": rng.choice(["AND", "OR", "AND_NOT"]),
        }
    field = rng.choice(["lang", "tags", "year", "score", "public", "owner", "published", "missing"])
    op = rng.choice(
        [
            "equals",
            "notequals",
            "containsany",
            "exists",
            "startswith",
            "wildcard",
            "gt",
            "gte",
            "lt",
            "lte",
            "between",
        ]
    )
    pool = ["en", "de", "legal", "us", "Marie", "marie*", "2021-01-01", 2020, 2021, 0.5, True, False]
    if op == "exists":
        return {"field": field, "operator": op}
    if op == "containsany":
        return {"field": field, "operator": op, "value": rng.sample(pool, 2)}
    if op in ("startswith", "wildcard"):
        return {"field": field, "operator": op, "value": rng.choice(["en", "Ma", "le*", "*a*", "20"])}
    if op in ("gt", "gte", "lt", "lte"):
        return {"field": field, "operator": op, "value": rng.choice([2020, 2021.5, 0.7, "2020-06-01"])}
    if op == "between":
        return {"field": field, "operator": op, "value": rng.choice([[2019, 2021], [0, 1], ["2019", "2022"]])}
    return {"field": field, "operator": op, "value": rng.choice(pool)}


def test_random_nested_filters_match_the_reference(db, indexed):
    rng = random.Random(20261122)
    for _ in range(150):
        raw = _random_filter(rng)
        assert run(db, raw) == expected(indexed, raw), raw


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"field": "x", "operator": "between", "value": [1]}, "between"),
        ({"field": "x", "operator": "containsany", "value": "a"}, "containsany"),
        ({"field": "x", "operator": "like", "value": "a"}, "operator"),
        ({"field": "x'); DROP TABLE chunks; --", "operator": "equals", "value": "a"}, "field"),
        ({"field": "x", "operator": "startswith", "value": 3}, "string"),
        ({"field": "x", "operator": "equals", "value": 2**63}, "64-bit"),
        ({"field": "x", "operator": "gt", "value": -(2**63) - 1}, "64-bit"),
        ({"field": "x", "operator": "containsany", "value": ["a", 2**70]}, "64-bit"),
        ({"field": "document_id", "operator": "equals", "value": 45769756108335095808}, "64-bit"),
        ({"field": "x", "operator": "equals", "value": float("nan")}, "finite"),
        ({"field": "x", "operator": "lt", "value": float("inf")}, "finite"),
        ({"field": "x", "operator": "equals", "value": "v" * (MAX_VALUE_CHARS + 1)}, "characters"),
    ],
)
def test_bad_filters_are_rejected_with_a_reason(raw, message):
    with pytest.raises(InvalidInputError) as err:
        parse_filter(raw)
    assert message in err.value.message


def test_a_refusal_names_the_field_of_the_filter_not_the_validator():
    with pytest.raises(InvalidInputError) as err:
        parse_filter({"field": "team", "operator": "equals", "value": 2**70})
    assert err.value.message == (
        "Invalid filter at value: integer values must fit in a signed 64-bit integer (use a float)"
    )


def test_depth_and_size_are_limited():
    deep = {"field": "a", "operator": "exists"}
    for _ in range(20):
        deep = {"filters": [deep]}
    with pytest.raises(InvalidInputError, match="nested"):
        parse_filter(deep)
    wide = {"filters": [{"field": "a", "operator": "exists"}] * 500}
    with pytest.raises(InvalidInputError, match="at most"):
        parse_filter(wide)


def test_values_count_toward_one_limit_per_filter():
    one_list = {"field": "team", "operator": "containsany", "value": [f"v{i}" for i in range(MAX_VALUES + 1)]}
    spread = {"filters": [{**one_list, "value": [f"v{i}" for i in range(100)]}] * 11, "operator": "OR"}
    for raw in (one_list, spread):
        with pytest.raises(InvalidInputError, match=f"at most {MAX_VALUES} values"):
            parse_filter(raw)
    parse_filter({**one_list, "value": one_list["value"][:MAX_VALUES]})


def test_a_list_of_values_is_one_bound_parameter_and_matches_the_reference(db, indexed):
    """A thousand values compile to a few parameters, not a thousand OR terms (SQLite refused
    the expression tree, PostgreSQL the parameter count); the extremes of 64 bits run."""
    doc_ids = [doc_id for _, doc_id, _, _ in indexed]
    values: list = [f"v{i}" for i in range(MAX_VALUES - 4)] + ["us", 2021, True, 2**63 - 1]
    for raw in (
        {"field": "tags", "operator": "containsany", "value": values},
        {
            "field": "document_id",
            "operator": "containsany",
            "value": [*range(MAX_VALUES - 2), doc_ids[2], 2**63 - 1],
        },
        {"field": "year", "operator": "between", "value": [-(2**63), 2**63 - 1]},
    ):
        compiler = FilterCompiler(db.get_bind().dialect.name)
        compiler.sql(parse_filter(raw))
        assert len(compiler.params) <= 3
        assert run(db, raw) == expected(indexed, raw), raw["field"]


def test_sql_looking_values_are_bound_not_spliced(db, indexed):
    hostile = "en' OR '1'='1"
    assert run(db, {"field": "lang", "operator": "equals", "value": hostile}) == []
    assert db.scalar(text("SELECT count(*) FROM chunks")) == len(ROWS)
