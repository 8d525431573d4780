"""SuperOffice's wire formats: request bodies by ``Content-Type`` (JSON, XML, form-encoded),
responses by ``Accept`` (JSON or XML), ``$select``, ``SO-TimeZone`` and the language headers.

- JSON: ``application/json``, ``text/json`` and the two JSON patch types (read as plain JSON:
  these endpoints are calls, not patches). Property names match case-insensitively, as
  SuperOffice's .NET deserializer does.
- XML: ``application/xml``, ``text/xml``; any root element, child elements matched by local
  name (namespaces ignored); ``i:nil="true"`` is null. Parsed without DTDs, entities or network
  access. Responses use the data-contract shape: root ``ChatbotTurn`` / ``ArrayOfChatbotTurn``,
  ``BotActions`` as ``StringKeyValuePair`` items, ``Attachments`` as ``string`` items.
- Form: ``application/x-www-form-urlencoded`` carries the flat fields only.
Anything else is 415; an ``Accept`` naming no supported type is 406.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import Response
from lxml import etree

from parley.errors import InvalidInputError, ParleyError
from parley.http import json_body

JSON_TYPES = ("application/json", "text/json", "application/json-patch+json", "application/merge-patch+json")
XML_TYPES = ("application/xml", "text/xml")
FORM_TYPE = "application/x-www-form-urlencoded"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
TURN_FIELDS = ("Timestamp", "UserPrompt", "UserDisplayText", "BotResponse", "BotActions", "Attachments")
# Elements whose children are list items or key/value pairs, whatever the items are named.
_XML_LISTS = {"previousturns", "attachments"}
_XML_DICTS = {"botactions"}
_NO_TRANSLATION = {"*", "x"}
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


class UnsupportedMediaTypeError(ParleyError):
    status_code = 415


class NotAcceptableError(ParleyError):
    status_code = 406


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


# -- request bodies --------------------------------------------------------------------------


def _local(element: Any) -> str:
    return etree.QName(element).localname


def _xml_value(element: Any) -> Any:
    if element.get(f"{{{XSI}}}nil", "").lower() == "true":
        return None
    children = [child for child in element if isinstance(child.tag, str)]
    name = _local(element).lower()
    if name in _XML_LISTS:
        return [_xml_value(child) for child in children]
    if name in _XML_DICTS:
        pairs = ({_local(part).lower(): part.text or "" for part in child} for child in children)
        return {pair.get("key", ""): pair.get("value", "") for pair in pairs}
    if children:
        return {_local(child): _xml_value(child) for child in children}
    return element.text or ""


def _parse_xml(raw: bytes) -> Any:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        raise InvalidInputError(f"Malformed XML body: {exc.msg}") from exc
    if root.getroottree().docinfo.doctype:
        raise InvalidInputError("XML bodies with a document type declaration are not accepted.")
    return _xml_value(root)


def _parse_json(raw: bytes) -> Any:
    try:
        return json_body.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
        raise InvalidInputError("Malformed JSON body.") from exc


def _parse_form(raw: bytes, content_type: str) -> dict[str, str]:
    charset = re.search(r"charset=([\w-]+)", content_type, re.I)
    try:
        return dict(parse_qsl(raw.decode(charset.group(1) if charset else "utf-8"), keep_blank_values=True))
    except (LookupError, UnicodeDecodeError) as exc:
        raise InvalidInputError("Malformed form body.") from exc


async def read_body(request: Request) -> dict[str, Any]:
    """The request object by Content-Type (JSON when none is given); an empty body is ``{}``."""
    content_type = request.headers.get("content-type", "")
    media_type = _media_type(content_type) or JSON_TYPES[0]
    raw = await request.body()
    if media_type in JSON_TYPES:
        data = _parse_json(raw) if raw.strip() else {}
    elif media_type in XML_TYPES:
        data = _parse_xml(raw) if raw.strip() else {}
    elif media_type == FORM_TYPE:
        data = _parse_form(raw, content_type)
    else:
        raise UnsupportedMediaTypeError(
            f"Content-Type '{media_type}' is not supported: use JSON, XML or form-encoded bodies."
        )
    if not isinstance(data, dict):
        raise InvalidInputError("The request body must be an object.")
    return data


# -- responses -------------------------------------------------------------------------------


def _accepted(header: str) -> str:
    """The best supported media type the Accept header allows (q-values honoured)."""
    if not header.strip():
        return JSON_TYPES[0]
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        media_type, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media_type = media_type.lower()
        if media_type in ("*/*", "application/*"):
            media_type = JSON_TYPES[0]
        elif media_type == "text/*":
            media_type = "text/json"
        if quality > 0 and (media_type in JSON_TYPES or media_type in XML_TYPES):
            ranked.append((-quality, position, media_type))
    if not ranked:
        raise NotAcceptableError("None of the Accept types is supported: use JSON or XML.")
    return min(ranked)[2]


def _time_zone(header: str) -> tuple[tzinfo | None, bool]:
    """``SO-TimeZone``: an IANA zone, ``UTC`` or an offset (``+02:00``), optionally followed by
    ``, includeTZOffset``."""
    if not header.strip():
        return None, True
    name, *flags = (part.strip() for part in header.split(","))
    with_offset = any(flag.lower() == "includetzoffset" for flag in flags)
    if name.upper() in ("UTC", "GMT", "Z"):
        return UTC, with_offset
    offset = _OFFSET.match(name)
    if offset:
        sign = -1 if offset.group(1) == "-" else 1
        return timezone(
            sign * timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3)))
        ), with_offset
    try:
        return ZoneInfo(name), with_offset
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInputError(f"Unknown time zone '{name}' in SO-TimeZone.") from exc


def answer_language(request: Request, iso_lang_code: str | None = None) -> str:
    """The reply language: IsoLangCode, else SO-Language (unless it turns translation off),
    else the first Accept-Language, else English; as a lower-case ISO-639-1 code."""
    so_language = request.headers.get("so-language", "").strip()
    if so_language in _NO_TRANSLATION:
        so_language = ""
    first_accepted = request.headers.get("accept-language", "").split(",")[0].split(";")[0].strip()
    for candidate in (iso_lang_code or "", so_language, first_accepted):
        code = candidate.strip().split("-")[0].split("_")[0].lower()
        if re.fullmatch(r"[a-z]{2,3}", code):
            return code
    return "en"


@dataclass(frozen=True)
class View:
    """How the caller wants turns back: media type, $select, time zone."""

    media_type: str
    selected: frozenset[str] | None  # lower-case names; None: every field
    zone: tzinfo | None
    with_offset: bool

    def timestamp(self, value: datetime | None) -> str | None:
        """.NET round-trip form with 7 fractional digits: ``Z`` in UTC; in SO-TimeZone's zone
        without an offset unless ``includeTZOffset`` asks for it."""
        if value is None:
            return None
        local = value.astimezone(self.zone or UTC)
        text = local.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"
        if self.zone is None:
            return text + "Z"
        if not self.with_offset:
            return text
        offset = local.strftime("%z")
        return f"{text}{offset[:3]}:{offset[3:]}"

    def turn(self, turn: Mapping[str, Any]) -> dict[str, Any]:
        """A ChatbotTurn in field order, the fields $select leaves out nulled (not removed)."""
        shown = {name: turn.get(name) for name in TURN_FIELDS}
        shown["Timestamp"] = self.timestamp(turn.get("Timestamp"))
        if self.selected is not None:
            shown = {name: value if name.lower() in self.selected else None for name, value in shown.items()}
        return shown

    def render(self, content: Any, root: str, item: str = "ChatbotTurn") -> Response:
        """JSON, or XML under ``root`` with list items named ``item``."""
        if self.media_type in XML_TYPES:
            element = etree.Element(root, nsmap={"i": XSI})
            _fill(element, content, item)
            body = etree.tostring(element, xml_declaration=True, encoding="utf-8")
        else:
            body = json.dumps(content, ensure_ascii=False).encode()
        return Response(body, media_type=f"{self.media_type}; charset=utf-8")


def view_for(request: Request) -> View:
    selected = request.query_params.get("$select")
    names = {part.strip().split("/")[0].lower() for part in (selected or "").split(",")} - {""}
    zone, with_offset = _time_zone(request.headers.get("so-timezone", ""))
    return View(
        _accepted(request.headers.get("accept", "")), frozenset(names) if names else None, zone, with_offset
    )


def _fill(element: Any, value: Any, item: str) -> None:
    if value is None:
        element.set(f"{{{XSI}}}nil", "true")
    elif isinstance(value, Mapping) and _local(element) == "BotActions":
        for key, text in value.items():
            pair = etree.SubElement(element, "StringKeyValuePair")
            etree.SubElement(pair, "Key").text = str(key)
            etree.SubElement(pair, "Value").text = str(text)
    elif isinstance(value, Mapping):
        for key, field in value.items():
            _fill(etree.SubElement(element, key), field, item)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        name = "string" if _local(element) == "Attachments" else item
        for entry in value:
            _fill(etree.SubElement(element, name), entry, item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = str(value)
