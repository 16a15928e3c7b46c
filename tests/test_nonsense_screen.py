"""The NLU component that turns keyboard mash into "I didn't understand"."""

from __future__ import annotations

from pathlib import Path

from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.nonsense_screen import NonsenseScreen


def trained(tmp_path: Path) -> NonsenseScreen:
    storage = LocalModelStorage(tmp_path)
    resource = Resource("nonsense_screen")
    context = ExecutionContext(GraphSchema({}), "test")
    screen = NonsenseScreen.create({}, storage, resource, context)
    examples = [
        Message(data={"text": "what is kymriah", "intent": "what_is_kymriah"}),
        Message(data={"text": "tisagenlecleucel cost", "intent": "cost_insurance"}),
        Message(data={"text": "hi there", "intent": "greet"}),
    ]
    screen.train(TrainingData(training_examples=examples))
    # Loaded back from the model storage, as the Rasa server does.
    return NonsenseScreen.load({}, storage, resource, context)


def predicted(text: str, intent: str) -> Message:
    message = Message(data={"text": text})
    message.set("intent", {"name": intent, "confidence": 0.7})
    message.set("intent_ranking", [{"name": intent, "confidence": 0.7}])
    return message


def test_keyboard_mash_becomes_a_fallback(tmp_path: Path) -> None:
    screen = trained(tmp_path)
    message = screen.process([predicted("qwzx plorb", "out_of_scope")])[0]
    assert message.get("intent") == {"name": "nlu_fallback", "confidence": 1.0}
    assert message.get("intent_ranking")[1]["name"] == "out_of_scope"


def test_english_words_training_words_and_their_typos_are_known(tmp_path: Path) -> None:
    screen = trained(tmp_path)
    # "went", "houses": inflected English words, known through the lemma table.
    for text in ["whats the cost", "kymriah", "kymria?", "tisagenlecleucell", "hiii", "went",
                 "houses"]:  # fmt: skip
        message = screen.process([predicted(text, "what_is_kymriah")])[0]
        assert message.get("intent")["name"] == "what_is_kymriah", text


def test_numbers_commands_and_other_languages_are_left_alone(tmp_path: Path) -> None:
    screen = trained(tmp_path)
    for text, intent in [("38.9", "emergency"), ("/affirm", "affirm"), ("", "greet")]:
        assert screen.process([predicted(text, intent)])[0].get("intent")["name"] == intent
    spanish = screen.process([predicted("mi hijo tiene fiebre", "other_language")])[0]
    assert spanish.get("intent")["name"] == "other_language"
