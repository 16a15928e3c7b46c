"""Turns domain responses into messages: contact details, disclaimer, safety line, offers.

Loaded by the Rasa server from `endpoints.yml` (`nlg: type: ...`). These jobs live here,
in the Rasa server, so they hold even when the action server is down:
- `{program_phone}` and the other placeholders come from `core.settings`, the one
  configuration place;
- the first reply of every conversation (session) carries `utter_disclaimer`; after an
  emergency answer rather than before it, so nothing delays the 911 line;
- a message that mentions a warning sign without placing it (the triage's `mention`,
  components/red_flag_override.py) gets one safety line before its answer;
- an emergency written in Spanish gets the Spanish emergency answer;
- "Did you mean…?" (`utter_did_you_mean`) gets the model's likeliest topics as buttons
  (core/suggestions.py), or the plain "I didn't understand" when it has no good guess;
- an emergency answer the model gave to a message whose signs the triage read as not
  happening now is followed by the answer to the question asked (`red_flag.also_answer`).
"""

from __future__ import annotations

from typing import Any

from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from components import rasa_fixes
from core.settings import load_contacts
from core.suggestions import suggestion_buttons

DISCLAIMER_RESPONSE = "utter_disclaimer"
EMERGENCY_RESPONSE = "utter_emergency"
SAFETY_LINE_RESPONSE = "utter_safety_line"
DID_YOU_MEAN_RESPONSE = "utter_did_you_mean"
NOT_UNDERSTOOD_RESPONSE = "utter_not_understood"
EMERGENCY_RESPONSES = (EMERGENCY_RESPONSE, "utter_emergency_es")
# Responses with a Spanish twin, used when the triage read a message as Spanish.
SPANISH_TWINS = {
    EMERGENCY_RESPONSE: "utter_emergency_es",
    SAFETY_LINE_RESPONSE: "utter_safety_line_es",
}

# Every Rasa server that answers families loads this module (endpoints.yml, nlg): the
# place to apply the project's fix to Rasa's action-result validation.
rasa_fixes.apply()


def no_bot_message_since(tracker: DialogueStateTracker, marker: type) -> bool:
    """The assistant has said nothing since the latest `marker` event (or ever)."""
    for event in reversed(tracker.events):
        if isinstance(event, BotUttered):
            return False
        if isinstance(event, marker):
            return True
    return True


def is_first_reply_of_session(tracker: DialogueStateTracker) -> bool:
    return no_bot_message_since(tracker, SessionStarted)


def is_first_reply_to_message(tracker: DialogueStateTracker) -> bool:
    return no_bot_message_since(tracker, UserUttered)


def latest_red_flag(tracker: DialogueStateTracker) -> dict[str, Any]:
    parse_data = tracker.latest_message.parse_data if tracker.latest_message else {}
    flag = (parse_data or {}).get("red_flag")
    return flag if isinstance(flag, dict) else {}


class ProgramResponseGenerator(TemplatedNaturalLanguageGenerator):
    """The domain's responses, with contact details and the session's disclaimer."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, domain: Domain | None = None):
        super().__init__(domain.responses if domain else {})
        self._placeholders = load_contacts().placeholders()

    def _response_variables(
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
        red_flag = latest_red_flag(tracker)
        spanish = red_flag.get("language") == "es"
        if spanish:
            utter_action = SPANISH_TWINS.get(utter_action, utter_action)
        if utter_action == DID_YOU_MEAN_RESPONSE:
            ranking = (tracker.latest_message.parse_data or {}).get("intent_ranking") or []
            buttons = suggestion_buttons(ranking)
            if not buttons:
                utter_action = NOT_UNDERSTOOD_RESPONSE
        message = await super().generate(utter_action, tracker, output_channel, **kwargs)
        if message is not None and utter_action == DID_YOU_MEAN_RESPONSE:
            message["buttons"] = buttons
        also = red_flag.get("also_answer")
        if message is not None and also and utter_action in EMERGENCY_RESPONSES:
            # The model's emergency answer first; then the question the family asked.
            answer = await super().generate(f"utter_{also}", tracker, output_channel)
            if answer and answer.get("text"):
                message["text"] = "\n\n".join(p for p in (message.get("text"), answer["text"]) if p)
                message["buttons"] = answer.get("buttons") or []
        if (
            message is not None
            and red_flag.get("verdict") == "mention"
            and not (message.get("custom") or {}).get("emergency")
            and is_first_reply_to_message(tracker)
        ):
            line = SPANISH_TWINS[SAFETY_LINE_RESPONSE] if spanish else SAFETY_LINE_RESPONSE
            safety = await super().generate(line, tracker, output_channel)
            if safety and safety.get("text"):
                message["text"] = "\n\n".join(p for p in (safety["text"], message.get("text")) if p)
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
