"""Numbered sources from search hits, sentence splitting with exact spans, content words."""

from __future__ import annotations

from parley.answers.sources import content_words, sources_from_hits, split_sentences
from parley.evaluation.squad import SquadData
from parley.search.service import SearchHit


def _hit(chunk_id: int, text: str, source: str, name: str = "report.pdf") -> SearchHit:
    return SearchHit(
        chunk_id=chunk_id,
        document_id=chunk_id // 10,
        corpus_id=3,
        score=0.5,
        lexical_score=1.2,
        vector_score=None,
        text=text,
        context=f"{name} > Results",
        page=2,
        section="Results",
        char_start=40,
        char_end=40 + len(text),
        document_name=name,
        document_source=source,
    )


def test_sources_are_numbered_from_one_in_rank_order_with_the_document_url() -> None:
    hits = [_hit(71, "First.", "https://example.org/a.html"), _hit(12, "Second.", "", name="notes.txt")]
    first, second = sources_from_hits(hits)
    assert (first.number, first.chunk_id, first.url, first.page) == (1, 71, "https://example.org/a.html", 2)
    assert (first.context, first.char_start, first.char_end) == ("report.pdf > Results", 40, 46)
    # No source recorded: the document name stands in for the url.
    assert (second.number, second.chunk_id, second.url) == (2, 12, "notes.txt")


def test_sentence_spans_index_the_text_exactly(squad: SquadData) -> None:
    for paragraph in squad.paragraphs[:200]:
        sentences = split_sentences(paragraph.context)
        assert sentences
        for sentence in sentences:
            assert paragraph.context[sentence.start : sentence.end] == sentence.text
            assert sentence.text == sentence.text.strip()
        # Nothing but whitespace lies between consecutive sentences.
        for before, after in zip(sentences, sentences[1:], strict=False):
            assert paragraph.context[before.end : after.start].strip() == ""


def test_split_sentences_handles_abbreviations_initials_markers_and_markdown() -> None:
    text = (
        "The game was played on Feb. 7, 2016, at Levi's Stadium. "
        "J. R. R. Tolkien wrote it (e.g. The Hobbit). "
        'Dr. Smith said "Hi!" Then he left. It costs 3.5 dollars in the U.S. today.\n'
        "# Heading\n- item one\n- item two\n\nSecond paragraph [1]. Next one. [2] Last sentence [3].\n"
        "A wrapped\nline stays one sentence."
    )
    assert [s.text for s in split_sentences(text)] == [
        "The game was played on Feb. 7, 2016, at Levi's Stadium.",
        "J. R. R. Tolkien wrote it (e.g. The Hobbit).",
        'Dr. Smith said "Hi!"',
        "Then he left.",
        "It costs 3.5 dollars in the U.S. today.",
        "# Heading",
        "- item one",
        "- item two",
        "Second paragraph [1].",
        "Next one. [2]",
        "Last sentence [3].",
        "A wrapped\nline stays one sentence.",
    ]


def test_content_words_drop_stop_words_and_meet_inflections() -> None:
    assert content_words("The Broncos defeated the Panthers") == ["bronco", "defeat", "panther"]
    assert content_words("championships") == content_words("championship")
    assert content_words("created") == content_words("creates") == content_words("create")
    assert content_words("In 2016, 24 of them") == ["2016", "24"]
