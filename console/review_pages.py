"""The review queue's pages in the coordinators' console (behind its log-in and CSRF
checks, console/server.py): the list, one-click labels, and a sample on demand.

Open to coordinators and admins, the console's two roles: labelling is coordinators'
work, and the messages are masked (core/masking.py). Insights (counts only) is open to
all staff too; only the audit log and closed requests are admin-only."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from console import feedback_store, review
from console.feedback_store import NEW_TOPIC, OUT_OF_SCOPE, REASON_LABELS
from core.settings import ConsoleSettings, load_tracker_settings
from core.suggestions import topic_titles

REVIEWED = "reviewed"  # the form value of "Reviewed, no label"
VIEWS = ("open", "labelled", "reviewed", "all")


def label_title(label: str | None) -> str:
    if label is None:
        return ""
    if label == OUT_OF_SCOPE:
        return "Out of scope"
    if label == NEW_TOPIC:
        return "New topic needed"
    return topic_titles().get(label, label.replace("__", ": ").replace("_", " "))


def add_routes(
    app: web.Application,
    render: Callable[..., web.Response],
    settings_key: web.AppKey[ConsoleSettings],
) -> None:
    """Registers /review, /review/{id}/label and /review/sample on the console."""
    tracker_url = load_tracker_settings().url

    def database(request: web.Request) -> str:
        return request.app[settings_key].database_url

    async def queue(request: web.Request) -> web.Response:
        view = request.query.get("status", "open")
        view = view if view in VIEWS else "open"
        # Reads only the events since the last look (a cursor in review_cursor).
        await asyncio.to_thread(review.refresh, database(request), tracker_url)
        items = await asyncio.to_thread(feedback_store.list_items, database(request), view)
        return render(
            request,
            "review.html",
            items=items,
            view=view,
            views=VIEWS,
            reasons=REASON_LABELS,
            topics=[(name, label_title(name)) for name in feedback_store.labels()],
            topic_names=set(feedback_store.labels()),
            title_of=label_title,
            added=request.query.get("added"),
        )

    async def label(request: web.Request) -> web.Response:
        try:
            item_id = int(request.match_info["item_id"])
        except ValueError as error:
            raise web.HTTPNotFound(text="There is no such message in the queue.") from error
        form = await request.post()
        chosen = str(form.get("label") or "")
        view = str(form.get("view") or "open")
        staff = request["staff"].user.username
        done = await asyncio.to_thread(
            feedback_store.label_item,
            database(request),
            item_id,
            None if chosen == REVIEWED else chosen,
            staff,
        )
        if not done:
            raise web.HTTPBadRequest(text="That message or label does not exist.")
        view = view if view in VIEWS else "open"
        raise web.HTTPSeeOther(f"/review?status={view}#item-{item_id}")

    async def sample(request: web.Request) -> web.Response:
        added = await asyncio.to_thread(review.add_sample, database(request), tracker_url)
        raise web.HTTPSeeOther(f"/review?status=open&added={added}")

    app.router.add_get("/review", queue)
    app.router.add_post("/review/sample", sample)
    app.router.add_post("/review/{item_id}/label", label)
