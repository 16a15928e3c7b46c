"""Fixes to Rasa 3.6 that are ours to make, applied when the Rasa server loads the
project's NLG (components/program_nlg.py, named in endpoints.yml), before the model.

1. Action-result validation, below.
2. The prediction graph runs without dask (components/graph_runner.py).

Rasa validates every answer of the action server with `jsonschema.validate(result,
schema)`, which checks the schema itself against the JSON Schema meta-schema on every
call: a profile of the Rasa server under load (py-spy, `make bench`) put 39 % of its time
there, more than the NLU model. The schema never changes, so it is checked once and the
compiled validator is kept. The same validation, the same error message.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import rasa.core.processor
from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

from components.graph_runner import SequentialGraphRunner


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


def apply() -> None:
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    # The runner the Rasa server loads a model with (MessageProcessor._load_model).
    rasa.core.processor.DaskGraphRunner = SequentialGraphRunner  # type: ignore[misc]
