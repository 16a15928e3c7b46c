"""Issue #15, item 5: live takeover with several Rasa servers. Two real Rasa servers on
loopback share the conversations (one SQLite file) and, through Redis, their socket.io
rooms: a family's widget is connected to server A, the console talks to server B, and
the coordinator's words still reach the family. Before, B's socket.io server knew no
such room and the words went nowhere while the assistant stayed paused."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from console.takeover import RasaConversations, join, say
from tests.servers import Servers, running_servers
from tests.socket_client import confirm_session, connect, texts

REDIS_URL = os.environ.get("CART_TEST_REDIS_URL", "redis://127.0.0.1:6379/1")
TOKEN = f"token-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Servers, Servers]]:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        pytest.fail(f"This test needs Redis at {REDIS_URL} (CART_TEST_REDIS_URL): {error}")
    shared: Path = tmp_path_factory.mktemp("takeover")
    env = {
        "CART_TRACKER_URL": f"sqlite:///{shared / 'conversations.db'}",
        "CART_SESSION_KEY": f"key-{uuid.uuid4().hex}",  # both servers honour the same ids
        "CART_SOCKETIO_REDIS_URL": REDIS_URL,
    }
    with (
        running_servers(shared / "a", env) as server_a,
        running_servers(shared / "b", env, api_token=TOKEN) as server_b,
    ):
        yield server_a, server_b


def _wait_for(received: list[dict], text: str, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in texts(received):
            return True
        time.sleep(0.1)
    return False


def test_a_coordinator_on_server_b_reaches_a_family_on_server_a(
    two_servers: tuple[Servers, Servers],
) -> None:
    server_a, server_b = two_servers
    received: list[dict] = []
    family = connect(server_a.rasa_url, received)
    try:
        conversation = confirm_session(family)
        family.call("user_uttered", {"message": "what is kymriah", "session_id": conversation},
                    timeout=30)  # fmt: skip
        assert "KYMRIAH" in texts(received)

        # The console's own calls, to server B.
        console = RasaConversations(server_b.rasa_url, TOKEN)
        words = f"Hello, this is Alex from the program ({uuid.uuid4().hex[:6]})."
        asyncio.run(join(console, conversation, "Alex"))
        asyncio.run(say(console, conversation, "Alex", words))
        assert _wait_for(received, words), texts(received)
        [spoken] = [r for r in received if r.get("text") == words]
        assert spoken["sender"] == "coordinator" and spoken["name"] == "Alex"
    finally:
        family.disconnect()
