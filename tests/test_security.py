"""Who may use the chat channels, and how much: the CORS allow-list, per-conversation
and per-address rate limits, and the bound on client metadata, against the real Rasa
server on loopback (REST and socket.io)."""

from __future__ import annotations

import itertools
import json
import sqlite3
import uuid
from collections.abc import Iterator

import pytest
import requests
import socketio

from components.encrypted_events import read_event_data
from core.settings import load_contacts
from tests.servers import Servers, running_servers
from tests.socket_client import exchange, texts

PAGE = "https://hospital.example"
OTHER_PAGE = "https://evil.example"
PER_SENDER, PER_ADDRESS = 5, 12
_addresses = (f"198.51.100.{n}" for n in itertools.count(1))


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    env = {
        "CART_ALLOWED_ORIGINS": PAGE,
        "CART_SENDER_MESSAGES_PER_MINUTE": str(PER_SENDER),
        "CART_ADDRESS_MESSAGES_PER_MINUTE": str(PER_ADDRESS),
        # The tests stand behind a "load balancer" on loopback, so each can be a family
        # at its own address (X-Forwarded-For).
        "CART_TRUSTED_PROXIES": "127.0.0.1",
    }
    with running_servers(tmp_path_factory.mktemp("security-logs"), env) as running:
        yield running


def new_address() -> str:
    return next(_addresses)


def post(
    servers: Servers,
    sender: str,
    message: str,
    address: str,
    origin: str | None = None,
    metadata: object = None,
) -> requests.Response:
    headers = {"X-Forwarded-For": address, **({"Origin": origin} if origin else {})}
    body: dict[str, object] = {"sender": sender, "message": message}
    if metadata is not None:
        body["metadata"] = metadata
    return requests.post(
        f"{servers.rasa_url}/webhooks/rest/webhook", json=body, headers=headers, timeout=30
    )


def reply_text(response: requests.Response) -> str:
    return " ".join(m.get("text", "") for m in response.json())


# ---- CORS allow-list ----


def test_rest_answers_an_allowed_page_with_cors_headers(servers: Servers) -> None:
    response = post(servers, uuid.uuid4().hex, "what is kymriah", new_address(), origin=PAGE)
    assert response.status_code == 200 and "KYMRIAH" in reply_text(response)
    assert response.headers["Access-Control-Allow-Origin"] == PAGE
    preflight = requests.options(
        f"{servers.rasa_url}/webhooks/rest/webhook",
        headers={"Origin": PAGE, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert preflight.status_code == 204, preflight.text
    assert preflight.headers["Access-Control-Allow-Origin"] == PAGE
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]


def test_rest_refuses_another_page(servers: Servers) -> None:
    response = post(servers, uuid.uuid4().hex, "what is kymriah", new_address(), OTHER_PAGE)
    assert response.status_code == 403
    assert "may not use the chat" in response.json()["error"]
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = requests.options(
        f"{servers.rasa_url}/webhooks/rest/webhook", headers={"Origin": OTHER_PAGE}, timeout=10
    )
    assert preflight.status_code == 403
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_rest_without_origin_is_a_server_side_client(servers: Servers) -> None:
    response = post(servers, uuid.uuid4().hex, "what is kymriah", new_address())
    assert response.status_code == 200 and "KYMRIAH" in reply_text(response)


def test_socketio_accepts_only_allowed_pages(servers: Servers) -> None:
    headers = {"X-Forwarded-For": new_address()}
    with pytest.raises(socketio.exceptions.ConnectionError):
        exchange(servers.rasa_url, uuid.uuid4().hex, ["what is kymriah"], OTHER_PAGE, headers)
    [allowed] = exchange(servers.rasa_url, uuid.uuid4().hex, ["what is kymriah"], PAGE, headers)
    assert "KYMRIAH" in texts(allowed)
    [no_origin] = exchange(servers.rasa_url, uuid.uuid4().hex, ["what is kymriah"], None, headers)
    assert "KYMRIAH" in texts(no_origin)


# ---- Rate limits ----


def test_a_flooding_conversation_is_asked_kindly_to_slow_down(servers: Servers) -> None:
    sender, address = uuid.uuid4().hex, new_address()
    for _ in range(PER_SENDER):
        assert post(servers, sender, "what is kymriah", address).status_code == 200
    refused = post(servers, sender, "what is kymriah", address)
    assert refused.status_code == 429
    assert "faster than I can read" in reply_text(refused)
    assert load_contacts().program_phone in reply_text(refused)
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    # An emergency is never held back by the limit.
    urgent = post(servers, sender, "my daughter has a fever of 39.5 right now", address)
    assert urgent.status_code == 200 and "Call 911 now" in reply_text(urgent)
    # Everyone else is served.
    other = post(servers, uuid.uuid4().hex, "what is kymriah", new_address())
    assert other.status_code == 200 and "KYMRIAH" in reply_text(other)


def test_a_flooding_address_is_limited_across_conversations(servers: Servers) -> None:
    address = new_address()
    for _ in range(PER_ADDRESS):
        assert post(servers, uuid.uuid4().hex, "hello", address).status_code == 200
    refused = post(servers, uuid.uuid4().hex, "hello", address)
    assert refused.status_code == 429 and "faster than I can read" in reply_text(refused)
    assert post(servers, uuid.uuid4().hex, "hello", new_address()).status_code == 200


def test_socketio_flood_gets_the_kind_answer_and_emergencies_still_pass(
    servers: Servers,
) -> None:
    headers = {"X-Forwarded-For": new_address()}
    messages = ["what is kymriah"] * (PER_SENDER + 1) + ["he is having a seizure"]
    replies = exchange(servers.rasa_url, uuid.uuid4().hex, messages, PAGE, headers)
    assert all("KYMRIAH" in texts(r) for r in replies[:PER_SENDER])
    assert "faster than I can read" in texts(replies[PER_SENDER])
    assert "Call 911 now" in texts(replies[-1])


# ---- Client metadata ----


def _user_event_data(servers: Servers, sender: str) -> list[str]:
    with sqlite3.connect(servers.logs / "conversations.db") as connection:
        rows = connection.execute(
            "SELECT data FROM events WHERE sender_id = ? AND type_name = 'user'", (sender,)
        ).fetchall()
    return [read_event_data(row[0]) for row in rows]


def test_oversized_metadata_is_dropped_and_the_message_answered(servers: Servers) -> None:
    sender, address = uuid.uuid4().hex, new_address()
    small = post(servers, sender, "what is kymriah", address, metadata={"page": "car-t-faq"})
    # Over CART_MAX_METADATA_BYTES (4 KB) but under the request limit (a 1 MB body gets a
    # 413: tests/test_security_channels.py): the metadata is dropped, the message answered.
    big = post(servers, sender, "what is car t", address, metadata={"blob": "z" * 20_000})
    assert small.status_code == big.status_code == 200
    assert "CAR T" in reply_text(big)
    stored = _user_event_data(servers, sender)
    assert len(stored) == 2
    assert json.loads(stored[0])["metadata"]["page"] == "car-t-faq"
    assert "zzzz" not in stored[1] and len(stored[1]) < 5_000


def test_the_api_token_goes_on_rasa_s_command_line_only_inside_the_process() -> None:
    from components.rasa_server import command_with_token

    run = ["run", "--model", "m.tar.gz", "--enable-api"]
    assert command_with_token(run, "s3cret") == [*run, "--auth-token=s3cret"]
    # A token that starts with "-" still reaches Rasa's argument parser as the value.
    assert command_with_token(run, "-s3cret")[-1] == "--auth-token=-s3cret"
    assert command_with_token(["run"], "s3cret") == ["run"]  # API off: nothing added
    with pytest.raises(SystemExit, match="CART_RASA_API_TOKEN"):
        command_with_token(run, "")  # never an open API
