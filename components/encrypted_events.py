"""The tracker store's events table with each event's data encrypted at rest.

Rasa's SQLTrackerStore keeps every event as JSON in `events.data`: the families' messages,
the bot's answers and the handoff form's slots (name, phone, email, what they need), in
plain text, for the retention period. `EncryptedEvent` maps the same table with the same
columns; only `data` is stored as Fernet ciphertext (core/data_protection.py, the keys
of CART_TRACKER_KEYS, else CART_DATA_KEYS). The tracker store uses it as its `SQLEvent`,
so every read and write Rasa makes (retrieve, save, the HTTP API's tracker that the
console's takeover reads) goes through the encryption and sees plain JSON.

What stays readable in the database: sender ids, event types, timestamps, intent and
action names; no text a family typed. Rows written before encryption are read as they are.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import declarative_base
from sqlalchemy.types import Text, TypeDecorator

from core.data_protection import decrypt, encrypt, tracker_keys

_Base: Any = declarative_base()  # no static type in SQLAlchemy 1.4


class EncryptedEventData(TypeDecorator):
    """An event's JSON, encrypted with the tracker store's keys."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else encrypt(value, tracker_keys())

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else decrypt(value, tracker_keys())


class EncryptedEvent(_Base):
    """rasa.core.tracker_store.SQLTrackerStore.SQLEvent, column for column (Rasa 3.6)."""

    __tablename__ = "events"

    id = sa.Column(sa.Integer, sa.Sequence("events_seq", optional=True), primary_key=True)
    sender_id = sa.Column(sa.String(255), nullable=False, index=True)
    type_name = sa.Column(sa.String(255), nullable=False)
    timestamp = sa.Column(sa.Float)
    intent_name = sa.Column(sa.String(255))
    action_name = sa.Column(sa.String(255))
    data = sa.Column(EncryptedEventData())


def read_event_data(stored: str) -> str:
    """An event's JSON from a raw `events.data` value (tools and tests that query the
    table directly)."""
    return decrypt(stored, tracker_keys())
