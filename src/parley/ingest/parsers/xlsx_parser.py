"""XLSX: openpyxl in read-only, data-only mode (cached formula results, streamed rows).

One page per worksheet (page = sheet index), the sheet name as heading, and each block of
data on the sheet as a Markdown pipe table. Blocks are found by recursively cutting the used
range along fully empty rows and columns, so side-by-side tables stay apart.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
from typing import Any

import openpyxl
from openpyxl.utils.cell import range_boundaries

from .common import DocumentBuilder, clean_inline
from .detect import MIME_TYPES
from .model import ParsedDocument, ParseError

MAX_ROWS_PER_SHEET = 5_000  # non-empty rows read per sheet
MAX_SCANNED_ROWS_PER_SHEET = 200_000  # rows scanned (empty ones included) before giving up on a sheet
MAX_COLUMNS = 200
MAX_CELLS_PER_WORKBOOK = 1_000_000
_MAX_CUT_DEPTH = 12

Region = tuple[int, int, int, int]  # row0, row1 (exclusive), col0, col1 (exclusive)


def format_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g")
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return clean_inline(str(value))


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    """Maximal runs of True as (start, end-exclusive)."""
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for i, flag in enumerate(flags):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(flags)))
    return runs


def split_regions(grid: list[list[str]]) -> list[Region]:
    """XY-cut: split the grid on fully empty rows, then columns, recursively."""

    def cut(r0: int, r1: int, c0: int, c1: int, depth: int) -> list[Region]:
        row_runs = [(r0 + a, r0 + b) for a, b in _runs([any(grid[r][c0:c1]) for r in range(r0, r1)])]
        if not row_runs:
            return []
        if depth < _MAX_CUT_DEPTH and len(row_runs) > 1:
            return [region for a, b in row_runs for region in cut(a, b, c0, c1, depth + 1)]
        r0, r1 = row_runs[0]
        col_runs = [
            (c0 + a, c0 + b)
            for a, b in _runs([any(grid[r][c] for r in range(r0, r1)) for c in range(c0, c1)])
        ]
        if depth < _MAX_CUT_DEPTH and len(col_runs) > 1:
            return [region for a, b in col_runs for region in cut(r0, r1, a, b, depth + 1)]
        return [(r0, r1, col_runs[0][0], col_runs[0][1])]

    if not grid:
        return []
    width = max(len(row) for row in grid)
    for row in grid:
        row.extend([""] * (width - len(row)))
    return cut(0, len(grid), 0, width, 0)


_MERGE_RE = re.compile(rb"<(?:\w+:)?mergeCell\s+ref=\"([A-Z]{1,3}\d+:[A-Z]{1,3}\d+)\"")
MAX_MERGE_AREA = 1_000  # merged ranges larger than this are not spread over their cells


def _merged_ranges(ws: Any) -> list[tuple[int, int, int, int]]:
    """Merged ranges as 0-based (min_col, min_row, max_col, max_row), scanned from the raw sheet XML
    (read-only worksheets do not expose them)."""
    ranges: list[tuple[int, int, int, int]] = []
    try:
        with ws._get_source() as source:  # noqa: SLF001 - openpyxl has no public API for this in read-only mode
            tail = b""
            while chunk := source.read(1 << 20):
                buffer = tail + chunk
                matches = list(_MERGE_RE.finditer(buffer))
                for match in matches:
                    min_col, min_row, max_col, max_row = range_boundaries(match.group(1).decode())
                    ranges.append((min_col - 1, min_row - 1, max_col - 1, max_row - 1))
                cut = max(matches[-1].end() if matches else 0, len(buffer) - 64)
                tail = buffer[cut:]
    except Exception:  # noqa: BLE001 - merged cells are a refinement; the values are still read
        return []
    return ranges


def _read_sheet(ws: Any, budget: int) -> tuple[list[list[str]], bool]:
    """Rows of formatted cell text and a 'truncated' flag.

    Merged cells repeat the top-left value; runs of empty rows are collapsed to one (which is
    enough to keep tables apart) and leading/trailing empty rows are dropped.
    """
    rows: dict[int, list[str]] = {}
    truncated = False
    cells = 0
    width = min(int(ws.max_column or MAX_COLUMNS), MAX_COLUMNS)
    for number, values in enumerate(ws.iter_rows(min_row=1, min_col=1, max_col=width, values_only=True)):
        if number >= MAX_SCANNED_ROWS_PER_SHEET:
            truncated = True
            break
        row = [format_cell(v) for v in values]
        if not any(row):
            continue
        rows[number] = row
        cells += len(row)
        if len(rows) >= MAX_ROWS_PER_SHEET or cells >= budget:
            truncated = True
            break
    if (ws.max_column or 0) > MAX_COLUMNS:
        truncated = True
    last_row = max(rows, default=-1)
    for min_col, min_row, max_col, max_row in _merged_ranges(ws):
        if (max_col - min_col + 1) * (max_row - min_row + 1) > MAX_MERGE_AREA or min_row not in rows:
            continue
        value = rows[min_row][min_col] if min_col < len(rows[min_row]) else ""
        for r in range(min_row, min(max_row, last_row) + 1):
            row = rows.setdefault(r, [""] * width)
            for c in range(min_col, min(max_col + 1, width)):
                if c >= len(row):
                    row.extend([""] * (c + 1 - len(row)))
                if not row[c]:
                    row[c] = value
    grid: list[list[str]] = []
    previous: int | None = None
    for number in sorted(rows):
        if previous is not None and number > previous + 1:
            grid.append([])  # one empty row keeps regions apart
        grid.append(rows[number])
        previous = number
    return grid, truncated


def parse_xlsx(data: bytes) -> ParsedDocument:
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure here means an unreadable package
        raise ParseError("The XLSX file is damaged or is not a valid Excel workbook.") from exc

    builder = DocumentBuilder()
    try:
        sheets = list(workbook.worksheets)
        budget = MAX_CELLS_PER_WORKBOOK
        for index, ws in enumerate(sheets, start=1):
            builder.reset_sections()
            try:
                rows, truncated = _read_sheet(ws, budget)
            except Exception as exc:  # noqa: BLE001 - malformed sheet XML
                raise ParseError(
                    f"The XLSX file could not be read: sheet {ws.title!r} is malformed."
                ) from exc
            budget -= sum(len(r) for r in rows)
            if not rows:
                continue
            builder.heading(str(ws.title), 1, index)
            for r0, r1, c0, c1 in split_regions(rows):
                builder.table([row[c0:c1] for row in rows[r0:r1]], index)
            if truncated:
                builder.paragraph(
                    f"(Sheet truncated: only the first {len(rows)} non-empty rows "
                    f"and {MAX_COLUMNS} columns were read.)",
                    index,
                )
            if budget <= 0:
                builder.paragraph("(Workbook truncated: the cell limit was reached.)", index)
                break
        title = workbook.properties.title if workbook.properties is not None else None
    finally:
        with contextlib.suppress(Exception):
            workbook.close()
    return builder.build(
        mime_type=MIME_TYPES["xlsx"],
        title=title,
        page_count=len(sheets),
        empty_reason="No extractable text was found in the workbook: all sheets are empty.",
        title_from_heading=False,
    )
