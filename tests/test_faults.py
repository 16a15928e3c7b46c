"""Faults, each made real and then repaired: the action server stopped and started again,
and the tracker store's PostgreSQL database cut off (through a loopback proxy) and
restored, with the real Rasa server and action server on loopback."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from components.encrypted_events import read_event_data
from core.handoff_store import recent_requests
from core.settings import load_contacts
from tests.browser import CuttableProxy
from tests.servers import Servers, running_servers
from tests.test_e2e_handoff import ANSWERS

CONTACTS = load_contacts()
UNAVAILABLE = "that part of me is not working"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    logs = tmp_path_factory.mktemp("faults-logs")
    env = {"CART_DATABASE_URL": f"sqlite:///{logs / 'handoffs.db'}"}
    with running_servers(logs, env) as running:
        yield running


def test_action_server_down_faqs_answered_the_rest_honest_then_it_recovers(
    servers: Servers,
) -> None:
    prescreen, handoff = f"prescreen-{uuid.uuid4().hex[:8]}", f"handoff-{uuid.uuid4().hex[:8]}"
    servers.stop_action_server()
    try:
        faq = servers.texts(f"faq-{uuid.uuid4().hex[:8]}", "what is kymriah")
        assert "KYMRIAH" in faq and UNAVAILABLE not in faq
        for sender, message in ((prescreen, "is my child eligible"),
                                (handoff, "i want to talk to a person")):  # fmt: skip
            answer = servers.texts(sender, message)
            assert UNAVAILABLE in answer, answer
            assert CONTACTS.program_phone in answer and CONTACTS.program_email in answer
            assert "How old is the patient?" not in answer
        urgent = servers.texts(f"urgent-{uuid.uuid4().hex[:8]}", "she is having a seizure now")
        assert "Call 911 now" in urgent
    finally:
        servers.start_action_server()
    # Recovered by itself, in the same conversations too.
    assert "How old is the patient?" in servers.texts(prescreen, "is my child eligible")
    answer = servers.texts(handoff, "i want to talk to a person")
    assert UNAVAILABLE not in answer and "name" in answer.lower()


def _user_texts(tracker_url: str, sender: str) -> list[str]:
    engine = sa.create_engine(tracker_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT data FROM events WHERE sender_id = :sender AND type_name = 'user' "
                    "ORDER BY id"
                ),
                {"sender": sender},
            )
            return [json.loads(read_event_data(row[0]))["text"] for row in rows]
    finally:
        engine.dispose()


def test_tracker_database_outage_loses_no_turn_and_no_handoff(
    postgres_url: str, tmp_path: Path
) -> None:
    direct = make_url(postgres_url)
    proxy = CuttableProxy(direct.port or 5432)
    proxied = direct.set(host="127.0.0.1", port=proxy.port)
    handoffs_url = f"sqlite:///{tmp_path / 'handoffs.db'}"
    env = {
        "CART_TRACKER_URL": proxied.render_as_string(hide_password=False),
        "CART_DATABASE_URL": handoffs_url,
    }
    sender = f"outage-{uuid.uuid4().hex[:8]}"
    try:
        with running_servers(tmp_path / "logs", env) as servers:
            servers.say(sender, "what is kymriah")
            servers.say(sender, "i'd like to talk to a coordinator")
            proxy.cut()  # the database goes away in the middle of the handoff
            for answer in ANSWERS:
                final = servers.texts(sender, answer)
            assert "Your request is saved" in final, final
            reference = final.split("**")[1]
            proxy.restore()
            # The conversation goes on with everything said during the outage.
            assert reference in servers.texts(sender, "what is my reference number")
            log = "\n".join(p.read_text(errors="replace") for p in servers.logs.glob("*.log"))
    finally:
        proxy.close()

    said = ["what is kymriah", "i'd like to talk to a coordinator", *ANSWERS,
            "what is my reference number"]  # fmt: skip
    stored = _user_texts(postgres_url, sender)
    assert stored == said  # in order, none lost, none doubled
    requests = [r for r in recent_requests(handoffs_url, 50) if r.sender_id == sender]
    assert [r.reference for r in requests] == [reference]
    assert "Tracker database unavailable" in log
