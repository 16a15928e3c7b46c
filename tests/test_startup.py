"""Start-up work the Rasa server no longer does (issue 18, docs/performance.md "Start-up"):
jax is not imported through TensorFlow, and the spaCy pipeline is read once, not once per
`SpacyNLP` node of the model's graph. Each check runs in a fresh interpreter started as the
servers are: patches or imports in the test process would hide a missing one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from scripts.devstack import PYTHON, ROOT, project_env
from tests.servers import MODEL


def _run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(PYTHON), "-c", code], cwd=ROOT, env=project_env(), capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip


# Through the entry point, as `make run` and tests/servers.py start Rasa; then the model is
# loaded as the server loads it (the runner Rasa's MessageProcessor uses, after the patches).
ENTRY_THEN_MODEL = """
import runpy, sys, tempfile
from pathlib import Path
sys.argv = ["components.rasa_server", "--version"]
try:
    runpy.run_module("components.rasa_server", run_name="__main__")
except SystemExit:
    pass
import tensorflow as tf
from tensorflow.lite.python import util as tflite_util
print("JAX", sys.modules.get("jax") is None, tflite_util._xla_computation is None)
print("TF", int(tf.reduce_sum(tf.constant([1, 2]))))

import rasa.core.processor as processor
from rasa.core.channels.channel import UserMessage
from rasa.engine import loader
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.shared.core.trackers import DialogueStateTracker

metadata, runner = loader.load_predict_graph_runner(
    Path(tempfile.mkdtemp()), Path(MODEL_PATH), LocalModelStorage, processor.DaskGraphRunner)
nodes = runner._instantiated_nodes
provided, run = (nodes[n]._component._model for n in ("provide_SpacyNLP0", "run_SpacyNLP0"))
print("SHARED", provided is run)
target = metadata.nlu_target
tracker = DialogueStateTracker("startup-test", metadata.domain.slots)
parse = runner.run(inputs={"__message__": [UserMessage("is KYMRIAH approved for a 7 year old")],
                           "__tracker__": tracker}, targets=[target])[target][0].as_dict()
print("ENTITIES", sorted({e["entity"] for e in parse["entities"]}))
"""


def test_the_entry_point_keeps_jax_out_and_the_model_shares_one_spacy_pipeline() -> None:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` (make test does it).")
    result = _run_python(f"MODEL_PATH = {str(MODEL)!r}\n{ENTRY_THEN_MODEL}")
    assert result.returncode == 0, result.stderr[-3000:]
    # TensorFlow works, on its own without-jax path.
    assert "JAX True True" in result.stdout
    assert "TF 3" in result.stdout
    # Both SpacyNLP nodes hold the one pipeline, and the entity ruler still finds entities.
    assert "SHARED True" in result.stdout
    assert "ENTITIES ['age', 'product']" in result.stdout


PIPELINE_CACHE = """
import os, sys
from components import rasa_fixes
from rasa.nlu.utils.spacy_utils import SpacyNLP
rasa_fixes.apply()
first, again = SpacyNLP.load_model(PIPELINE), SpacyNLP.load_model(PIPELINE)
# Rebuilt on disk (a later `PUT /model` must see it): read again.
config = os.path.join(PIPELINE, "config.cfg")
os.utime(config, (os.stat(config).st_atime, os.stat(config).st_mtime + 10))
rebuilt = SpacyNLP.load_model(PIPELINE)
print("SAME", first is again, "REREAD", rebuilt is not first)
print("WORKS", [t.lemma_ for t in rebuilt.model("children were crying")])
try:
    SpacyNLP.load_model("")
except Exception as error:
    print("EMPTY", type(error).__name__)
"""


def test_the_spacy_pipeline_is_read_once_until_it_changes_on_disk(tmp_path: Path) -> None:
    # A copy: the shared build/spacy_pipeline is a training input, never touched by tests.
    pipeline = tmp_path / "spacy_pipeline"
    shutil.copytree(ROOT / "build" / "spacy_pipeline", pipeline)
    result = _run_python(f"PIPELINE = {str(pipeline)!r}\n{PIPELINE_CACHE}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "SAME True REREAD True" in result.stdout
    assert "WORKS ['child', 'be', 'cry']" in result.stdout
    assert "EMPTY InvalidModelError" in result.stdout  # Rasa's own message, unchanged
