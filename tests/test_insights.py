"""The insights figures (console/insights.py) from a small known set of conversations,
written by the project's real tracker store (events' data encrypted at rest, so only the
plain columns can be counted) into SQLite and PostgreSQL, with real handoff requests and
coordinator actions; and the page and its CSV through the real console server, behind
its log-in."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

from components.tracker_store import ProgramTrackerStore
from console import charts, insights
from console.auth import create_user
from console.models import RequestEvent
from console.retention import forget
from core.handoff_store import HandoffRequest, NewHandoff, create_request, session_for
from tests.action_helper import ROOT
from tests.browser import console_server

ZONE_NAME = "America/New_York"
ZONE = ZoneInfo(ZONE_NAME)
DOMAIN = Domain.load(ROOT / "domain.yml")
PASSWORD = "correct horse battery staple"
START, END = date(2026, 3, 2), date(2026, 3, 10)  # Monday to the next Tuesday (DST: Mar 8)


def at(day: date, hour: int, minute: int = 0) -> float:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE).timestamp()


# Each conversation: (sender, [(local time, intent, the assistant's action), ...]).
CONVERSATIONS = [
    ("fam-a", [(at(START, 9), "what_is_car_t", "utter_what_is_car_t"),
               (at(START, 9, 1), "crs", "utter_crs")]),
    # "Did you mean…?" and the family taps an offered topic: the offer was taken.
    ("fam-b", [(at(START, 10), "nlu_fallback", "utter_did_you_mean"),
               (at(START, 10, 1), "crs", "utter_crs")]),
    # Not understood twice (offer not taken), then asks for a coordinator.
    ("fam-c", [(at(date(2026, 3, 3), 11), "nlu_fallback", "utter_did_you_mean"),
               (at(date(2026, 3, 3), 11, 1), "nlu_fallback", "utter_offer_coordinator"),
               (at(date(2026, 3, 3), 11, 2), "request_human", "utter_handoff_intro")]),
    ("fam-d", [(at(date(2026, 3, 3), 15), "emergency", "utter_emergency")]),
    # Late on the day the clocks go forward: still that day in New York (not UTC's next).
    ("fam-f", [(at(date(2026, 3, 8), 23, 30), "hospital_stay", "utter_hospital_stay")]),
    ("fam-e", [(at(END, 8), "emergency", "utter_emergency"),
               (at(END, 8, 5), "treatment_steps__infusion", "utter_treatment_steps__infusion")]),
    # Outside the period: never counted in it.
    ("fam-old", [(at(date(2026, 2, 20), 12), "crs", "utter_crs")]),
]  # fmt: skip


def write_conversations(
    tracker_url: str, conversations: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the project's tracker store, as the Rasa server writes them."""
    monkeypatch.setenv("CART_TRACKER_URL", tracker_url)

    async def write() -> None:
        store = ProgramTrackerStore(domain=DOMAIN)
        for sender, turns in conversations:
            tracker = await store.get_or_create_tracker(sender)
            for moment, intent, action in turns:
                tracker.update(
                    UserUttered(
                        f"message of {sender}",
                        {"name": intent, "confidence": 0.9},
                        timestamp=moment,
                    )
                )
                tracker.update(ActionExecuted(action, timestamp=moment + 1))
                tracker.update(BotUttered(f"answer to {sender}", timestamp=moment + 1))
                tracker.update(ActionExecuted("action_listen", timestamp=moment + 1))
            await store.save(tracker)
        store.engine.dispose()

    # Its own thread: a test with Playwright's browser has an event loop running here.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, write()).result()


def handoff(console_url: str, created: datetime, status: str, actions: list) -> None:
    """A real stored request, created at `created`, and what staff did with it."""
    request = create_request(
        console_url,
        NewHandoff(
            sender_id=f"family-{uuid.uuid4().hex[:6]}",
            channel="socketio",
            name="Sam Rivera",
            role="parent",
            contact_kind="email",
            contact_value="sam@example.org",
            patient_age="8",
            need="Could my son get CAR T?",
            consent=True,
        ),
        [],
    )
    with session_for(console_url) as session, session.begin():
        stored = session.get(HandoffRequest, request.id)
        stored.created_at = created
        stored.status = status
        for minutes, actor, kind in actions:
            session.add(
                RequestEvent(
                    request_id=request.id,
                    at=created + timedelta(minutes=minutes),
                    actor=actor,
                    kind=kind,
                    text="",
                )
            )


def write_handoffs(console_url: str) -> None:
    noon = datetime(2026, 3, 3, 17, 0, tzinfo=timezone.utc)
    # First response after 2 hours (a status change), then closed: completed.
    handoff(console_url, noon, "closed", [(120, "alex", "status"), (180, "alex", "status")])
    # Nobody has answered yet.
    handoff(console_url, noon + timedelta(days=1), "new", [])
    # The console's watchdog is not a person; the note after 30 minutes is the response.
    handoff(console_url, noon + timedelta(days=2), "contacted", [(10, "console", "left"),
                                                                 (30, "sam", "note")])  # fmt: skip
    # Outside the period.
    handoff(console_url, datetime(2026, 2, 1, 12, tzinfo=timezone.utc), "new", [])


@dataclass
class Databases:
    tracker_url: str
    console_url: str


@pytest.fixture(params=["sqlite", "postgresql"])
def databases(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Databases:
    if request.param == "sqlite":
        found = Databases(
            f"sqlite:///{tmp_path / 'conversations.db'}", f"sqlite:///{tmp_path / 'handoffs.db'}"
        )
    else:
        # One PostgreSQL database per test run (conftest): each test empties its tables.
        base = request.getfixturevalue("postgres_url")
        _reset_postgres(base)
        found = Databases(base, base)
    write_conversations(found.tracker_url, CONVERSATIONS, monkeypatch)
    write_handoffs(found.console_url)
    return found


def _reset_postgres(url: str) -> None:
    from core.handoff_store import engine_for

    engine = engine_for(url)
    with engine.begin() as connection:
        present = set(sa.inspect(connection).get_table_names())
        for table in (
            "events",
            "insights_daily",
            "insights_state",
            "console_request_events",
            "handoff_notifications",
            "handoff_requests",
            "answer_feedback",
        ):
            if table in present:
                connection.execute(sa.text(f"DELETE FROM {table}"))
    insights._indexed.clear()


def figures(db: Databases, start: date = START, end: date = END) -> insights.Insights:
    return insights.figures(db.tracker_url, db.console_url, ZONE_NAME, start, end)


def test_the_figures_of_a_known_set_of_conversations(databases: Databases) -> None:
    result = figures(databases)
    assert result.totals == {
        "conversations": 6,  # distinct families each day, added up
        "messages": 11,
        "not_understood": 3,
        "offers": 2,
        "offers_taken": 1,
        "emergencies": 2,
        "coordinator_asked": 1,
        "handoffs_requested": 3,
        "handoffs_completed": 2,
    }
    by_day = {d.day: d for d in result.days}
    assert len(by_day) == 9
    assert (by_day[START].conversations, by_day[START].messages) == (2, 4)
    assert by_day[date(2026, 3, 8)].messages == 1  # 23:30 on the DST day stays on that day
    assert by_day[date(2026, 3, 9)].messages == 0
    assert [(t.intent, t.count) for t in result.topics] == [
        ("crs", 2),
        ("hospital_stay", 1),
        ("treatment_steps", 1),  # its sub-topic counts for it
        ("what_is_car_t", 1),
    ]
    assert result.weekly_emergencies == [(date(2026, 3, 2), 1), (date(2026, 3, 9), 1)]
    assert sorted(result.first_response_hours) == [0.5, 2.0]
    assert result.median_first_response == 1.25
    assert result.handoffs_waiting == 1
    assert result.share("not_understood", "messages") == pytest.approx(3 / 11)


def test_new_events_recount_only_their_day_and_change_the_figures(
    databases: Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = figures(databases)
    again = insights.refresh(databases.tracker_url, databases.console_url, ZONE_NAME)
    assert again.days_counted == 0  # nothing new: nothing recounted
    day = date(2026, 3, 3)
    late = [("fam-g", [(at(day, 20), "nlu_fallback", "utter_did_you_mean"),
                       (at(day, 20, 1), "cost_insurance", "utter_cost_insurance")])]  # fmt: skip
    write_conversations(databases.tracker_url, late, monkeypatch)
    refreshed = insights.refresh(databases.tracker_url, databases.console_url, ZONE_NAME)
    # The day of the new messages, and today (a new tracker starts with an action_listen);
    # and yesterday too when the zone's midnight fell between the first conversations and
    # these (seen when CI ran at 00:10 in New York).
    assert refreshed.days_counted in (2, 3)
    after = figures(databases)
    assert after.totals["messages"] == before.totals["messages"] + 2
    assert after.totals["offers_taken"] == before.totals["offers_taken"] + 1
    assert after.days[1].conversations == 3
    assert ("cost_insurance", 1) in [(t.intent, t.count) for t in after.topics]


def test_a_conversation_after_the_latest_one_was_forgotten_is_counted(
    databases: Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite gives the ids of the deleted latest rows again: the rollup must still see
    the new conversation that reuses them."""
    today = datetime.now(ZONE).date()
    before = figures(databases, today, today)
    forget(databases.console_url, databases.tracker_url, "fam-old")  # the latest written
    now = datetime.now(ZONE).timestamp()
    write_conversations(
        databases.tracker_url, [("fam-h", [(now, "timeline", "utter_timeline")])], monkeypatch
    )
    after = figures(databases, today, today)
    assert after.totals["messages"] == before.totals["messages"] + 1
    assert ("timeline", 1) in [(t.intent, t.count) for t in after.topics]


def test_a_shorter_period_counts_only_its_days(databases: Databases) -> None:
    result = figures(databases, date(2026, 3, 3), date(2026, 3, 3))
    assert result.totals["messages"] == 4
    assert result.totals["emergencies"] == 1
    assert result.totals["handoffs_requested"] == 1
    assert result.first_response_hours == [2.0]


def test_feedback_per_topic_once_families_rate_answers(databases: Databases) -> None:
    assert figures(databases).feedback == []  # nothing rated yet
    from console.feedback_store import RatedAnswer, record_feedback

    rated = datetime(2026, 3, 4, 15, tzinfo=timezone.utc)
    for event_id, intent, helpful in ((1, "crs", True), (2, "crs", False), (3, "timeline", True)):
        answer = RatedAnswer(event_id, None, f"utter_{intent}", intent, 0.9)
        assert record_feedback(databases.console_url, "fam-a", answer, helpful, "")
    engine = sa.create_engine(databases.console_url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE answer_feedback SET created_at = :at"), {"at": rated})
    engine.dispose()
    feedback = figures(databases).feedback
    assert [(f.topic, f.helpful, f.not_helpful) for f in feedback] == [
        ("crs", 1, 1),
        ("timeline", 1, 0),
    ]


# ---- The page, through the real console server ----


@pytest.fixture
def console(databases: Databases, tmp_path: Path) -> Iterator[str]:
    env = {
        "CART_DATABASE_URL": databases.console_url,
        "CART_TRACKER_URL": databases.tracker_url,
        "CART_OFFICE_TIMEZONE": ZONE_NAME,
        "CART_RASA_API_TOKEN": "not-used-by-these-tests",
        "CART_CONSOLE_SECURE_COOKIES": "false",  # plain HTTP on loopback
    }
    with console_server(tmp_path / "console-logs", env) as url:
        yield url


def log_in(console_url: str, database_url: str) -> requests.Session:
    username = f"staff-{uuid.uuid4().hex[:6]}"
    create_user(database_url, username, "Alex Kim", PASSWORD)
    browser = requests.Session()
    page = browser.get(f"{console_url}/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = browser.post(
        f"{console_url}/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303, answer.text
    return browser


def test_the_page_and_its_csv_are_for_staff_only(console: str) -> None:
    anonymous = requests.Session()
    page = anonymous.get(f"{console}/insights", allow_redirects=False, timeout=10)
    assert page.status_code == 303 and page.headers["Location"] == "/login"
    download = anonymous.get(
        f"{console}/insights.csv", headers={"Accept": "application/json"}, timeout=10
    )
    assert download.status_code == 401
    assert "crs" not in download.text


def test_the_page_shows_the_figures_with_charts_and_tables(
    console: str, databases: Databases
) -> None:
    staff = log_in(console, databases.console_url)
    page = staff.get(f"{console}/insights", params={"from": START, "to": END}, timeout=10)
    assert page.status_code == 200
    html = page.text
    assert re.search(r'id="total-messages">11<', html)
    assert re.search(r'id="total-conversations">6<', html)
    assert re.search(r'id="share-not-understood">27%<', html)
    assert "50% <span" in html  # 1 of 2 offers taken
    assert html.count('<svg class="chart"') == 5 and html.count('role="img"') == 5
    assert '<th scope="row">CRS (cytokine release)</th><td>2</td>' in html
    assert "message of fam-" not in html  # counts only, never what a family wrote
    assert "Sam Rivera" not in html


def test_the_csv_holds_the_same_figures(console: str, databases: Databases) -> None:
    staff = log_in(console, databases.console_url)
    answer = staff.get(f"{console}/insights.csv", params={"from": START, "to": END}, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert "insights-2026-03-02-2026-03-10.csv" in answer.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0] == ["section", "date_or_topic", "figure", "value"]
    period = {r[2]: r[3] for r in rows if r[0] == "period"}
    assert period["messages"] == "11" and period["offers_taken"] == "1"
    assert period["median_first_response_hours"] == "1.25"
    assert ["daily", "2026-03-08", "messages", "1"] in rows
    assert ["topics", "crs", "messages", "2"] in rows
    assert ["weekly", "2026-03-09", "emergencies", "1"] in rows


def test_a_period_that_is_not_one_gets_a_kind_answer(console: str, databases: Databases) -> None:
    staff = log_in(console, databases.console_url)
    for params in ({"from": "yesterday"}, {"from": "2026-03-10", "to": "2026-03-01"},
                   {"from": "2020-01-01", "to": "2026-03-01"}):  # fmt: skip
        answer = staff.get(f"{console}/insights", params=params, timeout=10)
        assert answer.status_code == 400, params


# ---- The charts ----


def test_a_chart_is_a_named_image_with_its_text_escaped() -> None:
    svg = str(
        charts.line_chart(
            "chart-x",
            "Messages per day",
            "3 messages <b>in</b> total.",
            ["Mar 02", "Mar 03"],
            [charts.Series("Messages <script>", [1, 2])],
        )
    )
    assert svg.startswith('<svg class="chart"') and 'role="img"' in svg
    assert 'aria-labelledby="chart-x-title chart-x-desc"' in svg
    assert '<title id="chart-x-title">Messages per day</title>' in svg
    assert "3 messages &lt;b&gt;in&lt;/b&gt; total." in svg
    assert "<script>" not in svg and "style=" not in svg  # the console's CSP allows neither
    assert svg.count("<circle") == 2


@pytest.mark.parametrize(
    ("largest", "top"), [(0, 4), (3, 4), (5, 8), (11, 12), (41, 60), (257, 320), (4400, 6000)]
)
def test_the_y_axis_counts_in_whole_round_steps(largest: int, top: int) -> None:
    assert charts.axis_top(largest) == top
    assert float(charts.axis_top(largest) / 4).is_integer()
