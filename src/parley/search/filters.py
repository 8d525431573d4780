"""Metadata filters in the Contextual AI grammar, compiled into SQL for SQLite and PostgreSQL.

    Filter     := BaseFilter | Composite
    BaseFilter := {"field": str, "operator": Op, "value"?: scalar | [scalar] | null}
    Composite  := {"filters": [Filter, ...], "operator"?: "AND" | "OR" | "AND_NOT"}

Filters always become part of the search query itself (never a Python pass over a truncated
result list). Semantics follow the Elasticsearch-like behaviour the grammar comes from: a field
holding a list matches when any element matches; ``notequals`` and ``AND_NOT`` also match rows
without the field; ``wildcard`` is case-insensitive; ranges compare numbers numerically and
strings (ISO dates) lexicographically.

Limits, checked before anything is stored or searched (a refused filter is a 400 naming the
limit): at most :data:`MAX_DEPTH` levels, :data:`MAX_CONDITIONS` conditions and
:data:`MAX_VALUES` values in all (each element of a list value counts), strings of at most
:data:`MAX_VALUE_CHARS` characters, and integers that fit a signed 64-bit column (larger
numbers are fine as floats). A list of values is bound as one parameter (a PostgreSQL array,
a JSON array read with SQLite's ``json_each``), so its length does not grow the SQL.

``document_id`` and ``date_created`` are document columns; every other field is a key of the
chunk's metadata (the document's metadata plus its ``tags``). One more document column,
:data:`CORPUS_FIELD`, is internal: Parley builds it to scope a filter to one corpus.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import TextClause, text

from parley.db.base import MAX_ID
from parley.errors import InvalidInputError

Scalar = str | int | float | bool
Operator = Literal[
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
MAX_DEPTH = 8
MIN_INTEGER, MAX_INTEGER = -(2**63), 2**63 - 1  # what a BIGINT (and SQLite's INTEGER) holds
MAX_CONDITIONS = 100
MAX_VALUES = 1_000
MAX_VALUE_CHARS = 1_000
_FIELD_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-. ]{0,99}$")
# The document's corpus: not a name a request can use (fields start with a letter, digit or '_').
CORPUS_FIELD = "$corpus_id"
DIRECT_FIELDS = {"document_id", "date_created", CORPUS_FIELD}


class BaseFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str
    operator: Operator
    value: Scalar | list[Scalar] | None = None

    @field_validator("field")
    @classmethod
    def _field_name(cls, value: str) -> str:
        if value.endswith(".keyword"):
            value = value[: -len(".keyword")]
        if not _FIELD_PATTERN.match(value):
            raise ValueError("field must be 1-100 letters, digits, '_', '-', '.' or spaces")
        return value

    @field_validator("value")
    @classmethod
    def _value_sizes(cls, value: Scalar | list[Scalar] | None) -> Scalar | list[Scalar] | None:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and len(item) > MAX_VALUE_CHARS:
                raise ValueError(f"string values may hold at most {MAX_VALUE_CHARS} characters")
            # bool is an int too, and always fits.
            if isinstance(item, int) and not -MAX_ID - 1 <= item <= MAX_ID:
                raise ValueError("integer values must fit in a signed 64-bit integer (use a float)")
            # JSON has no NaN or infinity, though Python's parser reads them.
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError("number values must be finite")
        return value

    @model_validator(mode="after")
    def _value_fits_operator(self) -> BaseFilter:
        op, value = self.operator, self.value
        for item in value if isinstance(value, list) else [value]:
            _check_storable(item)
        if op == "exists":
            return self
        if op == "containsany":
            if not isinstance(value, list) or not value:
                raise ValueError("containsany needs a non-empty list value")
        elif op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise ValueError("between needs a [low, high] list value")
        elif isinstance(value, list) or value is None:
            raise ValueError(f"{op} needs a single value")
        if op in ("startswith", "wildcard") and not isinstance(value, str):
            raise ValueError(f"{op} needs a string value")
        return self


class CompositeFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filters: list[Annotated[Union[BaseFilter, CompositeFilter], Field(union_mode="left_to_right")]]  # noqa: UP007
    operator: Literal["AND", "OR", "AND_NOT"] = "AND"


Filter = Annotated[Union[BaseFilter, CompositeFilter], Field(union_mode="left_to_right")]  # noqa: UP007
# Built once: building the validator cost more than validating a filter (~0.3 ms a request).
_FILTER_ADAPTER: TypeAdapter[BaseFilter | CompositeFilter] = TypeAdapter(Filter)


_LOC_NAME = re.compile(r"^[a-z_]+$")


def parse_filter(raw: Any) -> BaseFilter | CompositeFilter:
    """Validate a filter from a request body, with limits on depth and size."""
    _check_shape(raw, depth=1, size=_Size())
    try:
        node = _FILTER_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        # The location without pydantic's names for union members and validators.
        where = ".".join(str(p) for p in first.get("loc", ()) if isinstance(p, int) or _LOC_NAME.match(p))
        message = first.get("msg", "invalid value").removeprefix("Value error, ")
        raise InvalidInputError(f"Invalid filter at {where or 'top level'}: {message}") from exc
    # Compiling refuses what the grammar alone allows (an operator a column lacks, a value of the
    # wrong type for it): now, rather than in the middle of an answer that is already streaming.
    FilterCompiler("postgresql").sql(node)
    return node


def _check_storable(value: Scalar | None) -> None:
    """A value both databases can compare: no NUL character, integers of at most 64 bits."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("values cannot contain NUL characters")
    if isinstance(value, int) and not MIN_INTEGER <= value <= MAX_INTEGER:
        raise ValueError("integers must fit in 64 bits")


def per_corpus(filters: Mapping[int, BaseFilter | CompositeFilter]) -> CompositeFilter:
    """One filter that applies each corpus's filter to that corpus's documents only; documents
    of the other corpora pass untouched."""

    def in_corpora(corpus_ids: list[int]) -> BaseFilter:
        # Built without validation: the internal field is exactly what validation refuses.
        return BaseFilter.model_construct(field=CORPUS_FIELD, operator="containsany", value=corpus_ids)

    scoped: list[BaseFilter | CompositeFilter] = [
        CompositeFilter(filters=[in_corpora([corpus_id]), node]) for corpus_id, node in filters.items()
    ]
    others = CompositeFilter(filters=[in_corpora(list(filters))], operator="AND_NOT")
    return CompositeFilter(filters=[*scoped, others], operator="OR")


def filter_fields(node: BaseFilter | CompositeFilter) -> set[str]:
    """The field names a filter reads."""
    if isinstance(node, CompositeFilter):
        return set().union(*(filter_fields(sub) for sub in node.filters))
    return {node.field}


@dataclass
class _Size:
    conditions: int = 0
    values: int = 0


def _check_shape(raw: Any, depth: int, size: _Size) -> None:
    """The limits on a filter's size, counted on the raw JSON before anything validates it."""
    if depth > MAX_DEPTH:
        raise InvalidInputError(f"Filters may be nested at most {MAX_DEPTH} levels deep.")
    size.conditions += 1
    if size.conditions > MAX_CONDITIONS:
        raise InvalidInputError(f"A filter may hold at most {MAX_CONDITIONS} conditions.")
    if not isinstance(raw, dict):
        return
    if isinstance(raw.get("filters"), list):
        for sub in raw["filters"]:
            _check_shape(sub, depth + 1, size)
        return
    value = raw.get("value")
    size.values += len(value) if isinstance(value, list) else 1
    if size.values > MAX_VALUES:
        raise InvalidInputError(f"A filter may hold at most {MAX_VALUES} values in all.")


class FilterCompiler:
    """Compiles a filter into one SQL condition with uniquely named bound parameters.

    The SQL refers to the chunk metadata column and the document columns by name, so the
    search query must select from ``chunks`` joined to ``documents``.
    """

    def __init__(
        self,
        dialect: str,
        metadata_column: str = "chunks.metadata",
        document_id_column: str = "chunks.document_id",
        date_column: str = "documents.created_on",
        corpus_id_column: str = "documents.corpus_id",
    ) -> None:
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported dialect {dialect}")
        self.dialect = dialect
        self.metadata = metadata_column
        self.document_id = document_id_column
        self.date_created = date_column
        self.corpus_id = corpus_id_column
        self.params: dict[str, Any] = {}
        self._names = itertools.count()

    def clause(self, node: BaseFilter | CompositeFilter | None) -> TextClause:
        """The filter as a SQLAlchemy text clause (``TRUE`` for no filter)."""
        sql = self.sql(node) if node is not None else "1=1"
        return text(sql).bindparams(**self.params)

    def sql(self, node: BaseFilter | CompositeFilter) -> str:
        if isinstance(node, CompositeFilter):
            parts = [self.sql(sub) for sub in node.filters]
            if not parts:
                return "1=1"
            if node.operator == "AND":
                return "(" + " AND ".join(parts) + ")"
            if node.operator == "OR":
                return "(" + " OR ".join(parts) + ")"
            return "(NOT (" + " OR ".join(parts) + "))"
        if node.field in DIRECT_FIELDS:
            return self._direct(node)
        return self._metadata(node)

    def _bind(self, value: Any) -> str:
        name = f"flt_{next(self._names)}"
        self.params[name] = value
        return f":{name}"

    def _in_list(self, expression: str, values: list[Any]) -> str:
        """``expression`` equals one of ``values``, bound as one parameter however many there
        are. SQLite's uncorrelated subquery is evaluated once, into an index."""
        if self.dialect == "postgresql":
            return f"{expression} = ANY({self._bind(values)})"
        return f"{expression} IN (SELECT value FROM json_each({self._bind(json.dumps(values))}))"

    # -- document columns -------------------------------------------------------------------

    def _direct(self, node: BaseFilter) -> str:
        column = {"document_id": self.document_id, CORPUS_FIELD: self.corpus_id}.get(
            node.field, self.date_created
        )
        convert = _as_date_text if node.field == "date_created" else _as_int
        if node.field == "date_created":
            # Compare as ISO-8601 text, so "2024-01-01" and full timestamps both work.
            if self.dialect == "postgresql":
                column = f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
            else:
                column = f"replace({column}, ' ', 'T')"
        op, value = node.operator, node.value
        if op == "exists":
            return "1=1"
        if op == "equals":
            return f"{column} = {self._bind(convert(value))}"
        if op == "notequals":
            return f"{column} != {self._bind(convert(value))}"
        if op == "containsany":
            return self._in_list(column, [convert(v) for v in value])  # type: ignore[union-attr]
        if op in _SIGNS:
            return f"{column} {_SIGNS[op]} {self._bind(convert(value))}"
        if op == "between":
            low, high = value  # type: ignore[misc]
            return f"{column} BETWEEN {self._bind(convert(low))} AND {self._bind(convert(high))}"
        raise InvalidInputError(f"Operator {op} is not supported on {node.field}.")

    # -- metadata keys ------------------------------------------------------------------------

    def _metadata(self, node: BaseFilter) -> str:
        op, value, field = node.operator, node.value, node.field
        if op == "exists":
            return self._exists(field)
        if op == "equals":
            return self._equals_any(field, [value])  # type: ignore[list-item]
        if op == "notequals":
            return f"(NOT {self._equals_any(field, [value])})"  # type: ignore[list-item]
        if op == "containsany":
            return self._equals_any(field, value)  # type: ignore[arg-type]
        if op in ("startswith", "wildcard"):
            return self._text_match(field, op, value)  # type: ignore[arg-type]
        if op in _SIGNS:
            return self._range(field, [(_SIGNS[op], value)])
        low, high = value  # type: ignore[misc]
        return self._range(field, [(">=", low), ("<=", high)])

    def _sqlite_any(self, field: str, check: Callable[[str, str], str]) -> str:
        """``check(type_sql, value_sql)`` on the field's value, or on any element of a list.

        Scalars are compared directly (json_type/json_extract); only lists pay for json_each."""
        path = self._bind(_sqlite_path(field))
        kind, value = f"json_type({self.metadata}, {path})", f"json_extract({self.metadata}, {path})"
        each = f"json_each({self.metadata}, {path}) AS je"
        listed = f"EXISTS (SELECT 1 FROM {each} WHERE {check('je.type', 'je.value')})"
        return f"(CASE {kind} WHEN 'array' THEN {listed} ELSE COALESCE(({check(kind, value)}), 0) END)"

    def _elements(self, field: str) -> str:
        """PostgreSQL: a row source over the field's value, or over each element of a list."""
        key = self._bind(field)
        return (
            f"jsonb_array_elements(CASE jsonb_typeof({self.metadata} -> {key}) WHEN 'array' "
            f"THEN {self.metadata} -> {key} ELSE jsonb_build_array({self.metadata} -> {key}) END) AS je(v)"
        )

    def _exists(self, field: str) -> str:
        """Present and not null; an empty list counts as absent (as in Elasticsearch)."""
        if self.dialect == "sqlite":
            return self._sqlite_any(field, lambda kind, value: f"{kind} != 'null'")
        return f"EXISTS (SELECT 1 FROM {self._elements(field)} WHERE jsonb_typeof(je.v) != 'null')"

    def _equals_any(self, field: str, values: list[Scalar]) -> str:
        if self.dialect == "postgresql":
            # = ANY of an array PostgreSQL sees as a constant is hashed once (PostgreSQL 14+).
            wanted = self._bind([json.dumps(v) for v in values])
            return (
                f"EXISTS (SELECT 1 FROM {self._elements(field)} WHERE je.v = ANY(CAST({wanted} AS jsonb[])))"
            )
        # JSON types: booleans are their own type ('true', 'false'), numbers match across
        # 'integer' and 'real', text only text.
        wanted = self._bind(json.dumps(values))

        def of_types(column: str, types: str) -> str:
            return f"(SELECT {column} FROM json_each({wanted}) WHERE type IN ({types}))"

        booleans, numbers, texts = of_types("type", "'true', 'false'"), "'integer', 'real'", "'text'"

        def check(kind: str, value: str) -> str:
            parts = []
            if any(isinstance(v, bool) for v in values):
                parts.append(f"{kind} IN {booleans}")
            if any(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                parts.append(f"({kind} IN ({numbers}) AND {value} IN {of_types('value', numbers)})")
            if any(isinstance(v, str) for v in values):
                parts.append(f"({kind} = 'text' AND {value} IN {of_types('value', texts)})")
            return " OR ".join(parts)

        return self._sqlite_any(field, check)

    def _text_match(self, field: str, op: str, value: str) -> str:
        if self.dialect == "sqlite":
            if op == "startswith":
                length, prefix = self._bind(len(value)), self._bind(value)
                return self._sqlite_any(
                    field, lambda k, v: f"{k} = 'text' AND substr({v}, 1, {length}) = {prefix}"
                )
            pattern = self._bind(_glob_pattern(value.lower()))
            return self._sqlite_any(field, lambda k, v: f"{k} = 'text' AND lower({v}) GLOB {pattern}")
        text_value = "(je.v #>> '{}')"
        if op == "startswith":
            check = f"starts_with({text_value}, {self._bind(value)})"
        else:
            check = f"lower({text_value}) LIKE {self._bind(_like_pattern(value.lower()))} ESCAPE '\\'"
        return (
            f"EXISTS (SELECT 1 FROM {self._elements(field)} WHERE jsonb_typeof(je.v) = 'string' AND {check})"
        )

    def _range(self, field: str, bounds: list[tuple[str, Any]]) -> str:
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for _, v in bounds)
        if not numeric and not all(isinstance(v, str) for _, v in bounds):
            raise InvalidInputError("Range filters need numbers or date strings.")
        if self.dialect == "sqlite":
            wanted = "IN ('integer', 'real')" if numeric else "= 'text'"
            limits = [(sign, self._bind(v)) for sign, v in bounds]
            return self._sqlite_any(
                field,
                lambda k, v: f"{k} {wanted} AND " + " AND ".join(f"{v} {sign} {b}" for sign, b in limits),
            )
        if numeric:
            value_sql = "(CASE WHEN jsonb_typeof(je.v) = 'number' THEN (je.v #>> '{}')::numeric END)"
        else:
            value_sql = "(CASE WHEN jsonb_typeof(je.v) = 'string' THEN (je.v #>> '{}') END)"
        checks = " AND ".join(f"{value_sql} {sign} {self._bind(v)}" for sign, v in bounds)
        return f"EXISTS (SELECT 1 FROM {self._elements(field)} WHERE {checks})"


_SIGNS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _sqlite_path(field: str) -> str:
    return '$."' + field.replace('"', "") + '"'


def _glob_pattern(pattern: str) -> str:
    """``*`` and ``?`` keep their meaning; GLOB's own ``[`` classes are escaped."""
    return re.sub(r"([\[\]])", r"[\1]", pattern)


def _like_pattern(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _as_int(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInputError("document_id filters need integer ids.") from exc
    if not MIN_INTEGER <= number <= MAX_INTEGER:
        raise InvalidInputError("document_id filters need integer ids.")
    return number


def _as_date_text(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInputError("date_created filters need ISO date strings.")
    return value
