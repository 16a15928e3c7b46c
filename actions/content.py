"""Content lookup: answers the question a family asked, by the topic's response name.

Used when a question interrupts the pre-screen: the form is left, and the answer is the
same domain response (`utter_<intent>`) that the topic's own rule would give. Also the
texts that parts outside the dialogue send to families (the socket.io channel, the
coordinators' console): they live in domain.yml with every other answer.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from core.content import response_text

__all__ = ["ActionAnswerQuestion", "response_for_intent", "response_text"]

FALLBACK_RESPONSE = "utter_default"


def response_for_intent(intent: str | None, domain: dict[str, Any]) -> str:
    """The domain response that answers `intent`, or the kind default."""
    candidate = f"utter_{intent}" if intent else ""
    return candidate if candidate in domain.get("responses", {}) else FALLBACK_RESPONSE


class ActionAnswerQuestion(Action):
    """Utters the answer to the latest message's topic."""

    def name(self) -> str:
        return "action_answer_question"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        dispatcher.utter_message(response=response_for_intent(intent, domain))
        return []
