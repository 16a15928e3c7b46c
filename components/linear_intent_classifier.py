"""An intent classifier that trains in seconds: logistic regression on sparse features,
and on sentence meaning where the words alone leave it unsure.

Rasa's DIET took about 20 s an epoch once the training data grew to ~3,000 varied
examples (issue #13); this model reads the same sentence features (word and character
n-gram counts from the CountVectorsFeaturizers), weights them by TF-IDF and fits a
multinomial logistic regression. Its probabilities are calibrated enough for the
FallbackClassifier and the "Did you mean…?" offer.

A second regression reads the same n-grams beside the message's all-MiniLM-L6-v2 vector
(core/sentence_encoder.py): it knows that "what is the price" and "how much does it cost"
ask the same. Encoding costs 7-20 ms, so it runs only when the n-grams alone are below
`meaning_threshold` (about half of the test sets' long messages, fewer of a real
conversation's; the confident rest were as right without it). Measurements: docs/pipeline.md.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

import joblib
import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import (
    FEATURE_TYPE_SENTENCE,
    FEATURE_TYPE_SEQUENCE,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression

from core.sentence_encoder import SentenceEncoder, SentenceModelMissing, shared_encoder

logger = logging.getLogger(__name__)

MODEL_FILE = "linear_intent_classifier.joblib"


def sentence_features(message: Message) -> scipy.sparse.csr_matrix | None:
    """The message's sentence-level sparse features, all featurizers side by side."""
    _, sentence = message.get_sparse_features(TEXT)
    if sentence is None:
        return None
    return scipy.sparse.csr_matrix(sentence.features)


# A sentence ends at ".", "?" or "!" (one or more) before white space, or at a line break.
# (One pass over the text: no backtracking on long messages.)
_SENTENCE_END = re.compile(r"[.?!]+(?=\s|$)|\n")


def focus_span(text: str) -> tuple[int, int] | None:
    """Where the question of a message of several sentences is: its last sentence that
    asks ("?"), else its last sentence. None for a message of one sentence."""
    sentences, start = [], 0
    for end in [m.end() for m in _SENTENCE_END.finditer(text)] + [len(text)]:
        if text[start:end].strip():
            sentences.append((start, end))
        start = end
    if len(sentences) < 2:
        return None
    asking = [(s, e) for s, e in sentences if text[s:e].rstrip().endswith("?")]
    return (asking or sentences)[-1]


def focus_features(message: Message) -> scipy.sparse.csr_matrix | None:
    """The sentence features the focus sentence alone would have: its tokens' rows of
    each featurizer's sequence features, added up (word and character n-gram counts) or
    combined with "any" (regular expressions), in the order of `sentence_features`."""
    text, tokens = message.get(TEXT) or "", message.get(TOKENS_NAMES[TEXT]) or []
    span = focus_span(text)
    if span is None:
        return None
    rows = [i for i, token in enumerate(tokens) if span[0] <= token.start and token.end <= span[1]]
    if not rows or len(rows) == len(tokens):
        return None
    return tokens_features(message, rows)


def tokens_features(message: Message, rows: list[int]) -> scipy.sparse.csr_matrix | None:
    """Sentence features of some of the message's tokens (all of them: its own)."""
    tokens = message.get(TOKENS_NAMES[TEXT]) or []
    parts = []
    for sentence in message.features:
        if sentence.attribute != TEXT or not sentence.is_sparse():
            continue
        if sentence.type != FEATURE_TYPE_SENTENCE:
            continue
        sequence = next(
            (
                f for f in message.features
                if f.attribute == TEXT and f.is_sparse() and f.type == FEATURE_TYPE_SEQUENCE
                and f.origin == sentence.origin
                and f.features.shape[1] == sentence.features.shape[1]
            ),
            None,
        )  # fmt: skip
        if sequence is None or sequence.features.shape[0] != len(tokens):
            return None
        chosen = scipy.sparse.csr_matrix(sequence.features)[rows]
        counts = chosen.sum(axis=0) if "Regex" not in str(sentence.origin) else chosen.max(axis=0)
        parts.append(scipy.sparse.csr_matrix(counts))
    return scipy.sparse.hstack(parts).tocsr() if parts else None


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class LinearIntentClassifier(GraphComponent, IntentClassifier):
    """Multinomial logistic regression over TF-IDF-weighted sparse sentence features."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # Inverse regularisation strength: chosen on the dev set (docs/pipeline.md).
            "C": 20.0,
            "max_iter": 3000,
            "class_weight": "balanced",
            "ranking_length": 10,
            # A long message's question sentence also read alone, its probabilities
            # mixed in with this weight: context sentences ("we drove in from Maine...")
            # no longer outvote the question (chosen on the dev sets, docs/pipeline.md).
            "focus_weight": 0.2,
            # The sentence vectors' scale beside the TF-IDF n-grams (0: not used), and the
            # n-grams' confidence below which they are consulted (docs/pipeline.md).
            "sentence_weight": 0.75,
            "meaning_threshold": 0.6,
            # ONNX Runtime threads per message: one short message is memory-bound.
            "sentence_threads": 1,
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: LogisticRegression | None = None,
        weighting: TfidfTransformer | None = None,
        meaning_model: LogisticRegression | None = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._model = model
        self._weighting = weighting
        self._meaning_model = meaning_model
        self._encoder: SentenceEncoder | None = None
        if meaning_model is not None:
            try:
                self._encoder = shared_encoder(threads=int(self._config["sentence_threads"]))
            except SentenceModelMissing as missing:
                # The n-grams still answer and the triage still runs: far better than a
                # server whose model does not load. Loud, so that it is fixed.
                logger.error("%s The intent classifier reads the words only.", missing)
                self._meaning_model = None

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LinearIntentClassifier:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        rows, labels, texts = [], [], []
        for example in training_data.intent_examples:
            features = sentence_features(example)
            if features is not None and example.get(INTENT):
                rows.append(features)
                labels.append(example.get(INTENT))
                texts.append(example.get(TEXT) or "")
        if len(set(labels)) < 2:
            logger.warning("Fewer than two intents with features: nothing to train.")
            return self._resource
        matrix = scipy.sparse.vstack(rows).tocsr()
        self._weighting = TfidfTransformer(sublinear_tf=True).fit(matrix)
        ngrams = self._weighting.transform(matrix)
        inputs = [ngrams]
        if float(self._config["sentence_weight"]) > 0:
            # Training has the machine to itself: the cores it may use encode (at most 4).
            cores = min(4, len(os.sched_getaffinity(0)))
            vectors = SentenceEncoder(threads=cores).encode(texts)
            inputs.append(self._with_meaning(ngrams, vectors))
            self._encoder = shared_encoder(threads=int(self._config["sentence_threads"]))
        # The two regressions are independent: fitted side by side (about 30-40 s each).
        fitted = joblib.Parallel(n_jobs=len(inputs))(
            joblib.delayed(self._regression().fit)(x, np.array(labels)) for x in inputs
        )
        self._model = fitted[0]
        self._meaning_model = fitted[1] if len(fitted) > 1 else None
        self.persist()
        return self._resource

    def _regression(self) -> LogisticRegression:
        return LogisticRegression(
            C=float(self._config["C"]),
            max_iter=int(self._config["max_iter"]),
            class_weight=self._config["class_weight"],
        )

    def _with_meaning(
        self, ngrams: scipy.sparse.csr_matrix, vectors: np.ndarray
    ) -> scipy.sparse.csr_matrix:
        scaled = scipy.sparse.csr_matrix(vectors * float(self._config["sentence_weight"]))
        return scipy.sparse.hstack([ngrams, scaled]).tocsr()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            features = sentence_features(message)
            if self._model is None or self._weighting is None or features is None:
                message.set(INTENT, {INTENT_NAME_KEY: None, "confidence": 0.0}, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [], add_to_output=True)
                continue
            probabilities = self._probabilities(message, features)
            order = np.argsort(probabilities)[::-1][: int(self._config["ranking_length"])]
            ranking = [
                {
                    INTENT_NAME_KEY: str(self._model.classes_[i]),
                    "confidence": float(probabilities[i]),
                }
                for i in order
            ]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages

    def _probabilities(self, message: Message, features: scipy.sparse.csr_matrix) -> np.ndarray:
        """The whole message's probabilities, mixed with its question sentence's when it
        has several; from the n-grams, or with the sentence vectors when those are unsure."""
        assert self._model is not None and self._weighting is not None
        text = message.get(TEXT) or ""
        rows, texts = [features], [text]
        focus, weight = focus_features(message), float(self._config["focus_weight"])
        span = focus_span(text)
        if focus is not None and span is not None and weight > 0 and focus.shape == features.shape:
            rows.append(focus)
            texts.append(text[span[0] : span[1]])
        ngrams = self._weighting.transform(scipy.sparse.vstack(rows).tocsr())
        probabilities = self._mixed(self._model.predict_proba(ngrams), weight)
        threshold = float(self._config["meaning_threshold"])
        if self._meaning_model is None or self._encoder is None or probabilities.max() >= threshold:
            return probabilities
        if not self._encoder.has_words(text):
            # Nothing the tokenizer can read (a zero-width space, a control character):
            # the vector would be that of an empty message, which means nothing.
            return probabilities
        meaning = self._with_meaning(ngrams, self._encoder.encode(texts))
        return self._mixed(self._meaning_model.predict_proba(meaning), weight)

    @staticmethod
    def _mixed(rows: np.ndarray, focus_weight: float) -> np.ndarray:
        if len(rows) == 1:
            return rows[0]
        return (1 - focus_weight) * rows[0] + focus_weight * rows[1]

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as directory:
            joblib.dump((self._model, self._weighting, self._meaning_model), directory / MODEL_FILE)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LinearIntentClassifier:
        try:
            with model_storage.read_from(resource) as directory:
                # A model trained before the sentence vectors holds two parts.
                model, weighting, *meaning = joblib.load(directory / MODEL_FILE)
            meaning_model = meaning[0] if meaning else None
        except (ValueError, FileNotFoundError):
            logger.warning("No trained linear intent classifier in the model; it predicts nothing.")
            model, weighting, meaning_model = None, None, None
        return cls(config, model_storage, resource, model, weighting, meaning_model)
