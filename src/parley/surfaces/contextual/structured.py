"""``structured_output``: the answer as a JSON object that follows the caller's JSON Schema.

The answer path produces text (the offline answerer quotes sources; a chat model is not asked
for JSON), so the object is filled from that text, by construction valid for the schema:

* strings get the answer (citation markers removed, cut to ``maxLength``); an array of strings
  gets its sentences; a nested object is filled the same way;
* numbers, integers, booleans, enums and constrained strings (``pattern``, ``format``) can only
  be derived when the text holds one (the first number within bounds, an enum value it
  mentions); otherwise the schema's ``default`` or ``const`` is used;
* an optional property that cannot be filled is left out.

Before anything runs, :func:`check_schema` makes sure every required value can be produced
whatever the answer says; a schema that cannot be is refused with 422 naming the field, and
nothing is written. Keywords that would constrain values in ways not handled here (``not``,
``if``, ``multipleOf``...) are refused the same way.
"""

from __future__ import annotations

import re
from typing import Any

from parley.answers.citations import strip_citation_markers
from parley.answers.sources import split_sentences
from parley.errors import InvalidInputError, UnprocessableError

MAX_DEPTH = 16
_UNSUPPORTED = (
    "not",
    "if",
    "then",
    "else",
    "multipleOf",
    "contains",
    "minContains",
    "minProperties",
    "prefixItems",
    "dependentRequired",
    "dependentSchemas",
    "unevaluatedProperties",
)
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")
# What a malformed schema (a list where an object belongs, a bad pattern...) raises.
_MALFORMED = (AttributeError, TypeError, ValueError, re.error)


class _Unfillable(Exception):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class _Filler:
    def __init__(self, root: dict[str, Any], text: str, derive: bool) -> None:
        self.root = root
        self.text = strip_citation_markers(text).strip()
        self.sentences = [s.text for s in split_sentences(self.text)] or [self.text]
        # Without derivation (the static check) only values that do not depend on the text count.
        self.derive = derive

    def value(self, schema: Any, path: str, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise _Unfillable(path, "the schema nests too deeply")
        if schema is True or schema == {}:
            return self.text
        if not isinstance(schema, dict):
            raise _Unfillable(path, "the schema is not an object")
        if "$ref" in schema:
            return self.value(self._target(schema["$ref"], path), path, depth + 1)
        for keyword in _UNSUPPORTED:
            if keyword in schema:
                raise _Unfillable(path, f"the keyword {keyword!r} is not supported")
        if "const" in schema:
            return schema["const"]
        if "allOf" in schema:
            if len(schema["allOf"]) != 1:
                raise _Unfillable(path, "allOf with several schemas is not supported")
            return self.value(schema["allOf"][0], path, depth + 1)
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                return self._first(schema[keyword], path, depth)
        if "enum" in schema:
            return self._enum(schema, path)
        types = schema.get("type")
        if types is None:
            types = ["object"] if "properties" in schema else ["string"]
        failure = _Unfillable(path, "no type to fill")
        for kind in types if isinstance(types, list) else [types]:
            try:
                return self._typed(kind, schema, path, depth)
            except _Unfillable as exc:
                failure = exc
        raise failure

    def _target(self, ref: str, path: str) -> Any:
        match = re.fullmatch(r"#/(\$defs|definitions)/([^/]+)", ref)
        target = (self.root.get(match.group(1)) or {}).get(match.group(2)) if match else None
        if target is None:
            raise _Unfillable(path, f"cannot resolve $ref {ref!r} (only local #/$defs/... references)")
        return target

    def _first(self, options: list[Any], path: str, depth: int) -> Any:
        reasons = []
        for option in options:
            try:
                return self.value(option, path, depth + 1)
            except _Unfillable as exc:
                reasons.append(exc.reason)
        raise _Unfillable(path, "no alternative can be filled (" + "; ".join(reasons) + ")")

    def _default(self, schema: dict[str, Any], path: str, why: str) -> Any:
        if "default" in schema:
            return schema["default"]
        raise _Unfillable(path, why)

    def _enum(self, schema: dict[str, Any], path: str) -> Any:
        if self.derive:
            lowered = self.text.lower()
            for option in schema["enum"]:
                if isinstance(option, str) and option and option.lower() in lowered:
                    return option
        return self._default(schema, path, "an enum value cannot be chosen from the answer text")

    def _typed(self, kind: str, schema: dict[str, Any], path: str, depth: int) -> Any:
        if kind == "null":
            return None
        if kind == "string":
            return self._string(schema, path)
        if kind in ("number", "integer"):
            return self._number(kind, schema, path)
        if kind == "boolean":
            return self._default(schema, path, "a boolean cannot be derived from the answer text")
        if kind == "array":
            return self._array(schema, path, depth)
        if kind == "object":
            return self._object(schema, path, depth)
        raise _Unfillable(path, f"unknown type {kind!r}")

    def _string(self, schema: dict[str, Any], path: str) -> str:
        if "pattern" in schema or "format" in schema:
            pattern = schema.get("pattern")
            if self.derive and pattern and "format" not in schema and re.search(pattern, self.text):
                return self.text
            return self._default(schema, path, "a constrained string (pattern/format) needs a default")
        if int(schema.get("minLength", 0)) > 1:
            return self._default(schema, path, "minLength above 1 cannot be guaranteed")
        limit = schema.get("maxLength")
        return self.text[: int(limit)].rstrip() if limit is not None else self.text

    def _number(self, kind: str, schema: dict[str, Any], path: str) -> int | float:
        if self.derive:
            for match in _NUMBER.finditer(self.text):
                number = float(match.group().replace(",", "."))
                if kind == "integer" and not number.is_integer():
                    continue
                if _within(number, schema):
                    return int(number) if kind == "integer" else number
        return self._default(schema, path, f"a {kind} cannot be derived from the answer text")

    def _array(self, schema: dict[str, Any], path: str, depth: int) -> list[Any]:
        if int(schema.get("minItems", 0)) > 1:
            return self._default(schema, path, "minItems above 1 cannot be guaranteed")
        items_schema = schema.get("items", {})
        items = []
        for sentence in self.sentences:
            part = _Filler(self.root, sentence, self.derive)
            try:
                items.append(part.value(items_schema, f"{path}[]", depth + 1))
            except _Unfillable:
                if int(schema.get("minItems", 0)) or not self.derive:
                    raise
        if schema.get("uniqueItems"):
            items = [item for n, item in enumerate(items) if item not in items[:n]]
        limit = schema.get("maxItems")
        return items[: int(limit)] if limit is not None else items

    def _object(self, schema: dict[str, Any], path: str, depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        unknown = required - set(properties)
        if unknown:
            raise _Unfillable(path, f"required property {sorted(unknown)[0]!r} has no schema")
        if not properties:
            return {} if schema.get("additionalProperties") is False else {"answer": self.text}
        filled = {}
        for name, sub in properties.items():
            where = f"{path}.{name}"
            if name in required:
                filled[name] = self.value(sub, where, depth + 1)
            elif self.derive:
                # An optional part that cannot be filled (or is malformed) is left out.
                try:
                    filled[name] = self.value(sub, where, depth + 1)
                except (_Unfillable, *_MALFORMED):
                    pass
        return filled


def _within(number: float, schema: dict[str, Any]) -> bool:
    return (
        number >= schema.get("minimum", float("-inf"))
        and number <= schema.get("maximum", float("inf"))
        and number > schema.get("exclusiveMinimum", float("-inf"))
        and number < schema.get("exclusiveMaximum", float("inf"))
    )


def check_schema(schema: dict[str, Any]) -> None:
    """Refuse (before any answer is made) a schema this module cannot always fill."""
    try:
        produced = _Filler(schema, "x", derive=False).value(schema, "$")
    except _Unfillable as exc:
        raise UnprocessableError(
            f"structured_output cannot be produced for {exc.path}: {exc.reason}. Parley fills the schema "
            "from the answer text; make that field optional or give it a default."
        ) from None
    except _MALFORMED as exc:
        raise InvalidInputError(f"Invalid structured_output.json_schema: {exc}.") from None
    if not isinstance(produced, dict):
        raise InvalidInputError(
            'structured_output.json_schema must describe a JSON object ("type": "object").'
        )


def fill(schema: dict[str, Any], answer: str) -> dict[str, Any]:
    """The answer as an object valid for ``schema`` (already accepted by :func:`check_schema`)."""
    return _Filler(schema, answer, derive=True).value(schema, "$")
