"""The project's graph runner (components/graph_runner.py) against Rasa's own dask runner,
on the trained model: the same NLU parses and the same next-action predictions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.engine import loader
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from components.graph_runner import SequentialGraphRunner
from tests.servers import MODEL

MESSAGES = ["what is car t", "how much does it cost", "is my child eligible", "7",
            "she has a fever of 104 right now", "qwzx plorb", "hola, necesito ayuda",
            "i want to talk to a person", "thanks"]  # fmt: skip


@pytest.fixture(scope="module")
def runners(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` (make test does it).")
    loaded = []
    for runner_class in (DaskGraphRunner, SequentialGraphRunner):
        folder = Path(tmp_path_factory.mktemp(runner_class.__name__))
        loaded.append(loader.load_predict_graph_runner(folder, MODEL, LocalModelStorage,
                                                       runner_class))  # fmt: skip
    yield loaded


def _parse(metadata, runner, text: str) -> dict:
    target = metadata.nlu_target
    tracker = DialogueStateTracker("runner-test", metadata.domain.slots)
    inputs = {"__message__": [UserMessage(text)], "__tracker__": tracker}
    return runner.run(inputs=inputs, targets=[target])[target][0].as_dict()


@pytest.mark.parametrize("text", MESSAGES)
def test_the_same_parse_as_rasa_s_runner(runners: list, text: str) -> None:
    (dask_metadata, dask_runner), (metadata, runner) = runners
    ours, rasa_s = _parse(metadata, runner, text), _parse(dask_metadata, dask_runner, text)
    assert ours["intent"]["name"] == rasa_s["intent"]["name"]
    assert ours["intent"]["confidence"] == pytest.approx(rasa_s["intent"]["confidence"])
    assert ours["entities"] == rasa_s["entities"]


@pytest.mark.parametrize("text", MESSAGES)
def test_the_same_next_action_as_rasa_s_runner(runners: list, text: str) -> None:
    predictions = []
    for metadata, runner in runners:
        parsed = _parse(metadata, runner, text)
        tracker = DialogueStateTracker.from_events(
            "runner-test",
            [ActionExecuted("action_session_start"), SessionStarted(),
             ActionExecuted("action_listen"), UserUttered(text, parsed["intent"],
                                                          parsed["entities"])],
            slots=metadata.domain.slots,
        )  # fmt: skip
        target = metadata.core_target
        prediction = runner.run(inputs={"__tracker__": tracker}, targets=[target])[target]
        predictions.append((prediction.max_confidence_index, prediction.policy_name))
    assert predictions[0] == predictions[1]
