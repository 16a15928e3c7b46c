"""Read-only queries on the Rasa tracker store's `events` table (CART_TRACKER_URL).

Rasa's SQLTrackerStore keeps one row per event: id, sender_id, type_name ("user", "bot",
"action", ...), timestamp, intent_name (user events), action_name (action events) and
`data`, the event as JSON, encrypted at rest (components/encrypted_events.py). A user
event's data holds `parse_data` (intent, intent_ranking and the triage's `red_flag`); a
bot event's data holds `text`, `data.buttons` and `metadata.utter_action`, the domain
response it came from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine

from components.encrypted_events import read_event_data
from core.data_protection import DataKeyError

EVENTS_TABLE = "events"  # rasa.core.tracker_store.SQLTrackerStore.SQLEvent


@dataclass(frozen=True)
class Event:
    id: int
    sender_id: str
    type_name: str
    timestamp: float
    intent_name: str | None
    action_name: str | None
    data: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.data.get("text") or "")

    @property
    def parse_data(self) -> dict[str, Any]:
        return self.data.get("parse_data") or {}

    @property
    def utter_action(self) -> str:
        return str((self.data.get("metadata") or {}).get("utter_action") or "")

    @property
    def buttons(self) -> list[dict[str, Any]]:
        buttons = (self.data.get("data") or {}).get("buttons") or []
        return [b for b in buttons if isinstance(b, dict)]

    @property
    def emergency_marked(self) -> bool:
        """A bot message the domain marks as the emergency answer."""
        return bool(((self.data.get("data") or {}).get("custom") or {}).get("emergency"))


@lru_cache(maxsize=8)
def engine(url: str) -> Engine:
    # hide_parameters: a database error's message (logged) must not carry what a family wrote.
    return create_engine(url, future=True, hide_parameters=True)


def has_events(url: str) -> bool:
    return inspect(engine(url)).has_table(EVENTS_TABLE)


def _event(row: Any) -> Event:
    try:
        data = json.loads(read_event_data(row.data) if row.data else "{}")
    except (ValueError, DataKeyError):  # not readable with this machine's keys: the ids still count
        data = {}
    return Event(
        id=row.id,
        sender_id=row.sender_id,
        type_name=row.type_name,
        timestamp=row.timestamp or 0.0,
        intent_name=row.intent_name,
        action_name=row.action_name,
        data=data if isinstance(data, dict) else {},
    )


COLUMNS = "id, sender_id, type_name, timestamp, intent_name, action_name, data"


def query(url: str, where: str, limit: int | None = None, **values: Any) -> list[Event]:
    """Events matching `where` (SQL with :named values), oldest first."""
    if not has_events(url):
        return []
    sql = f"SELECT {COLUMNS} FROM {EVENTS_TABLE} WHERE {where} ORDER BY id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    with engine(url).connect() as connection:
        return [_event(row) for row in connection.execute(text(sql), values)]


def latest_id(url: str) -> int:
    if not has_events(url):
        return 0
    with engine(url).connect() as connection:
        return int(connection.execute(text(f"SELECT MAX(id) FROM {EVENTS_TABLE}")).scalar() or 0)


def conversation(url: str, sender_id: str, after_id: int = 0, limit: int = 500) -> list[Event]:
    """A conversation's user, bot and action events after `after_id`, oldest first."""
    return query(
        url,
        "sender_id = :sender AND id > :after AND type_name IN ('user', 'bot', 'action')",
        limit,
        sender=sender_id,
        after=after_id,
    )


def recent_messages(url: str, sender_id: str, limit: int = 200) -> list[Event]:
    """A conversation's latest user and bot messages, oldest first."""
    if not has_events(url):
        return []
    sql = (
        f"SELECT {COLUMNS} FROM {EVENTS_TABLE} WHERE sender_id = :sender "
        f"AND type_name IN ('user', 'bot') ORDER BY id DESC LIMIT {int(limit)}"
    )
    with engine(url).connect() as connection:
        rows = connection.execute(text(sql), {"sender": sender_id})
        return [_event(row) for row in reversed(list(rows))]
