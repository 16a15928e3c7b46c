"""Makes a message with no word anyone knows ("qwzx plorb", "asdfgh") a fallback.

A linear intent model always picks some topic, and for keyboard mash it picks whatever
its bias favours (lately `out_of_scope`, whose answer says "I can only help with CAR T"):
the family then never hears "I didn't understand", and two in a row never offer a
coordinator. Placed after the language screen (a Spanish message is not nonsense) and
before the red-flag override (which may still add an emergency).

A word is known when English dictionaries (spaCy's lookup tables, as the triage uses them)
or the training data contain it, or it is one letter off a training word ("kymria").
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.intent_override import put_first
from core.safety import default_triage, one_deletion

logger = logging.getLogger(__name__)

FALLBACK_INTENT = "nlu_fallback"
OTHER_LANGUAGE_INTENT = "other_language"
VOCABULARY_FILE = "vocabulary.json"
_WORD = re.compile(r"[a-z]{2,}")
# Shorter words have too many one-letter neighbours to call them typos.
_TYPO_MIN_LENGTH = 5
_STRETCHED = re.compile(r"([a-z])\1{2,}")


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class NonsenseScreen(GraphComponent):
    """Deterministic: no known word at all means the model's guess means nothing."""

    def __init__(
        self, model_storage: ModelStorage, resource: Resource, vocabulary: frozenset[str]
    ) -> None:
        self._model_storage = model_storage
        self._resource = resource
        self._vocabulary = vocabulary
        self._variants = frozenset(v for word in vocabulary for v in one_deletion(word))

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> NonsenseScreen:
        return cls(model_storage, resource, frozenset())

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> NonsenseScreen:
        with model_storage.read_from(resource) as directory:
            words = json.loads((directory / VOCABULARY_FILE).read_text(encoding="utf-8"))
        return cls(model_storage, resource, frozenset(words))

    def train(self, training_data: TrainingData) -> Resource:
        words = sorted(
            {
                word
                for example in training_data.intent_examples
                for word in _WORD.findall((example.get(TEXT) or "").lower())
            }
        )
        with self._model_storage.write_to(self._resource) as directory:
            (directory / VOCABULARY_FILE).write_text(json.dumps(words), encoding="utf-8")
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            if intent in (FALLBACK_INTENT, OTHER_LANGUAGE_INTENT):
                continue
            if not self.is_nonsense(message.get(TEXT) or ""):
                continue
            logger.info("No known word: %s -> %s", intent, FALLBACK_INTENT)
            put_first(message, FALLBACK_INTENT)
        return messages

    def is_nonsense(self, text: str) -> bool:
        """Words in it, and none of them known (numbers, "/commands" and emoji are not
        words: "38.9" and "/affirm" are never nonsense)."""
        if text.startswith("/"):
            return False
        words = _WORD.findall(text.lower())
        return bool(words) and not any(self._knows(word) for word in words)

    def _knows(self, word: str) -> bool:
        # "hiiii", "sooo": chat-box stretching, one or two of the letter.
        forms = {word, _STRETCHED.sub(r"\1", word), _STRETCHED.sub(r"\1\1", word)}
        if any(f in self._vocabulary or default_triage().knows(f) for f in forms):
            return True
        return len(word) >= _TYPO_MIN_LENGTH and bool(one_deletion(word) & self._variants)
