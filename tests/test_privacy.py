"""Families' personal data: encrypted at rest, kept out of the logs, deleted on time or
on request, and conversations that survive a restart of the Rasa server."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from console import feedback_store, inbox
from console.retention import purge
from core.data_protection import DataKeyError
from core.handoff_store import NewHandoff, create_request, recent_requests, reencrypt_all, utcnow
from tests.action_helper import ROOT
from tests.servers import running_servers

FAMILY = {
    "name": "Rosa Delgado-Whitfield",
    "phone": "617-555-0147",
    "phone_e164": "+16175550147",
    "need": "Our daughter Lucia relapsed in March",
}


def new_request(database_url: str, sender_id: str = "conversation-1") -> str:
    request = create_request(
        database_url,
        NewHandoff(
            sender_id=sender_id,
            channel="socketio",
            name=FAMILY["name"],
            role="parent",
            contact_kind="phone",
            contact_value=FAMILY["phone_e164"],
            patient_age="7",
            need=FAMILY["need"],
            consent=True,
            transcript=[{"who": "Family", "text": FAMILY["need"], "at": ""}],
        ),
        ["email"],
    )
    return request.reference


def raw_row(database_url: str) -> str:
    path = database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT name, contact_value, need, transcript FROM handoff_requests"
        ).fetchall()
    return repr(rows)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'handoffs.db'}"


@pytest.fixture
def data_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("CART_DATA_KEYS", key)
    return key


# ---- Encryption at rest ----


def test_contact_details_are_encrypted_at_rest_and_readable_through_the_store(
    database_url: str, data_key: str
) -> None:
    new_request(database_url)

    stored = raw_row(database_url)
    for secret in (FAMILY["name"], FAMILY["phone_e164"], "Lucia", "relapsed"):
        assert secret not in stored
    assert stored.count("enc1:") == 4
    [request] = recent_requests(database_url)
    assert (request.name, request.contact_value, request.need) == (
        FAMILY["name"],
        FAMILY["phone_e164"],
        FAMILY["need"],
    )


def test_without_the_key_the_data_cannot_be_read(
    database_url: str, data_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_request(database_url)
    monkeypatch.setenv("CART_DATA_KEYS", Fernet.generate_key().decode())
    with pytest.raises(DataKeyError):
        recent_requests(database_url)


def test_a_key_is_rotated_without_losing_anything(
    database_url: str, data_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_request(database_url)
    before = raw_row(database_url)
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("CART_DATA_KEYS", f"{new_key},{data_key}")

    assert reencrypt_all(database_url) == 1

    assert raw_row(database_url) != before
    monkeypatch.setenv("CART_DATA_KEYS", new_key)  # the old key is gone now
    assert recent_requests(database_url)[0].name == FAMILY["name"]


# ---- Retention and the right to be forgotten ----


def _tracker_db(path: Path, conversations: dict[str, float]) -> str:
    """An events table as Rasa's SQLTrackerStore writes it, one event per conversation."""
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), "
            "type_name VARCHAR(255), timestamp FLOAT, intent_name TEXT, action_name TEXT, "
            "data TEXT)"
        )
        for sender, stamp in conversations.items():
            connection.execute(
                "INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (?, ?, ?, ?)",
                (sender, "user", stamp, '{"text": "my phone is 617-555-0147"}'),
            )
    return f"sqlite:///{path}"


def _rate_and_queue(database_url: str, sender: str, at: datetime) -> None:
    """A family's "No" on an answer and the queue item it made (the learning loop)."""
    answer = feedback_store.RatedAnswer(7, 5, "utter_crs", "crs", 0.9)
    assert feedback_store.record_feedback(database_url, sender, answer, False, "dosing?")
    with feedback_store.store(database_url) as session, session.begin():
        for rating in session.query(feedback_store.AnswerFeedback).filter_by(
            conversation_id=sender
        ):
            rating.created_at = at
        session.add(feedback_store.ReviewItem(
            created_at=at, conversation_id=sender, user_event_id=5, reason="rated_no",
            text="what dose of [NAME]"))  # fmt: skip


def _learning_loop_senders(database_url: str) -> tuple[set[str], set[str]]:
    """(conversations with ratings, conversations with queue items)."""
    with feedback_store.store(database_url) as session:
        rated = {f.conversation_id for f in session.query(feedback_store.AnswerFeedback)}
        queued = {i.conversation_id for i in session.query(feedback_store.ReviewItem)}
    return rated, queued


def _senders(tracker_url: str) -> set[str]:
    with sqlite3.connect(tracker_url.removeprefix("sqlite:///")) as connection:
        return {row[0] for row in connection.execute("SELECT sender_id FROM events")}


def test_purge_deletes_idle_conversations_and_old_closed_requests_only(
    database_url: str, data_key: str, tmp_path: Path
) -> None:
    now = utcnow()
    tracker_url = _tracker_db(
        tmp_path / "conversations.db",
        {
            "old": (now - timedelta(days=100)).timestamp(),
            "recent": (now - timedelta(days=2)).timestamp(),
        },
    )
    closed = new_request(database_url, "old")
    still_open = new_request(database_url, "old-but-open")
    inbox.record(database_url, closed, "alex", "status", "closed")
    _rate_and_queue(database_url, "old", now - timedelta(days=100))
    _rate_and_queue(database_url, "recent", now - timedelta(days=2))

    first = purge(database_url, tracker_url, days=90, now=now)
    assert (first.conversations, first.review_items) == (1, 1)
    assert _senders(tracker_url) == {"recent"}
    # The learning loop's copies of the old conversation go with it.
    assert _learning_loop_senders(database_url) == ({"recent"}, {"recent"})
    assert "Erased 1 review queue item(s), and the answer ratings" in first.report()
    assert {r.reference for r in recent_requests(database_url)} == {closed, still_open}

    later = now + timedelta(days=91)  # the requests are now old enough too
    result = purge(database_url, tracker_url, days=90, now=later)
    assert result.requests == 1
    assert {r.reference for r in recent_requests(database_url)} == {still_open}


def test_forget_deletes_everything_for_one_conversation(
    database_url: str, data_key: str, tmp_path: Path
) -> None:
    now = utcnow().timestamp()
    tracker_url = _tracker_db(tmp_path / "conversations.db", {"family-a": now, "family-b": now})
    new_request(database_url, "family-a")
    kept = new_request(database_url, "family-b")
    for sender in ("family-a", "family-b"):
        _rate_and_queue(database_url, sender, utcnow())

    environment = {
        "CART_DATABASE_URL": database_url,
        "CART_TRACKER_URL": tracker_url,
        "CART_DATA_KEYS": data_key,
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "console.retention", "forget", "family-a"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert "deleted 1 conversation(s) and 1 request(s), 1 review queue item(s)" in done.stdout
    assert "Erased 1 review queue item(s), and the answer ratings with them" in done.stdout
    assert "data/nlu/reviewed.yml" in done.stdout.split("Not erased:", 1)[1]
    assert _senders(tracker_url) == {"family-b"}
    assert _learning_loop_senders(database_url) == ({"family-b"}, {"family-b"})
    assert [r.reference for r in recent_requests(database_url)] == [kept]


# ---- With the real servers ----


def test_a_restarted_rasa_server_continues_the_conversation_and_logs_no_personal_data(
    tmp_path: Path, data_key: str
) -> None:
    database_url = f"sqlite:///{tmp_path / 'handoffs.db'}"
    env = {
        "CART_TRACKER_URL": f"sqlite:///{tmp_path / 'conversations.db'}",
        "CART_DATABASE_URL": database_url,
        "CART_DATA_KEYS": data_key,
    }
    sender = f"family-{uuid.uuid4().hex[:8]}"
    with running_servers(tmp_path / "first", env) as servers:
        assert "How old is the patient?" in servers.texts(sender, "is my child eligible")
        assert "B-cell" in servers.texts(sender, "7")
        servers.say(sender, "talk to a coordinator")
        assert "Who are you?" in servers.texts(sender, FAMILY["name"])
    with running_servers(tmp_path / "second", env) as servers:
        # A new process, the same conversation: the handoff goes on where it was.
        assert "How can a coordinator reach you?" in servers.texts(sender, "parent")
        for message in (FAMILY["phone"], "7", FAMILY["need"]):
            servers.say(sender, message)
        assert "Your request is saved" in servers.texts(sender, "/affirm")
    with running_servers(tmp_path / "third", env) as servers:
        # Restarted once more: the request is neither lost nor made again.
        answer = servers.texts(sender, "what is my reference number")
    requests_made = recent_requests(database_url)
    assert len(requests_made) == 1
    assert requests_made[0].reference in answer
    assert requests_made[0].name == FAMILY["name"]

    logs = "\n".join(p.read_text(errors="replace") for p in tmp_path.glob("*/*.log"))
    assert "Handoff request CT-" in logs  # the logs were read, and they are at INFO
    for secret in (FAMILY["name"], FAMILY["phone"], FAMILY["phone_e164"], "Lucia", "eligible"):
        assert secret not in logs, secret
