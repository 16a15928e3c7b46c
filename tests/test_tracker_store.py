"""The tracker store's memory of the conversations it wrote (components/tracker_store.py),
on a real SQLite file: what it hands out again is exactly what the database holds, and
anything that changed the database since (another Rasa server, `make forget`) wins."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from components.encrypted_events import EncryptedEvent
from components.tracker_store import ProgramTrackerStore
from tests.action_helper import ROOT

DOMAIN = Domain.load(ROOT / "domain.yml")


@pytest.fixture()
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'conversations.db'}"
    monkeypatch.setenv("CART_TRACKER_URL", url)
    return url


def run(coroutine):
    return asyncio.run(coroutine)


def _turn(tracker: DialogueStateTracker, text: str) -> None:
    tracker.update(UserUttered(text, {"name": "what_is_car_t", "confidence": 0.9}))
    tracker.update(ActionExecuted("utter_what_is_car_t"))
    tracker.update(BotUttered(f"answer to {text}"))
    tracker.update(ActionExecuted("action_listen"))


def _stored_rows(url: str, sender: str) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                sa.text(
                    "SELECT type_name, intent_name, action_name, data FROM events "
                    "WHERE sender_id = :sender ORDER BY id"
                ),
                {"sender": sender},
            ).fetchall()
    finally:
        engine.dispose()


def test_a_conversation_written_twice_is_stored_once_as_rasa_stores_it(database: str) -> None:
    store = ProgramTrackerStore(domain=DOMAIN)
    tracker = run(store.get_or_create_tracker("family-1"))
    _turn(tracker, "what is car t")
    run(store.save(tracker))
    again = run(store.retrieve("family-1"))
    _turn(again, "how much does it cost")
    again.update(SlotSet("patient_age", 7.0))
    run(store.save(again))
    run(store.save(again))  # nothing new: nothing written

    # Rasa's own store, on the same file, reads back every event once, in order (through
    # the same encrypted mapping of the table: components/encrypted_events.py).
    rasa_store = SQLTrackerStore(domain=DOMAIN, host=database)
    rasa_store.SQLEvent = EncryptedEvent
    from_rasa = run(rasa_store.retrieve("family-1"))
    assert [e.as_dict() for e in from_rasa.events] == [e.as_dict() for e in again.events]
    rows = _stored_rows(database, "family-1")
    assert len(rows) == len(again.events)
    assert tuple(rows[1][:3]) == ("user", "what_is_car_t", None)
    assert from_rasa.get_slot("patient_age") == 7.0


def test_a_turn_written_by_another_server_is_read_not_the_memory(database: str) -> None:
    ours, other_server = ProgramTrackerStore(domain=DOMAIN), ProgramTrackerStore(domain=DOMAIN)
    tracker = run(ours.get_or_create_tracker("family-2"))
    _turn(tracker, "first")
    run(ours.save(tracker))

    theirs = run(other_server.retrieve("family-2"))
    _turn(theirs, "second, on the other server")
    run(other_server.save(theirs))

    back = run(ours.retrieve("family-2"))
    assert back is not tracker
    texts = [e.text for e in back.events if isinstance(e, UserUttered)]
    assert texts == ["first", "second, on the other server"]
    _turn(back, "third")
    run(ours.save(back))
    assert len(_stored_rows(database, "family-2")) == len(back.events)


def test_a_forgotten_conversation_is_not_brought_back_from_memory(database: str) -> None:
    store = ProgramTrackerStore(domain=DOMAIN)
    tracker = run(store.get_or_create_tracker("family-3"))
    _turn(tracker, "my daughter's name is Ana")
    run(store.save(tracker))
    engine = sa.create_engine(database)
    with engine.begin() as connection:  # what `make forget` does to the events
        connection.execute(sa.text("DELETE FROM events WHERE sender_id = 'family-3'"))
    engine.dispose()

    assert run(store.retrieve("family-3")) is None
    fresh = run(store.get_or_create_tracker("family-3"))
    assert not [e for e in fresh.events if isinstance(e, UserUttered)]


def test_a_tracker_changed_after_saving_is_not_handed_out_with_unsaved_turns(
    database: str,
) -> None:
    store = ProgramTrackerStore(domain=DOMAIN)
    tracker = run(store.get_or_create_tracker("family-4"))
    _turn(tracker, "saved")
    run(store.save(tracker))
    _turn(tracker, "never saved")

    back = run(store.retrieve("family-4"))
    assert [e.text for e in back.events if isinstance(e, UserUttered)] == ["saved"]


def test_the_same_conversation_is_handed_out_to_one_reader_at_a_time(database: str) -> None:
    store = ProgramTrackerStore(domain=DOMAIN)
    tracker = run(store.get_or_create_tracker("family-5"))
    _turn(tracker, "hello")
    run(store.save(tracker))

    first, second = run(store.retrieve("family-5")), run(store.retrieve("family-5"))
    assert first is tracker  # from memory, the database ending where it was written
    assert second is not first  # read from the database: no two holders of one object
    assert [e.as_dict() for e in second.events] == [e.as_dict() for e in first.events]
