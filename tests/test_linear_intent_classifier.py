"""The intent classifier's reading of long messages: the question sentence also counts
alone, so that sentences of context do not outvote it (components/linear_intent_classifier.py).
Real Rasa tokenizer and featurizers, trained here on a few examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
    CountVectorsFeaturizer,
)
from rasa.nlu.featurizers.sparse_featurizer.lexical_syntactic_featurizer import (
    LexicalSyntacticFeaturizer,
)
from rasa.nlu.featurizers.sparse_featurizer.regex_featurizer import RegexFeaturizer
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.linear_intent_classifier import (
    LinearIntentClassifier,
    focus_span,
    sentence_features,
    tokens_features,
)

EXAMPLES = {
    "lodging_travel": [
        "where can we stay near the hospital",
        "we drove in from far away and need a place to stay",
        "is there family housing near the center",
        "we live five hours away, where do families sleep",
        "hotel discounts for families travelling in",
    ],
    "hospital_stay": [
        "how long is the hospital stay",
        "how many days will she be admitted",
        "does he stay in the hospital after the infusion",
        "how long do kids stay on the ward",
        "is the stay in hospital long",
    ],
}
LONG = (
    "We drove in from far away and need a place to stay near the hospital. "
    "How many days will she be admitted?"
)


class Pipeline:
    """Tokenizer, featurizers (as config.yml has them) and the classifier, trained."""

    def __init__(self, tmp_path: Path, focus_weight: float, sentence_weight: float = 0.0) -> None:
        storage = LocalModelStorage(tmp_path)

        def make(cls: Any, name: str, config: dict[str, Any]) -> Any:
            # Each its own node name, as in a trained model: the features' origin.
            context = ExecutionContext(GraphSchema({}), "test", node_name=name)
            config = {**cls.get_default_config(), **config}
            return cls.create(config, storage, Resource(name), context)

        self.tokenizer = make(WhitespaceTokenizer, "tokenizer", {})
        self.featurizers = [
            make(RegexFeaturizer, "regex", {}),
            make(LexicalSyntacticFeaturizer, "lexical", {}),
            make(CountVectorsFeaturizer, "words", {}),
            make(CountVectorsFeaturizer, "chars", {"analyzer": "char_wb", "max_ngram": 4}),
        ]
        data = TrainingData(
            training_examples=[
                Message(data={"text": text, "intent": intent})
                for intent, texts in EXAMPLES.items()
                for text in texts
            ],
            regex_features=[{"name": "number", "pattern": r"\d+"}],
        )
        self.tokenizer.process_training_data(data)
        for featurizer in self.featurizers:
            if hasattr(featurizer, "train"):
                featurizer.train(data)
            featurizer.process_training_data(data)
        self.classifier = make(
            LinearIntentClassifier,
            "classifier",
            {"focus_weight": focus_weight, "sentence_weight": sentence_weight},
        )
        self.classifier.train(data)

    def featurized(self, text: str) -> Message:
        messages = self.tokenizer.process([Message(data={"text": text})])
        for featurizer in self.featurizers:
            messages = featurizer.process(messages)
        return messages[0]

    def ranking(self, text: str) -> dict[str, float]:
        message = self.classifier.process([self.featurized(text)])[0]
        return {r["name"]: r["confidence"] for r in message.get("intent_ranking")}


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> dict[float, Pipeline]:
    return {w: Pipeline(tmp_path_factory.mktemp(f"w{w}"), w) for w in (0.0, 0.3)}


@pytest.fixture(scope="module")
def with_meaning(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """The configured classifier: n-grams, and sentence vectors when those are unsure."""
    return Pipeline(tmp_path_factory.mktemp("meaning"), 0.3, 0.75)


def test_the_focus_is_the_last_sentence_that_asks() -> None:
    text = "We live far away. Is there a hotel? We have two kids. Thanks"
    start, end = focus_span(text)  # type: ignore[misc]
    assert text[start:end].strip() == "Is there a hotel?"
    assert focus_span("how long is the stay?") is None
    start, end = focus_span("No question here. Just two sentences.")  # type: ignore[misc]
    assert "Just two sentences." in "No question here. Just two sentences."[start:end]
    assert focus_span("") is None and focus_span("...") is None


def test_all_tokens_added_up_are_the_messages_own_sentence_features(
    pipelines: dict[float, Pipeline],
) -> None:
    """The focus's features are built from token rows: over every token they must be the
    featurizers' own sentence features, or the classifier would read a different thing."""
    message = pipelines[0.3].featurized("We drove 5 hours, where can we stay near the hospital?")
    rows = list(range(len(message.get("text_tokens"))))
    own, added = sentence_features(message), tokens_features(message, rows)
    assert own is not None and added is not None and own.shape == added.shape
    assert np.allclose(own.toarray(), added.toarray())


def test_the_question_outweighs_the_context_of_a_long_message(
    pipelines: dict[float, Pipeline],
) -> None:
    without, with_focus = pipelines[0.0].ranking(LONG), pipelines[0.3].ranking(LONG)
    assert without["lodging_travel"] > without["hospital_stay"]  # the context outvotes
    assert with_focus["hospital_stay"] > with_focus["lodging_travel"]
    # A message of one sentence reads the same either way.
    short = "how many days will she be admitted"
    assert pipelines[0.0].ranking(short) == pytest.approx(pipelines[0.3].ranking(short))


class CountingEncoder:
    """The real sentence encoder, counting what it is asked to encode."""

    def __init__(self, encoder: Any) -> None:
        self.encoder, self.calls = encoder, []  # type: list[list[str]]

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return self.encoder.encode(texts)

    def has_words(self, text: str) -> bool:
        return self.encoder.has_words(text)


# No word of either topic's examples: only their meaning says where they belong.
UNSEEN_WORDING = "inpatient duration"


def test_sentence_meaning_places_wording_the_examples_never_used(
    pipelines: dict[float, Pipeline], with_meaning: Pipeline
) -> None:
    words_only = pipelines[0.3].ranking(UNSEEN_WORDING)
    meaning = with_meaning.ranking(UNSEEN_WORDING)
    assert max(words_only.values()) < 0.7  # the n-grams alone are unsure...
    assert meaning["hospital_stay"] > 0.7  # ...the meaning is not


def test_the_sentence_model_runs_only_where_the_words_leave_the_classifier_unsure(
    with_meaning: Pipeline,
) -> None:
    classifier = with_meaning.classifier
    real = classifier._encoder
    counting = CountingEncoder(real)
    classifier._encoder = counting
    try:
        with_meaning.ranking("how long is the hospital stay")  # a training example: sure
        assert counting.calls == []
        with_meaning.ranking(UNSEEN_WORDING)
        assert counting.calls == [[UNSEEN_WORDING]]
        # A long message: the whole and its question sentence, in one call.
        text = "We came a long way. What is the inpatient duration?"
        assert max(with_meaning.ranking(text).values()) > 0.7
        assert counting.calls[-1] == [text, " What is the inpatient duration?"]
    finally:
        classifier._encoder = real


def test_text_the_tokenizer_cannot_read_is_never_given_a_meaning(with_meaning: Pipeline) -> None:
    """A zero-width space has no words: its vector would be an empty message's (a
    newcomer's review found it read as "yes")."""
    classifier = with_meaning.classifier
    real = classifier._encoder
    counting = CountingEncoder(real)
    classifier._encoder = counting
    try:
        with_meaning.ranking("\u200b")
        assert counting.calls == []
    finally:
        classifier._encoder = real


def test_a_model_trained_before_the_sentence_vectors_still_loads(
    tmp_path: Path, with_meaning: Pipeline
) -> None:
    import joblib

    from components.linear_intent_classifier import MODEL_FILE

    storage = LocalModelStorage(tmp_path)
    resource = Resource("old_classifier")
    classifier = with_meaning.classifier
    with storage.write_to(resource) as directory:
        joblib.dump((classifier._model, classifier._weighting), directory / MODEL_FILE)
    context = ExecutionContext(GraphSchema({}), "test", node_name="old_classifier")
    old = LinearIntentClassifier.load(
        LinearIntentClassifier.get_default_config(), storage, resource, context
    )
    assert old._model is not None and old._meaning_model is None
    message = old.process([with_meaning.featurized("how long is the hospital stay")])[0]
    assert message.get("intent")["name"] == "hospital_stay"


def test_a_missing_sentence_model_leaves_the_words_answering(
    with_meaning: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server must load (and the triage run) even if build/sentence_model is gone."""
    import components.linear_intent_classifier as module
    from core.sentence_encoder import SentenceModelMissing

    def missing(**_: Any) -> None:
        raise SentenceModelMissing("No sentence model in /nowhere: `make install` builds it.")

    monkeypatch.setattr(module, "shared_encoder", missing)
    classifier = with_meaning.classifier
    reloaded = LinearIntentClassifier(
        classifier._config, classifier._model_storage, classifier._resource,
        classifier._model, classifier._weighting, classifier._meaning_model,
    )  # fmt: skip
    assert reloaded._meaning_model is None
    message = reloaded.process([with_meaning.featurized("how long is the hospital stay")])[0]
    assert message.get("intent")["name"] == "hospital_stay"
