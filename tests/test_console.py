"""The coordinators' console against the real Rasa server (HTTP API on, with a token), the
action server, the families' page and the console, all on loopback.

A family in the widget and a coordinator in the console at once (two browser contexts):
the request arrives, the coordinator joins, they talk both ways, the coordinator hands
back and the assistant answers again. Plus the security rules of the console.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from console.auth import create_user
from console.models import StaffUser
from core.handoff_store import session_for
from tests.browser import Chat, PageWatch, console_server, watch, web_page_server
from tests.servers import Servers, free_port, running_servers
from tests.test_answers import RESPONSES, plain

PASSWORD = "correct horse battery staple"
TAKEOVER_TIMEOUT = 4  # seconds without news from a console before the assistant is back


@dataclass
class Stack:
    servers: Servers
    page_url: str
    console_url: str
    database_url: str
    api_token: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("console-logs")
    database_url = f"sqlite:///{logs / 'handoffs.db'}"
    token = secrets.token_urlsafe(24)
    web_port = free_port()
    with running_servers(
        logs,
        {"CART_DATABASE_URL": database_url},
        cors=[f"http://127.0.0.1:{web_port}"],
        api_token=token,
    ) as servers:
        console_env = {
            "CART_DATABASE_URL": database_url,
            "CART_RASA_URL": servers.rasa_url,
            "CART_RASA_API_TOKEN": token,
            "CART_TAKEOVER_TIMEOUT": str(TAKEOVER_TIMEOUT),
            "CART_CONSOLE_SECURE_COOKIES": "false",  # plain HTTP on loopback
        }
        with (
            web_page_server(logs, servers.rasa_url, web_port) as page_url,
            console_server(logs, console_env) as console_url,
        ):
            yield Stack(servers, page_url, console_url, database_url, token)


def new_staff(stack: Stack, name: str = "Alex Kim") -> str:
    username = f"coord-{uuid.uuid4().hex[:6]}"
    create_user(stack.database_url, username, name, PASSWORD)
    return username


def log_in(stack: Stack, username: str, password: str = PASSWORD) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{stack.console_url}/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    browser.post(
        f"{stack.console_url}/login",
        data={"username": username, "password": password, "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )
    return browser


def csrf_of(session: requests.Session, url: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', session.get(url, timeout=10).text).group(
        1
    )


def handoff_over_rest(stack: Stack, need: str = "Could my son get CAR T?") -> str:
    sender = f"family-{uuid.uuid4().hex[:8]}"
    for message in ("talk to a coordinator", "Sam Rivera", "parent", "sam@example.org", "8", need):
        stack.servers.say(sender, message)
    final = stack.servers.texts(sender, "/affirm")
    return re.search(r"CT-\d{4}-\d{5}", final).group(0)


# ---- Security ----


def test_every_console_page_and_api_refuses_an_anonymous_request(stack: Stack) -> None:
    reference = handoff_over_rest(stack)
    anonymous = requests.Session()
    for path in ("/", "/requests", f"/requests/{reference}", "/requests?status=all"):
        response = anonymous.get(f"{stack.console_url}{path}", allow_redirects=False, timeout=10)
        assert response.status_code in (303, 401), path
        assert reference not in response.text and "Sam Rivera" not in response.text
    live = anonymous.get(f"{stack.console_url}/requests/{reference}/live", timeout=10)
    assert live.status_code == 401
    for action in ("status", "notes", "join", "handback", "messages"):
        response = anonymous.post(
            f"{stack.console_url}/requests/{reference}/{action}",
            data={"status": "closed", "note": "x"},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 401, action
    # The Rasa HTTP API behind the takeover wants its token too.
    tracker = f"{stack.servers.rasa_url}/conversations/anyone/tracker"
    assert requests.get(tracker, timeout=10).status_code == 401
    assert requests.get(tracker, params={"token": "guess"}, timeout=10).status_code == 401
    assert requests.get(tracker, params={"token": stack.api_token}, timeout=10).status_code == 200
    # ...which no local user can read off the Rasa server's command line (ps).
    command_line = Path(f"/proc/{stack.servers.rasa_pid}/cmdline").read_bytes()
    assert b"--enable-api" in command_line and stack.api_token.encode() not in command_line


def test_six_wrong_passwords_slow_the_account_down_without_locking_it(stack: Stack) -> None:
    username = new_staff(stack)
    for _ in range(6):
        response = log_in(stack, username, "wrong password 123")
        assert "cart_console_session" not in response.cookies
    slowed = requests.Session()
    page = slowed.get(f"{stack.console_url}/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = slowed.post(
        f"{stack.console_url}/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )
    # Asked to wait a little (the back-off), never locked out; the details are in
    # tests/test_console_security.py.
    assert answer.status_code == 429 and "locked" not in answer.text
    assert "cart_console_session" not in answer.cookies
    assert 1 <= int(answer.headers["Retry-After"]) <= 60


def test_log_in_sets_a_safe_cookie_and_log_out_ends_the_session(stack: Stack) -> None:
    username = new_staff(stack)
    page = requests.get(f"{stack.console_url}/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = requests.post(
        f"{stack.console_url}/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        cookies=page.cookies,
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=" in cookie
    with session_for(stack.database_url) as session:
        stored = session.scalar(select(StaffUser).where(StaffUser.username == username))
    assert stored.password_hash.startswith("$argon2")

    staff = log_in(stack, username)
    assert staff.get(f"{stack.console_url}/requests", timeout=10).status_code == 200
    csrf = csrf_of(staff, f"{stack.console_url}/requests")
    staff.post(f"{stack.console_url}/logout", data={"csrf_token": csrf}, timeout=10)
    after = staff.get(f"{stack.console_url}/requests", allow_redirects=False, timeout=10)
    assert after.status_code == 303 and after.headers["Location"] == "/login"


def test_a_form_post_without_the_csrf_token_is_refused(stack: Stack) -> None:
    reference = handoff_over_rest(stack)
    staff = log_in(stack, new_staff(stack))
    url = f"{stack.console_url}/requests/{reference}"
    refused = staff.post(f"{url}/notes", data={"note": "called"}, allow_redirects=False, timeout=10)
    assert refused.status_code == 403
    wrong = staff.post(
        f"{url}/status", data={"status": "closed", "csrf_token": "forged"}, timeout=10
    )
    assert wrong.status_code == 403
    assert "called" not in staff.get(url, timeout=10).text
    # The log-in form has its own token.
    no_token = requests.post(
        f"{stack.console_url}/login",
        data={"username": "x", "password": "y"},
        allow_redirects=False,
        timeout=10,
    )
    assert no_token.status_code == 403


def test_an_unknown_request_is_a_404_not_a_stack_trace(stack: Stack) -> None:
    staff = log_in(stack, new_staff(stack))
    for path in ("/requests/CT-2099-99999", "/requests/%3Cscript%3E", "/requests/CT-1/live"):
        response = staff.get(f"{stack.console_url}{path}", timeout=10)
        assert response.status_code == 404, path
        assert "Traceback" not in response.text and "<script>" not in response.text


def test_status_and_notes_are_recorded_with_who_and_when_and_shown_as_text(stack: Stack) -> None:
    reference = handoff_over_rest(stack, need="<script>alert('x')</script> help please")
    username = new_staff(stack)
    staff = log_in(stack, username)
    url = f"{stack.console_url}/requests/{reference}"
    inbox = staff.get(f"{stack.console_url}/requests", timeout=10).text
    assert reference in inbox and "Sam Rivera" in inbox and " min" in inbox

    csrf = csrf_of(staff, url)
    staff.post(f"{url}/status", data={"status": "in_progress", "csrf_token": csrf}, timeout=10)
    staff.post(
        f"{url}/notes", data={"note": "Left a <b>voicemail</b>", "csrf_token": csrf}, timeout=10
    )
    bad = staff.post(f"{url}/status", data={"status": "done!", "csrf_token": csrf}, timeout=10)
    assert bad.status_code == 400

    page = staff.get(url, timeout=10).text
    assert "&lt;script&gt;alert(" in page and "<script>alert(" not in page
    assert "Left a &lt;b&gt;voicemail&lt;/b&gt;" in page
    assert "talk to a coordinator" in page  # the whole transcript
    assert re.search(
        rf"\d{{4}}-\d\d-\d\d \d\d:\d\d UTC, {username}:</span>\s+status new → in_progress", page
    )
    in_progress = staff.get(f"{stack.console_url}/requests?status=in_progress", timeout=10).text
    assert reference in in_progress
    closed = staff.get(f"{stack.console_url}/requests?status=closed", timeout=10).text
    assert reference not in closed


# ---- Live takeover, in two browsers at once ----


def _console_log_in(context: BrowserContext, stack: Stack, username: str) -> Page:
    page = context.new_page()
    page.goto(f"{stack.console_url}/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Handoff requests")).to_be_visible()
    return page


def _family_on_the_page(stack: Stack, context: BrowserContext, seen: PageWatch) -> Page:
    page = context.new_page()
    watch(page, seen)
    page.goto(stack.page_url)
    return page


def _family_asks_for_a_coordinator(page: Page) -> tuple[Chat, str]:
    chat = Chat(page)
    chat.open()
    chat.handoff.click()
    expect(chat.bot.last).to_have_text(plain(RESPONSES["utter_ask_handoff_name"][0]["text"]))
    chat.ask("Maria Lopez")
    chat.click_reply("Parent or guardian")
    chat.ask("617-555-0199")
    chat.ask("skip")
    chat.ask("We would like to talk about CAR T for our son")
    final = chat.click_reply("Yes")
    return chat, re.search(r"CT-\d{4}-\d{5}", final).group(0)


@pytest.fixture
def two_browsers(browser: Browser) -> Iterator[tuple[BrowserContext, BrowserContext, PageWatch]]:
    family = browser.new_context(viewport={"width": 1280, "height": 800})
    coordinator = browser.new_context(viewport={"width": 1280, "height": 900})
    seen = PageWatch()
    yield family, coordinator, seen
    family.close()
    coordinator.close()
    assert seen.unexpected_errors() == [] and seen.dialogs == []


def test_a_coordinator_takes_over_talks_both_ways_and_hands_back(
    stack: Stack, two_browsers: tuple[BrowserContext, BrowserContext, PageWatch]
) -> None:
    family_context, coordinator_context, seen = two_browsers
    family_page = _family_on_the_page(stack, family_context, seen)
    chat, reference = _family_asks_for_a_coordinator(family_page)

    console = _console_log_in(coordinator_context, stack, new_staff(stack, "Alex Kim"))
    watch(console, seen)
    console.get_by_role("link", name=reference).click()
    expect(console.get_by_text("Maria Lopez").first).to_be_visible()
    expect(
        console.get_by_text("We would like to talk about CAR T for our son").first
    ).to_be_visible()

    console.get_by_role("button", name="Join the conversation").click()
    expect(chat.bot.last).to_contain_text("A coordinator has joined the chat: Alex Kim")
    expect(console.locator("#live-status")).to_have_text("The assistant is paused.")

    # The coordinator writes: the family sees it within a second.
    console.get_by_label("Message to the family").fill(
        "Hello Maria, I'm Alex. How old is your son?"
    )
    started = time.monotonic()
    console.get_by_role("button", name="Send").click()
    coordinator_says = family_page.locator(".cart-chat__message--coordinator")
    expect(coordinator_says.last).to_contain_text("How old is your son?", timeout=1500)
    assert time.monotonic() - started < 1.5
    expect(coordinator_says.last.locator(".cart-chat__sender")).to_have_text(
        "Coordinator · Alex Kim"
    )

    # The family answers: it appears in the console live, and the assistant stays quiet.
    bot_before = chat.bot.count()
    chat.input.fill("He is 9, thank you <b>Alex</b>")
    chat.input.press("Enter")
    expect(console.locator("#live .from-family").last).to_have_text(
        "Family He is 9, thank you <b>Alex</b>", timeout=3000
    )
    family_page.wait_for_timeout(1000)
    assert chat.bot.count() == bot_before

    console.get_by_role("button", name="Hand back to the assistant").click()
    expect(chat.bot.last).to_contain_text("The assistant is back")
    answer = chat.ask("what is kymriah")
    assert "KYMRIAH" in answer

    # Everything said is in the conversation's history, and in the request's.
    tracker = requests.get(
        f"{stack.servers.rasa_url}/conversations/{chat.session_id()}/tracker",
        params={"token": stack.api_token},
        timeout=10,
    ).json()
    texts = [e.get("text") for e in tracker["events"] if e["event"] in ("user", "bot")]
    assert "Hello Maria, I'm Alex. How old is your son?" in texts
    assert "He is 9, thank you <b>Alex</b>" in texts
    assert tracker["paused"] is False
    console.reload()
    expect(console.get_by_text("joined the conversation")).to_be_visible()
    expect(console.get_by_text("handed the conversation back to the assistant")).to_be_visible()


def test_a_closed_console_tells_the_family_and_the_assistant_resumes(
    stack: Stack, two_browsers: tuple[BrowserContext, BrowserContext, PageWatch]
) -> None:
    family_context, coordinator_context, seen = two_browsers
    family_page = _family_on_the_page(stack, family_context, seen)
    chat, reference = _family_asks_for_a_coordinator(family_page)
    console = _console_log_in(coordinator_context, stack, new_staff(stack, "Jo Park"))
    console.goto(f"{stack.console_url}/requests/{reference}")
    console.get_by_role("button", name="Join the conversation").click()
    expect(chat.bot.last).to_contain_text("A coordinator has joined the chat: Jo Park")

    # An emergency while the assistant is paused still gets the emergency answer.
    answer = chat.ask("he is having a seizure right now")
    assert "Call 911 now" in answer

    console.close()  # the coordinator closes the console
    expect(chat.bot.last).to_contain_text(
        "The coordinator had to leave the chat", timeout=(TAKEOVER_TIMEOUT + 5) * 1000
    )
    assert "KYMRIAH" in chat.ask("what is kymriah")


def test_joining_needs_a_family_on_the_web_chat(stack: Stack) -> None:
    reference = handoff_over_rest(stack)  # came in over REST: nobody to talk to live
    staff = log_in(stack, new_staff(stack))
    url = f"{stack.console_url}/requests/{reference}"
    page = staff.get(url, timeout=10).text
    assert "Join the conversation" not in page
    response = staff.post(f"{url}/join", data={"csrf_token": csrf_of(staff, url)}, timeout=10)
    assert response.status_code == 409


def test_the_console_shows_a_tapped_button_by_its_title() -> None:
    from console.takeover import conversation_messages

    events = [
        {"event": "bot", "text": "Would you like a **coordinator**?",
         "data": {"buttons": [{"title": "Yes", "payload": "/affirm"}]}},
        {"event": "user", "text": "/affirm"},
        {"event": "user", "text": "<b>my own words</b>"},
    ]  # fmt: skip
    shown = [(m["who"], m["text"]) for m in conversation_messages(events)]
    assert shown == [("assistant", "Would you like a coordinator?"), ("family", "Yes"),
                     ("family", "<b>my own words</b>")]  # fmt: skip
