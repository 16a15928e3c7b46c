"""Trains the second emergency detector (core/emergency_detector.py) with the model and
scores every message with it, for RedFlagOverride to read (`emergency_detector` in the
parse data: the score and whether it passed the threshold).

Its examples are the NLU training data and the earlier writers' sets in tests/dev/, which
the graph does not see: `fingerprint_addon` puts their content in the fingerprint, so a
new writer's set retrains it.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import joblib
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from core.emergency_detector import (
    DEFAULT_C,
    DEFAULT_DOUBT_THRESHOLD,
    DEFAULT_OVERRULE_THRESHOLD,
    DEFAULT_THRESHOLD,
    EmergencyDetector,
    examples_by_writer,
    training_examples,
)
from core.evaluation_sets import DEV_DIR

logger = logging.getLogger(__name__)

MODEL_FILE = "emergency_detector.joblib"
DETECTOR_KEY = "emergency_detector"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class EmergencyDetectorComponent(GraphComponent):
    """Adds `emergency_detector: {score, fires, sure, doubts}` to each message; changes no
    intent."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "C": DEFAULT_C,
            "threshold": DEFAULT_THRESHOLD,
            "overrule_threshold": DEFAULT_OVERRULE_THRESHOLD,
            "doubt_threshold": DEFAULT_DOUBT_THRESHOLD,
        }

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        digest = hashlib.sha256()
        for path in sorted(DEV_DIR.glob("*_dev*.yml")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        detector: EmergencyDetector | None = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._detector = detector

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> EmergencyDetectorComponent:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        intent_examples = [
            (str(example.get(INTENT)), str(example.get(TEXT)))
            for example in training_data.intent_examples
            if example.get(INTENT) and example.get(TEXT)
        ]
        texts, labels = training_examples(intent_examples, examples_by_writer())
        if len(set(labels)) < 2:
            logger.warning("No emergency examples, or nothing else: the detector stays silent.")
            return self._resource
        self._detector = EmergencyDetector.fit(texts, labels, c=float(self._config["C"]))
        with self._model_storage.write_to(self._resource) as directory:
            joblib.dump(self._detector, directory / MODEL_FILE)
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        if self._detector is None:
            return messages
        scores = self._detector.scores([message.get(TEXT) or "" for message in messages])
        threshold = float(self._config["threshold"])
        overrule = float(self._config["overrule_threshold"])
        doubt = float(self._config["doubt_threshold"])
        for message, score in zip(messages, scores, strict=True):
            message.set(
                DETECTOR_KEY,
                {
                    "score": round(score, 3),
                    "fires": score >= threshold,
                    "sure": score >= overrule,
                    "doubts": score < doubt,
                },
                add_to_output=True,
            )
        return messages

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> EmergencyDetectorComponent:
        try:
            with model_storage.read_from(resource) as directory:
                detector = joblib.load(directory / MODEL_FILE)
        except (ValueError, FileNotFoundError):
            logger.warning("No trained emergency detector in the model; only the triage runs.")
            detector = None
        return cls(config, model_storage, resource, detector)
