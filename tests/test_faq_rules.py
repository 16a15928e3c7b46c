"""Every FAQ topic and sub-topic is answered by its own rule, and a question during the
pre-screen is answered for each of them (the rule's `or:` list is kept by hand)."""

from __future__ import annotations

import yaml

from core.suggestions import parent_topic
from tests.action_helper import ROOT
from tests.test_answers import DOMAIN, faq_topics


def faq_intents() -> set[str]:
    topics = set(faq_topics())
    return {i for i in DOMAIN["intents"] if parent_topic(i) in topics}


def rules() -> list[dict]:
    found: list[dict] = []
    for path in sorted((ROOT / "data" / "rules").glob("*.yml")):
        found += yaml.safe_load(path.read_text(encoding="utf-8"))["rules"]
    return found


def test_every_faq_intent_has_an_answer_and_a_rule() -> None:
    answered = {
        r["steps"][0]["intent"]: r["steps"][1]["action"]
        for r in rules()
        if "intent" in r["steps"][0] and len(r["steps"]) == 2
    }
    for intent in faq_intents():
        assert answered.get(intent) == f"utter_{intent}", intent
        assert f"utter_{intent}" in DOMAIN["responses"], intent


def test_a_question_during_the_prescreen_covers_every_faq_intent() -> None:
    (rule,) = [r for r in rules() if r["rule"].startswith("A question during the pre-screen")]
    listed = {step["intent"] for step in rule["steps"][0]["or"]}
    assert faq_intents() <= listed, faq_intents() - listed
