"""Which fragments of a source read as prose the offline answerer may quote, and how a quote is
cleaned of what was never the source's prose.

Documents hold more than sentences: a Wikipedia page's footnote markers ("a hen.[3][4]") and
reference list ('2. ^ "Duckling"'), image captions ("Male mallard"), figure and table labels
("Figure 3: Growth"), table rows, raw list bullets, lines of numbers or links. Quoted, a footnote
marker reads as one of Parley's own ``[n]`` citations (it is parsed as one, pointing at an
unrelated source) and the fragments read as junk answers. So:

* :func:`strip_footnote_markers` removes a source's own markers from a quote ("[3]", "[3][4]",
  "[23]: 105", "[a]", "[note 2]", "[citation needed]") and anything else
  :func:`~parley.answers.citations.find_citation_markers` would read as a citation;
* :func:`list_item_content` is a list item without its bullet, judged and quoted as such;
* :func:`is_prose` refuses reference entries, labels, verbless fragments without a full stop
  (captions, headings) and lines that are mostly digits, punctuation or links;
* :func:`table_row_sentence` renders a table row as "header: value" pairs (a row is quoted only
  when its table's header is known).

Without a part-of-speech tagger, a "verb" is a word from a short list of auxiliaries and common
verbs, or (in a fragment ending in a full stop) a word ending in "-ed"; a fragment with a full
stop is trusted to be a sentence once it has :data:`MIN_SENTENCE_WORDS` words, one without only
with a verb or from :data:`MIN_RUN_ON_WORDS` words on (captions and list fragments rarely end in
a full stop; chunks cut mid-sentence do not either, but they are long or have their verb).
"""

from __future__ import annotations

import re

from parley.answers.citations import strip_citation_markers

#: A fragment ending in a full stop needs this many words to be quoted without a verb.
MIN_SENTENCE_WORDS = 4
#: A fragment without a full stop is quoted without a verb from this many words on (a run-on
#: PDF line, a chunk cut mid-sentence).
MIN_RUN_ON_WORDS = 10

# A source's own footnote markers, glued to the word or stop before them, with a page suffix
# ("[23]: 105"): numbers, letters, "note 2", and Wikipedia's inline tags ("[citation needed]").
_FOOTNOTE = re.compile(
    r"[ \t]*(?:\[(?:\d{1,3}|[a-z]|(?:note|nb|n|fn)\.? ?\d{1,3}|[a-z ]{0,20}needed|dubious|when\?|who\?)\]"
    r"(?::\s?\d+(?:[–-]\d+)?)?)+",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^(?:[-*+•]|\d{1,3}[.)])\s+")
# A reference-list entry: Wikipedia's backlink caret, a numbered reference, or the tell-tale
# phrases of a citation.
_REFERENCE = re.compile(
    r"^(?:\^|\[\d{1,3}\]\s)"
    r"|\b(?:Retrieved (?:on )?\w* ?\d|Archived from the original|ISBN[- ]?\d|doi:)"
)
_LABEL = re.compile(
    r"^(?:Figure|Fig\.|Table|Chart|Graph|Image|Photo|Plate|Exhibit|Diagram|Map|Appendix|Listing)"
    r"\s*[\dIVXivx]+[\w.]*\s*(?:[:.–—-]|$)"
)
_URL = re.compile(r"\b(?:https?://|www\.)\S+")
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_FULL_STOP = re.compile(r"[.!?][\"'”’)]*$")
_VERBS = frozenset(
    "is are was were be been being isn't aren't wasn't weren't has have had having do does did can "
    "could will would shall should may might must cannot won't can't don't doesn't didn't "
    "became become becomes began begins come comes came go goes went get gets got give gives gave "
    "make makes made take takes took find finds found know knows knew see sees saw say says said "
    "hold holds held keep keeps kept lead leads led lie lies lay run runs ran show shows shown "
    "grow grows grew grown live lives include includes contain contains consist consists belong "
    "belongs mean means means remain remains seem seems use uses won win wins lost write writes "
    "wrote written built build builds sold sell sells bought buy buys brought bring brings began "
    "begin begins feed feeds fed fly flies flew swim swims swam eat eats ate spend spends spent "
    "occur occurs refer refers call calls need needs want wants provide provides allow allows "
    "require requires".split()
)
# The line under a Markdown table's header: "| --- | :---: |".
_SEPARATOR_ROW = re.compile(r"^\|[\s|:-]*-{3,}[\s|:-]*$")


def strip_footnote_markers(text: str) -> str:
    """``text`` without the source's own footnote markers: "called a hen.[3][4]" -> "called a
    hen.", "in 1885;[17] Dey" -> "in 1885; Dey"."""
    return strip_citation_markers(_FOOTNOTE.sub("", text))


def list_item_content(text: str) -> str:
    """A list item's text without its bullet or number ("- WordStar (1978) ..." -> "WordStar
    (1978) ..."); other text unchanged."""
    return _BULLET.sub("", text, count=1)


def is_prose(text: str, intro: str = "") -> bool:
    """Whether ``text`` (a sentence of a source, its footnote markers and bullet removed) reads
    as prose worth quoting (see the module docstring). ``intro``: for a list item, the line
    that introduced the list; one ending in a colon ("It keeps these hours:") makes a short
    item ("Sunday: closed") part of its sentence."""
    text = text.strip()
    if not text or text.startswith("|") or _REFERENCE.search(text) or _LABEL.match(text):
        return False
    words = _WORD.findall(_URL.sub(" ", text))
    letters = sum(len(word) for word in words)
    if not words or letters < 0.5 * len(text.replace(" ", "")):
        return False
    if intro.rstrip().endswith(":"):
        return True
    if len(words) < 2:
        return False
    has_verb = any(word.lower() in _VERBS for word in words)
    if _FULL_STOP.search(text):
        return has_verb or len(words) >= MIN_SENTENCE_WORDS or any(_is_past_tense(w) for w in words)
    # Without a full stop, "-ed" is as often an adjective: "Nested ordered item 2".
    return has_verb or len(words) >= MIN_RUN_ON_WORDS


def _is_past_tense(word: str) -> bool:
    return len(word) > 4 and word.islower() and word.endswith("ed")


def table_cells(row: str) -> list[str] | None:
    """The cells of a Markdown table row ("| a | b |"), or None for a line that is not one (or is
    the separator under a header)."""
    row = row.strip()
    if not row.startswith("|") or _SEPARATOR_ROW.match(row):
        return None
    return [cell.strip() for cell in row.strip("|").split("|")]


def is_separator_row(row: str) -> bool:
    return _SEPARATOR_ROW.match(row.strip()) is not None


def table_row_sentence(header: list[str], cells: list[str]) -> str | None:
    """A row as a readable sentence, "Name: Ada; Born: 1815.", pairing each non-empty cell with
    its column's header; None when no cell has both."""
    pairs = [f"{name}: {value}" for name, value in zip(header, cells, strict=False) if name and value]
    return "; ".join(pairs) + "." if pairs else None
