"""A family's "Was this helpful?" from the widget: checked, tied to the answer it rates,
masked, and stored (console/feedback_store.py).

The widget sends the conversation id, the text of the answer it shows (one paragraph of
a bot message: Rasa's socket.io channel sends each paragraph as its own message), Yes or
No, and an optional comment. The answer is looked up in the tracker store, so what is
stored names the real response and intent, and a made-up answer cannot be rated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from console import tracker_events
from console.feedback_store import MAX_COMMENT_LENGTH, RatedAnswer, is_rated, record_feedback
from core.masking import mask

MAX_ANSWER_LENGTH = 5000
MAX_CONVERSATION_ID_LENGTH = 255


class Refused(ValueError):
    """The feedback cannot be taken; the message says why (for the widget's log)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Feedback:
    conversation_id: str
    answer_text: str
    helpful: bool
    comment: str


def _squash(value: str) -> str:
    return re.sub(r"\s+", " ", value).strip()


def parse(body: Any) -> Feedback:
    """The POSTed JSON, checked: {"conversation_id", "answer", "helpful", "comment"?}."""
    if not isinstance(body, dict):
        raise Refused("Send a JSON object.")
    conversation_id, answer = body.get("conversation_id"), body.get("answer")
    helpful, comment = body.get("helpful"), body.get("comment", "")
    if not isinstance(conversation_id, str) or not re.fullmatch(r"[\w.-]{1,255}", conversation_id):
        raise Refused("conversation_id is missing or malformed.")
    if not isinstance(answer, str) or not answer.strip() or len(answer) > MAX_ANSWER_LENGTH:
        raise Refused("answer is missing or too long.")
    if not isinstance(helpful, bool):
        raise Refused("helpful must be true or false.")
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT_LENGTH:
        raise Refused(f"comment must be text of at most {MAX_COMMENT_LENGTH} characters.")
    if helpful and comment.strip():
        raise Refused("A comment goes with a No only.")
    # One line, masked before it is stored: families type their phone numbers anywhere.
    return Feedback(conversation_id, _squash(answer), helpful, mask(_squash(comment)))


def find_answer(tracker_url: str, conversation_id: str, answer_text: str) -> RatedAnswer | None:
    """The latest bot message of the conversation with this paragraph, and what it answered."""
    events = tracker_events.recent_messages(tracker_url, conversation_id)
    for index in range(len(events) - 1, -1, -1):
        bot = events[index]
        if bot.type_name != "bot":
            continue
        parts = [_squash(p) for p in bot.text.strip().split("\n\n")]
        if answer_text not in parts:
            continue
        if bot.emergency_marked or not is_rated(bot.utter_action or ""):
            return None
        user = next((e for e in reversed(events[:index]) if e.type_name == "user"), None)
        intent = (user.parse_data.get("intent") or {}) if user else {}
        confidence = intent.get("confidence")
        return RatedAnswer(
            bot_event_id=bot.id,
            user_event_id=user.id if user else None,
            response=bot.utter_action,
            intent=intent.get("name"),
            confidence=float(confidence) if isinstance(confidence, (int, float)) else None,
        )
    return None


def submit(database_url: str, tracker_url: str, body: Any) -> bool:
    """Stores the feedback; False when this answer was rated already. Raises Refused."""
    feedback = parse(body)
    answer = find_answer(tracker_url, feedback.conversation_id, feedback.answer_text)
    if answer is None:
        raise Refused("There is no answer to rate with this text in this conversation.", 404)
    return record_feedback(
        database_url, feedback.conversation_id, answer, feedback.helpful, feedback.comment
    )
