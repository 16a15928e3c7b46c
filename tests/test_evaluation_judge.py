"""How scripts/evaluate_understanding.py judges one answer: top-1, and reaching the right
topic within one click through the "Did you mean…?" offer or the first reply's buttons."""

from __future__ import annotations

from core.evaluation_sets import Question
from scripts.evaluate_understanding import first_reply, judge_question


def parsed(intent: str, *ranking: tuple[str, float]) -> dict:
    return {
        "intent": {"name": intent, "confidence": ranking[0][1] if ranking else 0.9},
        "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
    }


def test_the_pre_screen_starts_with_its_intro_whose_button_leads_to_the_criteria() -> None:
    assert first_reply("check_eligibility") == "utter_prescreen_intro"
    question = Question("could my son with T-cell ALL qualify?", "eligibility", "parent")
    judged = judge_question(question, parsed("check_eligibility", ("check_eligibility", 0.8)))
    assert not judged["top1"]
    assert judged["one_click"] and not judged["strict_one_click"]


def test_an_answer_without_a_button_to_the_topic_is_not_reached() -> None:
    question = Question("when will we know if it worked?", "timeline", "parent")
    judged = judge_question(question, parsed("cost_insurance", ("cost_insurance", 0.9)))
    assert not judged["top1"] and not judged["one_click"]


def test_the_fallback_is_judged_by_its_offer_not_by_a_rule_reply() -> None:
    assert first_reply("nlu_fallback") == "utter_nlu_fallback"
    question = Question("car t brain stuff", "neurotoxicity", "terse")
    offer = parsed("nlu_fallback", ("nlu_fallback", 0.5), ("neurotoxicity", 0.3), ("crs", 0.2))
    judged = judge_question(question, offer)
    assert judged["one_click"] and judged["strict_one_click"] and not judged["top1"]
