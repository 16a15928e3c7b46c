"""Long conversations behave as short ones (issue #18): the tracker store hands Rasa a
bounded window of each conversation (components/tracker_window.py), and after 150
messages the pre-screen, the handoff form, "what is my reference?", the two-turn fallback
and the coordinator's takeover answer exactly as in a new conversation. Through the real
Rasa server, action server, SQLite stores and SMTP server."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import sqlite3
import uuid
from collections.abc import Iterator

import pytest
import requests
from rasa.shared.core.trackers import EventVerbosity

from components.encrypted_events import read_event_data
from console.takeover import RasaConversations, hand_back, join
from core.handoff_store import recent_requests
from tests.conftest import SmtpServer
from tests.servers import Servers, running_servers

TOKEN = f"token-{secrets.token_hex(12)}"
# What a chatty family writes: FAQs, the pre-screen, a message not understood, thanks.
FILLER = ["what is car t", "how much does it cost", "qwzx plorb", "what is crs",
          "is my child eligible", "7", "yes", "yes", "where can we stay", "thanks"]  # fmt: skip
HANDOFF = ["talk to a coordinator", "Maria Lopez", "parent or guardian", "617-555-0123", "9",
           "We want to know if our son could get CAR T", "/affirm"]  # fmt: skip
# The behaviours that look back in the conversation, in the order the probe runs them.
PROBE = [
    "what is my reference?",  # none yet
    "qwzx plorb", "blorf zzk",  # two misunderstandings in a row: a coordinator is offered
    "what is kymriah",
    "is my child eligible", "7", "yes", "yes",  # the whole pre-screen
    "is my child eligible", "12", "stop",  # the pre-screen left half-way
    *HANDOFF,  # the whole handoff form: a request stored, its reference given
    "what is my reference?",
    "talk to a coordinator", "Maria Lopez", "stop",  # the handoff form left half-way
]  # fmt: skip
REFERENCE = re.compile(r"CT-\d{4}-\d+")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Servers, str]]:
    from aiosmtpd.controller import Controller

    from tests.conftest import MailSink
    from tests.servers import free_port

    tmp = tmp_path_factory.mktemp("long")
    port = free_port()
    sink = MailSink()
    smtp = SmtpServer("127.0.0.1", port, sink, Controller(sink, hostname="127.0.0.1", port=port))
    smtp.controller.start()
    database_url = f"sqlite:///{tmp / 'handoffs.db'}"
    env = {"CART_DATABASE_URL": database_url, "CART_SMTP_PORT": str(port)}
    try:
        with running_servers(tmp / "logs", env, api_token=TOKEN) as started:
            yield started, database_url
    finally:
        smtp.controller.stop()


def run(servers: Servers, sender: str, messages: list[str]) -> list[str]:
    return [REFERENCE.sub("CT-<ref>", servers.texts(sender, text)) for text in messages]


def takeover(servers: Servers, sender: str) -> list[str]:
    """A coordinator joins, the family writes (no answer from the assistant), the
    coordinator hands back, the family asks again (answered)."""
    rasa = RasaConversations(servers.rasa_url, TOKEN)
    asyncio.run(join(rasa, sender, "Dana"))
    during = servers.texts(sender, "what is crs")
    asyncio.run(hand_back(rasa, sender))
    return [during, servers.texts(sender, "what is crs")]


def long_conversation(servers: Servers, messages: int) -> str:
    sender = f"long-{uuid.uuid4().hex[:8]}"
    servers.say(sender, "hi")
    for index in range(messages - 1):
        servers.say(sender, FILLER[index % len(FILLER)])
    return sender


def stored_user_messages(servers: Servers, sender: str) -> list[str]:
    database = servers.logs / "conversations.db"
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT data FROM events WHERE sender_id = ? AND type_name = 'user' ORDER BY id",
            (sender,),
        ).fetchall()
    return [json.loads(read_event_data(row[0]))["text"] for row in rows]


def test_after_150_messages_everything_answers_as_on_the_first_turn(
    servers: tuple[Servers, str],
) -> None:
    rasa, database_url = servers
    fresh = f"fresh-{uuid.uuid4().hex[:8]}"
    first_hi = rasa.texts(fresh, "hi")
    expected = run(rasa, fresh, PROBE) + takeover(rasa, fresh)

    sender = long_conversation(rasa, 150)
    # The assistant has spoken in this session long ago: no first-reply notice again.
    assert "automated assistant" in first_hi
    assert "automated assistant" not in rasa.texts(sender, "hi")
    got = run(rasa, sender, PROBE) + takeover(rasa, sender)

    assert got == expected
    # What the probe is about, so an equal wrong answer on both sides cannot pass.
    assert "don't have a request" in expected[0]
    assert "say it another way" in expected[1] and "coordinator" in expected[2].lower()
    assert "CT-<ref>" in expected[PROBE.index("/affirm")]
    assert "CT-<ref>" in expected[len(PROBE) - 4]
    assert expected[-2] == "" and "CRS" in expected[-1]

    # The database keeps the whole conversation, and so does the handoff's transcript.
    stored = stored_user_messages(rasa, sender)
    assert len(stored) == 151 + len(PROBE) + 2
    assert stored[:3] == ["hi", *FILLER[:2]]
    request = next(r for r in recent_requests(database_url, 100) if r.sender_id == sender)
    family = [line["text"] for line in json.loads(request.transcript) if line["who"] == "Family"]
    assert family[:3] == ["hi", *FILLER[:2]] and len(family) >= 150
    # Rasa's HTTP API (the console's view) reads the whole conversation too.
    tracker = requests.get(
        f"{rasa.rasa_url}/conversations/{sender}/tracker",
        params={"token": TOKEN, "include_events": "ALL"},
        timeout=30,
    ).json()
    assert [e["text"] for e in tracker["events"] if e["event"] == "user"][:2] == ["hi", FILLER[0]]


def test_a_window_read_from_the_database_is_in_the_state_of_the_whole_conversation(
    servers: tuple[Servers, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another server reading the conversation (the tracker store on the same database):
    the window it hands Rasa is in the whole conversation's state, with the same recent
    dialogue states the policies read, mid-form and paused included."""
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    from components.tracker_store import ProgramTrackerStore
    from components.tracker_window import WindowedTracker

    rasa, _ = servers
    sender = long_conversation(rasa, 149)
    assert "How old" in rasa.texts(sender, "is my child eligible")  # the form is active
    asyncio.run(join(RasaConversations(rasa.rasa_url, TOKEN), sender, "Dana"))  # paused
    monkeypatch.setenv("CART_TRACKER_URL", f"sqlite:///{rasa.logs / 'conversations.db'}")
    domain = Domain.load("domain.yml")
    store = ProgramTrackerStore(domain=domain)
    window = asyncio.run(store.retrieve(sender))
    whole = DialogueStateTracker.from_dict(
        sender, window.current_state(EventVerbosity.ALL)["events"], domain.slots
    )
    assert isinstance(window, WindowedTracker) and len(window.events) < len(whole.events) / 5
    after_restart = window.current_state(EventVerbosity.AFTER_RESTART)["events"]
    assert len(after_restart) == len(whole.events)  # no restart: the whole conversation
    assert window.current_slot_values() == whole.current_slot_values()
    assert window.active_loop_name == whole.active_loop_name == "eligibility_form"
    assert window.is_paused() and whole.is_paused()
    assert window.latest_message.text == "is my child eligible"
    assert window.past_states(domain)[-12:] == whole.past_states(domain)[-12:]
    # Switched off, the store hands out Rasa's whole session, in the same state.
    monkeypatch.setenv("CART_TRACKER_WINDOW_TURNS", "0")
    session = asyncio.run(ProgramTrackerStore(domain=domain).retrieve(sender))
    assert not isinstance(session, WindowedTracker) and len(session.events) == len(whole.events)
    assert session.current_slot_values() == window.current_slot_values()


def test_what_was_set_long_ago_holds_once_out_of_the_window(servers: tuple[Servers, str]) -> None:
    """The reference given at turn 8, long out of the window, is told at turn 160; a
    takeover during which the family writes more messages than the window holds keeps the
    assistant quiet until the coordinator hands back."""
    rasa, _ = servers
    sender = f"early-{uuid.uuid4().hex[:8]}"
    rasa.say(sender, "hi")
    final = [rasa.texts(sender, text) for text in HANDOFF][-1]
    reference = REFERENCE.search(final).group(0)
    for index in range(150):
        rasa.say(sender, FILLER[index % len(FILLER)])
    assert reference in rasa.texts(sender, "what is my reference?")

    conversations = RasaConversations(rasa.rasa_url, TOKEN)
    asyncio.run(join(conversations, sender, "Dana"))
    during = [rasa.texts(sender, FILLER[index % len(FILLER)]) for index in range(30)]
    assert during == [""] * 30
    asyncio.run(hand_back(conversations, sender))
    assert "CRS" in rasa.texts(sender, "what is crs")


def test_a_reverted_message_leaves_the_whole_conversation_in_the_windows_state() -> None:
    """Rasa's core fallback reverts the family's message: the store copies the window's
    state onto the whole conversation instead of replaying it; the result is what a replay
    of every event gives."""
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import (
        ActionExecuted,
        BotUttered,
        SessionStarted,
        SlotSet,
        UserUtteranceReverted,
        UserUttered,
    )
    from rasa.shared.core.trackers import DialogueStateTracker

    from components.tracker_window import TrackerWindows, WindowedTracker

    domain = Domain.load("domain.yml")
    listen = "action_listen"
    events = [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted(listen)]
    for turn in range(40):
        question = UserUttered("what is crs", {"name": "crs", "confidence": 1.0})
        events += [question, ActionExecuted("utter_crs"), BotUttered(f"CRS {turn}")]
        events.append(ActionExecuted(listen))
        if turn == 3:
            events.insert(-1, SlotSet("handoff_reference", "CT-2026-00007"))
    full = DialogueStateTracker.from_events("reverted", events, domain.slots)
    window = TrackerWindows(8).view(full)
    assert isinstance(window, WindowedTracker) and len(window.events) < len(events) / 3
    for item in [UserUttered("blorf", {"name": "nlu_fallback", "confidence": 0.2}),
                 ActionExecuted("action_default_fallback"), BotUttered("Say it again?"),
                 UserUtteranceReverted(), SlotSet("handoff_name", "Maria"),
                 ActionExecuted(listen)]:  # fmt: skip
        window.update(item)
    merged = window.merge()

    replayed = DialogueStateTracker.from_events("reverted", list(merged.events), domain.slots)
    assert len(merged.events) == len(events) + 6
    assert merged.get_slot("handoff_name") == "Maria"
    assert merged.current_state() == replayed.current_state()
    assert merged.get_slot("handoff_reference") == "CT-2026-00007"
    assert merged.latest_message.text == "what is crs"  # the reverted message is undone
    assert merged.past_states(domain)[-12:] == replayed.past_states(domain)[-12:]
