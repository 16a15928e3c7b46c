"""Where the Rasa server keeps conversations: Rasa's SQL tracker store, on the database
named by CART_TRACKER_URL (actions/settings.py). SQLite under var/ by default, so a
conversation goes on with its history after a restart; PostgreSQL in production.

Named in endpoints.yml (`tracker_store: type: components.tracker_store.ProgramTrackerStore`).

When the database cannot be reached, Rasa's own wrapper (FailSafeTrackerStore) starts the
conversation afresh in memory and never writes those turns back. Here a conversation the
server has seen recently goes on from its copy in memory, and its new turns are written to
the database once it is back, before anything else is read or written. A conversation
with no copy here (the server was restarted during the outage) is answered as a new one
in memory, and those turns are not written back: they would not fit the stored history.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool

from actions.settings import load_tracker_settings

# The table Rasa's SQLTrackerStore keeps events in (rasa.core.tracker_store.SQLEvent).
EVENTS_TABLE = "events"
# Conversations kept in memory for an outage of the database (latest saved first out).
MEMORY_COPIES = 500

logger = logging.getLogger(__name__)


def _sqlite_for_many_writers(connection: Any, _: Any) -> None:
    """The embedded SQLite store under load: readers do not wait for the writer (WAL), a
    commit does not wait for the disk twice (synchronous NORMAL: safe with WAL, a power cut
    may lose the last turn, never corrupt the file), and a busy writer is waited for."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class ProgramTrackerStore(SQLTrackerStore):
    """Rasa's SQLTrackerStore, configured from the project's settings."""

    def __init__(
        self,
        domain: Domain | None = None,
        host: str | None = None,
        event_broker: EventBroker | None = None,
        **kwargs: Any,
    ) -> None:
        url = load_tracker_settings().url
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # A full URL as `host` is used as it is (SQLTrackerStore.get_db_url).
        super().__init__(domain=domain, host=url, event_broker=event_broker, **kwargs)
        # Rasa's engine hands out pooled connections unchecked: after the database restarts
        # or a connection is dropped, each stale one would fail a family's message.
        engine_url = self.engine.url
        self.engine.dispose()
        options = create_engine_kwargs(engine_url)
        if engine_url.get_backend_name() == "sqlite":
            # SQLAlchemy 1.4 opens and closes a SQLite file for every query (NullPool): a
            # profile under load showed it. The server's queries all run on its one event
            # loop thread, so a small pool of kept connections is safe.
            options.update(poolclass=QueuePool, pool_size=2, max_overflow=4)
        self.engine = create_engine(engine_url, pool_pre_ping=True, **options)
        if engine_url.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_for_many_writers)
        self.sessionmaker = sessionmaker(bind=self.engine)
        self._recent: OrderedDict[str, DialogueStateTracker] = OrderedDict()
        # Turns saved only in memory during an outage, written back when the database is.
        self._unwritten: dict[str, DialogueStateTracker] = {}
        # Conversations started afresh during an outage: never written back.
        self._detached: set[str] = set()

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        try:
            await self._write_back()
            tracker = await super().retrieve(sender_id)
        except SQLAlchemyError as error:
            copy = self._unwritten.get(sender_id) or self._recent.get(sender_id)
            logger.warning(
                "Tracker database unavailable (%s): %s",
                type(error).__name__,
                "going on from the copy in memory" if copy else "starting afresh in memory",
            )
            if copy is None:
                self._detached.add(sender_id)
                raise  # Rasa's FailSafeTrackerStore then starts a new conversation
            return copy.copy()
        self._detached.discard(sender_id)
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        sender_id = tracker.sender_id
        self._remember(tracker)
        if sender_id in self._detached:
            return
        try:
            await self._write_back()
            await super().save(tracker)
        except SQLAlchemyError as error:
            logger.warning(
                "Tracker database unavailable (%s): turn kept in memory", type(error).__name__
            )
            self._unwritten[sender_id] = tracker

    def _remember(self, tracker: DialogueStateTracker) -> None:
        self._recent[tracker.sender_id] = tracker
        self._recent.move_to_end(tracker.sender_id)
        while len(self._recent) > MEMORY_COPIES:
            self._recent.popitem(last=False)

    async def _write_back(self) -> None:
        """Writes the turns kept in memory; raises, keeping them, if the database is still away."""
        while self._unwritten:
            sender_id, tracker = next(iter(self._unwritten.items()))
            await super().save(tracker)  # writes only the events the database lacks
            del self._unwritten[sender_id]
            logger.info("Turns kept in memory during the outage written to the database")
