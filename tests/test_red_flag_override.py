"""The NLU component that lets the red-flag check overrule the model."""

from __future__ import annotations

from rasa.shared.nlu.training_data.message import Message

from components.red_flag_override import RedFlagOverride


def predicted(text: str, intent: str, ranking: list[str]) -> Message:
    message = Message(data={"text": text})
    message.set("intent", {"name": intent, "confidence": 0.6})
    message.set(
        "intent_ranking", [{"name": n, "confidence": 0.6 - i * 0.1} for i, n in enumerate(ranking)]
    )
    return message


def run(message: Message) -> Message:
    return RedFlagOverride().process([message])[0]


def test_a_current_symptom_overrides_whatever_the_model_said() -> None:
    message = run(
        predicted("my son has a fever of 39", "cost_insurance", ["cost_insurance", "crs"])
    )
    assert message.get("intent") == {"name": "emergency", "confidence": 1.0}
    assert message.get("intent_ranking")[0]["name"] == "emergency"
    assert message.get("red_flag")["predicted_intent"] == "cost_insurance"


def test_it_overrides_a_fallback_too() -> None:
    message = run(predicted("hes burning up and shaking", "nlu_fallback", ["nlu_fallback"]))
    assert message.get("intent")["name"] == "emergency"


def test_a_general_question_keeps_its_topic() -> None:
    message = run(predicted("what is CRS, does it cause fever?", "crs", ["crs", "side_effects"]))
    assert message.get("intent")["name"] == "crs"
    assert message.get("red_flag")["verdict"] == "mention"


def test_a_general_question_the_model_took_for_an_emergency_gets_its_next_guess() -> None:
    message = run(predicted("does car t cause fever?", "emergency", ["emergency", "side_effects"]))
    assert message.get("intent")["name"] == "side_effects"


def test_messages_without_signs_are_untouched() -> None:
    message = run(predicted("how much does it cost", "cost_insurance", ["cost_insurance"]))
    assert message.get("intent")["name"] == "cost_insurance"
    assert message.get("red_flag") is None
