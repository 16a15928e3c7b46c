"""Issue #15, items 1 and 6, against a real Rasa server on loopback:

- one huge message cannot stall the server: socket.io refuses a frame larger than the
  channel accepts (python-engineio's 1 MB default let it in), REST a body, before anything
  reads them, while another family goes on being answered;
- conversation ids are the server's: it issues signed ids, replaces any other, and a
  socket writes only to the conversation confirmed to it; REST needs a sender.
"""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from channels.session_ids import SESSION_ID_LENGTH, is_issued
from channels.socketio import too_long_text
from scripts.scaled_stack import nginx_binary, render_nginx_config
from tests.action_helper import ROOT
from tests.servers import Servers, free_port, running_servers
from tests.socket_client import confirm_session, connect, exchange, texts

SESSION_KEY = f"test-session-key-{uuid.uuid4().hex}"
# Just under python-engineio's default frame limit (1,000,000): accepted before the fix.
ONE_MEGABYTE = 999_000


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    env = {"CART_SESSION_KEY": SESSION_KEY}
    with running_servers(tmp_path_factory.mktemp("security-channels"), env) as running:
        yield running


_confirm = confirm_session


def _user_rows(servers: Servers, sender: str) -> int:
    with sqlite3.connect(servers.logs / "conversations.db") as connection:
        return connection.execute(
            "SELECT count(*) FROM events WHERE sender_id = ? AND type_name = 'user'", (sender,)
        ).fetchone()[0]


# ---- Item 1: one message must not stall the server ----


def test_a_1mb_socketio_message_is_refused_at_once_and_others_keep_answers(
    servers: Servers,
) -> None:
    # Another family, connected the whole time, asks before and after.
    answers: list[dict] = []
    family = connect(servers.rasa_url, answers)
    sender = connect(servers.rasa_url, [])
    try:
        own = _confirm(family, None)
        family.call("user_uttered", {"message": "what is kymriah", "session_id": own}, timeout=30)
        assert "KYMRIAH" in texts(answers)

        gone = threading.Event()
        sender.on("disconnect", lambda *_: gone.set())
        _confirm(sender, None)
        started = time.monotonic()
        sender.emit("user_uttered", {"message": "x" * ONE_MEGABYTE})
        assert gone.wait(5), "the 1 MB frame was accepted"
        refused_after = time.monotonic() - started

        answers.clear()
        started = time.monotonic()
        family.call("user_uttered", {"message": "what is car t", "session_id": own}, timeout=30)
        answered_after = time.monotonic() - started
        time.sleep(0.2)
        assert "CAR T" in texts(answers)
    finally:
        family.disconnect()
        if sender.connected:
            sender.disconnect()
    assert refused_after < 1.0, refused_after
    assert answered_after < 10, answered_after  # the same server goes on answering


def test_the_frame_limit_still_fits_the_longest_accepted_message(servers: Servers) -> None:
    """The limit is sized to what the channel accepts: 2,000 four-byte characters pass
    the transport; one character more gets the kind "too long" answer, not a cut line."""
    longest, too_long = "\U0001f600" * 2000, "a" * 2001
    accepted, refused = exchange(servers.rasa_url, uuid.uuid4().hex, [longest, too_long])
    assert accepted and too_long_text() not in texts(accepted)
    assert too_long_text() in texts(refused)


def test_a_1mb_rest_body_is_refused_before_it_is_parsed(servers: Servers) -> None:
    started = time.monotonic()
    response = requests.post(
        f"{servers.rasa_url}/webhooks/rest/webhook",
        json={"sender": uuid.uuid4().hex, "message": "x" * ONE_MEGABYTE},
        timeout=10,
    )
    assert time.monotonic() - started < 1.0
    assert response.status_code == 413
    assert servers.texts(uuid.uuid4().hex, "what is kymriah")  # and it goes on answering


# ---- Item 6: conversation ids are the server's ----


def test_an_id_is_issued_only_under_its_own_key() -> None:
    from channels.session_ids import issue

    mine, other = b"key-one", b"key-two"
    issued = issue(mine)
    assert is_issued(mine, issued) and not is_issued(other, issued)
    assert not is_issued(mine, issued.upper()) and not is_issued(mine, issued + "0")
    assert issue(mine) != issued  # random, never derived from anything the client sent


def test_socketio_replaces_an_id_it_did_not_issue_and_resumes_one_it_did(
    servers: Servers,
) -> None:
    client = connect(servers.rasa_url, [])
    try:
        for requested in (None, "family-123", uuid.uuid4().hex, "x" * 300, 42):
            issued = _confirm(client, requested)
            assert issued != requested
            assert len(issued) == SESSION_ID_LENGTH
            assert is_issued(SESSION_KEY.encode(), issued)
        forged = issued[:-1] + ("0" if issued[-1] != "0" else "1")
        assert _confirm(client, forged) != forged
    finally:
        client.disconnect()
    # A later connection that holds an issued id goes on with that conversation.
    other = connect(servers.rasa_url, [])
    try:
        assert _confirm(other, issued) == issued
    finally:
        other.disconnect()


def test_a_socket_writes_only_to_its_confirmed_conversation(servers: Servers) -> None:
    name = f"victim-{uuid.uuid4().hex}"
    exchange(servers.rasa_url, name, ["what is kymriah"])
    from tests.socket_client import issued_id

    victim = issued_id(name)
    assert _user_rows(servers, victim) == 1

    received: list[dict] = []
    intruder = connect(servers.rasa_url, received)
    try:
        # Without a session, and then naming the family's id in its messages.
        intruder.call("user_uttered", {"message": "hi", "session_id": victim}, timeout=30)
        own = _confirm(intruder, None)
        intruder.call("user_uttered", {"message": "hi", "session_id": victim}, timeout=30)
        time.sleep(0.5)
        assert received == []
        assert _user_rows(servers, victim) == 1  # nothing written into the family's chat
        intruder.call("user_uttered", {"message": "what is car t", "session_id": own}, timeout=30)
        time.sleep(0.2)
        assert "CAR T" in texts(received)  # its own conversation works
    finally:
        intruder.disconnect()


def test_rest_requires_a_sender_no_shared_default(servers: Servers) -> None:
    url = f"{servers.rasa_url}/webhooks/rest/webhook"
    response = requests.post(url, json={"message": "what is kymriah"}, timeout=30)
    assert response.status_code == 400
    assert "'sender'" in response.json()["error"]
    assert _user_rows(servers, "default") == 0


def test_rest_is_not_exposed_through_nginx(servers: Servers, tmp_path: Path) -> None:
    """The families' entry (the deploy template, as compose renders it too) passes
    socket.io and nothing of REST."""
    compose = (ROOT / "deploy" / "nginx" / "compose.conf").read_text(encoding="utf-8")
    assert "/webhooks/rest" not in compose.split("# - Nothing else")[1]
    listen = free_port()
    rasa = urlparse(servers.rasa_url).netloc
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / temp).mkdir()
    config = render_nginx_config(
        str(tmp_path), f"127.0.0.1:{listen}", f"127.0.0.1:{free_port()}", [rasa],
        [urlparse(servers.action_url).netloc],
    )  # fmt: skip
    (tmp_path / "nginx.conf").write_text(config)
    nginx = subprocess.Popen(
        [nginx_binary(), "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
         "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{listen}"
        for _ in range(50):
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        rest = requests.post(
            f"{url}/webhooks/rest/webhook",
            json={"sender": uuid.uuid4().hex, "message": "what is kymriah"},
            timeout=10,
        )
        assert rest.status_code == 404
        [replies] = exchange(url, uuid.uuid4().hex, ["what is kymriah"])
        assert "KYMRIAH" in texts(replies)  # the widget's channel passes
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
