"""Issue #15, item 3: what families write is encrypted at rest in the tracker store
(components/encrypted_events.py), on SQLite and PostgreSQL; conversations still go on
after a restart, and the staff API (the console's takeover and transcript) reads them."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered

from components.encrypted_events import read_event_data
from components.tracker_store import ProgramTrackerStore
from core.data_protection import DataKeyError
from core.handoff_store import recent_requests
from tests.action_helper import ROOT
from tests.servers import running_servers

DOMAIN = Domain.load(ROOT / "domain.yml")
NAME, PHONE, NEED = "Maria Lopez", "617-555-0123", "our son Mateo relapsed in March"
SECRETS = (NAME, "Maria", PHONE, "555-0123", "Mateo", "relapsed")


def run(coroutine):
    return asyncio.run(coroutine)


def raw_rows(url: str, sender: str) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                sa.text("SELECT type_name, intent_name, action_name, data FROM events "
                        "WHERE sender_id = :s ORDER BY id"),
                {"s": sender},
            ).fetchall()  # fmt: skip
    finally:
        engine.dispose()


def assert_no_plain_text(rows: list[tuple]) -> None:
    assert rows, "nothing was stored"
    raw = "\n".join(str(value) for row in rows for value in row)
    for secret in SECRETS:
        assert secret not in raw, secret


def a_family_turn(store: ProgramTrackerStore, sender: str) -> None:
    tracker = run(store.get_or_create_tracker(sender))
    tracker.update(UserUttered(f"I'm {NAME}, call me at {PHONE}", {"name": "inform"}))
    tracker.update(SlotSet("handoff_name", NAME))
    tracker.update(SlotSet("handoff_contact", PHONE))
    tracker.update(ActionExecuted("utter_ask_handoff_need"))
    tracker.update(BotUttered(f"Thank you, {NAME}. What do you need?"))
    tracker.update(ActionExecuted("action_listen"))
    tracker.update(UserUttered(NEED, {"name": "inform"}))
    run(store.save(tracker))


@pytest.fixture(params=["sqlite", "postgresql"])
def tracker_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'var' / 'conversations.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("CART_TRACKER_URL", url)
    return url


def test_the_raw_rows_hold_no_name_phone_or_message_and_a_restarted_store_reads_them(
    tracker_url: str,
) -> None:
    sender = f"family-{uuid.uuid4().hex[:8]}"
    a_family_turn(ProgramTrackerStore(domain=DOMAIN), sender)

    rows = raw_rows(tracker_url, sender)
    assert_no_plain_text(rows)
    # What stays readable is what the database needs to find and order a conversation.
    assert [tuple(row[:3]) for row in rows][:3] == [
        ("action", None, "action_listen"),
        ("user", "inform", None),
        ("slot", None, "handoff_name"),
    ]
    assert all(row[3].startswith("enc1:") for row in rows)

    # A new process (a restart, or another Rasa server) reads the conversation back ...
    restarted = ProgramTrackerStore(domain=DOMAIN)
    tracker = run(restarted.retrieve(sender))
    assert tracker.get_slot("handoff_name") == NAME
    assert tracker.latest_message.text == NEED
    # ... and so does the full history the HTTP API serves to the console's takeover.
    full = run(restarted.retrieve_full_tracker(sender))
    said = [e.text for e in full.events if isinstance(e, UserUttered)]
    assert said == [f"I'm {NAME}, call me at {PHONE}", NEED]
    # The conversation goes on, and the new turn is encrypted too.
    tracker.update(UserUttered("Mateo is 9", {"name": "inform"}))
    run(restarted.save(tracker))
    assert_no_plain_text(raw_rows(tracker_url, sender))
    assert run(ProgramTrackerStore(domain=DOMAIN).retrieve(sender)).latest_message.text == (
        "Mateo is 9"
    )


def test_conversations_stored_before_encryption_are_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'conversations.db'}"
    monkeypatch.setenv("CART_TRACKER_URL", url)
    store = ProgramTrackerStore(domain=DOMAIN)  # creates the table
    event = UserUttered("what is car t", {"name": "what_is_car_t"}).as_dict()
    with sqlite3.connect(tmp_path / "conversations.db") as connection:
        connection.execute(
            "INSERT INTO events (sender_id, type_name, timestamp, intent_name, data) "
            "VALUES ('old', 'user', ?, 'what_is_car_t', ?)",
            (event["timestamp"], json.dumps(event)),
        )
    assert run(store.retrieve("old")).latest_message.text == "what is car t"


def test_the_rasa_servers_own_keys_do_not_read_the_handoff_data_and_vice_versa(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'conversations.db'}"
    monkeypatch.setenv("CART_TRACKER_URL", url)
    monkeypatch.setenv("CART_TRACKER_KEYS", Fernet.generate_key().decode())
    a_family_turn(ProgramTrackerStore(domain=DOMAIN), "family")
    stored = raw_rows(url, "family")[1][3]
    assert json.loads(read_event_data(stored))["event"] == "user"
    # With only the handoff requests' keys (CART_DATA_KEYS), the conversation is unreadable.
    monkeypatch.delenv("CART_TRACKER_KEYS")
    with pytest.raises(DataKeyError):
        read_event_data(stored)


def test_a_handoff_through_the_real_servers_leaves_no_plain_text_in_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    """The Rasa server restarts in the middle of the handoff form; the conversation goes on,
    the request is made, the console's reader (the staff API) sees the words, the
    database does not."""
    database_url = f"sqlite:///{tmp_path / 'handoffs.db'}"
    env = {"CART_TRACKER_URL": postgres_url, "CART_DATABASE_URL": database_url}
    sender = f"family-{uuid.uuid4().hex[:8]}"
    token = uuid.uuid4().hex
    with running_servers(tmp_path / "first", env) as servers:
        servers.say(sender, "talk to a coordinator")
        assert "Who are you?" in servers.texts(sender, NAME)
    with running_servers(tmp_path / "second", env, api_token=token) as servers:
        assert "How can a coordinator reach you?" in servers.texts(sender, "parent")
        for message in (PHONE, "9", NEED):
            servers.say(sender, message)
        assert "Your request is saved" in servers.texts(sender, "/affirm")
        tracker = requests.get(
            f"{servers.rasa_url}/conversations/{sender}/tracker",
            params={"include_events": "ALL", "token": token},
            timeout=30,
        ).json()
    said = [e.get("text") for e in tracker["events"] if e["event"] == "user"]
    assert NAME in said and NEED in said
    assert [r.name for r in recent_requests(database_url) if r.sender_id == sender] == [NAME]
    assert_no_plain_text(raw_rows(postgres_url, sender))
