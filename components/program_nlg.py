"""Turns domain responses into messages: contact details filled in, disclaimer first.

Loaded by the Rasa server from `endpoints.yml` (`nlg: type: ...`). Both jobs live here,
in the Rasa server, so they hold even when the action server is down:
- `{program_phone}` and the other placeholders come from `actions.settings`, the one
  configuration place;
- the first reply of every conversation (session) carries `utter_disclaimer`; after an
  emergency answer rather than before it, so nothing delays the 911 line.
"""

from __future__ import annotations

from typing import Any

from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from actions.settings import load_contacts
from components import rasa_fixes

DISCLAIMER_RESPONSE = "utter_disclaimer"

# Every Rasa server that answers families loads this module (endpoints.yml, nlg): the
# place to apply the project's fix to Rasa's action-result validation.
rasa_fixes.apply()


def is_first_reply_of_session(tracker: DialogueStateTracker) -> bool:
    for event in reversed(tracker.events):
        if isinstance(event, BotUttered):
            return False
        if isinstance(event, SessionStarted):
            return True
    return True


class ProgramResponseGenerator(TemplatedNaturalLanguageGenerator):
    """The domain's responses, with contact details and the session's disclaimer."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, domain: Domain | None = None):
        super().__init__(domain.responses if domain else {})
        self._placeholders = load_contacts().placeholders()

    def _response_variables(  # type: ignore[override]
        self, filled_slots: dict[str, Any] | None, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        variables = TemplatedNaturalLanguageGenerator._response_variables(filled_slots, kwargs)
        # Configuration wins over a slot of the same name: contact details are not user input.
        variables.update(self._placeholders)
        return variables

    async def generate(
        self,
        utter_action: str,
        tracker: DialogueStateTracker,
        output_channel: str,
        **kwargs: Any,
    ) -> dict[str, Any] | None:
        message = await super().generate(utter_action, tracker, output_channel, **kwargs)
        if (
            message is None
            or utter_action == DISCLAIMER_RESPONSE
            or not is_first_reply_of_session(tracker)
        ):
            return message
        disclaimer = await super().generate(DISCLAIMER_RESPONSE, tracker, output_channel)
        if disclaimer and disclaimer.get("text"):
            text = message.get("text") or ""
            is_emergency = bool((message.get("custom") or {}).get("emergency"))
            parts = [text, disclaimer["text"]] if is_emergency else [disclaimer["text"], text]
            message["text"] = "\n\n".join(part for part in parts if part)
        return message
