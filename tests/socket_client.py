"""A plain socket.io client of the Rasa server's channel, as the widget talks to it."""

from __future__ import annotations

import threading
import time
from typing import Any

import socketio

# The server issues the conversation ids (channels/session_ids.py): a test names its
# conversation, and the name stands for the id the server issued for it the first time.
_issued: dict[str, str] = {}


def issued_id(name: str) -> str:
    """The id the server issued for the conversation a test called `name`."""
    return _issued[name]


def connect(
    url: str,
    received: list[dict],
    origin: str | None = None,
    headers: dict[str, str] | None = None,
) -> socketio.Client:
    """Connected over WebSocket; `origin`: the web page it claims to come from (None: no
    Origin header, like a server-side client)."""
    options: dict[str, Any] = {"origin": origin} if origin else {"suppress_origin": True}
    client = socketio.Client(reconnection=False, websocket_extra_options=options)
    client.on("bot_uttered", received.append)
    client.connect(
        url,
        headers=headers or {},
        socketio_path="/socket.io",
        transports=["websocket"],
        wait_timeout=10,
    )
    return client


def exchange(
    url: str,
    session_id: str,
    messages: list[Any],
    origin: str | None = None,
    headers: dict[str, str] | None = None,
) -> list[list[dict]]:
    """Sends each message and collects what came back for it (acknowledged when done).
    `session_id`: the test's name for the conversation (see `issued_id`)."""
    received: list[dict] = []
    confirmed: list[str] = []
    ready = threading.Event()
    client = connect(url, received, origin, headers)
    client.on("session_confirm", lambda sid: (confirmed.append(sid), ready.set()))
    try:
        client.emit("session_request", {"session_id": _issued.get(session_id, session_id)})
        assert ready.wait(10), "no session_confirm"
        issued = _issued.setdefault(session_id, confirmed[0])
        assert confirmed[0] == issued, "the server did not resume the conversation"
        replies = []
        for message in messages:
            received.clear()
            payload = message if isinstance(message, dict) else {"message": message}
            client.call("user_uttered", {**payload, "session_id": issued}, timeout=30)
            time.sleep(0.05)
            replies.append(list(received))
        return replies
    finally:
        client.disconnect()


def confirm_session(client: socketio.Client, requested: object = None) -> str:
    """Asks the server for a conversation (`requested`: an id to resume, or None) and
    returns the id it confirmed: the only one this socket may then write to."""
    confirmed: list[str] = []
    ready = threading.Event()
    client.on("session_confirm", lambda sid: (confirmed.append(sid), ready.set()))
    client.emit("session_request", {"session_id": requested})
    assert ready.wait(10), "no session_confirm"
    return confirmed[-1]


def texts(replies: list[dict]) -> str:
    return "\n".join(r.get("text", "") for r in replies)
