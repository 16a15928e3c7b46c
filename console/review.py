"""The review queue: what the assistant missed, read from the tracker store (issue #17).

`refresh()` reads the tracker store's events since it last looked (a cursor, so a year of
traffic is read once, not on every page view) and the feedback since then, and adds:
- a family's message that ended in "Did you mean…?" (`utter_did_you_mean`), "I didn't
  understand" (`utter_not_understood`, or `utter_offer_coordinator` after a second miss)
  or "Could you say it in a few words?" (`utter_ask_rephrase`: the message before it,
  the one the assistant missed);
- a message whose answer the family rated "No", with their comment;
- a message the assistant answered with the emergency answer: never hidden;
and, on demand, `add_sample()` a random sample of confidently understood messages.
Every text is masked (core/masking.py) before it is stored in the queue.

The cursor is the highest events.id read. On PostgreSQL a turn committed late with a lower
id than one already read would be missed; Rasa writes a turn in one short transaction, so
the window is milliseconds, and the sample and the feedback route still reach such turns.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from console import tracker_events
from console.feedback_store import AnswerFeedback, ReviewItem, cursor, move_cursor, store
from console.tracker_events import Event
from core.masking import mask

logger = logging.getLogger(__name__)

DID_YOU_MEAN = "utter_did_you_mean"
NOT_UNDERSTOOD = "utter_not_understood"
ASK_REPHRASE = "utter_ask_rephrase"
OFFER_COORDINATOR = "utter_offer_coordinator"  # the second miss in a row
MISSED_ACTIONS = (DID_YOU_MEAN, NOT_UNDERSTOOD, ASK_REPHRASE, OFFER_COORDINATOR)
EMERGENCY_INTENT = "emergency"
BATCH = 2000
RUNNER_UPS = 3
SAMPLE_MIN_CONFIDENCE = 0.8
NEXT_STEP_CHECKS = 300  # open items looked at per refresh for what the family did next
# A family that wrote nothing for this long after a miss has left (sessions end after an
# hour): the item's next step stays "nothing", and is not looked up on every refresh.
NEXT_STEP_WINDOW = timedelta(days=1)


def _typed(event: Event) -> bool:
    """A message the family typed (a tapped button arrives as its payload, "/crs")."""
    return bool(event.text) and not event.text.startswith("/")


def _previous_typed_message(tracker_url: str, sender: str, before_id: int) -> Event | None:
    candidates = tracker_events.query(
        tracker_url,
        "sender_id = :sender AND type_name = 'user' AND id < :before AND id >= :floor",
        sender=sender,
        before=before_id,
        floor=max(0, before_id - 5000),  # a turn is a few dozen events: keeps it indexed
    )
    return next((e for e in reversed(candidates) if _typed(e)), None)


def _is_emergency(user: Event, replies: list[Event]) -> bool:
    red_flag = user.parse_data.get("red_flag") or {}
    return (
        user.intent_name == EMERGENCY_INTENT
        or red_flag.get("verdict") == "emergency"
        or any(r.emergency_marked for r in replies)
    )


def _turn(tracker_url: str, user: Event) -> tuple[list[Event], Event | None, list[Event]]:
    """The bot messages answering `user`, the family's next message (if any), and the
    events in between (their buttons say what a tapped payload meant)."""
    later = tracker_events.conversation(tracker_url, user.sender_id, after_id=user.id, limit=80)
    replies: list[Event] = []
    for event in later:
        if event.type_name == "user":
            return replies, event, later
        if event.type_name == "bot":
            replies.append(event)
    return replies, None, later


def describe_next_step(next_user: Event | None, between: list[Event]) -> str | None:
    """What the family did next, masked: a tapped button by its title, or what they typed."""
    if next_user is None:
        return None
    titles: dict[str, str] = {}
    for event in between:
        if event.id >= next_user.id:
            break
        for button in event.buttons:
            if button.get("payload") and button.get("title"):
                titles[str(button["payload"])] = str(button["title"])
    text = next_user.text
    if text in titles:
        return f"Tapped “{titles[text]}”"
    if text.startswith("/"):
        return f"Tapped a button ({text[1:]})"
    return f"Wrote: {mask(text)}"


def _new_item(tracker_url: str, user: Event, reason: str) -> ReviewItem:
    replies, next_user, between = _turn(tracker_url, user)
    intent = user.parse_data.get("intent") or {}
    ranking = user.parse_data.get("intent_ranking") or []
    runner_ups = [
        {"intent": r.get("name"), "confidence": round(float(r.get("confidence") or 0), 3)}
        for r in ranking
        if isinstance(r, dict) and r.get("name") not in (intent.get("name"), "nlu_fallback")
    ][:RUNNER_UPS]
    emergency = _is_emergency(user, replies)
    reply_names = list(dict.fromkeys(r.utter_action for r in replies if r.utter_action))
    confidence = intent.get("confidence")
    return ReviewItem(
        created_at=datetime.fromtimestamp(user.timestamp or 0, timezone.utc),
        conversation_id=user.sender_id,
        user_event_id=user.id,
        reason="emergency" if emergency else reason,
        text=mask(user.text),
        intent=intent.get("name"),
        confidence=float(confidence) if isinstance(confidence, (int, float)) else None,
        runner_ups=json.dumps(runner_ups),
        reply=", ".join(reply_names)[:500],
        emergency=emergency,
        next_step=describe_next_step(next_user, between),
        comment="",
        status="open",
    )


def _missed_reason(action: Event, tracker_url: str) -> str:
    if action.action_name == DID_YOU_MEAN:
        # The NLG turns "Did you mean…?" without a good guess into "I didn't understand"
        # (components/program_nlg.py): the bot message after it tells which it was.
        after = tracker_events.query(
            tracker_url,
            "sender_id = :sender AND id > :after AND type_name = 'bot'",
            limit=1,
            sender=action.sender_id,
            after=action.id,
        )
        if after and after[0].buttons:
            return "did_you_mean"
    return "not_understood"


def _known(session: Any, user: Event) -> bool:
    return (
        session.scalar(
            select(ReviewItem.id).where(
                ReviewItem.conversation_id == user.sender_id,
                ReviewItem.user_event_id == user.id,
            )
        )
        is not None
    )


def _add(session: Any, item: ReviewItem) -> ReviewItem:
    existing = session.scalar(
        select(ReviewItem).where(
            ReviewItem.conversation_id == item.conversation_id,
            ReviewItem.user_event_id == item.user_event_id,
        )
    )
    if existing is not None:
        return existing
    session.add(item)
    session.flush()
    return item


def _scan_events(database_url: str, tracker_url: str) -> int:
    added = 0
    top = tracker_events.latest_id(tracker_url)
    while True:
        with store(database_url) as session, session.begin():
            since = cursor(session, "events")
            if since >= top:
                return added
            names = ", ".join(f"'{name}'" for name in MISSED_ACTIONS)
            triggers = tracker_events.query(
                tracker_url,
                f"id > :since AND id <= :top AND ("
                f"(type_name = 'action' AND action_name IN ({names})) OR "
                f"(type_name = 'user' AND intent_name = '{EMERGENCY_INTENT}'))",
                limit=BATCH,
                since=since,
                top=top,
            )
            for trigger in triggers:
                user: Event | None
                if trigger.type_name == "user":
                    user, reason = trigger, "emergency"
                else:
                    user = _previous_typed_message(tracker_url, trigger.sender_id, trigger.id)
                    reason = _missed_reason(trigger, tracker_url)
                if user is None or _known(session, user):
                    continue
                _add(session, _new_item(tracker_url, user, reason))
                added += 1
            move_cursor(session, "events", triggers[-1].id if len(triggers) == BATCH else top)


def _scan_feedback(database_url: str, tracker_url: str) -> None:
    with store(database_url) as session, session.begin():
        since = cursor(session, "feedback")
        ratings = list(
            session.scalars(
                select(AnswerFeedback)
                .where(AnswerFeedback.id > since)
                .order_by(AnswerFeedback.id)
                .limit(BATCH)
            )
        )
        for rating in ratings:
            if rating.helpful or rating.user_event_id is None:
                continue
            users = tracker_events.query(
                tracker_url,
                "id = :id AND sender_id = :sender",
                id=rating.user_event_id,
                sender=rating.conversation_id,
            )
            if not users:
                continue  # the conversation was deleted (retention) since
            item = _add(session, _new_item(tracker_url, users[0], "rated_no"))
            item.feedback_id = rating.id
            item.comment = rating.comment  # masked when it was stored
            if not item.emergency:
                item.reason = "rated_no"
            if item.status != "open" and rating.comment:
                item.status = "open"  # new words from the family: look again
        if ratings:
            move_cursor(session, "feedback", ratings[-1].id)


def _fill_next_steps(database_url: str, tracker_url: str) -> None:
    with store(database_url) as session, session.begin():
        waiting = session.scalars(
            select(ReviewItem)
            .where(
                ReviewItem.next_step.is_(None),
                ReviewItem.status == "open",
                ReviewItem.created_at > datetime.now(timezone.utc) - NEXT_STEP_WINDOW,
            )
            .order_by(ReviewItem.id.desc())
            .limit(NEXT_STEP_CHECKS)
        )
        for item in waiting:
            users = tracker_events.query(
                tracker_url,
                "id = :id AND sender_id = :sender",
                id=item.user_event_id,
                sender=item.conversation_id,
            )
            if users:
                _, next_user, between = _turn(tracker_url, users[0])
                item.next_step = describe_next_step(next_user, between)


def refresh(database_url: str, tracker_url: str) -> int:
    """Brings the queue up to date; returns how many messages the tracker scan added."""
    if not tracker_events.has_events(tracker_url):
        return 0
    try:
        added = _scan_events(database_url, tracker_url)
        _scan_feedback(database_url, tracker_url)
        _fill_next_steps(database_url, tracker_url)
    except IntegrityError:
        # Two coordinators opened the queue at once and the other refresh added the same
        # messages first (unique per message): its work stands, this one's is rolled back.
        logger.info("Review queue refreshed by another request at the same time")
        return 0
    return added


def add_sample(
    database_url: str,
    tracker_url: str,
    size: int = 10,
    min_confidence: float = SAMPLE_MIN_CONFIDENCE,
) -> int:
    """Adds up to `size` random messages the assistant understood with confidence, so
    staff can check that confident answers were right too."""
    if not tracker_events.has_events(tracker_url):
        return 0
    candidates = tracker_events.query(
        tracker_url,
        "id IN (SELECT id FROM events WHERE type_name = 'user' AND intent_name IS NOT NULL "
        f"AND intent_name <> '{EMERGENCY_INTENT}' ORDER BY RANDOM() LIMIT :pool)",
        pool=size * 20,
    )
    added = 0
    with store(database_url) as session, session.begin():
        for user in candidates:
            if added >= size:
                break
            confidence = (user.parse_data.get("intent") or {}).get("confidence") or 0
            if not _typed(user) or float(confidence) < min_confidence:
                continue
            if not _known(session, user):
                _add(session, _new_item(tracker_url, user, "sample"))
                added += 1
    return added
