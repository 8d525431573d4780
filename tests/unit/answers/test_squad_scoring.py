"""SQuAD loading, the official normalisation and the gold-in-answer check."""

from __future__ import annotations

from parley.evaluation.squad import SquadData, gold_in_answer, normalize_answer, word_count


def test_load_squad_keeps_paragraphs_questions_and_every_gold_answer(squad: SquadData) -> None:
    # The figures tests/data/README.md gives for the subset: 8 articles, 383 paragraphs, 2,380 questions.
    assert len({p.title for p in squad.paragraphs}) == 8
    assert len(squad.paragraphs) == 383
    assert len(squad.questions) == 2380
    first = squad.questions[0]
    assert first.question == "Which NFL team represented the AFC at Super Bowl 50?"
    assert first.answers == ("Denver Broncos", "Denver Broncos", "Denver Broncos")
    paragraph = squad.paragraphs[first.paragraph]
    assert (paragraph.title, paragraph.index) == ("Super_Bowl_50", 0)
    # Every gold answer is a span of its own paragraph.
    for question in squad.questions[:300]:
        assert all(answer in squad.paragraphs[question.paragraph].context for answer in question.answers)
    # Paragraph indexes restart at 0 in each article.
    second_article = next(p for p in squad.paragraphs if p.title != "Super_Bowl_50")
    assert second_article.index == 0


def test_normalize_answer_follows_the_official_rules() -> None:
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert normalize_answer("an apple, a pear and THE plum.") == "apple pear and plum"
    assert normalize_answer("Levi's Stadium") == "levis stadium"
    # Only ASCII punctuation goes, as in evaluate-v1.1.py: the en dash stays.
    assert normalize_answer("24–10") == "24–10"
    # Articles go only as whole words.
    assert normalize_answer("Theatre and anthem") == "theatre and anthem"


def test_gold_in_answer_matches_whole_tokens_of_any_gold_answer() -> None:
    sentence = (
        "The American Football Conference (AFC) champion Denver Broncos defeated the National Football "
        "Conference (NFC) champion Carolina Panthers 24–10 to earn their third Super Bowl title."
    )
    assert gold_in_answer(sentence, ["Denver Broncos"])
    assert gold_in_answer(sentence, ["the Denver Broncos."])  # normalised on both sides
    assert gold_in_answer(sentence, ["Miami Dolphins", "Carolina Panthers"])  # any gold counts
    assert not gold_in_answer(sentence, ["2"])  # not inside "24–10"
    assert not gold_in_answer(sentence, [])
    assert not gold_in_answer(sentence, ["", "the"])  # empty after normalisation: never a match
    assert not gold_in_answer(sentence, ["Broncos defeated the New England"])


def test_word_count_counts_whitespace_separated_words() -> None:
    assert word_count("Denver Broncos  won\n24–10.") == 4
    assert word_count("   ") == 0
