"""The coordinators' console: an inbox of handoff requests and live takeover.

`python -m console.server`, started by `make run` on loopback (CART_CONSOLE_PORT, 8081).
Staff only: accounts are made with `make staff-user`; passwords are argon2 hashes;
the session cookie is HttpOnly, SameSite=Strict, Secure (unless explicitly local) and
ends when unused for CART_CONSOLE_IDLE_MINUTES; every form and API call carries a CSRF
token; failed log-ins slow further attempts down per account and per address (one
answer for every failure); coordinators see open requests, admins also closed ones and
the audit log, which records who opened and changed which request. Everything a family
typed is shown as text (Jinja2 autoescaping, textContent in the page's script).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from console import audit, inbox, insights_page, review_pages, takeover
from console.auth import (
    LoginLimits,
    authenticate,
    end_session,
    find_session,
    same_token,
    start_session,
)
from console.models import STATUS_LABELS, STATUSES, StaffSession
from core.settings import ConsoleSettings, load_console_settings

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "cart_console_session"
LOGIN_COOKIE = "cart_console_login"  # double-submit CSRF token of the log-in form
# Over HTTPS the log-in cookie carries the __Host- prefix: the browser then refuses it
# unless it is Secure, from this very host and for every path, so no sibling subdomain
# can plant a known token (login CSRF). Over plain local HTTP the prefix is not allowed.
SECURE_LOGIN_COOKIE = f"__Host-{LOGIN_COOKIE}"
LOGIN_FAILED = "Wrong user name or password."  # the one answer to every failed log-in
TOO_MANY_LOGINS = "Too many failed log-ins. Please wait a moment and try again."
PUBLIC_PATHS = {"/login", "/healthz", "/favicon.ico"}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_MESSAGE_LENGTH = 2000
CLOSED_FOR_ADMINS = "Closed requests are open to admins only."

SETTINGS = web.AppKey("settings", ConsoleSettings)
RASA = web.AppKey("rasa", takeover.RasaConversations)
WATCHDOG = web.AppKey("watchdog", takeover.Watchdog)
TEMPLATES = web.AppKey("templates", jinja2.Environment)

POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)


def render(
    request: web.Request, template: str, http_status: int = 200, **values: Any
) -> web.Response:
    staff: StaffSession | None = request.get("staff")
    html = (
        request.app[TEMPLATES]
        .get_template(template)
        .render(staff=staff, csrf=staff.csrf_token if staff else "", labels=STATUS_LABELS, **values)
    )
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=http_status)


def wants_json(request: web.Request) -> bool:
    return request.path.endswith("/live") or "application/json" in request.headers.get("Accept", "")


@web.middleware
async def protective_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    """Security headers on every answer, and kind pages instead of stack traces."""
    try:
        response = await handler(request)
    except web.HTTPRedirection as redirect:
        location = redirect.headers.get("Location", "/")
        response = web.Response(status=redirect.status, headers={"Location": location})
    except web.HTTPException as error:
        if wants_json(request):
            response = web.json_response({"error": error.text}, status=error.status)
        else:
            response = render(request, "error.html", error.status, message=error.text)
    except Exception:
        logger.exception("Console error on %s %s", request.method, request.path)
        message = "Something went wrong. Please try again."
        response = (
            web.json_response({"error": message}, status=500)
            if wants_json(request)
            else render(request, "error.html", 500, message=message)
        )
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"  # pages hold families' details
    if request.app[SETTINGS].secure_cookies:
        # Browsers that once reached the console over HTTPS never fall back to HTTP.
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


@web.middleware
async def staff_only(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS or request.path.startswith("/static/"):
        return await handler(request)
    settings = request.app[SETTINGS]
    staff = await asyncio.to_thread(
        find_session,
        settings.database_url,
        request.cookies.get(SESSION_COOKIE),
        timedelta(minutes=settings.idle_minutes),
        # The live view polls every second: that is the page being open, not use.
        not request.path.endswith("/live"),
    )
    if staff is None:
        if request.method == "GET" and not wants_json(request):
            raise web.HTTPSeeOther("/login")
        raise web.HTTPUnauthorized(text="Please log in.")
    request["staff"] = staff
    if request.method == "POST":
        given: Any = request.headers.get("X-CSRF-Token")
        if given is None and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            given = (await request.post()).get("csrf_token")
        if not same_token(staff.csrf_token, str(given) if given else None):
            raise web.HTTPForbidden(text="This form has expired. Please reload the page.")
    return await handler(request)


# ---- Logging in and out ----


async def login_page(
    request: web.Request, message: str = "", http_status: int = 200
) -> web.Response:
    # One token per browser: a second tab (or the browser's own favicon request, which
    # lands here) must not invalidate the form already on screen.
    cookie = login_cookie(request.app[SETTINGS])
    existing = request.cookies.get(cookie, "")
    token = existing if len(existing) >= 40 else secrets.token_urlsafe(32)
    response = render(request, "login.html", http_status, login_csrf=token, message=message)
    response.set_cookie(
        cookie,
        token,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.app[SETTINGS].secure_cookies,
        max_age=3600,
    )
    return response


def login_cookie(settings: ConsoleSettings) -> str:
    return SECURE_LOGIN_COOKIE if settings.secure_cookies else LOGIN_COOKIE


async def login(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    form = await request.post()
    cookie = login_cookie(settings)
    if not same_token(request.cookies.get(cookie), str(form.get("csrf_token") or "")):
        return await login_page(request, "This form has expired. Please try again.", 403)
    result = await asyncio.to_thread(
        authenticate,
        settings.database_url,
        str(form.get("username") or ""),
        str(form.get("password") or ""),
        request.remote or "unknown",  # the console is reached directly, not via a proxy
        LoginLimits(
            settings.max_failed_logins,
            settings.max_failed_logins_per_address,
            settings.login_backoff_max_seconds,
        ),
    )
    if result.retry_after:
        # The same for known and unknown user names: the back-off counts both.
        response = await login_page(request, TOO_MANY_LOGINS, 429)
        response.headers["Retry-After"] = str(result.retry_after)
        return response
    if result.user is None:
        return await login_page(request, LOGIN_FAILED, 401)
    token = start_session(
        settings.database_url, result.user.id, timedelta(hours=settings.session_hours)
    )
    audit.record(settings.database_url, result.user.username, "log_in")
    response = web.Response(status=303, headers={"Location": "/requests"})
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=settings.secure_cookies,
        max_age=int(settings.session_hours * 3600),
    )
    response.del_cookie(cookie, path="/")
    logger.info("Staff log-in: %s", result.user.username)
    return response


async def logout(request: web.Request) -> web.Response:
    end_session(request.app[SETTINGS].database_url, request.cookies.get(SESSION_COOKIE))
    audit.record(request.app[SETTINGS].database_url, request["staff"].user.username, "log_out")
    response = web.Response(status=303, headers={"Location": "/login"})
    response.del_cookie(SESSION_COOKIE)
    return response


# ---- The inbox ----


async def home(_: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/requests")


async def request_list(request: web.Request) -> web.Response:
    status = request.query.get("status", "open")
    admin = request["staff"].user.is_admin
    if status == "closed" and not admin:
        raise web.HTTPForbidden(text=CLOSED_FOR_ADMINS)
    rows = inbox.list_requests(request.app[SETTINGS].database_url, status)
    if status == "open" or not admin:
        rows = [r for r in rows if r.status != "closed"]
    return render(
        request,
        "inbox.html",
        requests=rows,
        status=status,
        statuses=STATUSES,
        waiting=inbox.waiting_time,
    )


def _view(request: web.Request) -> inbox.RequestView:
    view = inbox.find_request(request.app[SETTINGS].database_url, request.match_info["reference"])
    if view is None:
        raise web.HTTPNotFound(text="There is no request with this reference.")
    if view.request.status == "closed" and not request["staff"].user.is_admin:
        raise web.HTTPForbidden(text=CLOSED_FOR_ADMINS)
    return view


def _audit(request: web.Request, action: str, view: inbox.RequestView, detail: str = "") -> None:
    audit.record(
        request.app[SETTINGS].database_url,
        request["staff"].user.username,
        action,
        view.request.reference,
        detail,
    )


async def request_detail(request: web.Request) -> web.Response:
    view = _view(request)
    _audit(request, "viewed", view)  # reads are recorded, not only changes
    return render(
        request,
        "request.html",
        view=view,
        r=view.request,
        statuses=STATUSES,
        waiting=inbox.waiting_time,
        live=view.request.channel == takeover.FAMILY_CHANNEL,
    )


def _back(view: inbox.RequestView) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/requests/{view.request.reference}")


async def change_status(request: web.Request) -> web.Response:
    view = _view(request)
    status = str((await request.post()).get("status") or "")
    staff = request["staff"].user.username
    if not inbox.record(
        request.app[SETTINGS].database_url, view.request.reference, staff, "status", status
    ):
        raise web.HTTPBadRequest(text="That is not a status a request can have.")
    _audit(request, "status", view, f"{view.request.status} → {status}")
    if status == "closed" and not request["staff"].user.is_admin:
        raise web.HTTPSeeOther("/requests")  # a closed request is for admins to read
    raise _back(view)


async def add_note(request: web.Request) -> web.Response:
    view = _view(request)
    note = str((await request.post()).get("note") or "").strip()
    if not note:
        raise web.HTTPBadRequest(text="A note cannot be empty.")
    staff = request["staff"].user.username
    inbox.record(request.app[SETTINGS].database_url, view.request.reference, staff, "note", note)
    _audit(request, "note", view, f"{len(note)} characters")  # not the note: it is kept apart
    raise _back(view)


# ---- Live takeover ----


def _family_on_the_web(view: inbox.RequestView) -> None:
    if view.request.channel != takeover.FAMILY_CHANNEL:
        raise web.HTTPConflict(text="This family did not write through the web chat.")


async def join(request: web.Request) -> web.Response:
    view = _view(request)
    _family_on_the_web(view)
    staff = request["staff"].user
    if not view.taken_over:
        try:
            await takeover.join(request.app[RASA], view.request.sender_id, staff.display_name)
        except takeover.RasaUnavailable as error:
            raise web.HTTPServiceUnavailable(
                text="The assistant's server did not answer. Please try again."
            ) from error
        inbox.record(
            request.app[SETTINGS].database_url, view.request.reference, staff.username, "joined"
        )
        _audit(request, "joined", view)
    request.app[WATCHDOG].seen(view.request.reference)
    raise _back(view)


async def hand_back(request: web.Request) -> web.Response:
    view = _view(request)
    _family_on_the_web(view)
    if view.taken_over:
        try:
            await takeover.hand_back(request.app[RASA], view.request.sender_id)
        except takeover.RasaUnavailable as error:
            raise web.HTTPServiceUnavailable(
                text="The assistant's server did not answer. Please try again."
            ) from error
        staff = request["staff"].user.username
        inbox.record(
            request.app[SETTINGS].database_url, view.request.reference, staff, "handed_back"
        )
        _audit(request, "handed_back", view)
    request.app[WATCHDOG].forget(view.request.reference)
    raise _back(view)


async def send_message(request: web.Request) -> web.Response:
    view = _view(request)
    _family_on_the_web(view)
    if not view.taken_over:
        raise web.HTTPConflict(text="Join the conversation first.")
    try:
        body = await request.json()
    except ValueError as error:
        raise web.HTTPBadRequest(text='Send JSON: {"text": "..."}') from error
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise web.HTTPBadRequest(text="A message cannot be empty.")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise web.HTTPBadRequest(
            text=f"Please keep a message under {MAX_MESSAGE_LENGTH} characters."
        )
    staff = request["staff"].user
    try:
        await takeover.say(
            request.app[RASA], view.request.sender_id, staff.display_name, text.strip()
        )
    except takeover.RasaUnavailable as error:
        raise web.HTTPServiceUnavailable(
            text="The message could not be sent. Try again."
        ) from error
    request.app[WATCHDOG].seen(view.request.reference)
    _audit(request, "message", view, f"{len(text.strip())} characters")
    return web.json_response({"sent": True})


async def live(request: web.Request) -> web.Response:
    """The conversation as it is now; asking for it is also the console's heartbeat."""
    view = _view(request)
    _family_on_the_web(view)
    try:
        after = int(request.query.get("after", "-1"))
    except ValueError:
        after = -1
    try:
        tracker = await request.app[RASA].tracker(view.request.sender_id)
    except takeover.RasaUnavailable as error:
        raise web.HTTPServiceUnavailable(text="The assistant's server did not answer.") from error
    if view.taken_over:
        request.app[WATCHDOG].seen(view.request.reference)
    messages = takeover.conversation_messages(tracker.get("events") or [])
    return web.json_response(
        {
            "messages": [m for m in messages if m["index"] > after],
            "paused": bool(tracker.get("paused")),
            "taken_over": view.taken_over,
        }
    )


async def audit_log(request: web.Request) -> web.Response:
    """Who opened and changed which request: admins only."""
    if not request["staff"].user.is_admin:
        raise web.HTTPForbidden(text="The audit log is open to admins only.")
    reference = request.query.get("reference", "").strip() or None
    rows = audit.entries(request.app[SETTINGS].database_url, reference)
    return render(request, "audit.html", entries=rows, reference=reference or "")


async def favicon(_: web.Request) -> web.FileResponse:
    return web.FileResponse(
        HERE / "static" / "favicon.svg", headers={"Content-Type": "image/svg+xml"}
    )


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def watch_takeovers(app: web.Application) -> None:
    """Hands a conversation back when its coordinator's console went quiet."""
    settings, watchdog = app[SETTINGS], app[WATCHDOG]
    while True:
        await asyncio.sleep(min(1.0, settings.takeover_timeout_seconds / 3))
        for reference in watchdog.expired():
            view = inbox.find_request(settings.database_url, reference)
            if view is None or not view.taken_over:
                watchdog.forget(reference)
                continue
            try:
                await takeover.hand_back(app[RASA], view.request.sender_id, left=True)
            except takeover.RasaUnavailable:
                logger.warning("Could not hand %s back yet; retrying", reference)
                continue
            inbox.record(settings.database_url, reference, "console", "left")
            watchdog.forget(reference)
            logger.info("Coordinator left %s: the assistant is back", reference)


async def _start_watchdog(app: web.Application) -> Any:
    task = asyncio.create_task(watch_takeovers(app))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(settings: ConsoleSettings) -> web.Application:
    app = web.Application(middlewares=[protective_headers, staff_only], client_max_size=64 * 1024)
    app[SETTINGS] = settings
    app[RASA] = takeover.RasaConversations(settings.rasa_url, settings.rasa_token)
    app[WATCHDOG] = takeover.Watchdog(settings.takeover_timeout_seconds)
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # what families typed is never HTML
    )
    app.cleanup_ctx.append(_start_watchdog)
    app.router.add_get("/healthz", health)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/", home)
    app.router.add_get("/requests", request_list)
    app.router.add_get("/requests/{reference}", request_detail)
    app.router.add_post("/requests/{reference}/status", change_status)
    app.router.add_post("/requests/{reference}/notes", add_note)
    app.router.add_post("/requests/{reference}/join", join)
    app.router.add_post("/requests/{reference}/handback", hand_back)
    app.router.add_post("/requests/{reference}/messages", send_message)
    app.router.add_get("/requests/{reference}/live", live)
    app.router.add_get("/audit", audit_log)
    insights_page.register(app.router, render)  # /insights and /insights.csv
    review_pages.add_routes(app, render, SETTINGS)  # /review: the review queue (issue #17)
    app.router.add_static("/static/", HERE / "static")
    return app


def main(argv: list[str] | None = None) -> int:
    settings = load_console_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if not settings.rasa_token:
        print(
            "CART_RASA_API_TOKEN is not set: live takeover needs the Rasa API token.",
            file=sys.stderr,
        )
        return 1
    if not settings.secure_cookies and args.host not in LOOPBACK:
        print(
            "CART_CONSOLE_SECURE_COOKIES=false is for a console on loopback only: "
            f"serve {args.host} over HTTPS with Secure cookies.",
            file=sys.stderr,
        )
        return 1
    web.run_app(
        create_app(settings),
        host=args.host,
        port=args.port,
        access_log=None,
        print=lambda _: print(
            f"Coordinators' console: http://{args.host}:{args.port}/", flush=True
        ),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
