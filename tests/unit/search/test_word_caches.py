"""The per-process word caches of SQLite lexical search remember only word-sized words."""

from __future__ import annotations

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from parley.search.lexical import MAX_CACHED_WORD, _Tokens


def test_a_word_longer_than_any_real_word_is_tokenized_but_not_remembered():
    tokens = _Tokens()
    long = "refund" * (MAX_CACHED_WORD // 6 + 1)
    with Session(create_engine("sqlite://")) as session:
        found = tokens.get(session, ["refunds", long])
    assert found == {"refunds": ("refund",), long: (long,)}
    assert set(tokens._tokens) == {"refunds"}
