"""Token-aware chunking that keeps each chunk's position in the document.

The document's text is its blocks joined by blank lines (``ParsedDocument.markdown()``); every
chunk is an exact slice ``text[char_start:char_end]`` of it, so a citation can be shown in
place. Blocks are packed greedily up to ``target_tokens``; a new chunk starts at a heading or a
page change once the current one holds ``min_tokens``; a block longer than the model's window
is cut into overlapping windows that end at sentence boundaries where possible.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from parley.ingest.parsers import ParsedDocument

BLOCK_SEPARATOR = "\n\n"
_SENTENCE_END = re.compile(r"[.!?][\"')\]]?\s")


@dataclass(frozen=True)
class ChunkingOptions:
    target_tokens: int = 180
    max_tokens: int = 240  # the embedder's window (256 for MiniLM) minus special tokens and a header
    min_tokens: int = 40
    overlap_tokens: int = 32


@dataclass(frozen=True)
class ChunkSpan:
    text: str
    char_start: int
    char_end: int
    page: int | None
    section: str | None
    token_count: int


@dataclass(frozen=True)
class _Placed:
    start: int
    end: int
    page: int | None
    section: str | None
    kind: str
    tokens: int


def chunk_document(
    parsed: ParsedDocument,
    count_tokens: Callable[[str], int],
    token_offsets: Callable[[str], list[tuple[int, int]]],
    options: ChunkingOptions | None = None,
) -> tuple[str, list[ChunkSpan]]:
    """Return the document text and its chunks."""
    options = options or ChunkingOptions()
    text = parsed.markdown()
    placed: list[_Placed] = []
    cursor = 0
    for block in parsed.blocks:
        if not block.text:
            continue
        start = text.index(block.text, cursor)
        end = start + len(block.text)
        cursor = end
        placed.append(_Placed(start, end, block.page, block.section, block.kind, count_tokens(block.text)))

    spans: list[ChunkSpan] = []
    group: list[_Placed] = []
    group_tokens = 0

    def flush() -> None:
        nonlocal group, group_tokens
        if group:
            start, end = group[0].start, group[-1].end
            spans.append(
                ChunkSpan(text[start:end], start, end, group[0].page, group[0].section, group_tokens)
            )
        group, group_tokens = [], 0

    for block in placed:
        if block.tokens > options.max_tokens:
            # Headings just before a long block stay with its first window, not alone.
            carried = group if group and all(b.kind == "heading" for b in group) else []
            if carried:
                group, group_tokens = [], 0
            flush()
            spans.extend(_split_long_block(text, block, token_offsets, options, carried))
            continue
        boundary = (
            group
            and group_tokens >= options.min_tokens
            and (block.kind == "heading" or block.page != group[-1].page)
        )
        if group and (boundary or group_tokens + block.tokens > options.target_tokens):
            flush()
        group.append(block)
        group_tokens += block.tokens
    flush()
    return text, spans


def _split_long_block(
    text: str,
    block: _Placed,
    token_offsets: Callable[[str], list[tuple[int, int]]],
    options: ChunkingOptions,
    carried: list[_Placed],
) -> list[ChunkSpan]:
    body = text[block.start : block.end]
    offsets = token_offsets(body)
    spans = []
    first = 0
    step = max(options.target_tokens - options.overlap_tokens, 1)
    while first < len(offsets):
        last = min(first + options.target_tokens, len(offsets)) - 1
        char_start = offsets[first][0]
        char_end = offsets[last][1]
        if last < len(offsets) - 1:
            char_end = _sentence_end_before(body, char_start, char_end, offsets[first + step // 2][1])
        tokens = sum(1 for s, _ in offsets[first : last + 1] if s < char_end)
        absolute_start = block.start + char_start
        if not spans and carried:
            absolute_start = carried[0].start
            tokens += sum(b.tokens for b in carried)
        absolute_end = block.start + char_end
        spans.append(
            ChunkSpan(
                text[absolute_start:absolute_end],
                absolute_start,
                absolute_end,
                block.page,
                block.section,
                tokens,
            )
        )
        if last >= len(offsets) - 1:
            break
        # Next window starts `overlap` tokens before this one ended.
        ended_at = next((i for i in range(first, last + 1) if offsets[i][1] >= char_end), last)
        first = max(ended_at + 1 - options.overlap_tokens, first + 1)
    return spans


def _sentence_end_before(body: str, start: int, end: int, not_before: int) -> int:
    """The last sentence end inside ``body[start:end]`` after ``not_before``, else ``end``."""
    best = end
    for match in _SENTENCE_END.finditer(body, not_before, end):
        best = match.start() + 1
    return best
