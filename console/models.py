"""The console's own tables, beside the handoff requests (same database, same Base).

Staff accounts, their log-in sessions, and what happened to each request (status
changes, notes, takeovers), each with who and when.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String, Text
from sqlalchemy.orm import relationship

from actions.handoff_store import Base, HandoffRequest, UTCDateTime, utcnow

STATUSES = ("new", "in_progress", "contacted", "closed")
STATUS_LABELS = {
    "new": "New",
    "in_progress": "In progress",
    "contacted": "Contacted",
    "closed": "Closed",
}


class StaffUser(Base):
    __tablename__ = "console_staff"

    id = Column(Integer, primary_key=True, autoincrement=True)
    username = Column(String(80), unique=True, nullable=False, index=True)
    display_name = Column(String(200), nullable=False)
    password_hash = Column(String(255), nullable=False)
    failed_logins = Column(Integer, nullable=False, default=0)
    locked_until = Column(UTCDateTime())
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)


class StaffSession(Base):
    """A logged-in browser. Only a hash of the cookie's token is stored."""

    __tablename__ = "console_sessions"

    id = Column(Integer, primary_key=True, autoincrement=True)
    token_hash = Column(String(64), unique=True, nullable=False, index=True)
    csrf_token = Column(String(64), nullable=False)
    user_id = Column(Integer, ForeignKey("console_staff.id"), nullable=False, index=True)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    expires_at = Column(UTCDateTime(), nullable=False)

    user = relationship(StaffUser, lazy="joined")


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
