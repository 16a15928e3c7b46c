"""The console's own tables, beside the handoff requests (same database, same Base).

Staff accounts (with a role), their log-in sessions, failed log-ins (for the back-off),
what happened to each request (status changes, notes, takeovers) and the audit log.

The audit log has no foreign key to the requests: deleting a request (retention) leaves
its audit entries, which hold the reference, who and what, never what a family wrote.
The database refuses to change or delete its rows (triggers made by `ensure_schema`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Column, ForeignKey, Integer, String, Text, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, relationship

from core.handoff_store import Base, HandoffRequest, UTCDateTime, engine_for, session_for, utcnow

STATUSES = ("new", "in_progress", "contacted", "closed")
STATUS_LABELS = {
    "new": "New",
    "in_progress": "In progress",
    "contacted": "Contacted",
    "closed": "Closed",
}
# Coordinators work on open requests; admins also read closed ones and the audit log.
ROLES = ("coordinator", "admin")


class StaffUser(Base):
    __tablename__ = "console_staff"

    id = Column(Integer, primary_key=True, autoincrement=True)
    username = Column(String(80), unique=True, nullable=False, index=True)
    display_name = Column(String(200), nullable=False)
    password_hash = Column(String(255), nullable=False)
    # Unused since the back-off (console_login_failures); kept for existing databases.
    failed_logins = Column(Integer, nullable=False, default=0)
    locked_until = Column(UTCDateTime())
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    role = Column(String(20), nullable=False, default="coordinator", server_default="coordinator")
    disabled_at = Column(UTCDateTime())  # set: the account cannot log in, its sessions end

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class StaffSession(Base):
    """A logged-in browser. Only a hash of the cookie's token is stored."""

    __tablename__ = "console_sessions"

    id = Column(Integer, primary_key=True, autoincrement=True)
    token_hash = Column(String(64), unique=True, nullable=False, index=True)
    csrf_token = Column(String(64), nullable=False)
    user_id = Column(Integer, ForeignKey("console_staff.id"), nullable=False, index=True)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    expires_at = Column(UTCDateTime(), nullable=False)
    last_seen_at = Column(UTCDateTime())  # for the idle timeout

    user = relationship(StaffUser, lazy="joined")


class LoginFailure(Base):
    """Failed log-ins for one key ("user:<name>", known or not, or "address:<ip>")."""

    __tablename__ = "console_login_failures"

    key = Column(String(200), primary_key=True)
    failures = Column(Integer, nullable=False, default=0)
    last_failure_at = Column(UTCDateTime(), nullable=False)


class RequestEvent(Base):
    """One thing a coordinator did with a request."""

    __tablename__ = "console_request_events"

    id = Column(Integer, primary_key=True, autoincrement=True)
    request_id = Column(Integer, ForeignKey(HandoffRequest.id), nullable=False, index=True)
    at = Column(UTCDateTime(), nullable=False, default=utcnow)
    actor = Column(String(80), nullable=False)
    # "status", "note", "joined", "handed_back", "left"
    kind = Column(String(20), nullable=False)
    text = Column(Text, nullable=False, default="")


class AuditEntry(Base):
    """Who did what, when: reads of a request as well as changes. Append-only."""

    __tablename__ = "console_audit_log"

    id = Column(Integer, primary_key=True, autoincrement=True)
    at = Column(UTCDateTime(), nullable=False, default=utcnow)
    actor = Column(String(80), nullable=False)
    # "viewed", "status", "note", "joined", "handed_back", "message", "log_in", "log_out",
    # "account_created", "account_disabled", "account_enabled", "account_removed", "role"...
    action = Column(String(30), nullable=False)
    reference = Column(String(32), index=True)  # the request's, when there is one
    detail = Column(String(200), nullable=False, default="")  # never what a family wrote


# Columns added after the first release: existing databases get them on first use.
_ADDED_COLUMNS = {
    "console_staff": {
        "role": "VARCHAR(20) NOT NULL DEFAULT 'coordinator'",
        "disabled_at": "{timestamp}",
    },
    "console_sessions": {"last_seen_at": "{timestamp}"},
}

_APPEND_ONLY_SQLITE = [
    f"CREATE TRIGGER IF NOT EXISTS console_audit_log_no_{verb} BEFORE {verb.upper()} "
    f"ON console_audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
    for verb in ("update", "delete")
]
_APPEND_ONLY_POSTGRES = [
    "CREATE OR REPLACE FUNCTION console_audit_log_append_only() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$",
    "DROP TRIGGER IF EXISTS console_audit_log_append_only ON console_audit_log",
    "CREATE TRIGGER console_audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
    "ON console_audit_log FOR EACH STATEMENT EXECUTE FUNCTION console_audit_log_append_only()",
]


_schema_lock = threading.Lock()


def ensure_schema(url: str) -> Engine:
    """The console's tables as this code expects them, once per process and database.
    Locked: the console's first requests arrive on several threads at once."""
    with _schema_lock:
        return _ensure_schema(url)


@lru_cache(maxsize=8)
def _ensure_schema(url: str) -> Engine:
    engine = engine_for(url)
    # engine_for made the tables of the modules imported before its first call for this
    # database; the console's may have come later (`make forget` in a fresh process).
    Base.metadata.create_all(engine)
    dialect = engine.dialect.name
    timestamp = "TIMESTAMP WITH TIME ZONE" if dialect == "postgresql" else "DATETIME"
    with engine.begin() as connection:
        inspector = inspect(connection)
        for table, columns in _ADDED_COLUMNS.items():
            present = {c["name"] for c in inspector.get_columns(table)}
            for name, kind in columns.items():
                if name not in present:
                    kind = kind.format(timestamp=timestamp)
                    connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {kind}"))
        if dialect == "sqlite":
            for statement in _APPEND_ONLY_SQLITE:
                connection.execute(text(statement))
        elif dialect == "postgresql":
            for statement in _APPEND_ONLY_POSTGRES:
                connection.execute(text(statement))
    return engine


@contextmanager
def console_session(url: str) -> Iterator[Session]:
    """A database session on a schema `ensure_schema` has brought up to date."""
    ensure_schema(url)
    with session_for(url) as session:
        yield session
