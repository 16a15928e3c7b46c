"""Figures for the insights page: what families asked, what the assistant missed, how the
coordinators answered. Counts only: no message text, no sender id leaves this module.

Where the figures come from:
- the tracker store's `events` table (Rasa's SQLTrackerStore; CART_TRACKER_URL), read
  through its plain columns only (type_name, intent_name, action_name, timestamp,
  sender_id): the `data` column may be encrypted at rest;
- the handoff tables (CART_DATABASE_URL): requests and what coordinators did with them;
- the families' answer ratings (`answer_feedback`, console/feedback_store.py).

Definitions: a conversation is counted on each day its family wrote (the period's total
adds the days up); a message is not understood when the assistant answered it with
"Did you mean…?", the coordinator offer after a second miss, or the pre-screen's "I didn't
understand"; an offer is taken when the family's next message is one of the offerable
topics (a button's payload is exactly that intent; a typed question the model places in
a topic counts too); an emergency is an emergency answer given.

A year of traffic is millions of events, too many to count on every page view. The
tracker figures are therefore rolled up per day (the program's time zone) into
`insights_daily` in the console's database, with a watermark: the highest event id and
time already counted. A page view first brings the rollup up to date, recounting only the
days that received new events (normally today, a few thousand rows over an index on
`events.timestamp`), then reads at most a few thousand rollup rows. The rollup holds
counts per day and topic only, nothing about any family, so a retention purge of the
conversations leaves the past figures in place, as a year-long chart needs.

    python -m console.insights refresh    brings the rollup up to date (e.g. from cron)
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from statistics import median
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    delete,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from console.feedback_store import AnswerFeedback
from console.models import RequestEvent
from core.handoff_store import HandoffRequest, UTCDateTime, engine_for, utcnow
from core.suggestions import parent_topic, topic_titles

EVENTS_TABLE = "events"  # Rasa's SQLTrackerStore table
# Every message the assistant did not understand gets exactly one of these answers
# (data/rules/fallback.yml; the pre-screen's own "I didn't understand").
NOT_UNDERSTOOD_ACTIONS = ("utter_did_you_mean", "utter_offer_coordinator", "utter_not_understood")
OFFER_ACTION = "utter_did_you_mean"
EMERGENCY_ACTIONS = ("utter_emergency", "utter_emergency_es")
HANDOFF_INTENT = "request_human"
# A request counts as completed once a coordinator reached the family or closed it.
COMPLETED_STATUSES = ("contacted", "closed")
# Coordinator actions on a request that count as a response (console/models.py); "left"
# is the console's own watchdog, not a person.
RESPONSE_KINDS = ("status", "note", "joined")
MAX_DAYS = 731
TOP_TOPICS = 12

logger = logging.getLogger(__name__)

metadata = MetaData()
daily = Table(
    "insights_daily",
    metadata,
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD in the program's time zone
    Column("metric", String(40), primary_key=True),
    Column("key", String(120), primary_key=True),  # "" or the intent for metric "intent"
    Column("value", Integer, nullable=False),
)
state = Table(
    "insights_state",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", String(255), nullable=False),
)

DAILY_METRICS = (
    "conversations",
    "messages",
    "not_understood",
    "offers",
    "offers_taken",
    "emergencies",
)

_refresh_lock = threading.Lock()  # one rollup at a time in this process


@lru_cache(maxsize=8)
def tracker_engine(url: str) -> Engine:
    # hide_parameters: a database error's message (logged) must not carry what a family wrote.
    if make_url(url).get_backend_name() == "sqlite":
        return create_engine(url, future=True, hide_parameters=True, connect_args={"timeout": 15})
    return create_engine(
        url,
        future=True,
        pool_pre_ping=True,
        hide_parameters=True,
        connect_args={"connect_timeout": 5},
    )


@lru_cache(maxsize=8)
def _rollup_engine(url: str) -> Engine:
    engine = engine_for(url)  # the console's database, with the handoff tables
    metadata.create_all(engine)
    # The feedback table too, when this process has not stored a rating yet.
    AnswerFeedback.__table__.create(engine, checkfirst=True)
    return engine


_indexed: set[str] = set()
_TIMESTAMP_INDEX = text(
    f"CREATE INDEX IF NOT EXISTS ix_events_timestamp ON {EVENTS_TABLE} (timestamp)"
)


def _events_ready(url: str) -> bool:
    """True when the tracker store has its events table; adds, once, the timestamp index
    the per-day counts need (Rasa indexes sender_id only)."""
    if url in _indexed:
        return True
    engine = tracker_engine(url)
    if not inspect(engine).has_table(EVENTS_TABLE):
        return False  # no conversation yet: asked again next time
    try:
        with engine.begin() as connection:
            connection.execute(_TIMESTAMP_INDEX)
    except SQLAlchemyError:
        # A console with read-only access: the figures still come, only slower.
        logger.warning("Could not add the index on events.timestamp; insights will be slow")
    _indexed.add(url)
    return True


# ---- Days in the program's time zone ----


def day_bounds(day: date, zone: ZoneInfo) -> tuple[float, float]:
    """The day's start and end as Unix times (the events' timestamps); DST-safe."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.timestamp(), end.timestamp()


def local_day(timestamp: float, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(timestamp, tz=zone).date()


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())  # weeks start on Monday


# ---- The rollup ----


def _offerable_intents() -> list[str]:
    return sorted(topic_titles())


_DAY_TOTALS = text(
    f"""
    SELECT
      COUNT(DISTINCT CASE WHEN type_name = 'user' THEN sender_id END),
      SUM(CASE WHEN type_name = 'user' THEN 1 ELSE 0 END),
      SUM(CASE WHEN action_name IN :not_understood THEN 1 ELSE 0 END),
      SUM(CASE WHEN action_name = :offer THEN 1 ELSE 0 END),
      SUM(CASE WHEN action_name IN :emergency THEN 1 ELSE 0 END)
    FROM {EVENTS_TABLE}
    WHERE timestamp >= :start AND timestamp < :end
    """
).bindparams(
    bindparam("not_understood", expanding=True),
    bindparam("emergency", expanding=True),
)
_DAY_INTENTS = text(
    f"""
    SELECT intent_name, COUNT(*) FROM {EVENTS_TABLE}
    WHERE timestamp >= :start AND timestamp < :end AND type_name = 'user'
      AND intent_name IS NOT NULL
    GROUP BY intent_name
    """
)
# An offer is taken when the family's next message is one of the offerable topics (a
# button's payload is exactly that intent). The next message may come just after
# midnight: the window looks an hour past the day's end.
_DAY_OFFERS_TAKEN = text(
    f"""
    SELECT COUNT(*) FROM (
      SELECT action_name, timestamp,
             LEAD(intent_name) OVER (PARTITION BY sender_id ORDER BY id) AS next_intent
      FROM {EVENTS_TABLE}
      WHERE timestamp >= :start AND timestamp < :end_next
        AND (type_name = 'user' OR action_name = :offer)
    ) AS turns
    WHERE action_name = :offer AND timestamp < :end AND next_intent IN :topics
    """
).bindparams(bindparam("topics", expanding=True))


# The hours (since 1970) that received events after the watermark: a handful after a
# page view, at most 8,760 for a year when counting from scratch. CAST truncates on
# SQLite and rounds on PostgreSQL: the days are taken from both ends of the bucket.
# New events are those past the newest id or the newest time seen: SQLite hands out the
# ids of deleted rows again (`make forget` of the latest conversation), times go on.
_NEW_EVENT_HOURS = text(
    f"SELECT DISTINCT CAST(timestamp / 3600 AS INTEGER) FROM {EVENTS_TABLE} "
    "WHERE (id > :since OR timestamp >= :since_time) AND timestamp IS NOT NULL"
)
# Two queries: each MAX alone is read off its index; together SQLite scans the table.
_NEWEST_ID = text(f"SELECT MAX(id) FROM {EVENTS_TABLE}")
_NEWEST_TIME = text(f"SELECT MAX(timestamp) FROM {EVENTS_TABLE}")


def _count_day(connection: Connection, day: date, zone: ZoneInfo) -> list[dict]:
    start, end = day_bounds(day, zone)
    values = {"start": start, "end": end}
    conversations, messages, not_understood, offers, emergencies = connection.execute(
        _DAY_TOTALS,
        {
            **values,
            "not_understood": list(NOT_UNDERSTOOD_ACTIONS),
            "offer": OFFER_ACTION,
            "emergency": list(EMERGENCY_ACTIONS),
        },
    ).one()
    taken = connection.execute(
        _DAY_OFFERS_TAKEN,
        {**values, "end_next": end + 3600, "offer": OFFER_ACTION, "topics": _offerable_intents()},
    ).scalar_one()
    key = day.isoformat()
    rows = [
        {"day": key, "metric": metric, "key": "", "value": int(value or 0)}
        for metric, value in zip(
            DAILY_METRICS,
            (conversations, messages, not_understood, offers, taken, emergencies),
            strict=True,
        )
        if value
    ]
    for intent, count in connection.execute(_DAY_INTENTS, values):
        rows.append({"day": key, "metric": "intent", "key": intent[:120], "value": int(count)})
    return rows


def _get_state(connection: Connection) -> dict[str, str]:
    return {name: value for name, value in connection.execute(select(state.c.name, state.c.value))}


def _set_state(connection: Connection, values: dict[str, str]) -> None:
    connection.execute(delete(state).where(state.c.name.in_(list(values))))
    connection.execute(state.insert(), [{"name": k, "value": v} for k, v in values.items()])


@dataclass(frozen=True)
class RefreshResult:
    days_counted: int
    watermark: int


def refresh(tracker_url: str, console_url: str, zone_name: str) -> RefreshResult:
    """Brings the daily rollup up to date with the events stored since the last time."""
    rollup = _rollup_engine(console_url)
    if not _events_ready(tracker_url):
        return RefreshResult(0, 0)
    zone = ZoneInfo(zone_name)
    events = tracker_engine(tracker_url)
    with _refresh_lock:
        with rollup.connect() as connection:
            known = _get_state(connection)
        watermark = int(known.get("events_max_id", "0"))
        with events.connect() as connection:
            newest = int(connection.execute(_NEWEST_ID).scalar() or 0)
            newest_time = float(connection.execute(_NEWEST_TIME).scalar() or 0)
            # Another tracker database, or another time zone: count everything again.
            fresh = (
                newest < watermark
                or known.get("tracker") != _fingerprint(tracker_url)
                or known.get("zone") != zone_name
            )
            since = 0 if fresh else watermark
            since_time = 0.0 if fresh else float(known.get("events_max_time", "0"))
            if not fresh and newest == since and newest_time == since_time:
                return RefreshResult(0, watermark)
            days: set[date] = set()
            new_hours = connection.execute(
                _NEW_EVENT_HOURS, {"since": since, "since_time": since_time or float("inf")}
            )
            for (hour,) in new_hours:
                days.add(local_day((hour - 0.5) * 3600, zone))
                days.add(local_day((hour + 1) * 3600 - 1, zone))
            counted = {day: _count_day(connection, day, zone) for day in sorted(days)}
        with rollup.begin() as connection:
            if fresh:
                connection.execute(delete(daily))
            for day, rows in counted.items():
                connection.execute(delete(daily).where(daily.c.day == day.isoformat()))
                if rows:
                    connection.execute(daily.insert(), rows)
            _set_state(
                connection,
                {
                    "events_max_id": str(newest),
                    "events_max_time": repr(newest_time),
                    "tracker": _fingerprint(tracker_url),
                    "zone": zone_name,
                    "refreshed_at": utcnow().isoformat(),
                },
            )
    return RefreshResult(len(counted), newest)


def _fingerprint(url: str) -> str:
    """Which tracker database the rollup counts (without the password)."""
    return make_url(url).render_as_string(hide_password=True)[:255]


# ---- The figures for a period ----


@dataclass
class Day:
    day: date
    conversations: int = 0
    messages: int = 0
    not_understood: int = 0
    offers: int = 0
    offers_taken: int = 0
    emergencies: int = 0
    coordinator_asked: int = 0
    handoffs_requested: int = 0
    handoffs_completed: int = 0


@dataclass
class Topic:
    intent: str
    title: str
    count: int


@dataclass
class TopicFeedback:
    topic: str
    title: str
    helpful: int
    not_helpful: int


@dataclass
class Insights:
    start: date
    end: date  # inclusive
    days: list[Day]
    topics: list[Topic]
    weekly_emergencies: list[tuple[date, int]]
    first_response_hours: list[float]  # one per request that had a response
    handoffs_waiting: int  # requests of the period with no coordinator response yet
    feedback: list[TopicFeedback] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)

    def share(self, part: str, whole: str) -> float | None:
        return self.totals[part] / self.totals[whole] if self.totals.get(whole) else None

    @property
    def median_first_response(self) -> float | None:
        return median(self.first_response_hours) if self.first_response_hours else None

    @property
    def p90_first_response(self) -> float | None:
        values = sorted(self.first_response_hours)
        if not values:
            return None
        return values[min(len(values) - 1, int(0.9 * len(values)))]


def _period_rows(console_url: str, start: date, end: date) -> tuple[list, list]:
    """The period's daily figures (a few per day) and its intents summed (a few dozen):
    summed by the database, not row by row here."""
    in_period = (daily.c.day >= start.isoformat(), daily.c.day <= end.isoformat())
    per_day = select(daily.c.day, daily.c.metric, daily.c.value).where(
        *in_period,
        (daily.c.metric != "intent") | (daily.c.key == HANDOFF_INTENT),
    )
    per_intent = (
        select(daily.c.key, func.sum(daily.c.value))
        .where(*in_period, daily.c.metric == "intent")
        .group_by(daily.c.key)
    )
    with _rollup_engine(console_url).connect() as connection:
        return list(connection.execute(per_day)), list(connection.execute(per_intent))


# Plain SQL, without the ORM's per-row type handling (a year is thousands of requests):
# the two times come back as SQLite's text or PostgreSQL's datetimes (_utc reads both).
# A join, not a grouped subquery: with stale statistics PostgreSQL chose to rescan the
# subquery for every request (2.5 s for a year), the join uses the request_id index.
_HANDOFFS = text(
    f"""
    SELECT r.created_at, r.status, MIN(e.at)
    FROM {HandoffRequest.__tablename__} AS r
    LEFT JOIN {RequestEvent.__tablename__} AS e
      ON e.request_id = r.id AND e.actor <> 'console' AND e.kind IN :kinds
    WHERE r.created_at >= :begin AND r.created_at < :finish
    GROUP BY r.id, r.created_at, r.status
    """
).bindparams(
    bindparam("kinds", expanding=True),
    bindparam("begin", type_=UTCDateTime()),
    bindparam("finish", type_=UTCDateTime()),
)


def _utc(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _handoffs(console_url: str, start: date, end: date, zone: ZoneInfo, days: dict) -> tuple:
    """Requests per day, completed ones, and hours to the first coordinator response."""
    begin = datetime.combine(start, time(0), tzinfo=zone).astimezone(timezone.utc)
    finish = datetime.combine(end + timedelta(1), time(0), tzinfo=zone).astimezone(timezone.utc)
    values = {"begin": begin, "finish": finish, "kinds": list(RESPONSE_KINDS)}
    hours: list[float] = []
    waiting = 0
    with engine_for(console_url).connect() as connection:
        for created_at, status, first_at in connection.execute(_HANDOFFS, values):
            created = _utc(created_at)
            day = days.get(created.astimezone(zone).date())
            if day is not None:
                day.handoffs_requested += 1
                day.handoffs_completed += status in COMPLETED_STATUSES
            if first_at is None:
                waiting += 1
                continue
            hours.append(max(0.0, (_utc(first_at) - created).total_seconds() / 3600))
    return hours, waiting


def _feedback(console_url: str, start: date, end: date, zone: ZoneInfo) -> list[TopicFeedback]:
    """ "Was this helpful?" per topic: the families' ratings (console/feedback_store.py),
    by the topic the rated answer was for."""
    begin = datetime.combine(start, time(0), tzinfo=zone).astimezone(timezone.utc)
    finish = datetime.combine(end + timedelta(1), time(0), tzinfo=zone).astimezone(timezone.utc)
    query = (
        select(AnswerFeedback.intent, AnswerFeedback.helpful, func.count())
        .where(AnswerFeedback.created_at >= begin, AnswerFeedback.created_at < finish)
        .group_by(AnswerFeedback.intent, AnswerFeedback.helpful)
    )
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with _rollup_engine(console_url).connect() as connection:
        for intent, helpful, count in connection.execute(query):
            counts[parent_topic(intent or "unknown")][0 if helpful else 1] += int(count)
    titles = topic_titles()
    return sorted(
        (TopicFeedback(t, titles.get(t, t), yes, no) for t, (yes, no) in counts.items()),
        key=lambda f: (-(f.helpful + f.not_helpful), f.topic),
    )


def figures(tracker_url: str, console_url: str, zone_name: str, start: date, end: date) -> Insights:
    """Every figure of the page for the days start..end (inclusive, program time zone)."""
    refresh(tracker_url, console_url, zone_name)
    zone = ZoneInfo(zone_name)
    days = {start + timedelta(d): Day(start + timedelta(d)) for d in range((end - start).days + 1)}
    per_day, per_intent = _period_rows(console_url, start, end)
    for key, metric, value in per_day:
        day = days.get(date.fromisoformat(key))
        if day is None:
            continue
        if metric == "intent":  # only the requests for a coordinator come per day
            day.coordinator_asked += value
        elif metric in DAILY_METRICS:
            setattr(day, metric, getattr(day, metric) + value)
    intents = {intent: int(count) for intent, count in per_intent}
    hours, waiting = _handoffs(console_url, start, end, zone, days)
    titles = topic_titles()
    by_topic: dict[str, int] = defaultdict(int)
    for intent, count in intents.items():
        if intent in titles and intent != HANDOFF_INTENT:
            by_topic[parent_topic(intent)] += count
    topics = sorted(
        (Topic(t, titles.get(t, t), c) for t, c in by_topic.items()),
        key=lambda t: (-t.count, t.intent),
    )[:TOP_TOPICS]
    weeks: dict[date, int] = {}
    for day in days.values():
        week = week_start(day.day)
        weeks[week] = weeks.get(week, 0) + day.emergencies
    ordered = list(days.values())
    totals = {
        name: sum(getattr(d, name) for d in ordered)
        for name in (
            *DAILY_METRICS,
            "coordinator_asked",
            "handoffs_requested",
            "handoffs_completed",
        )
    }
    return Insights(
        start=start,
        end=end,
        days=ordered,
        topics=topics,
        weekly_emergencies=sorted(weeks.items()),
        first_response_hours=hours,
        handoffs_waiting=waiting,
        feedback=_feedback(console_url, start, end, zone),
        totals=totals,
    )


def csv_rows(insights: Insights) -> list[list[str]]:
    """The page's figures as CSV rows: section, date or topic, figure, value."""
    rows = [["section", "date_or_topic", "figure", "value"]]
    for day in insights.days:
        for name in (
            *DAILY_METRICS,
            "coordinator_asked",
            "handoffs_requested",
            "handoffs_completed",
        ):
            rows.append(["daily", day.day.isoformat(), name, str(getattr(day, name))])
    for topic in insights.topics:
        rows.append(["topics", topic.intent, "messages", str(topic.count)])
    for week, count in insights.weekly_emergencies:
        rows.append(["weekly", week.isoformat(), "emergencies", str(count)])
    for name, value in insights.totals.items():
        rows.append(["period", f"{insights.start}..{insights.end}", name, str(value)])
    for label, hours in (
        ("median_first_response_hours", insights.median_first_response),
        ("p90_first_response_hours", insights.p90_first_response),
    ):
        rows.append(["period", f"{insights.start}..{insights.end}", label, _number(hours)])
    rows.append(
        [
            "period",
            f"{insights.start}..{insights.end}",
            "handoffs_waiting_for_response",
            str(insights.handoffs_waiting),
        ]
    )
    for item in insights.feedback or []:
        rows.append(["feedback", item.topic, "helpful", str(item.helpful)])
        rows.append(["feedback", item.topic, "not_helpful", str(item.not_helpful)])
    return rows


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    from core.settings import load_handoff_settings, load_tracker_settings

    parser = argparse.ArgumentParser(description="Insights rollup of the tracker store")
    parser.add_argument("command", choices=["refresh"])
    parser.parse_args(argv)
    handoff = load_handoff_settings()
    result = refresh(load_tracker_settings().url, handoff.database_url, handoff.timezone)
    print(f"counted {result.days_counted} day(s); events up to id {result.watermark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
