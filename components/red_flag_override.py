"""Runs the triage (core.safety) on every user message and lets it add an emergency.

Placed last in the NLU pipeline (after the FallbackClassifier and the language screen):
- a warning sign happening now makes the intent `emergency`, whatever the model said;
- the model's own `emergency` is never taken away; when the model ranked `emergency`
  first but below the fallback threshold, the "Did you mean…?" offer gets the safety line;
- the triage's verdict travels in the parse data (`red_flag`), so the NLG can put one
  safety line before the answer to a message that mentions a warning sign (verdict
  `mention`) and answer a Spanish emergency in Spanish;
- when the model said `emergency` but the triage read every sign as past, negated,
  someone else's or general, `red_flag.also_answer` names the topic the family asked
  about: the NLG puts that answer after the emergency answer; likewise when the triage
  read a sign as now but the second detector doubts it and the model's topic explains
  warning signs (CRS, neurological effects, side effects).
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.emergency_detector import DETECTOR_KEY
from components.intent_override import put_first
from core.language import other_language
from core.safety import Assessment, Verdict, assess, default_triage, looks_spanish
from core.suggestions import parent_topic, suggestions

logger = logging.getLogger(__name__)

EMERGENCY_INTENT = "emergency"
FALLBACK_INTENT = "nlu_fallback"
RED_FLAG_KEY = "red_flag"
ALSO_ANSWER_KEY = "also_answer"
# The answer that explains a sign, for a question about it the model could not place.
TOPIC_OF_SIGN = {
    "temperature_normal": "crs",
    "temperature_below_fever": "crs",
    "fever": "crs",
    "chills": "crs",
    "confusion": "neurotoxicity",
    "seizure": "neurotoxicity",
    "speaking": "neurotoxicity",
    "tremor": "neurotoxicity",
    "balance": "neurotoxicity",
    "sleepiness": "neurotoxicity",
}


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class RedFlagOverride(GraphComponent):
    """Deterministic safety net over the intent classifier: it only ever adds emergencies."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> RedFlagOverride:
        # Build the triage's matchers while the model loads, not on the first family's
        # message (about a second).
        default_triage()
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._apply(message)
        return messages

    @staticmethod
    def _apply(message: Message) -> None:
        text = message.get(TEXT) or ""
        assessment = assess(text)
        predicted = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
        ranking = list(message.get(INTENT_RANKING_KEY) or [])
        # The second detector (components/emergency_detector.py) heard a warning sign in
        # words the triage has no list for ("her legs fold under her"): an emergency. Only
        # where the triage found no sign at all; its reading of a sign (past, someone
        # else's) is the more careful one.
        if not assessment.signs and (message.get(DETECTOR_KEY) or {}).get("fires"):
            spanish = other_language(text) == "spanish" or looks_spanish(text)
            language = "es" if spanish else assessment.language
            assessment = Assessment(Verdict.EMERGENCY, language=language)
            message.set(
                RED_FLAG_KEY,
                {**assessment.as_dict(), "predicted_intent": predicted, "detector": "wording"},
                add_to_output=True,
            )
        if assessment.signs:
            message.set(
                RED_FLAG_KEY,
                {**assessment.as_dict(), "predicted_intent": predicted},
                add_to_output=True,
            )
        # The triage read a sign as past, general or someone else's, and the second
        # detector is nearly sure it is happening now: the emergency answer first, then
        # the answer asked for (a misreading of the rules must not reach a family alone).
        overruled = (
            bool(assessment.signs)
            and assessment.verdict is not Verdict.EMERGENCY
            and bool((message.get(DETECTOR_KEY) or {}).get("sure"))
        )
        if overruled:
            message.set(
                RED_FLAG_KEY,
                {**(message.get(RED_FLAG_KEY) or {}), "detector": "overruled_reading"},
                add_to_output=True,
            )
        # The model leaned to `emergency` but fell back, and the triage saw no sign it could
        # read: one safety line before "Did you mean…?". (A sign the triage read as past,
        # negated or someone else's keeps that reading.)
        if (
            assessment.verdict is Verdict.NONE
            and not assessment.signs
            and _unsure_emergency(predicted, ranking)
        ):
            message.set(
                RED_FLAG_KEY,
                {
                    **assessment.as_dict(),
                    "verdict": Verdict.MENTION.value,
                    "predicted_intent": predicted,
                },
                add_to_output=True,
            )
        if assessment.verdict is Verdict.EMERGENCY or predicted == EMERGENCY_INTENT or overruled:
            if predicted != EMERGENCY_INTENT:
                # Never logs the text: families describe their children here.
                logger.info(
                    "Emergency: %s -> emergency (%s)",
                    predicted,
                    ",".join(assessment.signs) or "second detector",
                )
            rest = put_first(message, EMERGENCY_INTENT)
            also = _question_also_asked(assessment, rest)
            doubted = (message.get(DETECTOR_KEY) or {}).get("doubts")
            if not also and assessment.verdict is Verdict.EMERGENCY and doubted:
                also = _topic_asked_despite_sign(rest)
            if also:
                flag = message.get(RED_FLAG_KEY) or {}
                message.set(RED_FLAG_KEY, {**flag, ALSO_ANSWER_KEY: also}, add_to_output=True)


def _question_also_asked(assessment: Assessment, rest: list[dict[str, Any]]) -> str | None:
    """The topic to answer after the model's emergency answer, when the triage read no
    sign as happening now ("no fever so far, when can we go home?", "what if he gets a
    fever?"): the model's emergency answer stays first (it is never removed), and the
    family still gets the answer it asked for. None when the triage saw a sign now, or
    no sign at all (then the model may have seen what the triage could not)."""
    if assessment.verdict is Verdict.EMERGENCY or not assessment.signs:
        return None
    offered = suggestions(rest)
    if offered:
        return offered[0]
    # The model had no topic in mind ("My son's temperature is 99.1. Is that okay?"):
    # the answer about the sign the family asked about.
    return next(
        (TOPIC_OF_SIGN[sign] for sign in assessment.signs if sign in TOPIC_OF_SIGN),
        "side_effects",
    )


# The model's confidence in a topic for a message whose sign the second detector doubts,
# and the topics that may follow: those that explain warning signs. A doubted emergency
# that asks about anything else ("my son is confused today. what is the follow-up?") gets
# the emergency answer alone: the detector can be wrong, and the sign may be real.
DOUBTED_SIGN_TOPIC_CONFIDENCE = 0.5
SIGN_TOPICS = frozenset({"crs", "neurotoxicity", "side_effects"})


def _topic_asked_despite_sign(rest: list[dict[str, Any]]) -> str | None:
    """The triage read a sign as happening now, but the second detector is nearly sure
    the message is not an emergency ("car t confusion side efect", "I had seizures from
    methotrexate before, does that make the neuro side effects more likely?"), and the
    model has a topic in mind: the emergency answer stays first, that topic's answer
    follows, so that a question about a sign is never answered with the alarm alone."""
    offered = suggestions(rest)
    if not offered or parent_topic(offered[0]) not in SIGN_TOPICS:
        return None
    confidence = next(
        (float(r.get("confidence") or 0) for r in rest if r.get(INTENT_NAME_KEY) == offered[0]),
        0.0,
    )
    return offered[0] if confidence >= DOUBTED_SIGN_TOPIC_CONFIDENCE else None


def _unsure_emergency(predicted: str | None, ranking: list[dict[str, Any]]) -> bool:
    """The model's first choice was `emergency`, but the fallback took over."""
    if predicted != FALLBACK_INTENT:
        return False
    model_ranking = [r for r in ranking if r.get(INTENT_NAME_KEY) != FALLBACK_INTENT]
    return bool(model_ranking) and model_ranking[0].get(INTENT_NAME_KEY) == EMERGENCY_INTENT
