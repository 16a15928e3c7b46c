"""Handoff conversations over REST, through the real Rasa server, action server and
notification worker, with real databases (SQLite, PostgreSQL) and a real SMTP server."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from core.handoff_store import recent_requests
from core.settings import load_contacts
from tests.action_helper import load_domain
from tests.conftest import SmtpServer
from tests.servers import Servers, free_port, running_servers

CONTACTS = load_contacts()
RESPONSES = load_domain()["responses"]
ANSWERS = [
    "Maria Lopez",
    "parent or guardian",
    "617-555-0123",
    "9",
    "We want to know if our son could get CAR T",
    "/affirm",
]


def opening(response: str) -> str:
    return RESPONSES[response][0]["text"].split("{")[0][:40]


def wait_for(condition, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def complete_handoff(servers: Servers, sender: str) -> str:
    servers.say(sender, "hi")
    text = servers.texts(sender, "i'd like to talk to a coordinator")
    assert opening("utter_handoff_intro") in text
    replies = [servers.texts(sender, answer) for answer in ANSWERS]
    # The consent question names the number as the family wrote it, not as it is stored.
    assert "May a coordinator contact you at (617) 555-0123 about this?" in replies[-2]
    return replies[-1]


def sqlite_env(tmp_path: Path, smtp_server: SmtpServer) -> tuple[str, dict[str, str]]:
    database_url = f"sqlite:///{tmp_path / 'handoffs.db'}"
    return database_url, {
        "CART_DATABASE_URL": database_url,
        "CART_SMTP_PORT": str(smtp_server.port),
    }


def start_handoff(servers: Servers, sender: str) -> None:
    """Up to the contact question: name and role given."""
    for message in ("hi", "talk to a coordinator", "Maria Lopez", "parent"):
        servers.say(sender, message)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'handoffs.db'}"
    return request.getfixturevalue("postgres_url")


def test_whole_handoff_stores_one_request_and_emails_the_coordinators(
    database_url: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    env = {
        "CART_DATABASE_URL": database_url,
        "CART_SMTP_PORT": str(smtp_server.port),
        "CART_CONSOLE_URL": "http://127.0.0.1:8080",
    }
    with running_servers(tmp_path / "logs", env, notification_worker=True) as servers:
        sender = f"family-{uuid.uuid4().hex[:8]}"
        final = complete_handoff(servers, sender)
        before = {r.reference for r in recent_requests(database_url, 100)}
        assert "Your request is saved" in final and "CT-" in final
        assert CONTACTS.program_phone in final and "911" in final
        reference = final.split("**")[1]
        # The family can ask for the reference later in the same conversation.
        assert reference in servers.texts(sender, "what is my reference number")
        assert wait_for(lambda: len(smtp_server.sink.messages) >= 1)
        time.sleep(1.5)  # the worker must not send it again

    stored = [r for r in recent_requests(database_url, 100) if r.sender_id == sender]
    assert len(stored) == 1 and stored[0].reference in before
    request = stored[0]
    assert (request.name, request.role, request.contact_kind, request.contact_value) == (
        "Maria Lopez",
        "parent",
        "phone",
        "+16175550123",
    )
    assert request.patient_age == "9" and request.channel == "rest" and request.consent
    assert "talk to a coordinator" in request.transcript
    emails = [m for m in smtp_server.sink.messages if m["Subject"] == reference]
    assert len(emails) == 1
    body = emails[0].get_payload(decode=True).decode()
    # By default the email holds the reference and the link only (issue #15, item 4).
    assert "Maria Lopez" not in body and "+16175550123" not in body
    assert f"http://127.0.0.1:8080/requests/{reference}" in body
    assert [n.status for n in request.notifications] == ["sent"]


def test_smtp_down_during_the_conversation_then_up_delivers_once(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'handoffs.db'}"
    env = {
        "CART_DATABASE_URL": database_url,
        "CART_SMTP_PORT": str(smtp_server.port),
        "CART_SMTP_TIMEOUT": "2",
    }
    smtp_server.stop()
    with running_servers(tmp_path / "logs", env, notification_worker=True) as servers:
        final = complete_handoff(servers, f"family-{uuid.uuid4().hex[:8]}")
        assert "Your request is saved" in final  # the family is not told about our outage
        [request] = recent_requests(database_url)
        assert [n.status for n in request.notifications] == ["pending"]
        smtp_server.start()
        assert wait_for(lambda: len(smtp_server.sink.messages) == 1, seconds=40)
        time.sleep(2)
    assert [m["Subject"] for m in smtp_server.sink.messages] == [request.reference]
    [request] = recent_requests(database_url)
    assert [n.status for n in request.notifications] == ["sent"]


def test_database_unreachable_gives_an_honest_answer_and_the_server_keeps_going(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    closed_port = free_port()
    env = {
        "CART_DATABASE_URL": f"postgresql+psycopg2://postgres@127.0.0.1:{closed_port}/none",
        "CART_SMTP_PORT": str(smtp_server.port),
    }
    with running_servers(tmp_path / "logs", env) as servers:
        final = complete_handoff(servers, f"family-{uuid.uuid4().hex[:8]}")
        assert opening("utter_handoff_not_saved") in final
        assert CONTACTS.program_phone in final and CONTACTS.program_email in final
        assert "CT-" not in final
        assert opening("utter_crs") in servers.texts(f"other-{uuid.uuid4().hex[:6]}", "/crs")
        log = (tmp_path / "logs" / "action-server.log").read_text()
    assert "Could not store a handoff request: OperationalError" in log
    for private in ("Maria Lopez", "617-555-0123", "+16175550123", "our son could get"):
        assert private not in log
    assert smtp_server.sink.messages == []


def test_cancel_halfway_stores_nothing(smtp_server: SmtpServer, tmp_path: Path) -> None:
    database_url, env = sqlite_env(tmp_path, smtp_server)
    with running_servers(tmp_path / "logs", env) as servers:
        sender = f"family-{uuid.uuid4().hex[:8]}"
        start_handoff(servers, sender)
        text = servers.texts(sender, "stop")
        assert "Nothing was saved" in text and CONTACTS.program_phone in text
        assert opening("utter_crs") in servers.texts(sender, "what is crs")
        assert "don't have a request" in servers.texts(sender, "what is my reference")
    assert recent_requests(database_url) == []
    assert smtp_server.sink.messages == []


def test_three_bad_answers_end_kindly_and_no_consent_stores_nothing(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    database_url, env = sqlite_env(tmp_path, smtp_server)
    with running_servers(tmp_path / "logs", env) as servers:
        sender = f"family-{uuid.uuid4().hex[:8]}"
        start_handoff(servers, sender)
        assert "For example: 617-555-0123" in servers.texts(sender, "not telling")
        servers.say(sender, "nope nope")
        final = servers.texts(sender, "12")
        assert opening("utter_handoff_gave_up") in final and CONTACTS.program_email in final

        other = f"family-{uuid.uuid4().hex[:8]}"
        servers.say(other, "hi")
        servers.say(other, "talk to a coordinator")
        for answer in ANSWERS[:-1]:
            servers.say(other, answer)
        assert "no one will contact you" in servers.texts(other, "/deny")
    assert recent_requests(database_url) == []
