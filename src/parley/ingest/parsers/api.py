"""Entry point: detect the format, guard against zip bombs, dispatch to the format parser."""

from __future__ import annotations

import logging
from collections.abc import Callable

from .detect import detect_format
from .model import ParsedDocument, ParseError
from .safety import check_ooxml_package

log = logging.getLogger(__name__)

DEFAULT_MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024

_LABELS = {
    "docx": "DOCX",
    "pptx": "PPTX",
    "xlsx": "XLSX",
    "pdf": "PDF",
    "html": "HTML",
    "markdown": "Markdown",
}


def _parser(fmt: str) -> Callable[[bytes], ParsedDocument]:
    # Imported lazily so that a deployment only pays for the libraries of the formats it sees.
    if fmt == "pdf":
        from .pdf_parser import parse_pdf

        return parse_pdf
    if fmt == "docx":
        from .docx_parser import parse_docx

        return parse_docx
    if fmt == "pptx":
        from .pptx_parser import parse_pptx

        return parse_pptx
    if fmt == "xlsx":
        from .xlsx_parser import parse_xlsx

        return parse_xlsx
    if fmt == "html":
        from .html_parser import parse_html

        return parse_html
    if fmt == "markdown":
        from .markdown_parser import parse_markdown

        return parse_markdown
    from .text_parser import parse_text

    return parse_text


def parse_document(
    data: bytes,
    filename: str | None = None,
    mime_type: str | None = None,
    *,
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
) -> ParsedDocument:
    """Parse uploaded bytes into structured, position-keeping blocks.

    Raises ParseError (with a short, user-facing reason) for empty, unsupported, damaged,
    encrypted, oversized or text-less input. Library failures on bad input are converted to
    ParseError; only deployment problems (a parsing library not installed) surface as ImportError.
    """
    if not isinstance(data, bytes):
        data = bytes(data)  # bytearray / memoryview
    if not data:
        raise ParseError("The file is empty.")
    fmt = detect_format(filename, mime_type, data)
    if fmt in ("docx", "pptx", "xlsx"):
        check_ooxml_package(data, _LABELS[fmt], max_uncompressed_bytes)
    parse = _parser(fmt)  # an ImportError here is a deployment problem, not a bad file: let it surface
    try:
        return parse(data)
    except ParseError:
        raise
    except RecursionError as exc:
        raise ParseError(
            f"The {_LABELS.get(fmt, 'text')} file is too deeply nested to be processed."
        ) from exc
    except Exception as exc:  # noqa: BLE001 - library failures become a short, user-facing reason
        log.warning(
            "parse_document: %s parser failed on %r: %s", fmt, filename, exc.__class__.__name__, exc_info=True
        )
        raise ParseError(
            f"The {_LABELS.get(fmt, 'text')} file could not be read; "
            "it may be damaged or use unsupported features."
        ) from exc
