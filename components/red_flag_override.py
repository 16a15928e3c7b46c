"""Runs the red-flag check on every user message and overrides the NLU prediction.

Placed last in the NLU pipeline (after the FallbackClassifier), so whatever the model
predicted, a message that describes a worrying symptom now becomes `emergency`. A general
question that only mentions a symptom keeps its topic, and a model that wrongly said
`emergency` for it falls back to its next guess.
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

from actions.safety import Verdict, assess

logger = logging.getLogger(__name__)

EMERGENCY_INTENT = "emergency"
RED_FLAG_KEY = "red_flag"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class RedFlagOverride(GraphComponent):
    """Deterministic safety net over the intent classifier."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> RedFlagOverride:
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._apply(message)
        return messages

    @staticmethod
    def _apply(message: Message) -> None:
        assessment = assess(message.get(TEXT) or "")
        if assessment.verdict is Verdict.NONE:
            return
        predicted = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
        ranking = list(message.get(INTENT_RANKING_KEY) or [])
        message.set(
            RED_FLAG_KEY,
            {
                "verdict": assessment.verdict.value,
                "signs": list(assessment.signs),
                "predicted_intent": predicted,
            },
            add_to_output=True,
        )
        if assessment.verdict is Verdict.EMERGENCY:
            # Never logs the text: families describe their children here.
            logger.info(
                "Red-flag override: %s -> emergency (%s)", predicted, ",".join(assessment.signs)
            )
            top = {INTENT_NAME_KEY: EMERGENCY_INTENT, "confidence": 1.0}
            rest = [r for r in ranking if r.get(INTENT_NAME_KEY) != EMERGENCY_INTENT]
            message.set(INTENT, top, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [top, *rest], add_to_output=True)
        elif predicted == EMERGENCY_INTENT and assessment.looks_like_general_question:
            others = [r for r in ranking if r.get(INTENT_NAME_KEY) != EMERGENCY_INTENT]
            if others:
                message.set(INTENT, others[0], add_to_output=True)
                message.set(INTENT_RANKING_KEY, others, add_to_output=True)
