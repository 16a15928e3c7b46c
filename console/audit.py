"""The append-only audit log: who opened which request, and who changed what.

Entries name the actor, the action, the request's reference and a short detail (a status
change, a note's length): never what a family wrote, so the log can outlive the request
it speaks of (retention deletes requests, not their audit entries).
"""

from __future__ import annotations

from sqlalchemy import select

from console.models import AuditEntry, console_session
from core.handoff_store import utcnow

MAX_DETAIL_LENGTH = 200


def record(
    url: str, actor: str, action: str, reference: str | None = None, detail: str = ""
) -> None:
    with console_session(url) as session, session.begin():
        session.add(
            AuditEntry(
                at=utcnow(),
                actor=actor[:80],
                action=action[:30],
                reference=reference,
                detail=detail[:MAX_DETAIL_LENGTH],
            )
        )


def entries(url: str, reference: str | None = None, limit: int = 500) -> list[AuditEntry]:
    """The newest entries first, for one request or for all."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if reference:
        query = query.where(AuditEntry.reference == reference)
    with console_session(url) as session:
        return list(session.scalars(query))
