"""PDF: pypdf text extraction per page, with page numbers kept on every block.

pypdf's extractor emits text in content-stream order (which for most generated PDFs, including
two-column layouts, is reading order). A visitor callback records each text run's font, size and
position, which is used to
  * rebuild lines (runs on the same baseline are merged, e.g. drop caps),
  * split paragraphs on vertical gaps, first-line indents and font-size changes,
  * detect list items (bullet glyphs / numbers) and headings (short standalone lines set larger,
    bold or italic compared with the body font), with levels ranked by heading size,
  * join hyphenated line breaks ("process-" + "ing" -> "processing"),
  * drop running headers/footers repeated on most pages and bare page numbers.
"""

from __future__ import annotations

import io
import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError

from .common import DocumentBuilder, clean_inline, fix_ligatures
from .detect import MIME_TYPES
from .model import ParsedDocument, ParseError

log = logging.getLogger(__name__)

_BOLD_RE = re.compile(r"bold|black|heavy|demi|semibold|[-,]bd\b|cmbx|sfbx|bx\d*$")
_ITALIC_RE = re.compile(r"italic|oblique|[-,]it\b|cmti|sfti|sfsi|cmsl")
_BULLET_RE = re.compile(
    r"^\s*([\u2022\u25cf\u25aa\u25a0\u25e6\u2023\u2043\u2219\u00b7\u25cb\u25a1\u27a2\u2713\uf0b7\uf0a7*-])\s+(.*)$"
)
_NUMBERED_RE = re.compile(r"^\s*(\d{1,3})[.)]\s+(\S.*)$")
_PAGE_NUMBER_RE = re.compile(
    r"^\s*(page\s+)?[A-Z]?\d{1,4}([-\u2013.]\d{1,4})?(\s*(of|/)\s*\d{1,4})?\s*$", re.I
)
_NO_TEXT_REASON = (
    "No extractable text was found in the PDF. It may be a scanned document (images only); "
    "OCR is not supported."
)
_SENTENCE_END = (".", "!", "?", ":", '"', "\u201d", ")")
_BAD_TITLES = re.compile(
    r"^(untitled|microsoft (word|powerpoint) - .*|.*\.(pdf|docx?|pptx?|indd|tex|qxd))$", re.I
)


@dataclass
class _Line:
    text: str = ""
    x: float | None = None
    y: float | None = None
    end_x: float | None = None
    styles: Counter[tuple[float, str]] = field(default_factory=Counter)
    # filled by _finish()
    size: float = 0.0
    font: str = ""
    share: float = 0.0

    def finish(self) -> _Line:
        total = sum(self.styles.values())
        if total:
            (self.size, self.font), count = self.styles.most_common(1)[0]
            self.share = count / total
        return self

    @property
    def stripped(self) -> str:
        return self.text.strip()


def _font_name(font_dict: Any) -> str:
    try:
        name = str(font_dict["/BaseFont"]) if font_dict else ""
    except Exception:  # noqa: BLE001 - fonts without a /BaseFont
        return ""
    name = name.lstrip("/")
    return name.split("+", 1)[1] if len(name) > 7 and name[6] == "+" else name


def _is_bold(font: str) -> bool:
    return bool(_BOLD_RE.search(font.lower()))


def _is_italic(font: str) -> bool:
    return bool(_ITALIC_RE.search(font.lower()))


def _matmul(tm: list[float], cm: list[float]) -> tuple[float, ...]:
    a, b, c, d, e, f = (float(v) for v in tm)
    ca, cb, cc, cd, ce, cf = (float(v) for v in cm)
    return (
        a * ca + b * cc,
        a * cb + b * cd,
        c * ca + d * cc,
        c * cb + d * cd,
        e * ca + f * cc + ce,
        e * cb + f * cd + cf,
    )


def _extract_lines(page: Any) -> list[_Line]:
    lines: list[_Line] = []
    current = _Line()

    def visitor(text: str, cm: list[float], tm: list[float], font_dict: Any, font_size: float) -> None:
        nonlocal current
        if not text:
            return
        try:
            m = _matmul(tm, cm)
            size = abs(float(font_size)) * math.hypot(m[2], m[3])
            x, y = m[4], m[5]
        except Exception:  # noqa: BLE001 - odd matrices: keep the text, lose the geometry
            size, x, y = 0.0, None, None
        font = _font_name(font_dict)
        for i, part in enumerate(text.split("\n")):
            if i > 0:
                lines.append(current.finish())
                current = _Line()
            if not part:
                continue
            if part.strip():
                if current.y is None:
                    current.x, current.y = x, y
                current.styles[(round(size * 2) / 2, font)] += len(part.strip())
                if x is not None:
                    current.end_x = x + len(part) * size * 0.5
            current.text += part

    page.extract_text(visitor_text=visitor)
    lines.append(current.finish())
    return _merge_same_baseline([line for line in lines if line.stripped])


def _merge_same_baseline(lines: list[_Line]) -> list[_Line]:
    """pypdf breaks a line where runs are positioned separately (drop caps, mixed fonts)."""
    merged: list[_Line] = []
    for line in lines:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and prev.y is not None
            and line.y is not None
            and prev.x is not None
            and line.x is not None
            and abs(prev.y - line.y) < 0.5 * max(prev.size, line.size, 1.0)
            and line.x > prev.x + 0.5 * max(prev.size, 1.0)
        ):
            gap = line.x - (prev.end_x if prev.end_x is not None else line.x)
            joiner = (
                "" if prev.text.endswith(" ") or line.text.startswith(" ") or gap < 0.25 * prev.size else " "
            )
            prev.text = prev.text + joiner + line.text
            prev.styles.update(line.styles)
            prev.end_x = line.end_x
            prev.finish()
        else:
            merged.append(line)
    return merged


def _join(a: str, b: str) -> str:
    a, b = a.rstrip(), b.lstrip()
    if not a:
        return b
    if a.endswith("-") and len(a) > 1 and a[-2].isalpha() and a[-2].islower() and b[:1].islower():
        return a[:-1] + b  # hyphenated line break
    if a.endswith(("-", "\u2014", "\u2013", "/")) and len(a) > 1 and a[-2].isalnum():
        return a + b
    return f"{a} {b}"


def _running_text_keys(pages: list[list[_Line]]) -> set[str]:
    """Normalised lines found at the top or bottom of most pages (running headers/footers)."""
    if len(pages) < 3:
        return set()
    counts: Counter[str] = Counter()
    for lines in pages:
        edge = {_edge_key(line.stripped) for line in lines[:2] + lines[-2:]}
        counts.update(edge)
    threshold = max(3, math.ceil(len(pages) * 0.5))
    return {key for key, n in counts.items() if n >= threshold and key}


def _edge_key(text: str) -> str:
    return re.sub(r"\d+", "#", text.lower()).strip()


class _PdfLayout:
    def __init__(self, pages: list[list[_Line]]) -> None:
        styles: Counter[tuple[float, str]] = Counter()
        for lines in pages:
            for line in lines:
                styles.update(line.styles)
        (self.body_size, self.body_font), _ = styles.most_common(1)[0] if styles else ((10.0, ""), 0)
        self.body_size = self.body_size or 10.0
        self.body_bold = _is_bold(self.body_font)
        self.body_italic = _is_italic(self.body_font)
        keys: Counter[tuple[float, bool, bool]] = Counter()
        for lines in pages:
            for line in lines:
                key = self.heading_key(line)
                if key is not None:
                    keys[key] += 1
        ranked = sorted(keys, key=lambda k: (-k[0], not k[1], not k[2]))
        self.levels = {key: min(i + 1, 6) for i, key in enumerate(ranked)}

    def heading_key(self, line: _Line) -> tuple[float, bool, bool] | None:
        text = line.stripped
        if line.share < 0.85 or not (2 <= len(text) <= 150) or len(text.split()) > 15:
            return None
        if text.endswith((".", ",", ";", ":")) or _BULLET_RE.match(text):
            return None
        first_alpha = next((ch for ch in text if ch.isalpha()), "")
        if not first_alpha or not (first_alpha.isupper() or text[0].isdigit()):
            return None
        bold, italic = _is_bold(line.font), _is_italic(line.font)
        bigger = line.size >= self.body_size * 1.15
        emphasised = line.size >= self.body_size * 0.9 and (
            (bold and not self.body_bold) or (italic and not self.body_italic)
        )
        if line.font == self.body_font and not bigger:
            return None
        if bigger or emphasised:
            return (round(line.size, 1), bold, italic)
        return None


class _PageWriter:
    """Groups one page's lines into heading / paragraph / list blocks."""

    def __init__(self, builder: DocumentBuilder, layout: _PdfLayout, page: int) -> None:
        self.builder = builder
        self.layout = layout
        self.page = page
        self.lines: list[_Line] = []  # the open paragraph or list item
        self.item: tuple[int | None, float | None] | None = None  # (ordinal, bullet x) when in a list item
        self.item_text = ""
        self.heading: list[_Line] = []
        self.heading_key: tuple[float, bool, bool] | None = None
        self.line_gap = 0.0

    def write(self, lines: list[_Line]) -> None:
        gaps = [
            a.y - b.y
            for a, b in zip(lines, lines[1:], strict=False)
            if a.y is not None
            and b.y is not None
            and abs(a.size - b.size) < 0.5
            and 0 < a.y - b.y < 3 * a.size
        ]
        self.line_gap = median(gaps) if gaps else self.layout.body_size * 1.2
        for line in lines:
            key = self.layout.heading_key(line)
            if key is not None:
                self.add_heading_line(line, key)
            else:
                self.flush_heading()
                self.add_text_line(line)
        self.flush_heading()
        self.flush_text()
        self.builder.flush_list()

    # headings -----------------------------------------------------------------
    def add_heading_line(self, line: _Line, key: tuple[float, bool, bool]) -> None:
        if self.heading and (key != self.heading_key or self._gap(self.heading[-1], line) > 1.6 * line.size):
            self.flush_heading()
        self.flush_text()
        self.heading.append(line)
        self.heading_key = key

    def flush_heading(self) -> None:
        if not self.heading:
            return
        text = ""
        for line in self.heading:
            text = _join(text, line.stripped)
        key, self.heading, self.heading_key = self.heading_key, [], None
        if len(text.split()) > 25:  # a whole emphasised paragraph, not a heading
            self.builder.paragraph(text, self.page)
            return
        self.builder.heading(text, self.layout.levels.get(key, 6) if key else 6, self.page)

    # paragraphs and list items ----------------------------------------------------
    @staticmethod
    def _gap(a: _Line, b: _Line) -> float:
        if a.y is None or b.y is None:
            return 0.0
        return a.y - b.y

    def _starts_new_block(self, prev: _Line, line: _Line) -> bool:
        size = max(line.size, 1.0)
        gap = self._gap(prev, line)
        prev_text = prev.stripped
        ends_sentence = prev_text.endswith(_SENTENCE_END)
        first = self.lines[0]
        normal_spacing = 0 < gap <= max(self.line_gap * 1.45, self.line_gap + 0.4 * size)
        if first.size and abs(line.size - first.size) > 0.2 * first.size and not normal_spacing:
            return True  # font size changed away from the running text (captions, labels, footnotes)
        if gap < -size:  # moved up: next column or a new text frame
            return ends_sentence
        if gap > 0 and not normal_spacing:
            return True
        if prev.x is not None and line.x is not None:
            if self.item is not None:
                bullet_x = self.item[1]
                if bullet_x is not None and line.x < bullet_x - 0.5 * size:
                    return True
                if bullet_x is not None and abs(line.x - bullet_x) <= 0.5 * size and ends_sentence:
                    return True
            elif line.x > prev.x + 0.8 * size and line.x < prev.x + 6 * size and ends_sentence:
                return True  # first-line indent
        return False

    def add_text_line(self, line: _Line) -> None:
        text = line.stripped
        bullet = _BULLET_RE.match(text)
        numbered = _NUMBERED_RE.match(text) if not bullet else None
        if (numbered or (bullet and bullet.group(1) in "-*")) and self._mid_sentence():
            bullet = numbered = None  # "... see Section\n3. Results": a wrapped line, not a list item
        if bullet or numbered:
            self.flush_text()
            ordinal = int(numbered.group(1)) if numbered else None
            self.item = (ordinal, line.x)
            self.item_text = (bullet or numbered).group(2)  # type: ignore[union-attr]
            self.lines = [line]
            return
        if self.lines and self._starts_new_block(self.lines[-1], line):
            self.flush_text()
        if self.item is not None and self.lines:
            self.item_text = _join(self.item_text, text)
        self.lines.append(line)

    def _mid_sentence(self) -> bool:
        """True inside a running paragraph whose last line does not end a sentence."""
        return bool(self.lines) and self.item is None and not self.lines[-1].stripped.endswith(_SENTENCE_END)

    def flush_text(self) -> None:
        if not self.lines:
            return
        if self.item is not None:
            ordinal, _ = self.item
            self.builder.list_item(self.item_text, 0, ordinal, self.page)
        else:
            self.builder.flush_list()
            text = ""
            for line in self.lines:
                text = _join(text, line.stripped)
            self.builder.paragraph(text, self.page)
        self.lines, self.item, self.item_text = [], None, ""


def _metadata_title(reader: Any) -> str | None:
    try:
        meta = reader.metadata
        title = clean_inline(str(meta.title)) if meta is not None and meta.title else ""
    except Exception:  # noqa: BLE001 - broken info dictionaries are common
        return None
    if not title or _BAD_TITLES.match(title):
        return None
    return title


def parse_pdf(data: bytes) -> ParsedDocument:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
    except Exception as exc:  # noqa: BLE001 - anything pypdf raises here means an unreadable file
        raise ParseError("The PDF file is damaged or is not a valid PDF.") from exc

    if encrypted:
        try:
            decrypted = bool(reader.decrypt(""))  # many PDFs only restrict permissions (empty user password)
        except (DependencyError, FileNotDecryptedError, NotImplementedError) as exc:
            raise ParseError(
                "The PDF is encrypted with a method that is not supported; remove the protection."
            ) from exc
        except Exception:  # noqa: BLE001
            decrypted = False
        if not decrypted:
            raise ParseError("The PDF is password-protected. Remove the password and upload it again.")

    try:
        pages = list(reader.pages)
    except Exception as exc:  # noqa: BLE001
        raise ParseError("The PDF file is damaged: its page tree could not be read.") from exc
    if not pages:
        raise ParseError("The PDF file contains no pages.")

    page_lines: list[list[_Line]] = []
    failures = 0
    for number, page in enumerate(pages, start=1):
        try:
            lines = _extract_lines(page)
        except Exception as exc:  # noqa: BLE001 - one bad page must not lose the whole document
            log.warning("pdf: text extraction failed on page %d: %s", number, type(exc).__name__)
            failures += 1
            lines = []
        for line in lines:
            line.text = fix_ligatures(line.text)
        page_lines.append(lines)
    if failures == len(pages):
        raise ParseError("The PDF file is damaged: no page could be read.")
    if not any(line.stripped for lines in page_lines for line in lines):
        raise ParseError(_NO_TEXT_REASON)

    running = _running_text_keys(page_lines)
    cleaned_pages: list[list[_Line]] = []
    for lines in page_lines:
        keep = []
        for i, line in enumerate(lines):
            at_edge = i < 2 or i >= len(lines) - 2
            if at_edge and (_edge_key(line.stripped) in running or _PAGE_NUMBER_RE.match(line.text)):
                continue
            keep.append(line)
        cleaned_pages.append(keep)

    layout = _PdfLayout(cleaned_pages)
    builder = DocumentBuilder()
    for number, lines in enumerate(cleaned_pages, start=1):
        _PageWriter(builder, layout, number).write(lines)

    title = _metadata_title(reader)
    if not title and builder.blocks and builder.blocks[0].kind == "heading" and builder.blocks[0].page == 1:
        title = builder.blocks[0].text.lstrip("#").strip()
    return builder.build(
        mime_type=MIME_TYPES["pdf"],
        title=title,
        title_from_heading=False,
        page_count=len(pages),
        empty_reason=_NO_TEXT_REASON,
    )
