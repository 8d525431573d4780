"""The Contextual surface's pure translations: public ids, cursors, citation markers (whole and
streamed) and structured output filled from an answer."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from parley.db.base import MAX_ID
from parley.errors import InvalidInputError, NotFoundError, UnprocessableError
from parley.surfaces.contextual import ids, structured
from parley.surfaces.contextual.answers import _MarkerStream, _moved, contextual_markers
from parley.surfaces.contextual.ids import Kind

ANSWER = "Refunds take five days [1]. Leave expires in March [2][3]. See [citation needed] and [4]()."


@pytest.mark.parametrize("entity_id", [1, 2, 255, 4096, 123_456_789, MAX_ID])
def test_ids_are_uuids_that_decode_back(entity_id: int):
    for kind in Kind:
        public = ids.encode(kind, entity_id)
        assert str(uuid.UUID(public)) == public and uuid.UUID(public).version == 4
        assert ids.decode(kind, public) == entity_id and ids.decode(kind, public.upper()) == entity_id
        others = [k for k in Kind if k != kind]
        assert all(ids.try_decode(other, public) is None for other in others)
    assert ids.encode(Kind.AGENT, entity_id) != ids.encode(Kind.DATASTORE, entity_id)


def test_foreign_ids_are_not_found():
    for value in [
        "",
        "nope",
        str(uuid.uuid4()),
        "9a41e701-0000-4000-8000-000000000000",
        "9a41e701-0001-4000-8000-000000000001",
    ]:
        with pytest.raises(NotFoundError):
            ids.decode(Kind.AGENT, value)
    assert all(not ids.foreign_uuid().startswith("9a41e7") for _ in range(100))
    assert ids.try_decode(Kind.MESSAGE, ids.foreign_uuid()) is None


def test_cursors_round_trip_and_refuse_garbage():
    assert ids.decode_cursor(ids.encode_cursor(42)) == 42 and ids.decode_cursor(None) is None
    for bad in ["x", "YWZ0ZXI6", ids.encode_cursor(1)[::-1], "after:1", ids.encode_cursor(MAX_ID + 1)]:
        with pytest.raises(InvalidInputError):
            ids.decode_cursor(bad)


def test_markers_become_contextual_and_spans_follow():
    text, inserted = contextual_markers(ANSWER)
    assert (
        text
        == "Refunds take five days [1](). Leave expires in March [2]()[3](). See [citation needed] and [4]()."
    )
    first = ANSWER.index("[1]") + len("[1]")
    # A span ending after a marker keeps the marker's "()"; a later span moves by every "()" before it.
    assert text[: _moved(first, inserted)].endswith("[1]()")
    second = ANSWER.index("Leave")
    assert text[_moved(second, inserted) :].startswith("Leave")
    end = len(ANSWER)
    assert _moved(end, inserted) == len(text)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 1000])
def test_streamed_markers_add_up_to_the_whole(size: int):
    stream = _MarkerStream()
    pieces = [stream.feed(ANSWER[i : i + size]) for i in range(0, len(ANSWER), size)]
    assert "".join(pieces) + stream.finish() == contextual_markers(ANSWER)[0]


def test_structured_output_fills_what_the_schema_allows():
    schema = {
        "type": "object",
        "properties": {
            "answer": {"type": "string", "maxLength": 30},
            "days": {"type": "integer", "minimum": 1},
            "share": {"type": "number", "maximum": 1},
            "sentences": {"type": "array", "items": {"type": "string"}, "maxItems": 1},
            "month": {"enum": ["January", "March"]},
            "mood": {"enum": ["happy", "sad"]},
            "flag": {"type": "boolean"},
            "nested": {"$ref": "#/$defs/Inner"},
            "maybe": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
        },
        "required": ["answer", "nested", "maybe"],
        "$defs": {
            "Inner": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
        },
    }
    structured.check_schema(schema)
    filled = structured.fill(schema, ANSWER)
    assert filled == {
        "answer": "Refunds take five days. Leave",
        "sentences": ["Refunds take five days."],
        "month": "March",
        "nested": {"text": "Refunds take five days. Leave expires in March. See [citation needed] and."},
        "maybe": None,
    }
    assert json.loads(json.dumps(filled)) == filled
    numbers = {"type": "object", "properties": {"days": {"type": "integer", "minimum": 1}}, "required": []}
    assert structured.fill(numbers, "It takes 30 days, not 0.5 weeks.") == {"days": 30}
    free = structured.fill({"type": "object"}, "Yes [1].")
    assert free == {"answer": "Yes."}


@pytest.mark.parametrize(
    ("schema", "error", "message"),
    [
        ({"type": "string"}, InvalidInputError, "JSON object"),
        ({"type": "array"}, InvalidInputError, "JSON object"),
        (
            {"type": "object", "properties": {"n": {"type": "number"}}, "required": ["n"]},
            UnprocessableError,
            "$.n",
        ),
        (
            {"type": "object", "properties": {"b": {"type": "boolean"}}, "required": ["b"]},
            UnprocessableError,
            "$.b",
        ),
        (
            {"type": "object", "properties": {"e": {"enum": ["x"]}}, "required": ["e"]},
            UnprocessableError,
            "enum",
        ),
        ({"type": "object", "properties": {}, "required": ["ghost"]}, UnprocessableError, "ghost"),
        (
            {"type": "object", "properties": {"a": {"not": {}}}, "required": ["a"]},
            UnprocessableError,
            "'not'",
        ),
        (
            {"type": "object", "properties": {"r": {"$ref": "http://x"}}, "required": ["r"]},
            UnprocessableError,
            "$ref",
        ),
        (
            {"type": "object", "properties": {"s": {"type": "string", "minLength": 5}}, "required": ["s"]},
            UnprocessableError,
            "minLength",
        ),
        (
            {"type": "object", "properties": {"s": {"type": "string", "maxLength": "x"}}, "required": ["s"]},
            InvalidInputError,
            "Invalid",
        ),
    ],
)
def test_structured_output_refuses_what_it_cannot_fill(schema: dict, error: type, message: str):
    with pytest.raises(error, match=re.escape(message)):
        structured.check_schema(schema)


def test_defaults_and_consts_fill_required_values():
    schema = {
        "type": "object",
        "properties": {
            "ok": {"type": "boolean", "default": True},
            "version": {"const": 2},
            "n": {"type": "number", "default": 0},
        },
        "required": ["ok", "version", "n"],
    }
    structured.check_schema(schema)
    assert structured.fill(schema, "No numbers here.") == {"ok": True, "version": 2, "n": 0}
    assert structured.fill(schema, "About 7 of them.")["n"] == 7.0
