"""Handoff building blocks: validators, office hours, references, transcript, storage, email."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import (
    MAX_FAILURES,
    ValidateHandoffForm,
    parse_name,
    parse_role,
)
from core.contact_validation import parse_contact, readable_contact
from core.handoff_store import NewHandoff, create_request, format_reference, recent_requests
from core.notify import compose_email, deliver_due
from core.office_hours import describe_opening, is_open, next_opening
from core.settings import load_handoff_settings
from core.transcript import build_transcript
from scripts.devstack import free_port
from tests.action_helper import load_domain, make_tracker
from tests.conftest import MailSink, SmtpServer

NEW_YORK = ZoneInfo("America/New_York")
SETTINGS = load_handoff_settings()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)


# ---- contact details -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("617-555-0123", "phone", "+16175550123"),
        ("(617) 919 7008", "phone", "+16179197008"),
        ("call me at 617.919.7008 please", "phone", "+16179197008"),
        ("+44 20 7946 0958", "phone", "+442079460958"),
        ("Jane.Doe@Example.org", "email", "Jane.Doe@example.org"),
        ("my email is jane@example.org.", "email", "jane@example.org"),
    ],
)
def test_contact_is_normalised(text: str, kind: str, value: str) -> None:
    contact = parse_contact(text)
    assert contact is not None and (contact.kind, contact.value) == (kind, value)


@pytest.mark.parametrize("text", ["", "12345", "foo@bar", "call me", "@", "x" * 300, "555"])
def test_invalid_contacts_are_refused(text: str) -> None:
    assert parse_contact(text) is None


@pytest.mark.parametrize(
    ("text", "role"),
    [
        ("parent or guardian", "parent"),
        ("I'm her mom", "parent"),
        ("grandfather", "parent"),
        ("I am the patient", "patient"),
        ("referring clinician", "clinician"),
        ("I'm his oncologist", "clinician"),
        ("other", "other"),
        ("banana", None),
    ],
)
def test_roles(text: str, role: str | None) -> None:
    assert parse_role(text) == role


def test_names() -> None:
    assert parse_name("My name is Maria Lopez") == "Maria Lopez"
    assert parse_name("  José   García ") == "José García"
    assert parse_name("12345") is None and parse_name("") is None and parse_name("x" * 201) is None
    assert parse_name("Mary-Kate O'Neil") == "Mary-Kate O'Neil"
    for not_a_name in ("help", "Hello", "what is crs?", "no",
                       "I need some help with my son's treatment please"):  # fmt: skip
        assert parse_name(not_a_name) is None, not_a_name


def test_invalid_answer_is_asked_again_with_an_example() -> None:
    dispatcher = CollectingDispatcher()
    result = ValidateHandoffForm().validate_handoff_contact(
        "not a number", dispatcher, make_tracker(slots={"handoff_failures": 0}), load_domain()
    )
    assert result == {"handoff_contact": None, "handoff_failures": 1}
    assert [m["response"] for m in dispatcher.messages] == ["utter_handoff_contact_again"]


def test_valid_answer_resets_the_failures() -> None:
    result = ValidateHandoffForm().validate_handoff_contact(
        "617 555 0123",
        CollectingDispatcher(),
        make_tracker(slots={"handoff_failures": 2}),
        load_domain(),
    )
    assert result == {"handoff_contact": "+16175550123", "handoff_failures": 0}


def test_third_failure_in_a_row_ends_the_form() -> None:
    import asyncio

    form, dispatcher = ValidateHandoffForm(), CollectingDispatcher()
    third = form.validate_handoff_name(
        "123", dispatcher, make_tracker(slots={"handoff_failures": MAX_FAILURES - 1}), load_domain()
    )
    assert third["handoff_failures"] == MAX_FAILURES
    assert dispatcher.messages == []  # no third "try again": the action gives the contacts
    remaining = asyncio.run(
        form.required_slots(
            ["handoff_name"],
            dispatcher,
            make_tracker(slots={"handoff_failures": MAX_FAILURES}),
            load_domain(),
        )
    )
    assert remaining == []


def test_age_is_optional_and_consent_is_explicit() -> None:
    form, d, t, domain = (
        ValidateHandoffForm(),
        CollectingDispatcher(),
        make_tracker(),
        load_domain(),
    )
    assert form.validate_handoff_age("skip", d, t, domain)["handoff_age"] == "not given"
    assert form.validate_handoff_age("7 years", d, t, domain)["handoff_age"] == "7"
    assert form.validate_handoff_consent(True, d, t, domain)["handoff_consent"] is True
    assert form.validate_handoff_consent("no thanks", d, t, domain)["handoff_consent"] is False
    assert form.validate_handoff_consent("maybe later", d, t, domain)["handoff_consent"] is None


# ---- office hours ------------------------------------------------------------------------


def test_inside_office_hours() -> None:
    assert is_open(at("2026-11-24T10:30"), SETTINGS)  # a Tuesday


@pytest.mark.parametrize("moment", ["2026-11-24T07:59", "2026-11-24T17:00", "2026-11-24T23:00"])
def test_outside_office_hours(moment: str) -> None:
    assert not is_open(at(moment), SETTINGS)


def test_weekend_waits_for_monday() -> None:
    saturday = at("2026-11-21T11:00")
    assert not is_open(saturday, SETTINGS)
    opening = next_opening(saturday, SETTINGS)
    assert opening == at("2026-11-23T08:00")
    assert describe_opening(opening, saturday) == "Monday at 8:00 AM"


def test_holiday_is_closed_and_skipped() -> None:
    thanksgiving_eve = at("2026-11-25T18:00")
    assert not is_open(at("2026-11-26T10:00"), SETTINGS)
    assert next_opening(thanksgiving_eve, SETTINGS) == at("2026-11-30T08:00")


def test_custom_holiday_list() -> None:
    settings = replace(SETTINGS, holidays=(date(2026, 11, 24),))
    assert not is_open(at("2026-11-24T10:30"), settings)


def test_daylight_saving_change_keeps_local_hours() -> None:
    # DST ends Sunday 2026-11-01: 8:00 in New York is 12:00 UTC before, 13:00 UTC after.
    friday_evening = datetime(2026, 10, 30, 22, 0, tzinfo=timezone.utc)
    opening = next_opening(friday_evening, SETTINGS)
    assert opening.astimezone(timezone.utc) == datetime(2026, 11, 2, 13, 0, tzinfo=timezone.utc)
    assert is_open(datetime(2026, 11, 2, 13, 30, tzinfo=timezone.utc), SETTINGS)
    assert not is_open(datetime(2026, 11, 2, 12, 30, tzinfo=timezone.utc), SETTINGS)
    # And in spring (2026-03-08) the other way round.
    assert is_open(datetime(2026, 3, 9, 12, 30, tzinfo=timezone.utc), SETTINGS)


def test_describe_opening() -> None:
    now = at("2026-11-24T18:00")
    assert describe_opening(at("2026-11-25T08:00"), now) == "tomorrow at 8:00 AM"
    assert describe_opening(at("2026-12-07T08:00"), now) == "Monday, December 7 at 8:00 AM"


# ---- references and transcript ----------------------------------------------------------


def test_reference_format() -> None:
    assert format_reference(42, datetime(2026, 11, 24)) == "CT-2026-00042"
    assert format_reference(123456, datetime(2027, 1, 1)) == "CT-2027-123456"


def test_transcript_from_tracker_events() -> None:
    events = [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "hi", "timestamp": 1795000000.0},
        {"event": "bot", "text": "Hello!", "timestamp": 1795000001.0},
        {"event": "slot", "name": "x", "value": 1},
        {"event": "bot", "text": None},
        {"event": "user", "text": "<b>talk to a person</b>"},
    ]
    transcript = build_transcript(events)
    assert [(t["who"], t["text"]) for t in transcript] == [
        ("Family", "hi"),
        ("Assistant", "Hello!"),
        ("Family", "<b>talk to a person</b>"),
    ]
    assert transcript[0]["at"].startswith("2026-")


def test_a_stored_contact_reads_as_a_family_writes_it() -> None:
    assert readable_contact("+16175550123") == "(617) 555-0123"
    assert readable_contact("+442079460958") == "+44 20 7946 0958"
    assert readable_contact("maria@example.org") == "maria@example.org"


def test_transcript_shows_the_button_a_family_tapped_by_its_title() -> None:
    yes_no = [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]
    events = [
        {"event": "bot", "text": "May a coordinator call you?", "data": {"buttons": yes_no}},
        {"event": "user", "text": "/affirm"},
        {"event": "bot", "text": "Saved.", "data": {"buttons": [
            {"title": "Talk to a coordinator", "payload": "/request_human"}]}},
        {"event": "user", "text": "/deny"},  # a button offered earlier still reads as its title
        {"event": "user", "text": "/request_human"},
        {"event": "user", "text": "/unknown_payload"},  # no such button: shown as sent
    ]  # fmt: skip
    family = [t["text"] for t in build_transcript(events) if t["who"] == "Family"]
    assert family == ["Yes", "No", "Talk to a coordinator", "/unknown_payload"]


# ---- storage and notification -------------------------------------------------------------


def new_handoff(**changes: object) -> NewHandoff:
    values = dict(
        sender_id="s1",
        channel="rest",
        name="Maria Lopez",
        role="parent",
        contact_kind="phone",
        contact_value="+16175550123",
        patient_age="9",
        need="Could my son get CAR T?",
        consent=True,
        transcript=[{"who": "Family", "text": "hi", "at": ""}],
    )
    values.update(changes)
    return NewHandoff(**values)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'handoffs.db'}"
    return request.getfixturevalue("postgres_url")


def test_requests_are_stored_with_unique_references(database_url: str) -> None:
    first = create_request(database_url, new_handoff(), ["email"])
    second = create_request(database_url, new_handoff(name="Ann"), ["email"])
    assert first.reference != second.reference
    assert first.reference.startswith(f"CT-{first.created_at.year}-")
    stored = {r.reference: r for r in recent_requests(database_url)}
    assert stored[first.reference].name == "Maria Lopez"
    assert stored[first.reference].created_at.utcoffset() == timedelta(0)  # aware UTC, read back
    assert json.loads(stored[first.reference].transcript)[0]["text"] == "hi"
    assert [n.status for n in stored[first.reference].notifications] == ["pending"]


def test_a_deleted_requests_reference_is_never_given_again(
    database_url: str, tmp_path: Path
) -> None:
    """The audit log and the coordinators' emails keep a reference after its request is
    forgotten: a new request must not get it (SQLite reuses the highest deleted id unless
    the table is AUTOINCREMENT)."""
    from console.retention import forget

    create_request(database_url, new_handoff(sender_id="kept"), ["email"])
    latest = create_request(database_url, new_handoff(sender_id="forget-me"), ["email"])
    tracker_url = f"sqlite:///{tmp_path / 'conversations.db'}"
    assert forget(database_url, tracker_url, "forget-me").requests == 1
    assert latest.reference not in {r.reference for r in recent_requests(database_url)}

    after = create_request(database_url, new_handoff(sender_id="next"), ["email"])
    assert after.reference != latest.reference
    assert after.id > latest.id


def test_email_subject_is_only_the_reference(database_url: str) -> None:
    request = create_request(database_url, new_handoff(), ["email"])
    settings = replace(SETTINGS, database_url=database_url, console_url="http://127.0.0.1:8080")
    email = compose_email(request, settings, details=True)  # over STARTTLS, when configured
    assert email["Subject"] == request.reference
    body = email.get_content()
    assert "Maria Lopez" in body and "+16175550123" in body and "Could my son get CAR T?" in body
    assert f"http://127.0.0.1:8080/requests/{request.reference}" in body


def test_delivery_is_retried_until_the_smtp_server_accepts(
    database_url: str, smtp_server: SmtpServer
) -> None:
    settings = replace(
        SETTINGS, database_url=database_url, smtp_port=smtp_server.port, smtp_timeout=2
    )
    request = create_request(database_url, new_handoff(), ["email"])
    smtp_server.stop()
    now = datetime.now(timezone.utc)
    assert deliver_due(settings, now=now, request_id=request.id) == (0, 1)
    # Not due again before the back-off has passed.
    assert deliver_due(settings, now=now + timedelta(seconds=1), request_id=request.id) == (0, 0)
    smtp_server.start()
    later = now + timedelta(minutes=1)
    assert deliver_due(settings, now=later, request_id=request.id) == (1, 0)
    assert deliver_due(settings, now=later + timedelta(hours=1), request_id=request.id) == (0, 0)
    assert [m["Subject"] for m in smtp_server.sink.messages] == [request.reference]


def test_webhook_is_posted_when_configured(tmp_path: Path) -> None:
    """A real HTTP server on loopback stands in for a Teams/Slack-style inbox."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[dict] = []

    class Inbox(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Inbox)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    database_url = f"sqlite:///{tmp_path / 'handoffs.db'}"
    settings = replace(
        SETTINGS,
        database_url=database_url,
        webhook_url=f"http://127.0.0.1:{server.server_port}/hook",
        smtp_port=1,
        smtp_timeout=1,
    )
    try:
        request = create_request(database_url, new_handoff(), ["email", "webhook"])
        sent, failed = deliver_due(settings, request_id=request.id)
    finally:
        server.shutdown()
    assert (sent, failed) == (1, 1)  # the webhook went out; the email (no SMTP) waits
    assert received == [
        {
            "reference": request.reference,
            "created_at": request.created_at.isoformat(),
            "channel": "rest",
            "role": "parent",
            "link": None,
            "text": f"New request for a coordinator: {request.reference}",
        }
    ]
    # The webhook carries no personal details: only the reference and where to look.
    assert "Maria" not in json.dumps(received) and "+1617" not in json.dumps(received)


class _SlowInbox(MailSink):
    """An SMTP server that takes half a second to accept: two senders overlap."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.5)
        return await super().handle_DATA(server, session, envelope)


def test_the_action_and_the_worker_never_both_send_one_notification(database_url: str) -> None:
    """The action tries at once while the worker's pass may run: a real SMTP server, two
    real senders at the same moment, one email (a clean-clone run once got two)."""
    inbox = _SlowInbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = replace(SETTINGS, database_url=database_url, smtp_port=port, smtp_timeout=5)
        request = create_request(database_url, new_handoff(), ["email"])
        start = threading.Barrier(2)
        results: list[tuple[int, int]] = []

        def sender() -> None:
            start.wait()
            results.append(deliver_due(settings, request_id=request.id))

        threads = [threading.Thread(target=sender) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        controller.stop()
    assert sorted(results) == [(0, 0), (1, 0)]
    assert [m["Subject"] for m in inbox.messages] == [request.reference]
