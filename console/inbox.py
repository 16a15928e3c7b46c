"""The requests coordinators work on: listing, reading, and recording what they did."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from console.models import STATUSES, RequestEvent
from core.handoff_store import HandoffRequest, session_for, utcnow

MAX_NOTE_LENGTH = 4000
TAKEOVER_KINDS = ("joined", "handed_back", "left")


@dataclass(frozen=True)
class RequestView:
    request: HandoffRequest
    transcript: list[dict[str, Any]]
    events: list[RequestEvent]

    @property
    def taken_over(self) -> bool:
        """A coordinator joined and has not handed back (nor vanished) since."""
        last = next((e for e in reversed(self.events) if e.kind in TAKEOVER_KINDS), None)
        return bool(last and last.kind == "joined")


def list_requests(url: str, status: str | None = None, limit: int = 200) -> list[HandoffRequest]:
    query = select(HandoffRequest).order_by(HandoffRequest.created_at.desc()).limit(limit)
    if status in STATUSES:
        query = query.where(HandoffRequest.status == status)
    with session_for(url) as session:
        return list(session.scalars(query))


def find_request(url: str, reference: str) -> RequestView | None:
    with session_for(url) as session:
        request = session.scalar(
            select(HandoffRequest).where(HandoffRequest.reference == reference)
        )
        if request is None:
            return None
        events = list(
            session.scalars(
                select(RequestEvent)
                .where(RequestEvent.request_id == request.id)
                .order_by(RequestEvent.id)
            )
        )
    try:
        transcript = json.loads(request.transcript or "[]")
    except ValueError:
        transcript = []
    return RequestView(request, transcript if isinstance(transcript, list) else [], events)


def record(url: str, reference: str, actor: str, kind: str, text: str = "") -> bool:
    """Adds an event to a request's history (and applies a status change). False if the
    request does not exist or the status is not one of STATUSES."""
    with session_for(url) as session, session.begin():
        request = session.scalar(
            select(HandoffRequest).where(HandoffRequest.reference == reference)
        )
        if request is None:
            return False
        if kind == "status":
            if text not in STATUSES:
                return False
            if request.status == text:
                return True
            text, request.status = f"{request.status} → {text}", text
        session.add(
            RequestEvent(
                request_id=request.id,
                at=utcnow(),
                actor=actor,
                kind=kind,
                text=text[:MAX_NOTE_LENGTH],
            )
        )
    return True


def waiting_time(since: datetime, now: datetime | None = None) -> str:
    """'3 min', '2 h 5 min', '4 days' since a request came in."""
    minutes = int(((now or utcnow()) - since).total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // (24 * 60)} days"
