"""Helpers shared by the format parsers: text clean-up, Markdown tables and a block builder
that tracks the heading path (``section``) while blocks are appended in reading order."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .model import Block, BlockKind, ParsedDocument, ParseError

SECTION_SEPARATOR = " > "

_WS_RE = re.compile(r"\s+")
# Characters that carry no text: zero-width space, BOM, soft hyphen, word joiner.
_INVISIBLE_RE = re.compile("[\u200b\ufeff\u00ad\u2060]")
_LIGATURES = str.maketrans(
    {
        "\ufb00": "ff",
        "\ufb01": "fi",
        "\ufb02": "fl",
        "\ufb03": "ffi",
        "\ufb04": "ffl",
        "\ufb05": "st",
        "\ufb06": "st",
    }
)


def clean_inline(text: str) -> str:
    """Collapse all whitespace (including newlines and NBSP) to single spaces and strip."""
    return _WS_RE.sub(" ", _INVISIBLE_RE.sub("", text)).strip()


def fix_ligatures(text: str) -> str:
    return text.translate(_LIGATURES)


def _table_cell(value: str) -> str:
    return clean_inline(value).replace("|", "\\|")


def prune_table(rows: Sequence[Sequence[str]]) -> list[list[str]]:
    """Pad rows to one width and drop rows and columns that are entirely empty."""
    cleaned = [[clean_inline(str(c)) if c is not None else "" for c in row] for row in rows]
    cleaned = [row for row in cleaned if any(row)]
    if not cleaned:
        return []
    width = max(len(row) for row in cleaned)
    cleaned = [row + [""] * (width - len(row)) for row in cleaned]
    keep = [j for j in range(width) if any(row[j] for row in cleaned)]
    return [[row[j] for j in keep] for row in cleaned]


def markdown_table(rows: Sequence[Sequence[str]]) -> str:
    """Render rows (first row = header) as a Markdown pipe table. Returns '' for an empty table."""
    table = prune_table(rows)
    if not table:
        return ""
    width = len(table[0])
    lines = [
        "| " + " | ".join(_table_cell(c) for c in table[0]) + " |",
        "|" + "|".join(["---"] * width) + "|",
    ]
    lines.extend("| " + " | ".join(_table_cell(c) for c in row) + " |" for row in table[1:])
    return "\n".join(lines)


def list_item_line(text: str, depth: int = 0, ordinal: int | None = None) -> str:
    """One Markdown list item; nested levels are indented by four spaces."""
    marker = f"{ordinal}." if ordinal is not None else "-"
    return f"{'    ' * max(depth, 0)}{marker} {text}"


class DocumentBuilder:
    """Collects blocks in reading order and keeps the current heading path."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._headings: list[tuple[int, str]] = []
        self._list_lines: list[str] = []
        self._list_page: int | None = None

    @property
    def section(self) -> str | None:
        if not self._headings:
            return None
        return SECTION_SEPARATOR.join(text for _, text in self._headings)

    def reset_sections(self) -> None:
        self.flush_list()
        self._headings = []

    def heading(self, text: str, level: int, page: int | None = None) -> None:
        text = clean_inline(text)
        if not text:
            return
        self.flush_list()
        level = min(max(int(level), 1), 6)
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        self._headings.append((level, text))
        self.blocks.append(Block(f"{'#' * level} {text}", "heading", page, self.section, level))

    def add(self, kind: BlockKind, text: str, page: int | None = None) -> None:
        if kind == "heading":
            raise ValueError("use heading() for headings")
        if not text or not text.strip():
            return
        self.flush_list()
        self.blocks.append(Block(text.strip("\n"), kind, page, self.section))

    def paragraph(self, text: str, page: int | None = None) -> None:
        """A plain-text paragraph; a leading '#' is escaped so it cannot read as a Markdown heading."""
        text = clean_inline(text)
        if text.startswith("#"):
            text = "\\" + text
        self.add("paragraph", text, page)

    def table(self, rows: Sequence[Sequence[str]], page: int | None = None) -> None:
        table = prune_table(rows)
        if not table:
            return
        if len(table) == 1 and len(table[0]) == 1:
            # A one-cell "table" is a layout box, not data.
            self.paragraph(table[0][0], page)
            return
        self.add("table", markdown_table(table), page)

    def list_item(
        self, text: str, depth: int = 0, ordinal: int | None = None, page: int | None = None
    ) -> None:
        """Append an item to the open list block (consecutive items form one ``list`` block)."""
        text = clean_inline(text)
        if not text:
            return
        if self._list_lines and page != self._list_page:
            self.flush_list()
        self._list_page = page
        self._list_lines.append(list_item_line(text, depth, ordinal))

    def flush_list(self) -> None:
        if self._list_lines:
            lines, self._list_lines = self._list_lines, []
            self.blocks.append(Block("\n".join(lines), "list", self._list_page, self.section))

    def build(
        self,
        *,
        mime_type: str,
        title: str | None = None,
        page_count: int | None = None,
        empty_reason: str = "No extractable text was found in the document.",
        title_from_heading: bool = True,
    ) -> ParsedDocument:
        self.flush_list()
        if not any(block.text.strip() for block in self.blocks):
            raise ParseError(empty_reason)
        title = clean_inline(title) if title else None
        if not title and title_from_heading:
            title = next(
                (
                    b.text.lstrip("#").strip()
                    for b in self.blocks
                    if b.kind == "heading" and b.heading_level == 1
                ),
                None,
            )
        return ParsedDocument(
            blocks=list(self.blocks), title=title or None, page_count=page_count, mime_type=mime_type
        )
