"""Keeping families' data no longer than needed.

    python -m console.retention purge [--days N]     conversations idle for N days and
                                                     closed requests older than N days
    python -m console.retention forget CONVERSATION  everything for one conversation
                                                     (a family's request to be forgotten);
                                                     a request reference (CT-...) works too

N defaults to CART_RETENTION_DAYS (90). Conversations live in the Rasa server's tracker
store (CART_TRACKER_URL), requests with their notifications and console history in the
handoff database (CART_DATABASE_URL).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import create_engine, delete, inspect, select, text

from actions.handoff_store import HandoffRequest, Notification, session_for, utcnow
from actions.settings import load_handoff_settings, load_tracker_settings
from console.models import RequestEvent

EVENTS_TABLE = "events"  # Rasa's SQLTrackerStore table (components/tracker_store.py)
REFERENCE = re.compile(r"^CT-\d{4}-\d{5}$")


@dataclass(frozen=True)
class Deleted:
    conversations: int
    requests: int

    def __str__(self) -> str:
        return f"deleted {self.conversations} conversation(s) and {self.requests} request(s)"


def _delete_requests(handoff_url: str, condition: object) -> int:
    with session_for(handoff_url) as session, session.begin():
        ids = list(session.scalars(select(HandoffRequest.id).where(condition)))
        if ids:
            session.execute(delete(RequestEvent).where(RequestEvent.request_id.in_(ids)))
            session.execute(delete(Notification).where(Notification.request_id.in_(ids)))
            session.execute(delete(HandoffRequest).where(HandoffRequest.id.in_(ids)))
    return len(ids)


def _delete_conversations(tracker_url: str, where: str, **values: object) -> int:
    """Deletes the events of the conversations `where` selects (by sender_id)."""
    engine = create_engine(tracker_url, future=True)
    try:
        if not inspect(engine).has_table(EVENTS_TABLE):
            return 0
        with engine.begin() as connection:
            senders = [
                row[0]
                for row in connection.execute(
                    text(f"SELECT sender_id FROM {EVENTS_TABLE} GROUP BY sender_id {where}"),
                    values,
                )
            ]
            for sender in senders:
                connection.execute(
                    text(f"DELETE FROM {EVENTS_TABLE} WHERE sender_id = :sender"),
                    {"sender": sender},
                )
        return len(senders)
    finally:
        engine.dispose()


def purge(handoff_url: str, tracker_url: str, days: float, now: datetime | None = None) -> Deleted:
    cutoff = (now or utcnow()) - timedelta(days=days)
    conversations = _delete_conversations(
        tracker_url, "HAVING MAX(timestamp) < :cutoff", cutoff=cutoff.timestamp()
    )
    requests = _delete_requests(
        handoff_url,
        (HandoffRequest.status == "closed") & (HandoffRequest.created_at < cutoff),
    )
    return Deleted(conversations, requests)


def forget(handoff_url: str, tracker_url: str, conversation_id: str) -> Deleted:
    conversations = _delete_conversations(
        tracker_url, "HAVING sender_id = :sender_id", sender_id=conversation_id
    )
    requests = _delete_requests(handoff_url, HandoffRequest.sender_id == conversation_id)
    return Deleted(conversations, requests)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    purge_parser = commands.add_parser("purge", help="delete what is older than the limit")
    purge_parser.add_argument("--days", type=float, default=None)
    forget_parser = commands.add_parser("forget", help="delete everything for a conversation")
    forget_parser.add_argument("conversation_id")
    args = parser.parse_args(argv)
    handoff_url = load_handoff_settings().database_url
    tracker = load_tracker_settings()
    if args.command == "purge":
        days = tracker.retention_days if args.days is None else args.days
        if days < 0:
            print("--days must be 0 or more.", file=sys.stderr)
            return 2
        result = purge(handoff_url, tracker.url, days)
        print(f"Older than {days:g} days: {result}.")
    else:
        conversation = args.conversation_id.strip()
        if REFERENCE.match(conversation):
            with session_for(handoff_url) as session:
                conversation = (
                    session.scalar(
                        select(HandoffRequest.sender_id).where(
                            HandoffRequest.reference == conversation
                        )
                    )
                    or ""
                )
            if not conversation:
                print(f"There is no request {args.conversation_id}.", file=sys.stderr)
                return 1
        result = forget(handoff_url, tracker.url, conversation)
        print(f"Conversation {args.conversation_id}: {result}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
