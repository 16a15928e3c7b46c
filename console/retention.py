"""Keeping families' data no longer than needed.

    python -m console.retention purge [--days N] [--open-days M] [--every HOURS]
        conversations idle for N days, closed requests older than N days, and requests
        never closed older than M days; with --every, again every HOURS (a service)
    python -m console.retention forget CONVERSATION
        everything stored for one conversation (a family's request to be forgotten);
        a request reference (CT-...) works too

N defaults to CART_RETENTION_DAYS (90), M to CART_OPEN_REQUEST_DAYS (180). Conversations
live in the Rasa server's tracker store (CART_TRACKER_URL), requests with their
notifications and console history in the handoff database (CART_DATABASE_URL), with the
learning loop's answer ratings and review queue (console/feedback_store.py). Both
commands print what they erased and, as exactly, what they cannot erase (NOT_ERASED).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import create_engine, delete, inspect, select, text
from sqlalchemy.engine import Engine

from console import audit, feedback_store
from console.models import RequestEvent, ensure_schema
from core.handoff_store import HandoffRequest, Notification, session_for, utcnow
from core.settings import load_handoff_settings, load_tracker_settings

logger = logging.getLogger(__name__)

EVENTS_TABLE = "events"  # Rasa's SQLTrackerStore table (components/tracker_store.py)
REFERENCE = re.compile(r"^CT-\d{4}-\d{5}$")

ERASED = (
    "the conversation's events in the tracker store: every message, answer, button and "
    "form answer (slot) of it",
    "each handoff request: name, contact, age, need, transcript, its pending and sent "
    "notification records, and the coordinators' notes and status changes",
    "the learning loop's review queue items (the family's masked message, what they did "
    "next, their comment) and answer ratings with their comments",
)
NOT_ERASED = (
    "emails already delivered to the coordinators' mailboxes (and, with `make run`, the "
    "local mail catcher's var/local-mail.log): delete them in the mail system",
    "webhook messages already delivered (they carry the reference and the console link)",
    "the audit log (console_audit_log): who opened or changed which reference, when; it "
    "holds no name, contact or message and is append-only",
    "the family's other conversations: another browser, device or cleared chat is another "
    "conversation id that nothing links to this one; forget each id the family gives",
    "database backups, replicas and the databases' own logs, until they rotate",
    "copies in running processes (a Rasa server's in-memory tracker and lock store, a "
    "console page open in a browser) until they restart or reload",
    "the widget's copy in the family's browser (sessionStorage, until the tab closes)",
    "labelled review messages already exported as training data (masked: "
    "data/nlu/reviewed.yml, reports/new-topics.md) and models trained on them",
    "the insights page's daily counts (numbers per day and topic, no id or text)",
)


@dataclass(frozen=True)
class Deleted:
    conversations: int
    requests: int
    expired_open: int = 0  # of `requests`: never closed, deleted for their age
    review_items: int = 0  # the learning loop's queue items (their ratings go with them)

    def __str__(self) -> str:
        return (
            f"deleted {self.conversations} conversation(s) and {self.requests} request(s), "
            f"{self.review_items} review queue item(s)"
        )

    def report(self) -> str:
        """What was erased, with counts, and what was not: printed by both commands."""
        lines = [
            f"Erased {self.conversations} conversation(s): {ERASED[0]}.",
            f"Erased {self.requests} request(s) ({self.expired_open} never closed): {ERASED[1]}.",
            f"Erased {self.review_items} review queue item(s), and the answer ratings with "
            f"them: {ERASED[2]}.",
            "Not erased:",
            *(f"  - {item}" for item in NOT_ERASED),
        ]
        return "\n".join(lines)


def _delete_requests(handoff_url: str, condition: object) -> list[str]:
    """Deletes the requests `condition` selects; returns their references."""
    # The console's tables may never have been made (`make forget` before the console
    # ever ran): this deletes from them too.
    ensure_schema(handoff_url)
    with session_for(handoff_url) as session, session.begin():
        rows = list(
            session.execute(select(HandoffRequest.id, HandoffRequest.reference).where(condition))
        )
        ids = [row.id for row in rows]
        if ids:
            session.execute(delete(RequestEvent).where(RequestEvent.request_id.in_(ids)))
            session.execute(delete(Notification).where(Notification.request_id.in_(ids)))
            session.execute(delete(HandoffRequest).where(HandoffRequest.id.in_(ids)))
    return [row.reference for row in rows]


def tracker_engine(tracker_url: str) -> Engine:
    """The tracker store's database, for one command (disposed by the caller)."""
    # hide_parameters: an error's message (printed, logged) must not carry a conversation id.
    return create_engine(tracker_url, future=True, hide_parameters=True)


def _delete_conversations(tracker_url: str, where: str, **values: object) -> int:
    """Deletes the events of the conversations `where` selects (by sender_id)."""
    engine = tracker_engine(tracker_url)
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


def _audit(handoff_url: str, action: str, references: list[str]) -> None:
    # The audit log outlives the request: it says when and why a reference disappeared.
    for reference in references:
        audit.record(handoff_url, "retention", action, reference)


def purge(
    handoff_url: str,
    tracker_url: str,
    days: float,
    now: datetime | None = None,
    open_days: float | None = None,
) -> Deleted:
    """Idle conversations and closed requests older than `days`; requests in any other
    status older than `open_days` (None: kept)."""
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    conversations = _delete_conversations(
        tracker_url, "HAVING MAX(timestamp) < :cutoff", cutoff=cutoff.timestamp()
    )
    closed = _delete_requests(
        handoff_url,
        (HandoffRequest.status == "closed") & (HandoffRequest.created_at < cutoff),
    )
    expired: list[str] = []
    if open_days is not None:
        expired = _delete_requests(
            handoff_url,
            (HandoffRequest.status != "closed")
            & (HandoffRequest.created_at < now - timedelta(days=open_days)),
        )
    _audit(handoff_url, "purged", closed)
    _audit(handoff_url, "expired", expired)
    # Ratings and queue items hold masked messages: same limit as the conversations.
    review_items = feedback_store.purge_before(handoff_url, cutoff)
    return Deleted(conversations, len(closed) + len(expired), len(expired), review_items)


def forget(handoff_url: str, tracker_url: str, conversation_id: str) -> Deleted:
    conversations = _delete_conversations(
        tracker_url, "HAVING sender_id = :sender_id", sender_id=conversation_id
    )
    references = _delete_requests(handoff_url, HandoffRequest.sender_id == conversation_id)
    _audit(handoff_url, "forgotten", references)
    review_items = feedback_store.forget_conversation(handoff_url, conversation_id)
    return Deleted(conversations, len(references), review_items=review_items)


def _purge_forever(
    handoff_url: str, tracker_url: str, days: float, open_days: float, hours: float
) -> None:
    """The scheduled purge of the compose file: once now, then every `hours`."""
    while True:
        try:
            result = purge(handoff_url, tracker_url, days, open_days=open_days)
            print(f"Purge: {result}, {result.expired_open} of them never closed.", flush=True)
        except Exception as error:  # noqa: BLE001 - the next round tries again
            logger.error("Purge failed: %s", type(error).__name__)
        time.sleep(hours * 3600)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    purge_parser = commands.add_parser("purge", help="delete what is older than the limits")
    purge_parser.add_argument("--days", type=float, default=None)
    purge_parser.add_argument("--open-days", type=float, default=None)
    purge_parser.add_argument("--every", type=float, default=None, metavar="HOURS")
    forget_parser = commands.add_parser("forget", help="delete everything for a conversation")
    forget_parser.add_argument("conversation_id")
    args = parser.parse_args(argv)
    handoff_url = load_handoff_settings().database_url
    tracker = load_tracker_settings()
    if args.command == "purge":
        days = tracker.retention_days if args.days is None else args.days
        open_days = tracker.open_request_days if args.open_days is None else args.open_days
        if days < 0 or open_days < 0 or (args.every is not None and args.every <= 0):
            print("--days and --open-days must be 0 or more, --every more than 0.", file=sys.stderr)
            return 2
        if args.every is not None:
            _purge_forever(handoff_url, tracker.url, days, open_days, args.every)
        result = purge(handoff_url, tracker.url, days, open_days=open_days)
        print(f"Idle or closed for over {days:g} days, open for over {open_days:g} days: {result}.")
        print(result.report())
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
        print(result.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
