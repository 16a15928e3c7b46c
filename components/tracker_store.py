"""Where the Rasa server keeps conversations: Rasa's SQL tracker store, on the database
named by CART_TRACKER_URL (core/settings.py). SQLite under var/ by default, so a
conversation goes on with its history after a restart; PostgreSQL in production.

Named in endpoints.yml (`tracker_store: type: components.tracker_store.ProgramTrackerStore`).

Each message reads the conversation and writes its new turn. Rasa's store reads every event
of the session back from the database and rebuilds the conversation from them, and before
writing counts the stored events to know which are new: a profile under load put a third
of the server's time there. Here the server keeps the conversation it last wrote, with the
database id of its latest event, and hands it out again when one indexed query shows the
database still ends at that event (no other server, console or `make forget` changed it
since); otherwise it reads from the database as Rasa does. It knows how many events of a
conversation it handed out are stored, so it writes the new ones without counting.

When the database cannot be reached, Rasa's own wrapper (FailSafeTrackerStore) starts the
conversation afresh in memory and never writes those turns back. Here a conversation the
server has seen recently goes on from its copy in memory, and its new turns are written to
the database once it is back, before anything else is read or written. A conversation
with no copy here (the server was restarted during the outage) is answered as a new one
in memory, and those turns are not written back: they would not fit the stored history.

What Rasa gets is a bounded window of the conversation (components/tracker_window.py,
CART_TRACKER_WINDOW_TURNS): the state where it starts and the recent events, so a message
costs the same however long the conversation. `save` maps the new events back onto the
whole conversation, which is what this store keeps and writes.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy import bindparam, create_engine, event, func, select
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    SQLAlchemyError,
    StatementError,
)
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool

from components import rasa_fixes
from components.encrypted_events import EncryptedEvent
from components.tracker_window import TrackerWindows, WindowedTracker
from core.private_files import private_sqlite
from core.settings import load_tracker_settings

# The table Rasa's SQLTrackerStore keeps events in (rasa.core.tracker_store.SQLEvent).
EVENTS_TABLE = "events"
# Conversations kept in memory, for speed and for an outage of the database (the least
# recently saved go first).
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


@dataclass
class _Known:
    """A conversation as this server last read or wrote it."""

    tracker: DialogueStateTracker
    stored: int  # how many of its events are in the database (-1: not written)
    last_id: int | None  # the database id of the conversation's latest event


def _starts_a_later_session(tracker: DialogueStateTracker, since: int = 0) -> bool:
    """True when a session started after the tracker's first events: the database's
    read-back would hold only the new session, so the tracker is not handed out again.
    `since`: the events before it were checked already (a long conversation's save looks
    at its new events only)."""
    for index, item in enumerate(itertools.islice(tracker.events, since, None), start=since):
        if index > 1 and isinstance(item, SessionStarted):
            return True
    return False


def _keep_latest(memory: OrderedDict[str, _Known], known: _Known) -> None:
    """One entry per conversation; the least recently kept go past MEMORY_COPIES."""
    sender_id = known.tracker.sender_id
    memory[sender_id] = known
    memory.move_to_end(sender_id)
    while len(memory) > MEMORY_COPIES:
        memory.popitem(last=False)


class ProgramTrackerStore(SQLTrackerStore):
    """Rasa's SQLTrackerStore, configured from the project's settings."""

    def __init__(
        self,
        domain: Domain | None = None,
        host: str | None = None,
        event_broker: EventBroker | None = None,
        **kwargs: Any,
    ) -> None:
        settings = load_tracker_settings()
        url = settings.url
        private_sqlite(url)  # what families wrote: readable by this user only (0600)
        # A full URL as `host` is used as it is (SQLTrackerStore.get_db_url).
        super().__init__(domain=domain, host=url, event_broker=event_broker, **kwargs)
        # Rasa's engine hands out pooled connections unchecked: after the database restarts
        # or a connection is dropped, each stale one would fail a family's message.
        rasa_engine: Any = self.engine  # type: ignore[has-type]  # set untyped in Rasa's __init__
        engine_url = rasa_engine.url
        rasa_engine.dispose()
        options = create_engine_kwargs(engine_url)
        if engine_url.get_backend_name() == "sqlite":
            # SQLAlchemy 1.4 opens and closes a SQLite file for every query (NullPool): a
            # profile under load showed it. The server's queries all run on its one event
            # loop thread, so a small pool of kept connections is safe.
            options.update(poolclass=QueuePool, pool_size=2, max_overflow=4)
        # hide_parameters: a database error's message must not carry what a family wrote.
        self.engine = create_engine(engine_url, pool_pre_ping=True, hide_parameters=True, **options)
        if engine_url.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_for_many_writers)
        self.sessionmaker = sessionmaker(bind=self.engine)
        # The same table, each event's data encrypted at rest (components/encrypted_events.py).
        self.SQLEvent = EncryptedEvent
        # Built once: building a statement cost more than running it.
        self._latest_id_query = select(func.max(self.SQLEvent.id)).where(
            self.SQLEvent.sender_id == bindparam("sender_id")
        )
        self._insert_events = self.SQLEvent.__table__.insert()
        self._recent: OrderedDict[str, _Known] = OrderedDict()
        # The conversation handed out last for each sender, to write its new events.
        self._handed_out: OrderedDict[str, _Known] = OrderedDict()
        # Turns saved only in memory during an outage, written back when the database is.
        self._unwritten: dict[str, DialogueStateTracker] = {}
        # Conversations started afresh during an outage: never written back.
        self._detached: set[str] = set()
        # Rasa is handed a bounded window of each conversation (None: the whole session).
        self._windows = TrackerWindows(settings.window_turns) if settings.window_turns else None
        if self._windows is not None:
            rasa_fixes.apply()  # includes `windowed-action-call`

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        try:
            await self._write_back()
            tracker = self._take_if_current(sender_id) or self._read(sender_id)
        except SQLAlchemyError as error:
            known = self._recent.get(sender_id)
            copy = self._unwritten.get(sender_id) or (known.tracker if known else None)
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
        if isinstance(tracker, WindowedTracker):
            tracker = tracker.merge()  # the whole conversation, with the new turn
        sender_id = tracker.sender_id
        # What is known of this very tracker: handed out by retrieve, or saved before.
        known = [self._handed_out.pop(sender_id, None), self._recent.get(sender_id)]
        previous = next((k for k in known if k and k.tracker is tracker and k.stored >= 0), None)
        self._remember(_Known(tracker, stored=-1, last_id=None))
        if sender_id in self._detached:
            return
        try:
            await self._write_back()
            await self.stream_events(tracker)
            written = self._write(tracker, previous)
        except SQLAlchemyError as error:
            if _is_permanent(error):
                _log_dropped(error)
                return
            logger.warning(
                "Tracker database unavailable (%s): turn kept in memory", type(error).__name__
            )
            self._unwritten[sender_id] = tracker
            return
        if not _starts_a_later_session(tracker, previous.stored if previous else 0):
            self._remember(written)

    def _remember(self, known: _Known) -> None:
        _keep_latest(self._recent, known)

    def _hand_out(self, known: _Known) -> DialogueStateTracker:
        _keep_latest(self._handed_out, known)
        if self._windows is None:
            return known.tracker
        return self._windows.view(known.tracker)

    def _latest_event_id(self, session: Any, sender_id: str) -> int | None:
        return session.execute(self._latest_id_query, {"sender_id": sender_id}).scalar()

    def _take_if_current(self, sender_id: str) -> DialogueStateTracker | None:
        """The conversation as this server wrote it, if the database still ends there.
        It is handed over, not copied: not handed out again until it is saved again (it
        stays here as the copy for an outage of the database)."""
        known = self._recent.get(sender_id)
        if known is None or known.stored != len(known.tracker.events):
            return None  # not written, or changed since without being saved
        with self.session_scope() as session:
            if self._latest_event_id(session, sender_id) != known.last_id:
                return None
        self._recent[sender_id] = _Known(known.tracker, stored=-1, last_id=None)
        return self._hand_out(known)

    def _read(self, sender_id: str) -> DialogueStateTracker | None:
        """Rasa's read of the latest session, noting what it read."""
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).all()
            if not self.domain or not rows:
                return None
            tracker = DialogueStateTracker.from_dict(
                sender_id, [json.loads(row.data) for row in rows], self.domain.slots
            )
            last_id = self._latest_event_id(session, sender_id)
        return self._hand_out(_Known(tracker, stored=len(rows), last_id=last_id))

    def _write(self, tracker: DialogueStateTracker, previous: _Known | None) -> _Known:
        """Rasa's write of the events the database lacks (the same rows), counted only for
        a tracker this server has not read or written before. One multi-row insert: the
        ORM's unit of work cost more than the insert itself."""
        sender_id = tracker.sender_id
        with self.session_scope() as session:
            if previous is not None:
                new_events = list(itertools.islice(tracker.events, previous.stored, None))
            else:
                new_events = list(self._additional_events(session, tracker))
            if new_events:
                rows = [self._row(sender_id, item) for item in new_events]
                session.execute(self._insert_events, rows)
            last_id = self._latest_event_id(session, sender_id)
            session.commit()
        return _Known(tracker, stored=len(tracker.events), last_id=last_id)

    @staticmethod
    def _row(sender_id: str, item: Event) -> dict[str, Any]:
        data = item.as_dict()
        return {
            "sender_id": sender_id,
            "type_name": item.type_name,
            "timestamp": data.get("timestamp"),
            "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            "action_name": data.get("name"),
            "data": json.dumps(data),
        }

    async def _write_back(self) -> None:
        """Writes the turns kept in memory; raises, keeping them, if the database is still
        away. Turns the database refuses for good are dropped: retried, they would fail
        every family's read and save after them."""
        while self._unwritten:
            sender_id, tracker = next(iter(self._unwritten.items()))
            try:
                await super().save(tracker)  # writes only the events the database lacks
            except SQLAlchemyError as error:
                if not _is_permanent(error):
                    raise
                _log_dropped(error)
            else:
                logger.info("Turns kept in memory during the outage written to the database")
            del self._unwritten[sender_id]


def _is_permanent(error: SQLAlchemyError) -> bool:
    """An error no retry can fix: the database refused these rows (a value too long, a
    broken constraint) or they could not be sent at all; not a lost connection."""
    if isinstance(error, DBAPIError):
        return not error.connection_invalidated and isinstance(error, DataError | IntegrityError)
    return isinstance(error, StatementError)  # raised before the database saw it


def _log_dropped(error: SQLAlchemyError) -> None:
    # The type only: the message of a database error can carry what the family wrote.
    logger.error(
        "Tracker database refused a conversation's turn (%s): dropped, not retried",
        type(error).__name__,
    )
