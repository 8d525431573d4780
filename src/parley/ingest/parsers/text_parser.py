"""Plain text: charset decoding and paragraph splitting."""

from __future__ import annotations

import codecs
import re

from .common import DocumentBuilder, clean_inline
from .detect import MIME_TYPES, looks_binary, sniff_utf16
from .model import ParsedDocument, ParseError

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_BULLET_RE = re.compile(r"^\s*(?:[-*+\u2022\u25aa\u25cf\u2013]|\d{1,3}[.)])\s+\S")
_BULLET_MARK_RE = re.compile(r"^(\s*)[*+\u2022\u25aa\u25cf\u2013]\s+")


def _utf16_without_bom(data: bytes) -> str | None:
    encoding = sniff_utf16(data)
    if encoding is None:
        return None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def decode_text(data: bytes) -> str:
    """Decode text bytes: BOM (UTF-8/16/32), then UTF-8, then cp1252, then latin-1.

    Raises ParseError for binary data. Line endings are normalised to ``\\n``.
    """
    text: str | None = None
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise ParseError(f"The text file could not be decoded as {encoding.upper()}.") from exc
            break
    if text is None:
        text = _utf16_without_bom(data) if b"\x00" in data[:4096] else None
    if text is None:
        if looks_binary(data):
            raise ParseError("Unsupported file type: the file contains binary data, not text.")
        for encoding in ("utf-8", "cp1252", "latin-1"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    assert text is not None  # latin-1 decodes any byte string
    if "\x00" in text:
        raise ParseError("Unsupported file type: the file contains binary data, not text.")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_text(data: bytes) -> ParsedDocument:
    text = decode_text(data)
    builder = DocumentBuilder()
    for chunk in re.split(r"\n[ \t\f\v]*\n", text):
        lines = [line.rstrip() for line in chunk.split("\n") if line.strip()]
        if not lines:
            continue
        if all(_BULLET_RE.match(line) for line in lines):
            builder.add("list", "\n".join(_BULLET_MARK_RE.sub(r"\1- ", line) for line in lines))
        else:
            builder.add("paragraph", "\n".join(clean_inline(line) for line in lines))
    return builder.build(mime_type=MIME_TYPES["text"], empty_reason="The file contains no text.")
