"""Rasa's socket.io channel, as the families' chat widget needs it.

Four differences from `rasa.core.channels.socketio`, each at the one place it belongs:
- The socket joins its session's room. python-socketio 5.x (as locked) made
  `enter_room` a coroutine; Rasa 3.6 calls it without `await`, so with session
  persistence no reply ever reached the browser.
- A response's `custom` payload goes out as one JSON message. Rasa's own output passes
  the payload to `emit()` as keyword arguments, which raises `TypeError` for any key but
  `data`/`room`: the emergency answer (`custom: {emergency: true}`) broke the turn.
- The text parts of the emergency answer carry `"emergency": true`, so the widget can
  show them so they stand out.
- Messages longer than the configured maximum are not handed to the assistant: the
  family is asked to shorten them, unless the message describes an emergency, which
  always gets the emergency answer.
"""

from __future__ import annotations

import inspect
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any

from rasa.core.channels.channel import UserMessage, decode_bearer_token
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from rasa.shared.core.domain import Domain
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from actions.safety import Verdict, assess
from actions.settings import PROJECT_ROOT, load_channel_settings, load_contacts

logger = logging.getLogger(__name__)

TOO_LONG_RESPONSE = "utter_message_too_long"
EMERGENCY_PAYLOAD = "/emergency"


class ProgramSocketIOOutput(SocketIOOutput):
    """Sends responses to the widget; see the module docstring for what differs."""

    def __init__(self, sio: AsyncServer, bot_message_evt: str) -> None:
        super().__init__(sio, bot_message_evt)
        self._marks: dict[str, Any] = {}

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        custom = message.get("custom")
        urgent = isinstance(custom, dict) and custom.get("emergency") is True
        self._marks = {"emergency": True} if urgent else {}
        try:
            await super().send_response(recipient_id, dict(message))
        finally:
            self._marks = {}

    async def _send_message(self, socket_id: str, response: Any) -> None:
        await super()._send_message(socket_id, {**response, **self._marks})

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        await self._send_message(recipient_id, {"custom": json_message})


@lru_cache(maxsize=1)
def too_long_text() -> str:
    """The family-facing words live in domain.yml with every other answer."""
    domain = Domain.load(str(PROJECT_ROOT / "domain.yml"))
    template = domain.responses[TOO_LONG_RESPONSE][0]["text"]
    return template.format(
        max_length=load_channel_settings().max_message_length, **load_contacts().placeholders()
    )


def screen_length(text: str, max_length: int) -> str | None:
    """What to hand to the assistant: the text, `/emergency`, or None (too long: refused)."""
    if len(text) <= max_length:
        return text
    if assess(text).verdict is Verdict.EMERGENCY:
        return EMERGENCY_PAYLOAD
    return None


class ProgramSocketIOInput(SocketIOInput):
    """socket.io input with the project's output and a message length limit."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    def get_output_channel(self) -> SocketIOOutput | None:
        channel = super().get_output_channel()
        return ProgramSocketIOOutput(self.sio, self.bot_message_evt) if channel else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        # Rasa's blueprint, with the project's output and the length limit. CORS is left to
        # the Rasa server's --cors option, as in Rasa's own channel.
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[])
        blueprint = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        self.sio = sio
        max_length = load_channel_settings().max_message_length

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: str, environ: dict, auth: dict | None) -> bool:
            if not self.jwt_key:
                return True
            token = (auth or {}).get("token")
            return bool(token and decode_bearer_token(token, self.jwt_key, self.jwt_algorithm))

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: Any) -> None:
            data = data if isinstance(data, dict) else {}
            session_id = data.get("session_id")
            if not isinstance(session_id, str) or not session_id.strip():
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                joined = sio.enter_room(sid, session_id)
                if inspect.isawaitable(joined):  # a coroutine from python-socketio 5.x on
                    await joined
            await sio.emit("session_confirm", session_id, room=sid)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any) -> None:
            if not isinstance(data, dict):
                return
            output = ProgramSocketIOOutput(sio, self.bot_message_evt)
            if self.session_persistence:
                sender_id = data.get("session_id")
                if not isinstance(sender_id, str) or not sender_id:
                    logger.warning("socket.io message without a session id ignored")
                    return
            else:
                sender_id = sid
            text = data.get("message", "")
            text = text if isinstance(text, str) else str(text)
            screened = screen_length(text, max_length)
            if screened is None:
                logger.info("socket.io message over %d characters refused", max_length)
                await output.send_text_message(sender_id, too_long_text())
                return
            metadata = data.get(self.metadata_key) or {}
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = {}
            await on_new_message(
                UserMessage(
                    screened,
                    output,
                    sender_id,
                    input_channel=self.name(),
                    metadata=metadata if isinstance(metadata, dict) else {},
                )
            )

        return blueprint
