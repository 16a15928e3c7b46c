"""Rasa's REST channel, strict about what it accepts.

Rasa's own handler reads `request.json.get(...)`: a body that is not a JSON object, or a
message that is not text, ended in a 500; and on a failure it logged the family's message.
Here:
- a body that is not a JSON object, a `message` that is not a string, or a `sender` that
  is not a short string gets a 400 with a plain explanation;
- a message over `CART_MAX_MESSAGE_LENGTH` gets the kind "too long" answer (an emergency
  still gets the emergency answer), as on the socket.io channel;
- a failure while answering gets the default answer with the phone number, and the log
  names the error type only.
The URL stays /webhooks/rest/webhook. Rasa's `?stream=true` is not offered.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.content import response_text
from actions.settings import load_channel_settings
from channels.socketio import screen_length, too_long_text

logger = logging.getLogger(__name__)

MAX_SENDER_LENGTH = 255  # Rasa's SQL tracker store column
DEFAULT_SENDER = "default"  # what Rasa's REST channel uses when none is given
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _bad_request(reason: str) -> HTTPResponse:
    return response.json({"error": reason}, status=400)


def read_request(body: bytes) -> tuple[str, str, dict[str, Any] | None] | HTTPResponse:
    """(sender, message, metadata) from a request body, or the 400 that explains what is wrong."""
    usage = 'Send JSON like {"sender": "a-conversation-id", "message": "your question"}.'
    try:
        data = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        return _bad_request(f"The body is not JSON. {usage}")
    if not isinstance(data, dict):
        return _bad_request(f"The body must be a JSON object. {usage}")
    sender = data.get("sender", DEFAULT_SENDER)
    if (
        not isinstance(sender, str)
        or not 0 < len(sender) <= MAX_SENDER_LENGTH
        or _CONTROL.search(sender)
    ):
        return _bad_request(f"'sender' must be text of 1 to {MAX_SENDER_LENGTH} characters.")
    message = data.get("message")
    if not isinstance(message, str):
        return _bad_request(f"'message' must be text. {usage}")
    metadata = data.get("metadata")
    return sender, message, metadata if isinstance(metadata, dict) else None


class ProgramRestInput(RestInput):
    """Rasa's REST input with the checks above; named "rest" like Rasa's."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)
        max_length = load_channel_settings().max_message_length

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            parsed = read_request(request.body)
            if isinstance(parsed, HTTPResponse):
                return parsed
            sender, message, metadata = parsed
            screened = screen_length(message, max_length)
            if screened is None:
                logger.info("REST message over %d characters refused", max_length)
                return response.json([{"recipient_id": sender, "text": too_long_text()}])
            collector = CollectingOutputChannel()
            try:
                await on_new_message(
                    UserMessage(
                        screened,
                        collector,
                        sender,
                        input_channel=self.name(),
                        metadata=metadata,
                    )
                )
            except Exception as error:  # noqa: BLE001 - the family still gets an answer
                logger.error("REST message could not be answered: %s", type(error).__name__)
                sorry = {"recipient_id": sender, "text": response_text("utter_default")}
                return response.json([*collector.messages, sorry])
            return response.json(collector.messages)

        return webhook
