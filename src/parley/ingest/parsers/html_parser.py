"""HTML: BeautifulSoup (with the lxml parser) walked into headings, paragraphs, lists and tables.

Boilerplate (scripts, styles, navigation, menus, hidden elements, page headers/footers) is dropped,
and so are footnote markers (``<sup>[3]</sup>``) and a reference list's backlinks ("^");
when the page marks its main content (``<main>``, ``role=main``, a single ``<article>``) only that
part is read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from bs4 import BeautifulSoup, Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag

from .common import DocumentBuilder, clean_inline
from .detect import MIME_TYPES
from .model import ParsedDocument

_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_DROP_TAGS = {
    "script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "embed", "head",
    "title", "meta", "link", "base", "button", "input", "select", "textarea", "option", "datalist",
    "map", "audio", "video", "source", "track", "img", "picture",
}  # fmt: skip
# Page chrome, dropped unless (in broken markup) it turns out to hold the main content.
_CHROME_TAGS = {"nav", "aside", "dialog", "menu"}
_BLOCK_TAGS = {
    "address", "article", "blockquote", "body", "center", "dd", "details", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "header", "hgroup", "hr", "html", "legend",
    "li", "main", "ol", "p", "pre", "section", "summary", "table", "ul", "caption", "tbody", "thead",
    "tfoot", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
}  # fmt: skip
_DROP_ROLES = {"navigation", "banner", "contentinfo", "search", "complementary", "menu", "menubar", "dialog"}
# Class / id words (split on '-', '_' and spaces) that mark navigation and page chrome.
_BOILERPLATE_WORDS = {
    "nav", "navbar", "navbox", "navigation", "menu", "menubar", "sidebar", "breadcrumb", "breadcrumbs",
    "cookie", "cookies", "banner", "toolbar", "dropdown", "portlet", "share", "sharing", "social",
    "advert", "advertisement", "ads", "promo", "popup", "modal", "skip", "editsection", "noprint",
    "catlinks", "printfooter", "sitenotice", "jump", "toc", "footer", "backlink",
}  # fmt: skip
# A superscript that is only footnote markers ("[3]", "[a]", "[citation needed]", "*", "†"):
# read into the text it would pass for one of Parley's own [n] citations.
_FOOTNOTE_MARKER_RE = re.compile(r"^(?:\s*(?:\[[^\[\]]{1,40}\]|[*†‡§^]))+\s*$")
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_WORD_SPLIT_RE = re.compile(r"[-_\s]+")
_MAX_SPAN = 100


def _is_boilerplate(tag: Tag) -> bool:
    name = tag.name
    if name in _DROP_TAGS:
        return True
    if name == "sup" and _FOOTNOTE_MARKER_RE.match(tag.get_text()):
        return True
    attrs = tag.attrs or {}
    if "hidden" in attrs or str(attrs.get("aria-hidden", "")).lower() == "true":
        return True
    style = attrs.get("style")
    if style and _HIDDEN_STYLE_RE.search(str(style)):
        return True
    if name in ("main", "article", "body", "html"):
        return False
    chrome = name in _CHROME_TAGS or str(attrs.get("role", "")).lower() in _DROP_ROLES
    if not chrome and name in ("header", "footer"):
        chrome = tag.find_parent(["main", "article"]) is None  # page banner / footer, not an article's own
    if not chrome and attrs:
        classes = attrs.get("class") or []
        if isinstance(classes, str):
            classes = classes.split()
        words: set[str] = set()
        for value in [*classes, str(attrs.get("id", ""))]:
            words.update(_WORD_SPLIT_RE.split(value.lower()))
        chrome = bool(words & _BOILERPLATE_WORDS)
    # Safety net for broken markup: never drop a container that holds the page's main content.
    return chrome and tag.find(["main", "article", "h1"]) is None


def _children(tag: Tag) -> Iterator[Tag | NavigableString]:
    yield from tag.children  # type: ignore[misc]


def _is_text_node(node: object) -> bool:
    return isinstance(node, NavigableString) and not isinstance(
        node, (Comment, Declaration, Doctype, ProcessingInstruction)
    )


def _text(tag: Tag) -> str:
    """Visible text of an element with whitespace collapsed; block children are space-separated."""
    parts: list[str] = []

    def visit(node: Tag) -> None:
        for child in _children(node):
            if isinstance(child, Tag):
                if _is_boilerplate(child):
                    continue
                if child.name == "br":
                    parts.append(" ")
                    continue
                block = child.name in _BLOCK_TAGS
                if block:
                    parts.append(" ")
                visit(child)
                if block:
                    parts.append(" ")
            elif _is_text_node(child):
                parts.append(str(child))

    visit(tag)
    return clean_inline("".join(parts))


def _has_block_child(tag: Tag) -> bool:
    return any(isinstance(d, Tag) and d.name in _BLOCK_TAGS for d in tag.descendants)


def _own_rows(table: Tag) -> list[Tag]:
    rows = []
    for tr in table.find_all("tr"):
        if tr.find_parent("table") is table:
            rows.append(tr)
    return rows


def _table_grid(table: Tag) -> list[list[str]]:
    """Cell texts laid out on a grid; row/col spans repeat the spanning cell's text."""
    grid: dict[tuple[int, int], str] = {}
    n_rows = 0
    for r, tr in enumerate(_own_rows(table)):
        n_rows = r + 1
        c = 0
        for cell in tr.find_all(["td", "th"], recursive=False):
            while (r, c) in grid:
                c += 1
            text = _text(cell)
            colspan = _span(cell.get("colspan"))
            rowspan = _span(cell.get("rowspan"))
            for dr in range(rowspan):
                for dc in range(colspan):
                    grid.setdefault((r + dr, c + dc), text)
            c += colspan
    if not grid:
        return []
    n_cols = max(c for _, c in grid) + 1
    return [[grid.get((r, c), "") for c in range(n_cols)] for r in range(n_rows)]


def _span(value: object) -> int:
    try:
        return min(max(int(str(value).strip()), 1), _MAX_SPAN)
    except (TypeError, ValueError):
        return 1


def _is_layout_table(table: Tag) -> bool:
    """A table used for page layout (it holds headings or other tables) is read as blocks."""
    return table.find(list(_HEADINGS)) is not None or table.find("table") is not None


class _Walker:
    def __init__(self, builder: DocumentBuilder) -> None:
        self.builder = builder
        self.inline: list[str] = []

    def flush(self) -> None:
        if self.inline:
            text = clean_inline("".join(self.inline))
            self.inline = []
            if text:
                self.builder.paragraph(text)

    def walk(self, node: Tag) -> None:
        for child in _children(node):
            if isinstance(child, Tag):
                self.visit(child)
            elif _is_text_node(child):
                self.inline.append(str(child))

    def visit(self, tag: Tag) -> None:
        name = tag.name
        if _is_boilerplate(tag):
            return
        if name == "br":
            self.inline.append(" ")
        elif name in _HEADINGS:
            self.flush()
            self.builder.heading(_text(tag), _HEADINGS[name])
        elif name in ("ul", "ol"):
            self.flush()
            self.list(tag, 0)
            self.builder.flush_list()
        elif name == "table":
            self.flush()
            self.table(tag)
        elif name == "pre":
            self.flush()
            code = tag.get_text().strip("\n")
            if code.strip():
                self.builder.add("code", f"```\n{code}\n```")
        elif name == "p":
            self.flush()
            if _has_block_child(tag):
                self.walk(tag)
                self.flush()
            else:
                self.builder.paragraph(_text(tag))
        elif name in _BLOCK_TAGS or _has_block_child(tag):
            self.flush()
            self.walk(tag)
            self.flush()
        else:
            self.inline.append(_inline_with_spacing(tag))

    def list(self, tag: Tag, depth: int) -> None:
        ordered = tag.name == "ol"
        start = _span_start(tag.get("start")) if ordered else None
        index = 0
        for li in tag.find_all("li", recursive=False):
            if _is_boilerplate(li):
                continue
            nested = [c for c in li.find_all(["ul", "ol"]) if c.find_parent("li") is li]
            for sub in nested:
                sub.extract()
            text = _text(li)
            if text:
                ordinal = (start or 1) + index if ordered else None
                self.builder.list_item(text, depth, ordinal)
                index += 1
            for sub in nested:
                self.list(sub, depth + 1)

    def table(self, tag: Tag) -> None:
        if _is_layout_table(tag):
            self.walk(tag)
            self.flush()
            return
        caption = tag.find("caption")
        if caption is not None and caption.find_parent("table") is tag:
            self.builder.paragraph(_text(caption))
            caption.extract()
        self.builder.table(_table_grid(tag))


def _span_start(value: object) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return 1


def _inline_with_spacing(tag: Tag) -> str:
    """Text of an inline element, keeping the leading/trailing spaces its source had."""
    raw = tag.get_text()
    text = _text(tag)
    if not text:
        return " " if raw[:1].isspace() else ""
    return (" " if raw[:1].isspace() else "") + text + (" " if raw[-1:].isspace() else "")


def _visible_length(tag: Tag) -> int:
    return sum(
        len(text.strip())
        for text in tag.find_all(string=True)
        if _is_text_node(text) and text.parent is not None and text.parent.name not in _DROP_TAGS
    )


def _content_root(soup: BeautifulSoup) -> Tag:
    """The element holding the page's main content: <main>, role=main or a single <article>,
    unless (e.g. in broken markup) it holds only a small part of the page's text; else <body>."""
    body = soup.find("body")
    fallback = body if isinstance(body, Tag) else soup
    candidate = soup.find("main") or soup.find(attrs={"role": "main"})
    if not isinstance(candidate, Tag):
        articles = soup.find_all("article")
        candidate = articles[0] if len(articles) == 1 else None
    if isinstance(candidate, Tag) and _visible_length(candidate) >= 0.2 * _visible_length(fallback):
        return candidate
    return fallback


def _soup(markup: bytes | str) -> BeautifulSoup:
    return BeautifulSoup(markup, "lxml")


def add_html_fragment(markup: str, builder: DocumentBuilder) -> None:
    """Append the blocks of an HTML fragment (e.g. raw HTML inside Markdown) to ``builder``."""
    soup = _soup(markup)
    root = soup.find("body")
    walker = _Walker(builder)
    walker.walk(root if isinstance(root, Tag) else soup)
    walker.flush()


def parse_html(data: bytes) -> ParsedDocument:
    soup = _soup(data)
    title_tag = soup.find("title")
    title = clean_inline(title_tag.get_text()) if isinstance(title_tag, Tag) else None
    walker = _Walker(DocumentBuilder())
    walker.walk(_content_root(soup))
    walker.flush()
    return walker.builder.build(mime_type=MIME_TYPES["html"], title=title)
