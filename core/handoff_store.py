"""Durable handoff requests and their notification outbox (SQLAlchemy).

A request and its pending notifications are written in one transaction, before anything
is sent: if the process dies after the commit, the retry worker (core/notify.py)
still delivers them. SQLite under var/ by default; PostgreSQL when CART_DATABASE_URL
names one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    create_engine,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, declarative_base, relationship, sessionmaker
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.types import TypeDecorator

from core.data_protection import EncryptedText
from core.private_files import private_sqlite

# Any: SQLAlchemy 1.4's declarative base has no static type without its mypy plugin.
Base: Any = declarative_base()

REFERENCE_PREFIX = "CT"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def format_reference(request_id: int, created_at: datetime) -> str:
    """Human-friendly and unique: CT-2026-00042."""
    return f"{REFERENCE_PREFIX}-{created_at.year}-{request_id:05d}"


class UTCDateTime(TypeDecorator):
    """Always UTC and time-zone aware, also on SQLite (which would hand back naive times)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use an aware UTC time")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


class HandoffRequest(Base):
    __tablename__ = "handoff_requests"
    # The id makes the reference (CT-2026-00042), which the audit log and emails keep after
    # the request is deleted: SQLite must never hand a deleted id out again (PostgreSQL's
    # sequence never does). Applies to tables created from now on.
    __table_args__ = {"sqlite_autoincrement": True}

    id = Column(Integer, primary_key=True, autoincrement=True)
    reference = Column(String(32), unique=True, index=True)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    status = Column(String(20), nullable=False, default="new")
    sender_id = Column(String(255), nullable=False, index=True)
    channel = Column(String(50), nullable=False)
    # What the family told us is encrypted at rest (core/data_protection.py).
    name = Column(EncryptedText(), nullable=False)
    role = Column(String(50), nullable=False)
    contact_kind = Column(String(10), nullable=False)
    contact_value = Column(EncryptedText(), nullable=False)
    patient_age = Column(String(20))
    need = Column(EncryptedText(), nullable=False)
    consent = Column(Boolean, nullable=False)
    transcript = Column(EncryptedText(), nullable=False)  # JSON list of {"who", "text", "at"}

    notifications = relationship("Notification", back_populates="request", lazy="selectin")


class Notification(Base):
    """One message to the coordinators (email or webhook), retried until delivered."""

    __tablename__ = "handoff_notifications"

    id = Column(Integer, primary_key=True, autoincrement=True)
    request_id = Column(Integer, ForeignKey("handoff_requests.id"), nullable=False, index=True)
    kind = Column(String(10), nullable=False)  # "email" or "webhook"
    status = Column(String(10), nullable=False, default="pending", index=True)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    last_error = Column(String(200))
    sent_at = Column(UTCDateTime())

    request = relationship("HandoffRequest", back_populates="notifications")


@dataclass
class NewHandoff:
    sender_id: str
    channel: str
    name: str
    role: str
    contact_kind: str
    contact_value: str
    patient_age: str | None
    need: str
    consent: bool
    transcript: list[dict[str, Any]] = field(default_factory=list)


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    # hide_parameters: a database error's message (logged) must not carry a family's details.
    if make_url(url).get_backend_name() == "sqlite":
        private_sqlite(url)  # readable by this user only (0600, in a 0700 var/)
        engine = create_engine(url, future=True, hide_parameters=True, connect_args={"timeout": 15})
    else:
        # Fail fast when the database is unreachable: a family is waiting for an answer.
        engine = create_engine(
            url,
            future=True,
            pool_pre_ping=True,
            hide_parameters=True,
            connect_args={"connect_timeout": 5},
        )
    Base.metadata.create_all(engine)
    return engine


@contextmanager
def session_for(url: str) -> Iterator[Session]:
    factory = sessionmaker(bind=engine_for(url), future=True, expire_on_commit=False)
    with factory() as session:
        yield session


def create_request(url: str, new: NewHandoff, notification_kinds: list[str]) -> HandoffRequest:
    """Stores the request and its pending notifications in one transaction."""
    with session_for(url) as session, session.begin():
        request = HandoffRequest(
            created_at=utcnow(),
            sender_id=new.sender_id,
            channel=new.channel,
            name=new.name,
            role=new.role,
            contact_kind=new.contact_kind,
            contact_value=new.contact_value,
            patient_age=new.patient_age,
            need=new.need,
            consent=new.consent,
            transcript=json.dumps(new.transcript, ensure_ascii=False),
        )
        session.add(request)
        session.flush()  # assigns the id the reference is made from
        request.reference = format_reference(request.id, request.created_at)
        for kind in notification_kinds:
            session.add(Notification(request_id=request.id, kind=kind))
    return request


def recent_requests(url: str, limit: int = 20) -> list[HandoffRequest]:
    with session_for(url) as session:
        query = select(HandoffRequest).order_by(HandoffRequest.id.desc()).limit(limit)
        return list(session.scalars(query))


ENCRYPTED_COLUMNS = ("name", "contact_value", "need", "transcript")


def reencrypt_all(url: str) -> int:
    """Writes every request again, so it is encrypted with the newest key."""
    with session_for(url) as session, session.begin():
        requests = list(session.scalars(select(HandoffRequest)))
        for request in requests:
            for column in ENCRYPTED_COLUMNS:
                flag_modified(request, column)
    return len(requests)
