"""Sets the intent `other_language` for a message written in another language.

Placed just before the red-flag override in the NLU pipeline: a message in another
language gets the short bilingual answer with the phone number, whatever the English
model guessed, and an English message describing an emergency still gets the emergency
answer.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.intent_override import put_first
from core.language import other_language

logger = logging.getLogger(__name__)

OTHER_LANGUAGE_INTENT = "other_language"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class LanguageScreen(GraphComponent):
    """Deterministic: the English model cannot be trusted with other languages."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageScreen:
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            language = other_language(message.get(TEXT) or "")
            if language is None:
                continue
            logger.info("Message in another language (%s)", language)
            put_first(message, OTHER_LANGUAGE_INTENT)
        return messages
