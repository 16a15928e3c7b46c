"""How many handoff requests one conversation and one network address may make.

Each stored request lands in the coordinators' inbox and mail: without a limit, a script
could fill both. Per conversation, the requests table itself is counted; per address, a
small table of its own (`handoff_origins`: when, and a keyed hash of the address the
channel passed in the message's metadata; no link to the request, no IP address), whose
rows older than the window are deleted as new ones come. In the database, so every
action server counts the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Integer, String, delete, func, select

from core.handoff_store import Base, HandoffRequest, UTCDateTime, session_for, utcnow
from core.settings import FloodSettings

ADDRESS_METADATA_KEY = "cart_address"  # channels/guard.py stamps it


class HandoffOrigin(Base):
    __tablename__ = "handoff_origins"

    id = Column(Integer, primary_key=True, autoincrement=True)
    at = Column(UTCDateTime(), nullable=False, index=True)
    address = Column(String(64), nullable=False, index=True)  # keyed hash, not the address


@dataclass(frozen=True)
class Refusal:
    """Why no new request is stored: "conversation" (with its latest reference) or
    "address"."""

    reason: str
    reference: str | None = None


def address_of(events: list[dict[str, Any]]) -> str | None:
    """The hashed address the channel stamped on the latest user message, if any."""
    for event in reversed(events):
        if event.get("event") == "user":
            value = (event.get("metadata") or {}).get(ADDRESS_METADATA_KEY)
            return value if isinstance(value, str) and value else None
    return None


def refusal(
    url: str,
    sender_id: str,
    address: str | None,
    limits: FloodSettings,
    now: datetime | None = None,
) -> Refusal | None:
    """None when the conversation and the address may make another request."""
    since = (now or utcnow()) - timedelta(hours=limits.handoff_window_hours)
    with session_for(url) as session:
        if limits.handoffs_per_conversation > 0:
            recent = list(
                session.scalars(
                    select(HandoffRequest.reference)
                    .where(
                        HandoffRequest.sender_id == sender_id, HandoffRequest.created_at >= since
                    )
                    .order_by(HandoffRequest.id.desc())
                    .limit(limits.handoffs_per_conversation)
                )
            )
            if len(recent) >= limits.handoffs_per_conversation:
                return Refusal("conversation", recent[0])
        if address and limits.handoffs_per_address > 0:
            count = session.scalar(
                select(func.count(HandoffOrigin.id)).where(
                    HandoffOrigin.address == address, HandoffOrigin.at >= since
                )
            )
            if count >= limits.handoffs_per_address:
                return Refusal("address")
    return None


def remember(url: str, address: str | None, limits: FloodSettings) -> None:
    """Counts a stored request against its address; forgets what is past the window."""
    if not address:
        return
    now = utcnow()
    with session_for(url) as session, session.begin():
        session.add(HandoffOrigin(at=now, address=address[:64]))
        window = timedelta(hours=limits.handoff_window_hours)
        session.execute(delete(HandoffOrigin).where(HandoffOrigin.at < now - window))
