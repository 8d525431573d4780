"""PPTX: python-pptx; one page per slide (page = slide number), the slide title as heading, then
text frames, tables and charts in visual order (top-to-bottom, left-to-right), then speaker notes."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

from pptx import Presentation  # python-pptx
from pptx.shapes.group import GroupShape

from .common import DocumentBuilder, clean_inline
from .detect import MIME_TYPES
from .model import ParsedDocument, ParseError

A_NS = "http://schemas.openxmlformats.org/drawingml/2006/main"
_BODY_PLACEHOLDERS = {"BODY", "OBJECT", "VERTICAL_BODY", "VERTICAL_OBJECT"}
_CHROME_PLACEHOLDERS = {"FOOTER", "SLIDE_NUMBER", "DATE", "HEADER"}  # repeated on every slide
_MAX_SHAPE_DEPTH = 20


def _a(tag: str) -> str:
    return f"{{{A_NS}}}{tag}"


def _position(shape: Any) -> tuple[int, int]:
    try:
        return (int(shape.top or 0), int(shape.left or 0))
    except Exception:  # noqa: BLE001 - shapes without an explicit position sort first
        return (0, 0)


def _iter_shapes(shapes: Iterable[Any], depth: int = 0) -> Iterator[Any]:
    """Shapes in reading order; group shapes are expanded in place."""
    if depth > _MAX_SHAPE_DEPTH:
        return
    for shape in sorted(shapes, key=_position):
        if isinstance(shape, GroupShape):
            yield from _iter_shapes(shape.shapes, depth + 1)  # group shape
        else:
            yield shape


def _placeholder_type(shape: Any) -> str | None:
    try:
        if shape.is_placeholder:
            kind = shape.placeholder_format.type
            return getattr(kind, "name", None) or str(kind)
    except Exception:  # noqa: BLE001 - broken placeholder references are common in the wild
        return None
    return None


def _bullet_kind(paragraph: Any, body_placeholder: bool) -> str | None:
    """'bullet', 'number' or None for a DrawingML paragraph."""
    ppr = paragraph._p.find(_a("pPr"))
    if ppr is not None:
        if ppr.find(_a("buNone")) is not None:
            return None
        if ppr.find(_a("buAutoNum")) is not None:
            return "number"
        if ppr.find(_a("buChar")) is not None or ppr.find(_a("buBlip")) is not None:
            return "bullet"
    return "bullet" if body_placeholder else None


def _paragraph_text(paragraph: Any) -> str:
    return clean_inline(paragraph.text.replace("\v", " "))


def _table_rows(table: Any) -> list[list[str]]:
    n_rows, n_cols = len(table.rows), len(table.columns)
    grid: dict[tuple[int, int], str] = {}
    for r in range(n_rows):
        for c in range(n_cols):
            cell = table.cell(r, c)
            if cell.is_spanned:
                continue
            text = clean_inline(cell.text.replace("\v", " "))
            height = cell.span_height if cell.is_merge_origin else 1
            width = cell.span_width if cell.is_merge_origin else 1
            for dr in range(height):
                for dc in range(width):
                    grid.setdefault((r + dr, c + dc), text)
    return [[grid.get((r, c), "") for c in range(n_cols)] for r in range(n_rows)]


def _chart_rows(chart: Any) -> tuple[str | None, list[list[str]]]:
    title = None
    if chart.has_title and chart.chart_title.has_text_frame:
        title = clean_inline(chart.chart_title.text_frame.text) or None
    plot = chart.plots[0] if len(chart.plots) else None
    if plot is None:
        return title, []
    categories = [str(c) for c in plot.categories]
    series = list(plot.series)
    rows = [["", *[s.name or "" for s in series]]]
    for i, category in enumerate(categories):
        rows.append([category, *[_number(s.values[i]) if i < len(s.values) else "" for s in series]])
    return title, rows


def _number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _add_text_frame(builder: DocumentBuilder, shape: Any, page: int) -> None:
    body = _placeholder_type(shape) in _BODY_PLACEHOLDERS
    ordinals: dict[int, int] = {}
    for paragraph in shape.text_frame.paragraphs:
        text = _paragraph_text(paragraph)
        if not text:
            continue
        kind = _bullet_kind(paragraph, body)
        level = int(paragraph.level or 0)
        if kind is None:
            ordinals.clear()
            builder.paragraph(text, page)
            continue
        ordinal = None
        if kind == "number":
            for deeper in [lvl for lvl in ordinals if lvl > level]:
                del ordinals[deeper]
            ordinals[level] = ordinals.get(level, 0) + 1
            ordinal = ordinals[level]
        builder.list_item(text, level, ordinal, page)
    builder.flush_list()


def _add_slide(builder: DocumentBuilder, slide: Any, page: int) -> None:
    builder.reset_sections()
    title_shape = None
    try:
        title_shape = slide.shapes.title
    except Exception:  # noqa: BLE001
        title_shape = None
    if title_shape is not None and title_shape.has_text_frame:
        builder.heading(clean_inline(title_shape.text_frame.text.replace("\v", " ")), 1, page)
    for shape in _iter_shapes(slide.shapes):
        if title_shape is not None and shape.shape_id == title_shape.shape_id:
            continue
        if _placeholder_type(shape) in _CHROME_PLACEHOLDERS:
            continue
        if getattr(shape, "has_table", False):
            builder.table(_table_rows(shape.table), page)
        elif getattr(shape, "has_chart", False):
            try:
                chart_title, rows = _chart_rows(shape.chart)
            except Exception:  # noqa: BLE001 - chart data is a bonus; skip charts we cannot read
                continue
            if chart_title:
                builder.paragraph(chart_title, page)
            builder.table(rows, page)
        elif getattr(shape, "has_text_frame", False):
            _add_text_frame(builder, shape, page)
    if slide.has_notes_slide:
        notes_frame = slide.notes_slide.notes_text_frame
        notes = clean_inline(notes_frame.text.replace("\v", " ")) if notes_frame is not None else ""
        if notes:
            builder.paragraph(f"Notes: {notes}", page)


def parse_pptx(data: bytes) -> ParsedDocument:
    try:
        presentation = Presentation(io.BytesIO(data))
        slides = list(presentation.slides)
    except Exception as exc:  # noqa: BLE001 - any failure here means an unreadable package
        raise ParseError("The PPTX file is damaged or is not a valid PowerPoint presentation.") from exc

    builder = DocumentBuilder()
    for number, slide in enumerate(slides, start=1):
        try:
            _add_slide(builder, slide, number)
        except Exception as exc:  # noqa: BLE001 - malformed slide XML
            raise ParseError(f"The PPTX file could not be read: slide {number} is malformed.") from exc

    title = None
    try:
        title = presentation.core_properties.title or None
    except Exception:  # noqa: BLE001 - core properties are optional
        title = None
    return builder.build(mime_type=MIME_TYPES["pptx"], title=title, page_count=len(slides))
