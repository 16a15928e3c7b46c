"""The "Did you mean…?" offer: which topics become buttons (core/suggestions.py)."""

from __future__ import annotations

from core.suggestions import parent_topic, suggestion_buttons, suggestions, topic_titles
from tests.test_answers import DOMAIN


def ranked(*pairs: tuple[str, float]) -> list[dict]:
    return [{"name": n, "confidence": c} for n, c in pairs]


def test_the_three_likeliest_topics_one_per_parent() -> None:
    ranking = ranked(
        ("nlu_fallback", 0.3),
        ("follow_up__vaccines", 0.25),
        ("follow_up", 0.2),
        ("side_effects__infections", 0.18),
        ("crs", 0.1),
        ("timeline", 0.09),
    )
    assert suggestions(ranking) == ["follow_up__vaccines", "side_effects__infections", "crs"]


def test_guesses_below_the_floor_and_non_topics_are_not_offered() -> None:
    assert suggestions(ranked(("affirm", 0.5), ("crs", 0.05))) == []
    assert suggestions(ranked(("nlu_fallback", 0.3), ("out_of_scope", 0.2), ("crs", 0.15))) == []


def test_buttons_end_with_something_else_and_are_empty_without_a_guess() -> None:
    buttons = suggestion_buttons(ranked(("crs", 0.2)))
    assert buttons == [
        {"title": "CRS (cytokine release)", "payload": "/crs"},
        {"title": "Something else", "payload": "/something_else"},
    ]
    assert suggestion_buttons(ranked(("crs", 0.01))) == []


def test_every_title_is_an_intent_and_every_faq_intent_has_a_title() -> None:
    intents = set(DOMAIN["intents"])
    titles = topic_titles()
    assert set(titles) <= intents
    faq = {i for i in intents if parent_topic(i) != i} | {
        parent_topic(i) for i in intents if "__" in i
    }
    assert faq <= set(titles), faq - set(titles)
    assert "something_else" in intents
