"""Markdown: split into blocks with markdown-it-py's token line map, keeping the source text as-is."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.token import Token

from .common import DocumentBuilder, clean_inline
from .detect import MIME_TYPES
from .html_parser import add_html_fragment
from .model import ParsedDocument
from .text_parser import decode_text

_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n(.*?\n)(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_TITLE_RE = re.compile(r"^title:\s*(.+?)\s*$", re.M)

_KIND_BY_OPEN = {
    "paragraph_open": "paragraph",
    "bullet_list_open": "list",
    "ordered_list_open": "list",
    "table_open": "table",
    "blockquote_open": "paragraph",
}


def _inline_text(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
    return clean_inline("".join(parts))


def _strip_front_matter(text: str) -> tuple[str, str | None]:
    """Drop a leading YAML front-matter block, returning its ``title:`` if it has one."""
    match = _FRONT_MATTER_RE.match(text)
    if not match:
        return text, None
    title_match = _TITLE_RE.search(match.group(1))
    title = title_match.group(1).strip("'\"") if title_match else None
    return text[match.end() :], title


def parse_markdown(data: bytes) -> ParsedDocument:
    text = decode_text(data)
    text, title = _strip_front_matter(text)
    lines = text.split("\n")
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    tokens = md.parse(text)
    builder = DocumentBuilder()

    def source(token: Token) -> str:
        if not token.map:
            return token.content
        start, end = token.map
        chunk = lines[start:end]
        while chunk and not chunk[-1].strip():
            chunk.pop()
        return "\n".join(line.rstrip() for line in chunk)

    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.level != 0:
            i += 1
            continue
        if token.type == "heading_open":
            inline = tokens[i + 1] if i + 1 < len(tokens) else None
            level = int(token.tag[1:]) if token.tag[1:].isdigit() else 1
            builder.heading(_inline_text(inline) if inline is not None else "", level)
        elif token.type in _KIND_BY_OPEN:
            builder.add(_KIND_BY_OPEN[token.type], source(token))  # type: ignore[arg-type]
        elif token.type in ("fence", "code_block"):
            builder.add("code", source(token))
        elif token.type == "html_block":
            add_html_fragment(token.content, builder)
        i += 1

    return builder.build(
        mime_type=MIME_TYPES["markdown"], title=title, empty_reason="The file contains no text."
    )
