"""Serves the families' web page with the chat widget (loopback by default).

`python -m web.server`, started by `make run`. The page looks like the program's CAR
T-cell therapy page and embeds the widget the way a hospital web team would. The widget
bundle comes from build/web/ (built from widget/ by `make widget`); nothing is loaded
from a CDN, and the page's Content-Security-Policy allows no inline script, no eval and
no other origin but the assistant's.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import re
import string
import sys
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from console import answer_feedback
from console.feedback_store import is_rated
from core.content import responses
from core.settings import (
    PROJECT_ROOT,
    load_channel_settings,
    load_contacts,
    load_handoff_settings,
    load_tracker_settings,
    load_web_settings,
)

HERE = Path(__file__).resolve().parent
WIDGET_BUILD = PROJECT_ROOT / "build" / "web"
PAGE_TEMPLATE = HERE / "templates" / "demo.html"


def widget_config(socket_url: str, title: str, max_message_length: int) -> dict[str, object]:
    """The config object the page hands to the widget (names as in Rasa's community widget)."""
    return {
        "socketUrl": socket_url,
        "socketPath": "/socket.io/",
        "title": title,
        "subtitle": "Answers for families and referring doctors",
        "initPayload": "/greet",
        "customData": {"language": "en"},
        "storage": "session",
        "maxMessageLength": max_message_length,
        "handoffPayload": "/request_human",
        # "Was this helpful?" (issue #17): posted to this page's own server, see feedback().
        "feedbackUrl": "/feedback",
        "feedbackSkip": not_rated_openings(),
    }


def not_rated_openings() -> list[str]:
    """How the responses families are not asked to rate begin (form questions, greeting,
    disclaimer): the widget shows no "Was this helpful?" under a message starting so.
    The server checks again by response name (console/answer_feedback.py)."""
    openings = set()
    for name, variants in responses().items():
        if is_rated(name):
            continue
        for variant in variants:
            first = str(variant.get("text") or "").strip().split("\n\n")[0]
            opening = first.split("{")[0].strip()[:40]
            if len(opening) >= 8:
                openings.add(opening)
    return sorted(openings)


def render_page(config: dict[str, object]) -> str:
    contacts = load_contacts().placeholders()
    values = {name: html.escape(value) for name, value in contacts.items()}
    values["program_phone_digits"] = re.sub(r"[^\d+]", "", contacts["program_phone"])
    # JSON inside <script type="application/json">: "<" escaped so no text can close it.
    values["widget_config"] = json.dumps(config).replace("<", "\\u003c")
    return string.Template(PAGE_TEMPLATE.read_text(encoding="utf-8")).substitute(values)


def content_security_policy(socket_url: str) -> str:
    parts = urlsplit(socket_url)
    secure = parts.scheme == "https"
    sources = f"{parts.scheme}://{parts.netloc} {'wss' if secure else 'ws'}://{parts.netloc}"
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src 'self' {sources}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def create_app(socket_url: str, title: str, max_message_length: int) -> web.Application:
    page = render_page(widget_config(socket_url, title, max_message_length))
    policy = content_security_policy(socket_url)
    feedback_database = load_handoff_settings().database_url
    tracker_url = load_tracker_settings().url

    @web.middleware
    async def security_headers(request: web.Request, handler):
        try:
            response = await handler(request)
        except web.HTTPException as error:
            response = web.Response(status=error.status, text=f"{error.status}: {error.reason}")
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    async def demo_page(_: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html", charset="utf-8")

    async def feedback(request: web.Request) -> web.Response:
        """A family's "Was this helpful?". Posted here, to the page's own origin, rather than
        over the socket.io connection: a rating is not a message to the assistant (no turn,
        no effect on the dialogue), works while a coordinator has paused it, and needs no
        change to the channel. Cross-site requests are refused: the Origin must be this
        page's, and the body must be JSON (a form on another site cannot send that without
        a CORS preflight, which this server never allows)."""
        origin = request.headers.get("Origin", "")
        if not origin or urlsplit(origin).netloc != request.host:
            return web.json_response({"error": "Only this page may send feedback."}, status=403)
        if request.headers.get("Sec-Fetch-Site", "same-origin") != "same-origin":
            return web.json_response({"error": "Only this page may send feedback."}, status=403)
        if request.content_type != "application/json":
            return web.json_response({"error": "Send JSON."}, status=415)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "Send JSON."}, status=400)
        try:
            stored = await asyncio.to_thread(
                answer_feedback.submit, feedback_database, tracker_url, body
            )
        except answer_feedback.Refused as refused:
            return web.json_response({"error": str(refused)}, status=refused.status)
        # At most once per answer: a second rating is acknowledged but not stored.
        return web.json_response({"stored": stored}, status=201 if stored else 200)

    async def health(_: web.Request) -> web.Response:
        built = (WIDGET_BUILD / "cart-chat.js").exists()
        return web.json_response({"status": "ok" if built else "widget not built"})

    # Nothing bigger is ever posted here (feedback: a few hundred bytes).
    app = web.Application(middlewares=[security_headers], client_max_size=16 * 1024)
    app.router.add_get("/", demo_page)
    app.router.add_post("/feedback", feedback)
    app.router.add_get("/healthz", health)
    app.router.add_static("/static/", HERE / "static")
    app.router.add_static("/widget/", WIDGET_BUILD)
    return app


def main(argv: list[str] | None = None) -> int:
    settings = load_web_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--socket-url", default=settings.socket_url)
    args = parser.parse_args(argv)
    if not (WIDGET_BUILD / "cart-chat.js").exists():
        print(f"{WIDGET_BUILD}/cart-chat.js is missing: run `make widget`.", file=sys.stderr)
        return 1
    app = create_app(
        args.socket_url, settings.widget_title, load_channel_settings().max_message_length
    )
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        access_log=None,  # addresses and paths only, but nothing we need to keep
        print=lambda _: print(f"Families' web page: http://{args.host}:{args.port}/", flush=True),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
