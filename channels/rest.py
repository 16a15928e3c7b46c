"""Rasa's REST channel, strict about what it accepts.

Rasa's own handler reads `request.json.get(...)`: a body that is not a JSON object, or a
message that is not text, ended in a 500; and on a failure it logged the family's message.
Here:
- a body that is not a JSON object, a `message` that is not a string, or a missing
  `sender` or one that is not a short string gets a 400 with a plain explanation (no
  shared "default" conversation: the conversation id is the client's secret);
- a body larger than the socket.io channel's frame limit gets a 413 before it is parsed;
- a message over `CART_MAX_MESSAGE_LENGTH` gets the kind "too long" answer (an emergency
  still gets the emergency answer), as on the socket.io channel;
- a failure while answering gets the default answer with the phone number, and the log
  names the error type only;
- a browser may call it only from a page in CART_ALLOWED_ORIGINS (others get a 403, and
  no CORS headers); too many messages from one conversation or address get a 429 with the
  kind "slow down" answer, unless the message describes an emergency; metadata over
  CART_MAX_METADATA_BYTES is dropped; when an action fails the family is told so.
The URL stays /webhooks/rest/webhook. Rasa's `?stream=true` is not offered. Run the Rasa
server without `--cors`: this channel answers CORS itself.
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

from channels.action_server import explain_actions_failed, watching_action_failures
from channels.guard import (
    Admission,
    FloodGuard,
    client_address,
    origin_allowed,
    screen_metadata,
    stamp_address,
)
from channels.session_ids import session_key
from channels.socketio import (
    buffer_bytes,
    emergency_answer,
    is_emergency,
    screen_length,
    too_long_text,
    too_many_text,
)
from core.content import response_text
from core.settings import ChannelSettings, load_channel_settings

logger = logging.getLogger(__name__)

MAX_SENDER_LENGTH = 255  # Rasa's SQL tracker store column
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _bad_request(reason: str) -> HTTPResponse:
    return response.json({"error": reason}, status=400)


def _with_cors(reply: HTTPResponse, origin: str | None) -> HTTPResponse:
    if origin:
        reply.headers["Access-Control-Allow-Origin"] = origin
        reply.headers["Vary"] = "Origin"
    return reply


def _address(request: Request, settings: ChannelSettings) -> str:
    forwarded = request.headers.get("x-forwarded-for")
    return client_address(request.ip or "unknown", forwarded, settings.trusted_proxies)


def read_request(body: bytes) -> tuple[str, str, Any] | HTTPResponse:
    """(sender, message, metadata) from a request body, or the 400 that explains what is wrong."""
    usage = 'Send JSON like {"sender": "a-conversation-id", "message": "your question"}.'
    try:
        data = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        return _bad_request(f"The body is not JSON. {usage}")
    if not isinstance(data, dict):
        return _bad_request(f"The body must be a JSON object. {usage}")
    sender = data.get("sender")
    if (
        not isinstance(sender, str)
        or not 0 < len(sender) <= MAX_SENDER_LENGTH
        or _CONTROL.search(sender)
    ):
        return _bad_request(f"'sender' must be text of 1 to {MAX_SENDER_LENGTH} characters.")
    message = data.get("message")
    if not isinstance(message, str):
        return _bad_request(f"'message' must be text. {usage}")
    return sender, message, data.get("metadata")


class ProgramRestInput(RestInput):
    """Rasa's REST input with the checks above; named "rest" like Rasa's."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)
        settings = load_channel_settings()
        max_length = settings.max_message_length
        max_body = buffer_bytes(settings)
        guard = FloodGuard(settings)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["OPTIONS"])
        async def preflight(request: Request) -> HTTPResponse:
            return response.empty(status=204)  # headers: answer_preflight below

        # Rasa's app answers every OPTIONS request itself (sanic-cors, automatic_options,
        # with no origin allowed), before any route: the preflight's answer is set here.
        @webhook.middleware("response")
        async def answer_preflight(request: Request, reply: HTTPResponse) -> None:
            if request.method != "OPTIONS":
                return
            origin = request.headers.get("origin")
            if not origin or not origin_allowed(origin, settings.allowed_origins):
                reply.status = 403
                return
            reply.status = 204
            reply.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            reply.headers["Access-Control-Allow-Headers"] = "Content-Type"
            reply.headers["Access-Control-Max-Age"] = "600"
            _with_cors(reply, origin)

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            origin = request.headers.get("origin")
            if not origin_allowed(origin, settings.allowed_origins):
                logger.warning("REST request from a web page not in CART_ALLOWED_ORIGINS")
                return response.json({"error": "This web page may not use the chat."}, 403)
            return _with_cors(await answer(request), origin)

        async def answer(request: Request) -> HTTPResponse:
            if len(request.body or b"") > max_body:
                # Nothing larger is ever accepted: refused before it is parsed.
                return response.json({"error": "The message is too large."}, status=413)
            parsed = read_request(request.body)
            if isinstance(parsed, HTTPResponse):
                return parsed
            sender, message, raw_metadata = parsed
            address = _address(request, settings)
            admission = guard.screen(sender, address, lambda: is_emergency(message))
            if admission is Admission.EMERGENCY_ONLY:
                # Past the limits, an emergency still gets its answer, without the model.
                return response.json([{"recipient_id": sender, **emergency_answer()}])
            if admission is Admission.REFUSED:
                reply = response.json([{"recipient_id": sender, "text": too_many_text()}], 429)
                reply.headers["Retry-After"] = str(guard.retry_after(sender, address))
                return reply
            screened = screen_length(message, max_length)
            if screened is None:
                logger.info("REST message over %d characters refused", max_length)
                return response.json([{"recipient_id": sender, "text": too_long_text()}])
            metadata = stamp_address(
                screen_metadata(raw_metadata, settings.max_metadata_bytes), address, session_key()
            )  # the address, hashed, for the per-address handoff limit
            collector = CollectingOutputChannel()
            try:
                with watching_action_failures() as failures:
                    await on_new_message(
                        UserMessage(
                            screened,
                            collector,
                            sender,
                            input_channel=self.name(),
                            metadata=metadata,
                        )
                    )
                if failures:
                    await explain_actions_failed(request.app, sender, collector)
            except Exception as error:  # noqa: BLE001 - the family still gets an answer
                logger.error("REST message could not be answered: %s", type(error).__name__)
                sorry = {"recipient_id": sender, "text": response_text("utter_default")}
                return response.json([*collector.messages, sorry])
            return response.json(collector.messages)

        return webhook
