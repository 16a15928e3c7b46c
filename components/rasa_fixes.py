"""Every change this project makes to Rasa's own code, applied in one guarded place.

`apply()` is the only function in the project that assigns to a name inside `rasa`. It
runs
- from the single Rasa entry point, `python -m components.rasa_server` (make run,
  make shell, the tests, the Dockerfile, compose and Helm), before Rasa starts; and
- when the Rasa server loads the project's NLG (components/program_nlg.py, named in
  endpoints.yml), before the model: so a plain `rasa run` or `rasa shell`, as Rasa's docs
  teach, gets the same patches.

Both check that the installed Rasa is the one the patches were written against, and
refuse to start on another: a private name that moved would otherwise fail silently, or
late, in front of a family. docs/rasa-patches.md lists each patch (why, what it
replaces, its test, what to check on an upgrade); tests/test_rasa_patches.py pins the
private names.

The patches:
1. Action-result validation, compiled once (`_validate_action_result`, below).
   Rasa validates every answer of the action server with `jsonschema.validate(result,
   schema)`, which checks the schema itself against the JSON Schema meta-schema on every
   call: a profile of the Rasa server under load (py-spy, `make bench`) put 39 % of its
   time there, more than the NLU model. The schema never changes, so it is checked once
   and the compiled validator is kept. The same validation, the same error message.
2. The prediction graph runs without dask (components/graph_runner.py).
3. The spaCy pipeline is loaded once per process (`_load_spacy_model_once`, below).
   The model's prediction graph has two nodes of `SpacyNLP` (`provide_SpacyNLP0`, whose
   pipeline every spaCy component uses, and `run_SpacyNLP0`, which is handed that one);
   Rasa instantiates each, so the server read build/spacy_pipeline twice at start (about
   half a second and a second copy in memory). Loads of the same directory, unchanged on
   disk, now share one `SpacyModel`; the pipeline is only read from, never changed.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import rasa
import rasa.core.processor
from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.nlu.utils.spacy_utils import SpacyModel, SpacyNLP
from rasa.shared.constants import DOCS_BASE_URL

from components.graph_runner import SequentialGraphRunner

logger = logging.getLogger(__name__)

# The Rasa release the patches (and the subclasses in components/ and channels/) were
# written and tested against: pyproject.toml pins the same.
SUPPORTED_RASA_VERSION = "3.6.21"

# Names of the patches applied in this process, in order (empty until apply()).
applied: list[str] = []


class UnsupportedRasaVersion(RuntimeError):
    """The installed Rasa is not the one the project's patches were written for."""


def check_rasa_version(version: str | None = None) -> None:
    """Raises unless `version` (the installed Rasa's by default) is the supported one."""
    found = version if version is not None else rasa.__version__
    if found != SUPPORTED_RASA_VERSION:
        raise UnsupportedRasaVersion(
            f"Rasa {found} is installed; this project's patches to Rasa are written for "
            f"{SUPPORTED_RASA_VERSION} only (docs/rasa-patches.md says what to check before "
            f"an upgrade). Run `make install` for the locked environment."
        )


@lru_cache(maxsize=1)
def _action_result_validator() -> Any:
    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    try:
        _action_result_validator().validate(result)
        return True
    except ValidationError as error:
        error.message += (
            ". Failed to validate Action server response from API, make sure your response "
            "from the Action endpoint is valid. For more information about the format "
            f"visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error


def _patch_action_result_validation() -> None:
    RemoteAction._validate_action_result = _validate_action_result


def _patch_graph_runner() -> None:
    # The runner the Rasa server loads a model with (MessageProcessor._load_model).
    rasa.core.processor.DaskGraphRunner = SequentialGraphRunner


_rasa_load_spacy_model = SpacyNLP.load_model


def _spacy_model_version(name: str) -> float | None:
    """When the pipeline directory last changed (None for an installed package name), so
    that a pipeline rebuilt on disk is read again by a later model load (PUT /model)."""
    path = Path(name)
    if not path.is_dir():
        return None
    return max((f.stat().st_mtime for f in path.rglob("*")), default=path.stat().st_mtime)


@lru_cache(maxsize=4)
def _cached_spacy_model(name: str, version: float | None) -> SpacyModel:
    return _rasa_load_spacy_model(name)


def _load_spacy_model_once(spacy_model_name: str) -> SpacyModel:
    if not spacy_model_name:  # Rasa's own error message for a missing name
        return _rasa_load_spacy_model(spacy_model_name)
    return _cached_spacy_model(spacy_model_name, _spacy_model_version(spacy_model_name))


def _patch_spacy_model_loading() -> None:
    SpacyNLP.load_model = staticmethod(_load_spacy_model_once)


def _patch_action_call_format() -> None:
    from components.tracker_window import window_aware_call_format

    RemoteAction._action_call_format = window_aware_call_format


# Every patch, in the order applied; docs/rasa-patches.md has one section per name.
PATCHES = {
    "action-result-validation": _patch_action_result_validation,
    "sequential-graph-runner": _patch_graph_runner,
    "spacy-model-once": _patch_spacy_model_loading,
    "windowed-action-call": _patch_action_call_format,
}


def apply() -> None:
    """Checks Rasa's version, then applies every patch once (later calls do nothing)."""
    check_rasa_version()
    if applied:
        return
    for name, patch in PATCHES.items():
        patch()
        applied.append(name)
    logger.info("Rasa %s patches applied: %s", rasa.__version__, ", ".join(applied))
