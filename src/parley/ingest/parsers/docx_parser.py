"""DOCX: python-docx opens the package; the body XML is walked in document order so that
paragraphs, headings, list items and tables keep their positions."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import docx  # python-docx

from .common import DocumentBuilder
from .detect import MIME_TYPES
from .model import ParsedDocument, ParseError

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
MC_NS = "http://schemas.openxmlformats.org/markup-compatibility/2006"


def _w(tag: str) -> str:
    return f"{{{W_NS}}}{tag}"


W_P, W_TBL, W_TR, W_TC, W_SDT, W_SDT_CONTENT = (
    _w("p"),
    _w("tbl"),
    _w("tr"),
    _w("tc"),
    _w("sdt"),
    _w("sdtContent"),
)
W_T, W_TAB, W_BR, W_CR, W_NBH = _w("t"), _w("tab"), _w("br"), _w("cr"), _w("noBreakHyphen")
W_TXBX_CONTENT, W_CUSTOM_XML, W_VAL = _w("txbxContent"), _w("customXml"), _w("val")
MC_FALLBACK = f"{{{MC_NS}}}Fallback"
# Subtrees whose text is not part of the paragraph's own text.
_SKIP_IN_PARAGRAPH = {
    MC_FALLBACK,
    W_TXBX_CONTENT,
    _w("pPr"),
    _w("rPr"),
    _w("del"),
    _w("moveFrom"),
    _w("sdtPr"),
}
_HEADING_STYLE_RE = re.compile(r"^heading\s*(\d)$")
_TITLE_LEVEL = 0  # marker: the "Title" style


@dataclass
class _Style:
    name: str = ""
    outline_level: int | None = None  # 0-based, as stored in w:outlineLvl
    num_id: str | None = None
    ilvl: int | None = None
    based_on: str | None = None


@dataclass
class _Context:
    styles: dict[str, _Style] = field(default_factory=dict)
    default_style: str | None = None
    num_formats: dict[tuple[str, int], tuple[str, int]] = field(
        default_factory=dict
    )  # (numId, ilvl) -> fmt, start
    counters: dict[str, list[int]] = field(default_factory=dict)


def _val(el: Any, tag: str) -> str | None:
    child = el.find(_w(tag)) if el is not None else None
    return child.get(W_VAL) if child is not None else None


def _load_styles(document: Any, ctx: _Context) -> None:
    try:
        root = document.styles.element
    except Exception:  # noqa: BLE001 - a package without styles is still readable
        return
    for style in root.iterchildren(_w("style")):
        style_id = style.get(_w("styleId"))
        if not style_id or style.get(_w("type")) not in (None, "paragraph"):
            continue
        info = _Style(name=(_val(style, "name") or style_id), based_on=_val(style, "basedOn"))
        ppr = style.find(_w("pPr"))
        if ppr is not None:
            outline = _val(ppr, "outlineLvl")
            if outline is not None and outline.isdigit():
                info.outline_level = int(outline)
            num_pr = ppr.find(_w("numPr"))
            if num_pr is not None:
                info.num_id = _val(num_pr, "numId")
                ilvl = _val(num_pr, "ilvl")
                info.ilvl = int(ilvl) if ilvl and ilvl.isdigit() else None
        ctx.styles[style_id] = info
        if style.get(_w("default")) in ("1", "true"):
            ctx.default_style = style_id


def _load_numbering(document: Any, ctx: _Context) -> None:
    try:
        root = document.part.numbering_part.element
    except Exception:  # noqa: BLE001 - no numbering part: every list is treated as bulleted
        return
    abstract: dict[str, dict[int, tuple[str, int]]] = {}
    for absnum in root.iterchildren(_w("abstractNum")):
        levels: dict[int, tuple[str, int]] = {}
        for lvl in absnum.iterchildren(_w("lvl")):
            ilvl = lvl.get(_w("ilvl"))
            start = _val(lvl, "start")
            if ilvl and ilvl.isdigit():
                levels[int(ilvl)] = (
                    _val(lvl, "numFmt") or "bullet",
                    int(start) if start and start.isdigit() else 1,
                )
        abstract[absnum.get(_w("abstractNumId")) or ""] = levels
    for num in root.iterchildren(_w("num")):
        num_id = num.get(_w("numId"))
        abstract_id = _val(num, "abstractNumId")
        if num_id is None or abstract_id is None:
            continue
        for ilvl, spec in abstract.get(abstract_id, {}).items():
            ctx.num_formats[(num_id, ilvl)] = spec


def _style_chain(ctx: _Context, style_id: str | None) -> Iterator[_Style]:
    seen: set[str] = set()
    while style_id and style_id not in seen and style_id in ctx.styles:
        seen.add(style_id)
        style = ctx.styles[style_id]
        yield style
        style_id = style.based_on


def _paragraph_text(p: Any) -> str:
    parts: list[str] = []

    def walk(el: Any) -> None:
        for child in el:
            tag = child.tag
            if not isinstance(tag, str) or tag in _SKIP_IN_PARAGRAPH:
                continue
            if tag == W_T:
                parts.append(child.text or "")
            elif tag == W_TAB:
                parts.append("\t")
            elif tag in (W_BR, W_CR):
                parts.append(" ")
            elif tag == W_NBH:
                parts.append("-")
            else:
                walk(child)

    walk(p)
    return "".join(parts)


def _iter_paragraphs(el: Any) -> Iterator[Any]:
    """All w:p below ``el`` in document order, skipping mc:Fallback duplicates."""
    for child in el:
        tag = child.tag
        if not isinstance(tag, str) or tag == MC_FALLBACK:
            continue
        if tag == W_P:
            yield child
        yield from _iter_paragraphs(child)


def _text_boxes(p: Any) -> Iterator[Any]:
    """Text-box contents anchored in a paragraph (the mc:Choice copy only)."""
    for child in p:
        tag = child.tag
        if not isinstance(tag, str) or tag == MC_FALLBACK:
            continue
        if tag == W_TXBX_CONTENT:
            yield child
        else:
            yield from _text_boxes(child)


def _cells(tr: Any) -> Iterator[Any]:
    for child in tr:
        if child.tag == W_TC:
            yield child
        elif child.tag in (W_SDT, W_CUSTOM_XML):
            content = child.find(W_SDT_CONTENT) if child.tag == W_SDT else child
            if content is not None:
                yield from _cells(content)


def _rows(tbl: Any) -> Iterator[Any]:
    for child in tbl:
        if child.tag == W_TR:
            yield child
        elif child.tag in (W_SDT, W_CUSTOM_XML):
            content = child.find(W_SDT_CONTENT) if child.tag == W_SDT else child
            if content is not None:
                yield from _rows(content)


def _table_rows(tbl: Any) -> list[list[str]]:
    """Cell texts on the table grid; merged cells repeat their text across the span."""
    rows: list[list[str]] = []
    for tr in _rows(tbl):
        row: list[str] = []
        before = _val(tr.find(_w("trPr")), "gridBefore")
        if before and before.isdigit():
            row.extend([""] * min(int(before), 100))
        for tc in _cells(tr):
            tc_pr = tc.find(_w("tcPr"))
            span_val = _val(tc_pr, "gridSpan")
            span = min(int(span_val), 100) if span_val and span_val.isdigit() else 1
            v_merge = tc_pr.find(_w("vMerge")) if tc_pr is not None else None
            col = len(row)
            if v_merge is not None and v_merge.get(W_VAL) != "restart" and rows and col < len(rows[-1]):
                text = rows[-1][col]
            else:
                text = " ".join(t for t in (_paragraph_text(p).strip() for p in _iter_paragraphs(tc)) if t)
            row.extend([text] * span)
        rows.append(row)
    return rows


class _DocxWalker:
    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx
        # ("heading", text, level | _TITLE_LEVEL), ("paragraph", text),
        # ("item", text, depth, ordinal) or ("table", rows)
        self.items: list[tuple[Any, ...]] = []

    def body(self, el: Any) -> None:
        for child in el:
            tag = child.tag
            if tag == W_P:
                self.paragraph(child)
            elif tag == W_TBL:
                self.items.append(("table", _table_rows(child)))
            elif tag in (W_SDT, W_CUSTOM_XML):
                content = child.find(W_SDT_CONTENT) if tag == W_SDT else child
                if content is not None:
                    self.body(content)

    def paragraph(self, p: Any) -> None:
        text = _paragraph_text(p).strip()
        ppr = p.find(_w("pPr"))
        style_id = _val(ppr, "pStyle") or self.ctx.default_style
        chain = list(_style_chain(self.ctx, style_id))
        style_name = (chain[0].name if chain else "").lower()
        if text:
            level = self._heading_level(ppr, chain, style_name)
            if level is not None:
                self.items.append(("heading", text, level))
            else:
                item = self._list_item(ppr, chain, style_name)
                if item is not None:
                    self.items.append(("item", text, *item))
                else:
                    self.items.append(("paragraph", text))
        for box in _text_boxes(p):
            self.body(box)

    def _heading_level(self, ppr: Any, chain: list[_Style], style_name: str) -> int | None:
        if style_name == "title":
            return _TITLE_LEVEL
        for style in chain:
            match = _HEADING_STYLE_RE.match(style.name.lower())
            if match:
                return max(int(match.group(1)), 1)
        outline = _val(ppr, "outlineLvl")
        if outline is None:
            outline = next((str(s.outline_level) for s in chain if s.outline_level is not None), None)
        if outline is not None and outline.isdigit() and int(outline) < 9:
            return int(outline) + 1
        return None

    def _list_item(self, ppr: Any, chain: list[_Style], style_name: str) -> tuple[int, int | None] | None:
        num_pr = ppr.find(_w("numPr")) if ppr is not None else None
        num_id = _val(num_pr, "numId") if num_pr is not None else None
        ilvl_val = _val(num_pr, "ilvl") if num_pr is not None else None
        if num_id is None:
            style = next((s for s in chain if s.num_id is not None), None)
            if style is not None:
                num_id, ilvl_val = style.num_id, (str(style.ilvl) if style.ilvl is not None else None)
        ilvl = int(ilvl_val) if ilvl_val and ilvl_val.isdigit() else 0
        if num_id is None:
            if style_name.startswith("list bullet"):
                return ilvl, None
            if style_name.startswith("list number"):
                return ilvl, self._next_ordinal(f"style:{style_name}", ilvl, 1)
            return None
        if num_id == "0":
            return None
        fmt, start = self.ctx.num_formats.get((num_id, ilvl), ("bullet", 1))
        if fmt in ("bullet", "none"):
            return ilvl, None
        return ilvl, self._next_ordinal(num_id, ilvl, start)

    def _next_ordinal(self, key: str, ilvl: int, start: int) -> int:
        counters = self.ctx.counters.setdefault(key, [])
        while len(counters) <= ilvl:
            counters.append(0)
        del counters[ilvl + 1 :]
        counters[ilvl] = counters[ilvl] + 1 if counters[ilvl] else start
        return counters[ilvl]


def parse_docx(data: bytes) -> ParsedDocument:
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - any failure here means an unreadable package
        raise ParseError("The DOCX file is damaged or is not a valid Word document.") from exc

    ctx = _Context()
    _load_styles(document, ctx)
    _load_numbering(document, ctx)
    walker = _DocxWalker(ctx)
    try:
        walker.body(document.element.body)
    except Exception as exc:  # noqa: BLE001 - malformed XML inside an otherwise valid package
        raise ParseError("The DOCX file could not be read: its content is malformed.") from exc

    has_title = any(item[0] == "heading" and item[2] == _TITLE_LEVEL for item in walker.items)
    builder = DocumentBuilder()
    for item in walker.items:
        kind = item[0]
        if kind == "heading":
            level = 1 if item[2] == _TITLE_LEVEL else item[2] + (1 if has_title else 0)
            builder.heading(item[1], level)
        elif kind == "paragraph":
            builder.paragraph(item[1])
        elif kind == "item":
            builder.list_item(item[1], item[2], item[3])
        elif kind == "table":
            builder.table(item[1])

    title = None
    try:
        title = document.core_properties.title or None
    except Exception:  # noqa: BLE001 - core properties are optional
        title = None
    if not title and has_title:
        title = next(item[1] for item in walker.items if item[0] == "heading" and item[2] == _TITLE_LEVEL)
    return builder.build(mime_type=MIME_TYPES["docx"], title=title)
