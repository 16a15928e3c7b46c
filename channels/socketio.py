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
- While a coordinator has paused the assistant (console/takeover.py), a message read as
  an emergency still gets the emergency answer at once; the coordinator's words carry
  `"sender": "coordinator"` and the takeover notices `"notice"`, for the widget.
- Only the web pages in CART_ALLOWED_ORIGINS may connect (python-engineio checks the
  Origin of every request, the WebSocket upgrade included); floods from one conversation
  or address get a kind answer (channels/guard.py); oversized metadata is dropped; when
  an action fails (the action server is down), the family is told so
  (channels/action_server.py).
- The server issues every conversation id, signed (channels/session_ids.py): an id the
  client names is kept only if the server made it, and a socket writes only to the
  conversation confirmed to it.
- A frame larger than the longest message the channel accepts closes the connection
  before anything reads it (python-engineio's `max_http_buffer_size`, 1 MB by default).
- With CART_SOCKETIO_REDIS_URL (default: CART_LOCK_STORE_URL) the Rasa servers share
  their rooms through Redis, so any of them reaches any family's widget.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage, decode_bearer_token
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from rasa.core.policies.policy import PolicyPrediction
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncRedisManager, AsyncServer

from channels.action_server import explain_actions_failed, watching_action_failures
from channels.guard import Admission, FloodGuard, client_address, screen_metadata, stamp_address
from channels.session_ids import is_issued, issue, session_key
from core.content import response_text
from core.safety import Verdict, assess
from core.settings import ChannelSettings, load_channel_settings

logger = logging.getLogger(__name__)

TOO_LONG_RESPONSE = "utter_message_too_long"
TOO_MANY_RESPONSE = "utter_too_many_messages"
EMERGENCY_PAYLOAD = "/emergency"
EMERGENCY_INTENT = "emergency"
EMERGENCY_RESPONSE = "utter_emergency"
# Keys of a response's `custom` payload copied onto each of its text messages.
MARKS = ("emergency", "sender", "name", "notice")


class RasaAwareBlueprint(SocketBlueprint):
    """Keeps the Rasa server's app, whose agent answers emergencies during a takeover."""

    def register(self, app: Any, options: Any) -> None:
        self.ctx.rasa_app = app
        super().register(app, options)


async def answer_emergency_while_paused(app: Any, sender_id: str, output: OutputChannel) -> None:
    """Emergencies win over a paused conversation too: the coordinator may be typing."""
    agent = getattr(getattr(app, "ctx", None), "agent", None)
    if agent is None or agent.processor is None:
        return
    tracker = await agent.tracker_store.retrieve(sender_id)
    if tracker is None or not tracker.is_paused():
        return
    if (tracker.latest_message.intent or {}).get("name") != EMERGENCY_INTENT:
        return
    logger.info("Emergency during a takeover: answered while the assistant is paused")
    async with agent.lock_store.lock(sender_id):
        # The turn ends with action_listen, as Rasa's own turns do, so the dialogue goes on
        # normally once the coordinator hands back.
        for action in (EMERGENCY_RESPONSE, ACTION_LISTEN_NAME):
            await agent.processor.execute_action(
                sender_id,
                action,
                output,
                agent.processor.nlg,
                PolicyPrediction.for_action_name(agent.domain, action),
            )


class ProgramSocketIOOutput(SocketIOOutput):
    """Sends responses to the widget; see the module docstring for what differs."""

    def __init__(self, sio: AsyncServer, bot_message_evt: str) -> None:
        super().__init__(sio, bot_message_evt)
        self._marks: dict[str, Any] = {}

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        custom = message.get("custom")
        custom = custom if isinstance(custom, dict) else {}
        self._marks = {key: custom[key] for key in MARKS if key in custom}
        try:
            await super().send_response(recipient_id, dict(message))
        finally:
            self._marks = {}

    async def _send_message(self, socket_id: str, response: Any) -> None:
        await super()._send_message(socket_id, {**response, **self._marks})

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        await super()._send_message(recipient_id, {"custom": json_message})


def too_long_text() -> str:
    return response_text(TOO_LONG_RESPONSE, max_length=load_channel_settings().max_message_length)


def too_many_text() -> str:
    return response_text(TOO_MANY_RESPONSE)


def emergency_answer() -> dict[str, Any]:
    """The emergency answer as the assistant gives it, for when the assistant is not asked."""
    return {"text": response_text(EMERGENCY_RESPONSE), "custom": {"emergency": True}}


def is_emergency(text: str) -> bool:
    return assess(text).verdict is Verdict.EMERGENCY


def buffer_bytes(settings: ChannelSettings) -> int:
    """The largest frame the channel needs: a message of the longest accepted length and
    its metadata as a client may encode them (JSON escapes an emoji as 12 characters,
    any other character as at most 6), and the packet's framing: about 50 KB by default.
    python-engineio's default (1 MB) let one frame carry far more than the channel reads."""
    return settings.max_message_length * 12 + settings.max_metadata_bytes * 6 + 1024


def shared_rooms(settings: ChannelSettings) -> AsyncRedisManager | None:
    """With several Rasa servers, emits go through Redis, so the server the console (or a
    reminder) talks to reaches a family whose widget is connected to another one."""
    if not settings.socketio_redis_url:
        return None
    return AsyncRedisManager(settings.socketio_redis_url, channel="cart-socketio")


def screen_length(text: str, max_length: int) -> str | None:
    """What to hand to the assistant: the text, `/emergency`, or None (too long: refused)."""
    if len(text) <= max_length:
        return text
    if is_emergency(text):
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
        # Rasa's blueprint, with the project's output, origin check and limits.
        settings = load_channel_settings()
        sio = AsyncServer(
            async_mode="sanic",
            cors_allowed_origins=list(settings.allowed_origins),
            max_http_buffer_size=buffer_bytes(settings),
            client_manager=shared_rooms(settings),
        )
        blueprint = RasaAwareBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        self.sio = sio
        max_length = settings.max_message_length
        guard = FloodGuard(settings)
        addresses: dict[str, str] = {}  # socket id -> the family's network address
        # socket id -> the conversation the server confirmed to it: the only one it writes to
        conversations: dict[str, str] = {}

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: str, environ: dict, auth: dict | None) -> bool:
            request = environ.get("sanic.request")  # python-engineio's environ has no peer
            peer = getattr(request, "ip", None) or "unknown"
            forwarded = request.headers.get("x-forwarded-for") if request else None
            addresses[sid] = client_address(peer, forwarded, settings.trusted_proxies)
            if not self.jwt_key:
                return True
            token = (auth or {}).get("token")
            return bool(token and decode_bearer_token(token, self.jwt_key, self.jwt_algorithm))

        @sio.on("disconnect", namespace=self.namespace)
        async def disconnect(sid: str, *_: Any) -> None:
            addresses.pop(sid, None)
            conversations.pop(sid, None)

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: Any = None) -> None:
            data = data if isinstance(data, dict) else {}
            session_id = data.get("session_id")
            if not is_issued(session_key(), session_id):
                # Not one the server made (new, made up or from before ids were signed):
                # the family gets a new conversation, never the one it named.
                session_id = issue(session_key())
            previous = conversations.get(sid)
            if previous and previous != session_id:
                left = sio.leave_room(sid, previous)
                if inspect.isawaitable(left):
                    await left
            conversations[sid] = session_id
            if self.session_persistence:
                joined = sio.enter_room(sid, session_id)
                if inspect.isawaitable(joined):  # a coroutine from python-socketio 5.x on
                    await joined
            await sio.emit("session_confirm", session_id, room=sid)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any = None) -> None:
            if not isinstance(data, dict):
                return
            output = ProgramSocketIOOutput(sio, self.bot_message_evt)
            if self.session_persistence:
                # The conversation confirmed to this socket, whatever the message names.
                sender_id = conversations.get(sid)
                if sender_id is None or data.get("session_id") not in (None, sender_id):
                    logger.warning("socket.io message outside its confirmed session ignored")
                    return
            else:
                sender_id = sid
            text = data.get("message", "")
            text = text if isinstance(text, str) else str(text)
            address = addresses.get(sid, "unknown")
            admission = guard.screen(sender_id, address, lambda: is_emergency(text))
            if admission is Admission.EMERGENCY_ONLY:
                # Past the limits, an emergency still gets its answer, without the model.
                await output.send_response(sender_id, emergency_answer())
                return
            if admission is Admission.REFUSED:
                await output.send_text_message(sender_id, too_many_text())
                return
            screened = screen_length(text, max_length)
            if screened is None:
                logger.info("socket.io message over %d characters refused", max_length)
                await output.send_text_message(sender_id, too_long_text())
                return
            metadata = stamp_address(
                screen_metadata(data.get(self.metadata_key), settings.max_metadata_bytes),
                address,
                session_key(),
            )  # the address, hashed, for the per-address handoff limit (core/handoff_limits.py)
            with watching_action_failures() as failures:
                await on_new_message(
                    UserMessage(
                        screened,
                        output,
                        sender_id,
                        input_channel=self.name(),
                        metadata=metadata,
                    )
                )
            rasa_app = getattr(blueprint.ctx, "rasa_app", None)
            # Only a message that reads as an emergency needs the paused check, which
            # reads the conversation from the database: not every message pays for it.
            if screened == EMERGENCY_PAYLOAD or is_emergency(screened):
                await answer_emergency_while_paused(rasa_app, sender_id, output)
            if failures:
                await explain_actions_failed(rasa_app, sender_id, output)

        return blueprint
