"""Issue #15, item 2, on a real PostgreSQL database: a turn the database refuses for good
(here a conversation id longer than the sender_id column) is logged and dropped. Before,
the store kept it as "unwritten" and tried it again before every later read and save, so
one bad id stopped every family's conversation from being saved."""

from __future__ import annotations

import asyncio
import logging

import pytest
import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from components.tracker_store import ProgramTrackerStore
from tests.action_helper import ROOT

DOMAIN = Domain.load(ROOT / "domain.yml")


@pytest.fixture()
def store(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> ProgramTrackerStore:
    monkeypatch.setenv("CART_TRACKER_URL", postgres_url)
    return ProgramTrackerStore(domain=DOMAIN)


def run(coroutine):
    return asyncio.run(coroutine)


def _turn(tracker: DialogueStateTracker, text: str) -> None:
    tracker.update(UserUttered(text, {"name": "what_is_car_t", "confidence": 0.9}))
    tracker.update(ActionExecuted("utter_what_is_car_t"))
    tracker.update(BotUttered(f"answer to {text}"))
    tracker.update(ActionExecuted("action_listen"))


def _stored(url: str, sender: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                sa.text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": sender}
            ).scalar_one()
    finally:
        engine.dispose()


def test_a_refused_turn_is_dropped_and_other_families_are_still_saved(
    store: ProgramTrackerStore, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    too_long = "x" * 300  # the events table's sender_id holds 255 characters
    with caplog.at_level(logging.ERROR, logger="components.tracker_store"):
        bad = run(store.get_or_create_tracker(too_long))  # saved once when created
        _turn(bad, "what is car t")
        run(store.save(bad))
    # Each of the two saves refused once, named by the error's type only.
    assert [r.getMessage() for r in caplog.records] == 2 * [
        "Tracker database refused a conversation's turn (DataError): dropped, not retried"
    ]
    assert too_long not in store._unwritten
    caplog.clear()

    # Every other family's turns are written, and the refused one is not tried again.
    for n in range(3):
        sender = f"family-{n}"
        tracker = run(store.get_or_create_tracker(sender))
        _turn(tracker, "what is kymriah")
        run(store.save(tracker))
        again = run(store.retrieve(sender))
        assert again is not None and len(again.events) == len(tracker.events)
        assert _stored(postgres_url, sender) == len(tracker.events)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert _stored(postgres_url, too_long) == 0


def test_an_unreachable_database_still_keeps_the_turn_for_later(
    store: ProgramTrackerStore, postgres_url: str
) -> None:
    """Only permanent refusals are dropped: a lost database keeps the turn, written back
    once it answers again (here: the store pointed at a closed port, then back)."""
    tracker = run(store.get_or_create_tracker("family-outage"))
    working = store.engine
    store.engine = sa.create_engine(
        "postgresql+psycopg2://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    store.sessionmaker.configure(bind=store.engine)
    _turn(tracker, "what is crs")
    run(store.save(tracker))
    assert "family-outage" in store._unwritten
    store.engine = working
    store.sessionmaker.configure(bind=working)
    other = run(store.get_or_create_tracker("family-after"))  # writes the kept turn first
    assert other is not None
    assert "family-outage" not in store._unwritten
    assert _stored(postgres_url, "family-outage") == len(tracker.events)
