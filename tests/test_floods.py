"""Floods (issue #15, item 11): handoff requests have limits of their own, per
conversation and per network address, and an emergency past the message limits still
gets the emergency answer, but straight from the channel (no model, nothing stored) and
only a bounded number of times a minute.

The guard and the action run on their own (real SQLite, a real SMTP server); then the
whole path through the real Rasa and action servers over REST."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from actions.handoff import ActionHandoffToCoordinator
from channels import guard
from channels.guard import Admission, FloodGuard
from core import handoff_limits
from core.handoff_store import recent_requests
from tests.action_helper import make_tracker, run_action
from tests.conftest import SmtpServer
from tests.servers import Servers, running_servers

EMERGENCY = "he is having a seizure right now"

# ---- The guard ----


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_past_the_limits_emergencies_get_a_bounded_number_of_direct_answers() -> None:
    settings = SimpleNamespace(sender_messages_per_minute=2, address_messages_per_minute=0)
    clock = Clock()
    flood = FloodGuard(settings, clock=clock, emergency_answers_per_minute=3)
    asked: list[str] = []

    def emergency() -> bool:
        asked.append("asked")
        return True

    assert [flood.screen("a", "1.2.3.4", emergency) for _ in range(2)] == [Admission.ASSISTANT] * 2
    assert asked == []  # within the limits nobody pays for the emergency check
    assert flood.screen("a", "1.2.3.4", lambda: False) is Admission.REFUSED
    answers = [flood.screen("a", "1.2.3.4", emergency) for _ in range(5)]
    assert answers == [Admission.EMERGENCY_ONLY] * 3 + [Admission.REFUSED] * 2
    assert flood.screen("b", "5.6.7.8", lambda: False) is Admission.ASSISTANT  # others go on
    clock.now += 61
    assert flood.screen("a", "1.2.3.4", lambda: False) is Admission.ASSISTANT


def test_the_address_reaches_the_action_hashed_and_cannot_be_chosen_by_the_client() -> None:
    assert guard.ADDRESS_METADATA_KEY == handoff_limits.ADDRESS_METADATA_KEY
    client = {"language": "en", guard.ADDRESS_METADATA_KEY: "chosen-by-the-client"}
    stamped = guard.stamp_address(client, "203.0.113.7", b"key")
    assert stamped["language"] == "en"
    value = stamped[guard.ADDRESS_METADATA_KEY]
    assert value != "chosen-by-the-client" and "203.0.113" not in value
    assert value == guard.stamp_address({}, "203.0.113.7", b"key")[guard.ADDRESS_METADATA_KEY]
    assert value != guard.stamp_address({}, "203.0.113.8", b"key")[guard.ADDRESS_METADATA_KEY]


# ---- The handoff action ----

FORM = {
    "handoff_name": "Sam Rivera",
    "handoff_role": "parent",
    "handoff_contact": "sam@example.org",
    "handoff_age": "8",
    "handoff_need": "Could my son get CAR T?",
    "handoff_consent": True,
}


@pytest.fixture
def handoff_env(
    tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    database_url = f"sqlite:///{tmp_path / 'handoffs.db'}"
    monkeypatch.setenv("CART_DATABASE_URL", database_url)
    monkeypatch.setenv("CART_SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("CART_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("CART_HANDOFFS_PER_CONVERSATION", "2")
    monkeypatch.setenv("CART_HANDOFFS_PER_ADDRESS", "3")
    yield database_url


def hand_off(sender: str, address: str | None) -> tuple[list[str], list]:
    tracker = make_tracker(slots=dict(FORM))
    tracker.sender_id = sender
    metadata = {handoff_limits.ADDRESS_METADATA_KEY: address} if address else {}
    tracker.events = [{"event": "user", "text": "/affirm", "metadata": metadata}]
    run = run_action(ActionHandoffToCoordinator(), tracker)
    return run.responses, run.events


def test_one_conversation_makes_a_bounded_number_of_requests(
    handoff_env: str, smtp_server: SmtpServer
) -> None:
    for _ in range(2):
        responses, _ = hand_off("family-a", "address-1")
        assert responses[0].startswith("utter_handoff_saved")  # open or closed hours
    latest = recent_requests(handoff_env)[0].reference
    responses, events = hand_off("family-a", "address-1")
    assert responses == ["utter_handoff_reference"]  # the one it has, nothing new
    assert {"event": "slot", "name": "handoff_reference", "value": latest} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events
    ]
    assert len(recent_requests(handoff_env)) == 2
    assert len(smtp_server.sink.messages) == 2  # no mail for the refused one


def test_one_address_makes_a_bounded_number_of_requests(
    handoff_env: str, smtp_server: SmtpServer
) -> None:
    for n in range(3):
        responses, _ = hand_off(f"family-{n}", "address-2")
        assert responses[0].startswith("utter_handoff_saved")
    assert hand_off("family-9", "address-2")[0] == ["utter_handoff_not_saved"]
    # Another address, and a message without one (the shell), are not held back.
    assert hand_off("family-10", "address-3")[0][0].startswith("utter_handoff_saved")
    assert hand_off("family-11", None)[0][0].startswith("utter_handoff_saved")
    assert len(recent_requests(handoff_env)) == 5
    assert len(smtp_server.sink.messages) == 5


# ---- Through the real servers ----

SENDER_LIMIT = 8  # a whole handoff is 7 messages


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    logs = tmp_path_factory.mktemp("floods")
    env = {
        "CART_DATABASE_URL": f"sqlite:///{logs / 'handoffs.db'}",
        "CART_SENDER_MESSAGES_PER_MINUTE": str(SENDER_LIMIT),
        "CART_EMERGENCY_ANSWERS_PER_MINUTE": "2",
        "CART_HANDOFFS_PER_ADDRESS": "1",
        "CART_SMTP_PORT": "9",  # nobody listens: the mail stays pending, as it may
    }
    with running_servers(logs, env) as running:
        yield running


def stored_events(servers: Servers, sender: str) -> int:
    with sqlite3.connect(servers.logs / "conversations.db") as connection:
        return connection.execute(
            "SELECT COUNT(*) FROM events WHERE sender_id = ?", (sender,)
        ).fetchone()[0]


def post(servers: Servers, sender: str, message: str) -> requests.Response:
    return requests.post(
        f"{servers.rasa_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": message},
        timeout=60,
    )


def test_a_flood_of_emergencies_gets_the_answer_without_the_model_then_slow_down(
    servers: Servers,
) -> None:
    sender = f"flood-{uuid.uuid4().hex[:8]}"
    for _ in range(SENDER_LIMIT):
        assert post(servers, sender, "hi").status_code == 200
    assert post(servers, sender, "what is kymriah").status_code == 429
    before = stored_events(servers, sender)
    for _ in range(2):
        answer = post(servers, sender, EMERGENCY)
        assert answer.status_code == 200
        assert "Call 911 now" in answer.json()[0]["text"]
    assert stored_events(servers, sender) == before  # no model turn, nothing stored
    flood = post(servers, sender, EMERGENCY)
    assert flood.status_code == 429 and "call 911" in flood.json()[0]["text"]


def test_a_second_conversation_from_the_same_address_cannot_add_a_request(
    servers: Servers,
) -> None:
    texts = []
    for _ in range(2):
        sender = f"family-{uuid.uuid4().hex[:8]}"
        for message in ("talk to a coordinator", "Sam Rivera", "parent", "sam@example.org", "8"):
            servers.say(sender, message)
        servers.say(sender, "Could my son get CAR T?")
        texts.append(servers.texts(sender, "/affirm"))
    assert "CT-" in texts[0]
    assert "could not save your request" in texts[1] and "CT-" not in texts[1]
    assert len(recent_requests(f"sqlite:///{servers.logs / 'handoffs.db'}")) == 1
