"""Storage of the learning loop (issue #17): families' answer feedback and the review queue.

In the handoff database (CART_DATABASE_URL), beside the console's tables. Every text
column holds masked text only (core/masking.py), and is encrypted at rest as well
(EncryptedText, core/data_protection.py: marked "encrypted" below): what families
wrote about their children is health information even without names. Counts, names of
intents and responses, ids and times are plain, for SQL (the insights page).

Table `answer_feedback`: one row per answer a family rated in the widget (at most one per
answer: unique on conversation_id + bot_event_id).
    id               integer primary key
    created_at       timestamp (UTC) the family rated it
    conversation_id  the Rasa sender id (the widget's session id)
    bot_event_id     id in the tracker store's `events` table of the rated bot message
    user_event_id    id there of the family's message it answered (NULL if none)
    response         the domain response rated, e.g. "utter_crs" (from the bot event)
    intent           the intent the assistant understood for that message, e.g. "crs"
    confidence       that intent's confidence (0..1, NULL if unknown)
    helpful          true: "Yes", false: "No"
    comment          "What were you looking for?" (masked, encrypted, at most 200 characters,
                     "" if none)

Table `review_items`: the review queue; one row per family message worth a look (unique
on conversation_id + user_event_id).
    id               integer primary key
    created_at       timestamp (UTC) of the family's message
    conversation_id  the Rasa sender id
    user_event_id    id in the tracker store's `events` table of the family's message
    reason           "not_understood" | "did_you_mean" | "rated_no" | "emergency" | "sample"
    text             the family's message, masked, encrypted
    intent           what the assistant understood (intent name, NULL for none)
    confidence       its confidence (0..1)
    runner_ups       JSON list of {"intent", "confidence"}: the next topics in the ranking
    reply            the response(s) the assistant answered with, comma-separated
    emergency        true when the assistant gave the emergency answer: never hidden
    next_step        what the family did next (masked, encrypted), NULL while nothing followed
    comment          the family's "What were you looking for?" for a "No" (masked, encrypted)
    feedback_id      answer_feedback.id of the "No" that put it here (NULL otherwise)
    status           "open" | "labelled" | "reviewed"
    label            an intent name from domain.yml, "out_of_scope" or "new_topic" (NULL
                     while open or when only marked reviewed)
    labelled_by      console user name
    labelled_at      timestamp (UTC)

Table `review_cursor`: how far the queue has read (name "events": the tracker store's
events.id; name "feedback": answer_feedback.id).
    name             text primary key
    last_id          integer
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.content import intent_names
from core.data_protection import EncryptedText
from core.handoff_store import Base, UTCDateTime, engine_for, session_for, utcnow

MAX_COMMENT_LENGTH = 200
REASONS = ("emergency", "rated_no", "not_understood", "did_you_mean", "sample")
REASON_LABELS = {
    "emergency": "Emergency answer given",
    "rated_no": "Rated not helpful",
    "not_understood": "Not understood",
    "did_you_mean": "“Did you mean…?” offered",
    "sample": "Confident answer (sample)",
}
STATUSES = ("open", "labelled", "reviewed")
OUT_OF_SCOPE = "out_of_scope"
NEW_TOPIC = "new_topic"

# Responses that are not answers to a question, so families are not asked to rate them:
# the disclaimer and emergency answers (issue #17), greetings, the questions of the
# pre-screen and handoff forms, and notices from the channels.
NOT_RATED = frozenset(
    {
        "utter_disclaimer",
        "utter_emergency",
        "utter_emergency_es",
        "utter_safety_line",
        "utter_safety_line_es",
        "utter_greet",
        "utter_prescreen_intro",
        "utter_handoff_intro",
        "utter_too_many_messages",
        "utter_message_too_long",
        "utter_service_unavailable",
        "utter_coordinator_joined",
        "utter_assistant_back",
        "utter_coordinator_left",
    }
)


def is_rated(response: str) -> bool:
    """Whether families may rate this response ("Was this helpful?")."""
    if response == "utter_ask_rephrase":  # "Could you tell me in a few words…": an answer
        return True
    return not (
        response in NOT_RATED or response.startswith("utter_ask_") or response.endswith("_again")
    )


def labels() -> list[str]:
    """What a coordinator may label a message with: a topic (an intent), out of scope, or a
    new topic."""
    names = [n for n in intent_names() if n != OUT_OF_SCOPE]
    return [*names, OUT_OF_SCOPE, NEW_TOPIC]


class AnswerFeedback(Base):
    __tablename__ = "answer_feedback"
    __table_args__ = (UniqueConstraint("conversation_id", "bot_event_id"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow, index=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    bot_event_id = Column(Integer, nullable=False)
    user_event_id = Column(Integer)
    response = Column(String(255), nullable=False)
    intent = Column(String(255))
    confidence = Column(Float)
    helpful = Column(Boolean, nullable=False)
    comment = Column(EncryptedText(), nullable=False, default="")


class ReviewItem(Base):
    __tablename__ = "review_items"
    __table_args__ = (
        UniqueConstraint("conversation_id", "user_event_id"),
        Index("ix_review_items_status_created", "status", "created_at"),
    )

    id = Column(Integer, primary_key=True, autoincrement=True)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    conversation_id = Column(String(255), nullable=False, index=True)
    user_event_id = Column(Integer, nullable=False)
    reason = Column(String(20), nullable=False)
    text = Column(EncryptedText(), nullable=False)
    intent = Column(String(255))
    confidence = Column(Float)
    runner_ups = Column(Text, nullable=False, default="[]")
    reply = Column(String(500), nullable=False, default="")
    emergency = Column(Boolean, nullable=False, default=False)
    next_step = Column(EncryptedText())
    comment = Column(EncryptedText(), nullable=False, default="")
    feedback_id = Column(Integer)
    status = Column(String(10), nullable=False, default="open")
    label = Column(String(255))
    labelled_by = Column(String(80))
    labelled_at = Column(UTCDateTime())

    @property
    def runner_up_list(self) -> list[dict[str, Any]]:
        try:
            value = json.loads(self.runner_ups or "[]")
        except ValueError:
            return []
        return value if isinstance(value, list) else []


class ReviewCursor(Base):
    __tablename__ = "review_cursor"

    name = Column(String(20), primary_key=True)
    last_id = Column(Integer, nullable=False, default=0)


TABLES = [AnswerFeedback.__table__, ReviewItem.__table__, ReviewCursor.__table__]


@lru_cache(maxsize=8)
def _ensure_tables(url: str) -> None:
    # engine_for creates Base's tables, but only those imported before its first call.
    Base.metadata.create_all(engine_for(url), tables=TABLES)


@contextmanager
def store(url: str) -> Iterator[Session]:
    _ensure_tables(url)
    with session_for(url) as session:
        yield session


# ---- Feedback (written by the families' web page server) ----


@dataclass(frozen=True)
class RatedAnswer:
    """A bot message in the tracker store, and what it answered."""

    bot_event_id: int
    user_event_id: int | None
    response: str
    intent: str | None
    confidence: float | None


def record_feedback(
    url: str, conversation_id: str, answer: RatedAnswer, helpful: bool, comment: str
) -> bool:
    """Stores a rating; False when this answer was rated already (at most once). The one
    exception: a "No" sent first and its "What were you looking for?" sent after it (the
    widget sends the No at once, so it is kept even if the family never writes more)."""
    comment = comment[:MAX_COMMENT_LENGTH]
    with store(url) as session, session.begin():
        existing = session.scalar(
            select(AnswerFeedback).where(
                AnswerFeedback.conversation_id == conversation_id,
                AnswerFeedback.bot_event_id == answer.bot_event_id,
            )
        )
        if existing is not None:
            if helpful or existing.helpful or existing.comment or not comment:
                return False
            existing.comment = comment
            # Already in the queue: the family's words go there too.
            for item in session.scalars(
                select(ReviewItem).where(ReviewItem.feedback_id == existing.id)
            ):
                item.comment = comment
            return True
    try:
        with store(url) as session, session.begin():
            session.add(
                AnswerFeedback(
                    created_at=utcnow(),
                    conversation_id=conversation_id,
                    bot_event_id=answer.bot_event_id,
                    user_event_id=answer.user_event_id,
                    response=answer.response,
                    intent=answer.intent,
                    confidence=answer.confidence,
                    helpful=helpful,
                    comment=comment,
                )
            )
    except IntegrityError:
        return False  # the same rating twice at the same moment
    return True


# ---- The queue ----


def cursor(session: Session, name: str) -> int:
    row = session.get(ReviewCursor, name)
    return row.last_id if row else 0


def move_cursor(session: Session, name: str, last_id: int) -> None:
    row = session.get(ReviewCursor, name)
    if row is None:
        session.add(ReviewCursor(name=name, last_id=last_id))
    elif last_id > row.last_id:
        row.last_id = last_id


def list_items(url: str, status: str = "open", limit: int = 200) -> list[ReviewItem]:
    """Emergencies first (never hidden: they are listed whatever the status asked for),
    then the newest."""
    with store(url) as session:
        query = select(ReviewItem).order_by(
            ReviewItem.emergency.desc(), ReviewItem.created_at.desc()
        )
        if status in STATUSES:
            query = query.where((ReviewItem.status == status) | ReviewItem.emergency.is_(True))
        return list(session.scalars(query.limit(limit)))


def find_item(url: str, item_id: int) -> ReviewItem | None:
    with store(url) as session:
        return session.get(ReviewItem, item_id)


def label_item(url: str, item_id: int, label: str | None, staff: str) -> bool:
    """Labels an item with a topic, out of scope or a new topic; `label` None only marks it
    reviewed. False for an unknown item or label."""
    if label is not None and label not in labels():
        return False
    with store(url) as session, session.begin():
        item = session.get(ReviewItem, item_id)
        if item is None:
            return False
        item.status = "reviewed" if label is None else "labelled"
        item.label = label
        item.labelled_by = staff
        item.labelled_at = utcnow()
    return True


def labelled_items(url: str) -> list[ReviewItem]:
    with store(url) as session:
        query = (
            select(ReviewItem)
            .where(ReviewItem.status == "labelled", ReviewItem.label.is_not(None))
            .order_by(ReviewItem.labelled_at, ReviewItem.id)
        )
        return list(session.scalars(query))


# ---- Retention (console/retention.py: `make purge`, `make forget`) ----


def purge_before(url: str, cutoff: datetime) -> int:
    """Deletes feedback and queue items older than the retention limit."""
    with store(url) as session, session.begin():
        gone = session.execute(delete(ReviewItem).where(ReviewItem.created_at < cutoff))
        session.execute(delete(AnswerFeedback).where(AnswerFeedback.created_at < cutoff))
    return int(gone.rowcount or 0)


def forget_conversation(url: str, conversation_id: str) -> int:
    """Deletes one conversation's feedback and queue items; returns the items' count."""
    with store(url) as session, session.begin():
        gone = session.execute(
            delete(ReviewItem).where(ReviewItem.conversation_id == conversation_id)
        )
        session.execute(
            delete(AnswerFeedback).where(AnswerFeedback.conversation_id == conversation_id)
        )
    return int(gone.rowcount or 0)
