"""Document parsing for ingestion: uploaded bytes -> structured, Markdown-flavoured blocks that keep
their position (page / slide / sheet number and heading path).

    doc = parse_document(data, filename="report.pdf")
    for block in doc.blocks:
        block.text, block.kind, block.page, block.section
"""

from .api import DEFAULT_MAX_UNCOMPRESSED_BYTES, parse_document
from .detect import FORMATS, MIME_TYPES, detect_format
from .model import Block, BlockKind, ParsedDocument, ParseError

__all__ = [
    "DEFAULT_MAX_UNCOMPRESSED_BYTES",
    "FORMATS",
    "MIME_TYPES",
    "Block",
    "BlockKind",
    "ParseError",
    "ParsedDocument",
    "detect_format",
    "parse_document",
]
