"""How fast the console's insights page is with a year of traffic.

    make bench-insights                     # SQLite (also run by `make bench`)
    python scripts/bench_insights.py --postgres postgresql+psycopg2://postgres@127.0.0.1/x

Generates 100,000 conversations spread over the last 365 days (seeded: the same data every
time) into a database of its own (build/bench-insights/ for SQLite; for PostgreSQL, the
database named, created when missing), in Rasa's SQLTrackerStore schema, with handoff
requests and coordinator actions beside them. Then measures, against the real console
server on loopback with a logged-in coordinator:

- the first rollup of the whole year (once per deployment; console/insights.py),
- the insights page for the last 365 and 30 days (the rollup up to date),
- the page after a day's worth of new conversations arrived (the rollup catches up first),
- the CSV of the year.

Prints the figures and writes reports/bench-insights.md and .json. Figures, not pass/fail:
the target (issue #17) is a page under one second.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rasa.core.tracker_store import SQLTrackerStore  # noqa: E402

from console import insights  # noqa: E402
from console.auth import create_user  # noqa: E402
from console.models import RequestEvent  # noqa: E402
from core.handoff_store import HandoffRequest, engine_for, session_for  # noqa: E402
from core.suggestions import topic_titles  # noqa: E402
from tests.browser import console_server  # noqa: E402

REPORTS = ROOT / "reports"
WORK = ROOT / "build" / "bench-insights"
ZONE = "America/New_York"
PASSWORD = "bench insights password"
TARGET_SECONDS = 1.0
# What one event's `data` weighs on disk (encrypted JSON is about this long): the table's
# size, not its content, is what the queries feel.
DATA = "x" * 240


def _events_for(rng: random.Random, sender: str, start: float) -> list[dict]:
    """One conversation: the session start, then 1-6 turns (topics, misunderstandings with
    "Did you mean…?", a coordinator asked for now and then, rare emergencies)."""
    topics = [t for t in topic_titles() if t != "request_human"]
    rows = []
    moment = start

    def add(type_name: str, intent: str | None = None, action: str | None = None) -> None:
        rows.append(
            {
                "sender_id": sender,
                "type_name": type_name,
                "timestamp": moment,
                "intent_name": intent,
                "action_name": action,
                "data": DATA,
            }
        )

    add("action", action="action_session_start")
    add("session_started")
    add("action", action="action_listen")
    offered = False
    for _ in range(rng.randint(1, 6)):
        moment += rng.uniform(10, 90)
        roll = rng.random()
        if offered and roll < 0.55:
            intent, action = rng.choice(topics), None  # the offer taken
        elif roll < 0.09:
            intent, action = "nlu_fallback", "utter_did_you_mean"
        elif roll < 0.095:
            intent, action = "emergency", "utter_emergency"
        elif roll < 0.125:
            intent, action = "request_human", "utter_handoff_intro"
        else:
            intent, action = rng.choice(topics), None
        add("user", intent=intent)
        add("action", action=action or f"utter_{intent}")
        add("bot")
        add("action", action="action_listen")
        offered = action == "utter_did_you_mean"
    return rows


def generate(tracker_url: str, console_url: str, conversations: int, seed: int = 17) -> int:
    """Writes the year of traffic; returns the number of events."""
    rng = random.Random(seed)
    engine = insights.tracker_engine(tracker_url)
    SQLTrackerStore.SQLEvent.__table__.create(engine, checkfirst=True)  # Rasa's schema
    end = datetime.now(timezone.utc).timestamp() - 3600
    start = end - 365 * 86400
    table = SQLTrackerStore.SQLEvent.__table__
    total, batch = 0, []
    starts = sorted(rng.uniform(start, end) for _ in range(conversations))
    with engine.begin() as connection:
        for n, moment in enumerate(starts):
            batch.extend(_events_for(rng, f"bench-{n:06d}-{uuid.UUID(int=n).hex[:8]}", moment))
            if len(batch) >= 50_000:
                connection.execute(table.insert(), batch)
                total += len(batch)
                batch = []
        if batch:
            connection.execute(table.insert(), batch)
            total += len(batch)
    _handoffs(console_url, rng, conversations // 30, start, end)
    return total


def _handoffs(url: str, rng: random.Random, count: int, start: float, end: float) -> None:
    """Requests with a status and coordinator actions (encrypted like real ones)."""
    engine_for(url)
    with session_for(url) as session, session.begin():
        for n in range(count):
            created = datetime.fromtimestamp(rng.uniform(start, end), tz=timezone.utc)
            status = rng.choice(("new", "in_progress", "contacted", "closed", "closed"))
            request = HandoffRequest(
                reference=f"CT-BENCH-{n:05d}",
                created_at=created,
                status=status,
                sender_id=f"bench-handoff-{n}",
                channel="socketio",
                name="Bench Family",
                role="parent",
                contact_kind="email",
                contact_value="family@example.org",
                patient_age="8",
                need="A question",
                consent=True,
                transcript="[]",
            )
            session.add(request)
            session.flush()
            if status != "new":
                session.add(
                    RequestEvent(
                        request_id=request.id,
                        at=created + timedelta(hours=rng.uniform(0.1, 30)),
                        actor="bench-coordinator",
                        kind="status",
                        text="",
                    )
                )


def _log_in(console_url: str, database_url: str) -> requests.Session:
    import re

    username = f"bench-{uuid.uuid4().hex[:6]}"
    create_user(database_url, username, "Bench Coordinator", PASSWORD)
    browser = requests.Session()
    page = browser.get(f"{console_url}/login", timeout=30)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if found is None:
        raise RuntimeError(f"no CSRF token on the console's login page ({page.status_code})")
    token = found.group(1)
    browser.post(
        f"{console_url}/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        timeout=30,
    )
    return browser


def _timed_get(browser: requests.Session, url: str, params: dict) -> float:
    began = time.perf_counter()
    answer = browser.get(url, params=params, timeout=120)
    elapsed = time.perf_counter() - began
    if answer.status_code != 200:
        raise RuntimeError(f"{url}: {answer.status_code} {answer.text[:200]}")
    return elapsed


def _period(days: int) -> dict:
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo(ZONE)).date()
    return {"from": (today - timedelta(days=days - 1)).isoformat(), "to": today.isoformat()}


def _prepare_postgres(url: str) -> None:
    """Creates the named database when missing (the bench's own, never a shared one)."""
    import psycopg2

    parsed = sa.engine.make_url(url)
    admin = psycopg2.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        dbname="postgres",
        connect_timeout=5,
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,))
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{parsed.database}"')
    admin.close()


def _start_afresh(tracker_url: str, console_url: str, postgres: bool) -> None:
    """Empties the bench's own databases (a PostgreSQL one must say "bench" in its name:
    the bench never empties anyone else's)."""
    if not postgres:
        for url in (tracker_url, console_url):
            Path(sa.engine.make_url(url).database).unlink(missing_ok=True)
        return
    name = sa.engine.make_url(tracker_url).database or ""
    if "bench" not in name:
        raise SystemExit(f"Refusing to empty {name!r}: name a database with 'bench' in it.")
    engine = sa.create_engine(tracker_url)
    tables = sa.MetaData()
    tables.reflect(engine)
    tables.drop_all(engine)
    engine.dispose()
    engine_for.cache_clear()
    insights._rollup_engine.cache_clear()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--postgres", help="a PostgreSQL URL for the bench's own database")
    parser.add_argument("--regenerate", action="store_true", help="new data even if present")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    if args.postgres:
        _prepare_postgres(args.postgres)
        tracker_url = console_url = args.postgres
        backend = "PostgreSQL"
    else:
        tracker_url = f"sqlite:///{WORK / f'conversations-{args.conversations}.db'}"
        console_url = f"sqlite:///{WORK / f'console-{args.conversations}.db'}"
        backend = "SQLite"
    marker = WORK / f"generated-{backend.lower()}-{args.conversations}"
    if args.regenerate or not marker.exists():
        _start_afresh(tracker_url, console_url, bool(args.postgres))
        print(f"Generating {args.conversations:,} conversations over 365 days ({backend})...")
        began = time.perf_counter()
        events = generate(tracker_url, console_url, args.conversations)
        generated_s = time.perf_counter() - began
        marker.write_text(str(events))
        print(f"  {events:,} events in {generated_s:.1f} s")
    events = int(marker.read_text())

    # The first rollup of the year: from scratch, as on the first page view.
    with insights._rollup_engine(console_url).begin() as connection:
        connection.execute(sa.delete(insights.state))
        connection.execute(sa.delete(insights.daily))
    began = time.perf_counter()
    first = insights.refresh(tracker_url, console_url, ZONE)
    rollup_s = time.perf_counter() - began
    print(f"First rollup: {first.days_counted} days in {rollup_s:.2f} s")

    env = {
        "CART_DATABASE_URL": console_url,
        "CART_TRACKER_URL": tracker_url,
        "CART_OFFICE_TIMEZONE": ZONE,
        "CART_RASA_API_TOKEN": "bench-not-used",
        "CART_CONSOLE_SECURE_COOKIES": "false",
    }
    figures: dict[str, float] = {}
    with console_server(WORK / "logs", env) as url:
        browser = _log_in(url, console_url)
        for days in (365, 30):
            times = [
                _timed_get(browser, f"{url}/insights", _period(days)) for _ in range(args.repeats)
            ]
            figures[f"page_{days}d_median_s"] = statistics.median(times)
            figures[f"page_{days}d_max_s"] = max(times)
        # A day's new traffic (1/365 of the year) arrives; the next view catches up first.
        rng = random.Random(99)
        now = datetime.now(timezone.utc).timestamp()
        new_rows = []
        for n in range(args.conversations // 365):
            new_rows.extend(_events_for(rng, f"bench-today-{uuid.uuid4().hex}", now - n))
        with insights.tracker_engine(tracker_url).begin() as connection:
            connection.execute(SQLTrackerStore.SQLEvent.__table__.insert(), new_rows)
        figures["page_365d_after_new_day_s"] = _timed_get(browser, f"{url}/insights", _period(365))
        figures["csv_365d_s"] = _timed_get(browser, f"{url}/insights.csv", _period(365))
    # Keep the bench's data as generated (the new day would pile up run after run).
    with insights.tracker_engine(tracker_url).begin() as connection:
        connection.execute(sa.text("DELETE FROM events WHERE sender_id LIKE 'bench-today-%'"))

    result = {
        "backend": backend,
        "conversations": args.conversations,
        "events": events,
        "first_rollup_s": round(rollup_s, 3),
        **{k: round(v, 3) for k, v in figures.items()},
        "target_s": TARGET_SECONDS,
    }
    lines = [
        f"# Insights page with a year of traffic ({backend})",
        "",
        f"{args.conversations:,} conversations, {events:,} events over 365 days; "
        f"the real console server on loopback; median of {args.repeats} views.",
        "",
        "| Figure | Seconds |",
        "|---|---|",
        f"| First rollup of the year (once) | {rollup_s:.2f} |",
        f"| Page, last 365 days (median / max) | {figures['page_365d_median_s']:.3f} / "
        f"{figures['page_365d_max_s']:.3f} |",
        f"| Page, last 30 days (median / max) | {figures['page_30d_median_s']:.3f} / "
        f"{figures['page_30d_max_s']:.3f} |",
        f"| Page after a day of new traffic arrived | "
        f"{figures['page_365d_after_new_day_s']:.3f} |",
        f"| CSV, last 365 days | {figures['csv_365d_s']:.3f} |",
        "",
        f"Target: the page under {TARGET_SECONDS:g} s.",
    ]
    report = "\n".join(lines) + "\n"
    REPORTS.mkdir(exist_ok=True)
    stem = "bench-insights" + ("-postgres" if args.postgres else "")
    (REPORTS / f"{stem}.md").write_text(report)
    (REPORTS / f"{stem}.json").write_text(json.dumps(result, indent=2))
    print("\n" + report)
    print(f"Written: reports/{stem}.md, reports/{stem}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
