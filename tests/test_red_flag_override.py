"""The NLU component that lets the red-flag check overrule the model."""

from __future__ import annotations

from rasa.shared.nlu.training_data.message import Message

from components.red_flag_override import RedFlagOverride
from core.emergency_detector import (
    DEFAULT_DOUBT_THRESHOLD,
    DEFAULT_OVERRULE_THRESHOLD,
    DEFAULT_THRESHOLD,
)
from core.safety import assess


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


def test_a_hypothetical_question_keeps_its_topic_and_gets_the_safety_line() -> None:
    message = run(predicted("what if he gets a fever at home?", "crs", ["crs", "side_effects"]))
    assert message.get("intent")["name"] == "crs"
    assert message.get("red_flag")["verdict"] == "mention"


def test_a_general_question_keeps_its_topic_without_a_safety_line() -> None:
    message = run(predicted("how common is fever with kymriah", "crs", ["crs", "side_effects"]))
    assert message.get("intent")["name"] == "crs"
    assert message.get("red_flag")["verdict"] == "none"


def test_a_spanish_emergency_is_marked_spanish() -> None:
    message = run(predicted("mi hijo tiene fiebre de 39", "other_language", ["other_language"]))
    assert message.get("intent")["name"] == "emergency"
    assert message.get("red_flag")["language"] == "es"


def test_the_models_emergency_is_never_taken_away() -> None:
    """Issue #14: a rule may add an emergency, never remove the model's."""
    message = run(predicted("does car t cause fever?", "emergency", ["emergency", "side_effects"]))
    assert message.get("intent")["name"] == "emergency"


def test_an_emergency_the_model_was_unsure_of_gets_the_safety_line() -> None:
    message = run(predicted("blurp zzk", "nlu_fallback", ["nlu_fallback", "emergency", "crs"]))
    assert message.get("intent")["name"] == "nlu_fallback"
    assert message.get("red_flag")["verdict"] == "mention"


def test_messages_without_signs_are_untouched() -> None:
    message = run(predicted("how much does it cost", "cost_insurance", ["cost_insurance"]))
    assert message.get("intent")["name"] == "cost_insurance"
    assert message.get("red_flag") is None


def test_a_sign_the_triage_read_as_past_gets_no_safety_line_from_an_unsure_model() -> None:
    message = run(
        predicted(
            "she had a seizure as a baby, can she get car t",
            "nlu_fallback",
            ["nlu_fallback", "emergency", "eligibility"],
        )
    )
    assert message.get("red_flag")["verdict"] == "none"


def test_the_models_emergency_on_a_past_sign_keeps_the_question_asked() -> None:
    """The model's emergency stays first; the answer asked for follows (the NLG adds it)."""
    message = run(
        predicted(
            "no fever so far, when can we go home?",
            "emergency",
            ["emergency", "hospital_stay", "timeline"],
        )
    )
    assert message.get("intent")["name"] == "emergency"
    assert message.get("red_flag")["also_answer"] == "hospital_stay"


def test_a_sign_now_gets_the_emergency_answer_alone() -> None:
    message = run(predicted("he has a fever of 39", "emergency", ["emergency", "crs"]))
    assert "also_answer" not in message.get("red_flag")


def test_a_normal_reading_the_model_could_not_place_gets_the_fever_answer() -> None:
    """The model's emergency stays first; with no topic of its own in mind, the answer
    about the sign asked about follows (here: fever, in the CRS answer)."""
    message = run(predicted("her temp is 37.2, is that ok?", "emergency", ["emergency"]))
    assert message.get("intent")["name"] == "emergency"
    assert message.get("red_flag")["also_answer"] == "crs"


def heard_by_the_detector(message: Message, score: float = 0.9) -> Message:
    """What components/emergency_detector.py puts on a message with this score."""
    message.set(
        "emergency_detector",
        {
            "score": score,
            "fires": score >= DEFAULT_THRESHOLD,
            "sure": score >= DEFAULT_OVERRULE_THRESHOLD,
            "doubts": score < DEFAULT_DOUBT_THRESHOLD,
        },
    )
    return message


def test_the_second_detector_adds_an_emergency_where_the_triage_found_no_sign() -> None:
    message = run(
        heard_by_the_detector(
            predicted("her legs turned to jelly and she slid down the wall", "follow_up", [])
        )
    )
    assert message.get("intent")["name"] == "emergency"
    assert message.get("red_flag")["detector"] == "wording"
    assert "also_answer" not in message.get("red_flag")


def test_the_second_detector_does_not_overrule_the_triages_reading_of_a_sign() -> None:
    message = run(
        heard_by_the_detector(
            predicted(
                "she had a seizure as a baby, can she get car t", "eligibility", ["eligibility"]
            )
        )
    )
    assert message.get("intent")["name"] == "eligibility"
    assert message.get("red_flag")["verdict"] == "none"


def test_a_quiet_second_detector_changes_nothing() -> None:
    message = run(
        heard_by_the_detector(predicted("how much does it cost", "cost_insurance", []), 0.1)
    )
    assert message.get("intent")["name"] == "cost_insurance"
    assert message.get("red_flag") is None


def test_a_spanish_message_heard_by_the_second_detector_gets_the_spanish_answer() -> None:
    message = run(
        heard_by_the_detector(
            predicted("mi hija se queda mirando la pared y no me contesta", "other_language", [])
        )
    )
    assert message.get("intent")["name"] == "emergency"
    assert message.get("red_flag")["language"] == "es"


def test_a_short_spanish_message_heard_by_the_second_detector_is_answered_in_spanish() -> None:
    message = run(heard_by_the_detector(predicted("está helado y sudando", "other_language", [])))
    assert message.get("red_flag")["language"] == "es"


def test_a_nearly_sure_second_detector_overrules_a_reading_of_a_sign_as_past() -> None:
    """The triage reads the sign as over; the detector is nearly sure it is happening:
    the emergency answer first, the answer asked for after it."""
    text = "She had a seizure in January. She is having another one right now"
    assert assess(text).verdict.value != "emergency"
    message = run(
        heard_by_the_detector(
            predicted(text, "neurotoxicity", ["neurotoxicity", "side_effects"]), 0.99
        )
    )
    assert message.get("intent")["name"] == "emergency"
    assert message.get("red_flag")["detector"] == "overruled_reading"
    assert message.get("red_flag")["also_answer"] == "neurotoxicity"


def test_a_merely_hearing_second_detector_leaves_the_triages_reading_alone() -> None:
    text = "She had a seizure in January. She is having another one right now"
    message = run(heard_by_the_detector(predicted(text, "neurotoxicity", ["neurotoxicity"])))
    assert message.get("intent")["name"] == "neurotoxicity"


def doubted(text: str, topic: str, confidence: float, score: float = 0.01) -> Message:
    """A message the model gives `topic` with this confidence, the detector `score`."""
    message = predicted(text, topic, [])
    message.set("intent", {"name": topic, "confidence": confidence})
    message.set(
        "intent_ranking",
        [{"name": topic, "confidence": confidence}, {"name": "side_effects", "confidence": 0.05}],
    )
    return run(heard_by_the_detector(message, score))


def test_a_sign_the_second_detector_doubts_gets_the_emergency_answer_then_the_topic() -> None:
    text = "car t confusion side efect"
    assert assess(text).verdict.value == "emergency"  # the triage reads it as now
    message = doubted(text, "neurotoxicity", 0.72)
    assert message.get("intent")["name"] == "emergency"  # never taken away
    assert message.get("red_flag")["also_answer"] == "neurotoxicity"


def test_a_doubted_sign_without_a_confident_topic_keeps_the_emergency_answer_alone() -> None:
    message = doubted("car t confusion side efect", "neurotoxicity", 0.3)
    assert message.get("intent")["name"] == "emergency"
    assert "also_answer" not in message.get("red_flag")


def test_a_sign_the_second_detector_does_not_doubt_gets_the_emergency_answer_alone() -> None:
    for score in (DEFAULT_DOUBT_THRESHOLD, 0.5, 0.99):
        message = doubted("my son has a fever of 39, what is crs", "crs", 0.9, score)
        assert message.get("intent")["name"] == "emergency"
        assert "also_answer" not in message.get("red_flag"), score


def test_a_doubted_sign_asked_with_a_topic_that_does_not_explain_signs_stays_alone() -> None:
    """The detector can be wrong: a real sign asked beside another topic keeps the
    emergency answer alone (a newcomer's review: 0.047 for this one)."""
    text = "my son is confused today. what is the long term follow up after kymriah?"
    message = doubted(text, "follow_up", 0.9)
    assert message.get("intent")["name"] == "emergency"
    assert "also_answer" not in message.get("red_flag")
