"""Data model shared by every parser: blocks, parsed documents and the user-facing error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BlockKind = Literal["heading", "paragraph", "table", "list", "code"]


@dataclass(frozen=True)
class Block:
    """One structural unit of a document, in reading order.

    ``text`` is Markdown-flavoured: headings start with ``#`` marks, tables are pipe tables,
    list items start with ``- `` (or ``1. `` for ordered lists) and code is fenced.
    """

    text: str
    kind: BlockKind
    page: int | None
    section: str | None
    heading_level: int | None = None


@dataclass(frozen=True)
class ParsedDocument:
    blocks: list[Block]
    title: str | None
    page_count: int | None
    mime_type: str

    def markdown(self) -> str:
        """The whole document as Markdown: blocks joined with blank lines."""
        return "\n\n".join(block.text for block in self.blocks if block.text)


class ParseError(Exception):
    """Raised with a clear, user-facing reason (shown to API users as the failure reason)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason
