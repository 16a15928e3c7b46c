"""The insights page and its CSV download (staff only, like every console page).

    GET /insights?from=YYYY-MM-DD&to=YYYY-MM-DD      charts with a table under each
    GET /insights.csv?from=...&to=...                the same figures as CSV

Registered by console/server.py; the figures come from console/insights.py, the charts
from console/charts.py. The period defaults to the last 30 days, in the program's time
zone (CART_OFFICE_TIMEZONE).
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from console import charts, insights
from core.settings import load_handoff_settings, load_tracker_settings

PRESETS = (7, 30, 90, 365)
DEFAULT_DAYS = 30


def _today(zone: str) -> date:
    return datetime.now(ZoneInfo(zone)).date()


def period(query: dict, zone: str) -> tuple[date, date]:
    """The chosen days (inclusive); a kind 400 for anything that is not a period."""
    today = _today(zone)
    try:
        end = date.fromisoformat(query["to"]) if query.get("to") else today
        start = (
            date.fromisoformat(query["from"])
            if query.get("from")
            else end - timedelta(days=DEFAULT_DAYS - 1)
        )
    except ValueError as error:
        raise web.HTTPBadRequest(text="Please give dates as YYYY-MM-DD.") from error
    if start > end:
        raise web.HTTPBadRequest(text="The period must start before it ends.")
    if (end - start).days >= insights.MAX_DAYS:
        raise web.HTTPBadRequest(text=f"Please choose at most {insights.MAX_DAYS} days.")
    return start, end


def _percent(share: float | None) -> str:
    return "–" if share is None else f"{share:.0%}"


def _hours(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 60:.0f} min" if value < 1 else f"{value:.1f} h"


def chart_set(figures: insights.Insights) -> dict:
    """The page's charts, each with what a screen reader hears first."""
    labels = [d.day.strftime("%b %d") for d in figures.days]
    totals = figures.totals
    week_labels = [w.strftime("%b %d") for w, _ in figures.weekly_emergencies]
    return {
        "traffic": charts.line_chart(
            "chart-traffic",
            "Conversations and messages per day",
            f"{totals['conversations']} conversations and {totals['messages']} messages "
            f"from {figures.start} to {figures.end}.",
            labels,
            [
                charts.Series("Conversations", [d.conversations for d in figures.days]),
                charts.Series("Messages", [d.messages for d in figures.days]),
            ],
        ),
        "understanding": charts.line_chart(
            "chart-understanding",
            "Messages not understood and Did you mean offers per day",
            f"{totals['not_understood']} messages not understood "
            f"({_percent(figures.share('not_understood', 'messages'))} of messages); "
            f"{totals['offers']} offers, {totals['offers_taken']} taken.",
            labels,
            [
                charts.Series("Not understood", [d.not_understood for d in figures.days]),
                charts.Series("Offers", [d.offers for d in figures.days]),
                charts.Series("Offers taken", [d.offers_taken for d in figures.days]),
            ],
        ),
        "topics": charts.hbar_chart(
            "chart-topics",
            "Topics asked most",
            ", ".join(f"{t.title}: {t.count}" for t in figures.topics) or "No topics asked.",
            [t.title for t in figures.topics],
            [t.count for t in figures.topics],
        ),
        "handoffs": charts.line_chart(
            "chart-handoffs",
            "Coordinator requests per day",
            f"{totals['coordinator_asked']} asked for a coordinator, "
            f"{totals['handoffs_requested']} requests stored, "
            f"{totals['handoffs_completed']} completed.",
            labels,
            [
                charts.Series("Asked", [d.coordinator_asked for d in figures.days]),
                charts.Series("Stored", [d.handoffs_requested for d in figures.days]),
                charts.Series("Completed", [d.handoffs_completed for d in figures.days]),
            ],
        ),
        "emergencies": charts.bar_chart(
            "chart-emergencies",
            "Emergencies detected per week",
            f"{totals['emergencies']} emergency answers in the period, by week "
            "(weeks start on Monday).",
            week_labels,
            [count for _, count in figures.weekly_emergencies],
        ),
    }


def register(router: web.UrlDispatcher, render: Callable[..., web.Response]) -> None:
    tracker_url = load_tracker_settings().url
    handoff = load_handoff_settings()
    console_url, zone = handoff.database_url, handoff.timezone

    async def load(request: web.Request) -> tuple[date, date, insights.Insights]:
        start, end = period(dict(request.query), zone)
        figures = await asyncio.to_thread(
            insights.figures, tracker_url, console_url, zone, start, end
        )
        return start, end, figures

    async def page(request: web.Request) -> web.Response:
        start, end, figures = await load(request)
        today = _today(zone)
        presets = [
            (days, (today - timedelta(days=days - 1)).isoformat(), today.isoformat())
            for days in PRESETS
        ]
        return render(
            request,
            "insights.html",
            figures=figures,
            charts=chart_set(figures),
            start=start,
            end=end,
            presets=presets,
            percent=_percent,
            hours=_hours,
            zone=zone,
        )

    async def download(request: web.Request) -> web.Response:
        start, end, figures = await load(request)
        buffer = io.StringIO()
        csv.writer(buffer).writerows(insights.csv_rows(figures))
        return web.Response(
            text=buffer.getvalue(),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="insights-{start}-{end}.csv"'},
        )

    router.add_get("/insights", page)
    router.add_get("/insights.csv", download)
