"""The families' chat: the widget on the demo page in a real browser (Playwright driving
Debian's Chromium), and the socket.io channel it talks to, against the real Rasa server
and action server on loopback.

The browser reaches Rasa through a loopback proxy the offline test can cut. The page is
served with its real Content-Security-Policy, so an eval or an inline handler in the
widget would show up as a console error, which every test fails on.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from core.handoff_store import recent_requests
from core.settings import load_channel_settings
from core.suggestions import topic_titles
from tests.action_helper import ROOT
from tests.browser import (
    AXE,
    REPLY_TIMEOUT_MS,
    SCREENSHOTS,
    Chat,
    CuttableProxy,
    PageWatch,
    serious_violations,
    watch,
    web_page_server,
)
from tests.servers import Servers, free_port, running_servers
from tests.socket_client import connect, exchange, texts
from tests.test_answers import RESPONSES, plain

MAX_LENGTH = load_channel_settings().max_message_length


def first_sentence(response: str) -> str:
    """The opening words of a domain answer, as the widget shows them (no Markdown)."""
    return re.split(r"(?<=[.?!])\s", plain(RESPONSES[response][0]["text"]))[0]


@dataclass
class Stack:
    servers: Servers
    proxy: CuttableProxy
    page_url: str
    database_url: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("web-chat-logs")
    database_url = f"sqlite:///{logs / 'handoffs.db'}"
    web_port = free_port()
    with running_servers(
        logs,
        {"CART_DATABASE_URL": database_url},
        cors=[f"http://127.0.0.1:{web_port}"],
    ) as servers:
        proxy = CuttableProxy(urlsplit(servers.rasa_url).port or 0)
        try:
            with web_page_server(logs, proxy.url, web_port) as page_url:
                yield Stack(servers, proxy, page_url, database_url)
        finally:
            proxy.close()


@pytest.fixture
def page_watch() -> PageWatch:
    return PageWatch()


@pytest.fixture
def page(browser: Browser, stack: Stack, page_watch: PageWatch) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    seen = watch(page, page_watch)
    page.goto(stack.page_url)
    yield page
    context.close()
    # Content-Security-Policy violations (eval, inline handlers) are console errors.
    assert seen.unexpected_errors() == []
    assert seen.dialogs == []
    assert seen.foreign_requests == []  # no CDN, nothing leaves the machine


# ---- In a real browser ----


def test_families_see_the_disclaimer_then_get_the_right_answer(page: Page) -> None:
    chat = Chat(page)
    expect(page.locator(".cart-chat__panel")).to_be_hidden()
    chat.open()
    expect(chat.bot.first).to_have_text(plain(RESPONSES["utter_disclaimer"][0]["text"]))
    expect(chat.input).to_be_focused()

    answer = chat.ask("what is car t")

    assert first_sentence("utter_what_is_car_t") in answer
    # Read out to screen readers through the live region.
    live = page.locator(".cart-chat__panel [aria-live='polite']").last
    expect(live).to_contain_text(first_sentence("utter_what_is_car_t"))


def test_did_you_mean_offers_topics_and_a_safety_line_comes_first(page: Page) -> None:
    """Issues #13 and #14 as a family meets them in the widget."""
    chat = Chat(page)
    chat.open()
    # Vague enough that the model is unsure (measured: it falls back, between cost and how
    # the cells work).
    chat.ask("cells and money")
    offer = page.locator(".cart-chat__quick-reply")
    expect(offer.last).to_have_text("Something else")
    first = offer.first.inner_text().strip()
    intent = {title: name for name, title in topic_titles().items()}[first]
    assert first_sentence(f"utter_{intent}") in chat.click_reply(first)

    answer = chat.ask("what if he gets a fever after we go home?")
    assert answer.startswith(plain(RESPONSES["utter_safety_line"][0]["text"]))
    assert "This may be an emergency" not in answer
    page.screenshot(path=str(ROOT / "reports" / "widget-did-you-mean.png"), full_page=True)


def test_a_quick_reply_sends_its_payload_then_disappears(page: Page) -> None:
    chat = Chat(page)
    chat.open()
    chat.ask("what is car t")
    button = page.locator(".cart-chat__quick-reply", has_text="How does it work?")
    expect(button).to_be_visible()

    answer = chat.click_reply("How does it work?")

    assert first_sentence("utter_how_it_works") in answer
    expect(chat.user.last).to_have_text("How does it work?")
    expect(button).to_have_count(0)  # the answer's own replies are new ones
    assert page.locator(".cart-chat__quick-replies").count() <= 1


def test_the_conversation_survives_a_reload_and_a_closed_panel(page: Page) -> None:
    chat = Chat(page)
    chat.open()
    asked = chat.ask("is my child eligible for car t")
    assert "How old is the patient?" in asked
    session = chat.session_id()
    history = chat.bot.all_inner_texts()

    page.reload()
    expect(page.locator(".cart-chat__panel")).to_be_visible()  # it was open
    assert chat.bot.all_inner_texts() == history
    assert chat.session_id() == session
    # The server kept the conversation too: the pre-screen goes on where it was.
    assert "B-cell" in chat.ask("7")

    page.get_by_role("button", name="Close chat").click()
    expect(page.locator(".cart-chat__panel")).to_be_hidden()
    page.get_by_role("button", name="Questions? Chat with us").click()
    assert chat.bot.all_inner_texts()[: len(history)] == history


def test_html_and_script_show_as_text(page: Page) -> None:
    chat = Chat(page)
    chat.open()
    attack = "<img src=x onerror=alert(1)> <script>alert(2)</script> [x](javascript:alert(3))"

    chat.ask(attack)

    expect(chat.user.last).to_have_text(attack)
    assert page.locator(".cart-chat img, .cart-chat script").count() == 0
    assert page.locator(".cart-chat a[href^='javascript']").count() == 0
    # The page fixture fails the test on any dialog or console error.


def test_an_emergency_stands_out_and_offers_911(page: Page) -> None:
    chat = Chat(page)
    chat.open()

    answer = chat.ask("my daughter has a fever of 39.5 right now")

    assert "Call 911 now" in answer
    urgent = page.locator(".cart-chat__message--emergency")
    expect(urgent.first).to_be_visible()
    expect(urgent.locator("a[href='tel:911']")).to_have_count(1)
    expect(page.locator(".cart-chat__panel [aria-live='assertive']")).to_contain_text("911")
    assert page.locator(".cart-chat__message--bot:not(.cart-chat__message--emergency)").count() >= 1


def test_a_message_longer_than_the_server_accepts_is_stopped_kindly(page: Page) -> None:
    chat = Chat(page)
    chat.open()
    users_before = chat.user.count()

    chat.input.fill("a" * (MAX_LENGTH + 1))
    chat.input.press("Enter")

    note = page.locator(".cart-chat__note")
    expect(note).to_contain_text(f"up to {MAX_LENGTH}")
    expect(chat.input).to_have_attribute("aria-invalid", "true")
    assert chat.user.count() == users_before
    chat.input.fill("what is kymriah")
    expect(note).to_be_hidden()
    chat.input.press("Enter")
    expect(chat.user.last).to_have_text("what is kymriah")


def test_a_dropped_connection_shows_its_status_and_loses_no_message(
    page: Page, stack: Stack, page_watch: PageWatch
) -> None:
    page_watch.expected_errors += [
        r"^WebSocket connection to 'ws://127\.0\.0\.1:\d+/",
        r"^Failed to load resource: net::ERR_",
    ]
    chat = Chat(page)
    chat.open()
    status = page.get_by_role("status")
    try:
        stack.proxy.cut()
        expect(status).to_contain_text("Connection lost", timeout=15_000)
        before = chat.bot.count()
        chat.input.fill("what is kymriah")
        chat.input.press("Enter")
        waiting = page.locator(".cart-chat__pending").last
        expect(waiting).to_have_text("Waiting to send")
        expect(waiting).to_be_visible()
        page.wait_for_timeout(1000)
        assert chat.bot.count() == before
    finally:
        stack.proxy.restore()
    answer = chat.wait_for_answer(before)
    assert first_sentence("utter_what_is_kymriah") in answer
    expect(status).to_be_hidden()
    expect(page.locator(".cart-chat__pending").last).to_be_hidden()  # delivered


def test_a_family_reaches_a_coordinator_through_the_widget(page: Page, stack: Stack) -> None:
    chat = Chat(page)
    chat.open()

    chat.handoff.click()
    expect(chat.bot.last).to_have_text(plain(RESPONSES["utter_ask_handoff_name"][0]["text"]))
    assert "Who are you?" in chat.ask("Maria Lopez")
    assert "reach you" in chat.click_reply("Parent or guardian")
    assert "How old" in chat.ask("maria.lopez@example.org")
    assert "what would you like help with" in chat.ask("7")
    assert "May a coordinator contact you" in chat.ask("Could my son get CAR T?")
    final = chat.click_reply("Yes")

    reference = re.search(r"CT-\d{4}-\d{5}", final).group(0)
    assert "Your request is saved" in final
    stored = [r for r in recent_requests(stack.database_url, 50) if r.reference == reference]
    assert len(stored) == 1
    request = stored[0]
    assert (request.name, request.contact_value, request.channel) == (
        "Maria Lopez",
        "maria.lopez@example.org",
        "socketio",
    )
    assert request.sender_id == chat.session_id()


def test_every_control_works_from_the_keyboard(page: Page) -> None:
    launcher = page.get_by_role("button", name="Questions? Chat with us")
    for _ in range(40):
        page.keyboard.press("Tab")
        if launcher.evaluate("el => el === document.activeElement"):
            break
    expect(launcher).to_be_focused()
    page.keyboard.press("Enter")
    chat = Chat(page)
    expect(chat.bot.nth(1)).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(chat.input).to_be_focused()

    page.keyboard.type("what is crs")
    before = chat.bot.count()
    page.keyboard.press("Enter")
    chat.wait_for_answer(before)

    # Back from the input: "Talk to a coordinator", then the answer's last quick reply.
    page.keyboard.press("Shift+Tab")
    expect(chat.handoff).to_be_focused()
    page.keyboard.press("Shift+Tab")
    focused = page.locator(".cart-chat__quick-reply:focus")
    expect(focused).to_have_count(1)
    assert focused.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"
    title = focused.inner_text()
    before = chat.bot.count()
    page.keyboard.press("Enter")
    chat.wait_for_answer(before)
    expect(chat.user.last).to_have_text(title)

    page.keyboard.press("Escape")
    expect(page.locator(".cart-chat__panel")).to_be_hidden()
    expect(launcher).to_be_focused()


def test_no_serious_accessibility_violations_open_or_closed(browser: Browser, stack: Stack) -> None:
    # axe-core is injected as a script, which the page's CSP rightly refuses; this
    # context alone bypasses it.
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page = context.new_page()
    try:
        page.goto(stack.page_url)
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
        assert serious_violations(page) == []
        chat = Chat(page)
        chat.open()
        chat.ask("my son has a fever right now")  # the emergency styling too
        chat.ask("what is car t")
        assert serious_violations(page) == []
    finally:
        context.close()


def test_screenshots_at_desktop_and_phone_sizes(browser: Browser, stack: Stack) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 800), (360, 740)):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        try:
            page.goto(stack.page_url)
            page.screenshot(path=str(SCREENSHOTS / f"widget-{width}x{height}-closed.png"))
            chat = Chat(page)
            chat.open()
            chat.ask("what is car t")
            page.screenshot(path=str(SCREENSHOTS / f"widget-{width}x{height}-open.png"))
            box = page.locator(".cart-chat__panel").bounding_box()
            if width == 360:  # a phone: the panel takes the whole screen
                assert box == {"x": 0, "y": 0, "width": 360, "height": 740}
            else:
                assert box["width"] < width / 2
        finally:
            context.close()
        assert (SCREENSHOTS / f"widget-{width}x{height}-open.png").stat().st_size > 10_000


def test_reduced_motion_turns_the_animations_off(browser: Browser, stack: Stack) -> None:
    context = browser.new_context(reduced_motion="reduce")
    page = context.new_page()
    try:
        page.goto(stack.page_url)
        Chat(page).open()
        panel = page.locator(".cart-chat__panel")
        assert panel.evaluate("el => getComputedStyle(el).animationName") == "none"
    finally:
        context.close()


# ---- The socket.io channel, with a plain socket.io client ----


def test_socketio_marks_the_emergency_answer_and_delivers_it_whole(stack: Stack) -> None:
    session = uuid.uuid4().hex
    [replies] = exchange(stack.servers.rasa_url, session, ["she is having a seizure"])
    urgent = [r for r in replies if r.get("emergency") is True]
    assert "Call 911 now" in texts(urgent)
    assert {"custom": {"emergency": True}} in replies  # not a TypeError in the channel
    # The turn completed: the same session goes on.
    [after] = exchange(stack.servers.rasa_url, session, ["what is kymriah"])
    assert first_sentence("utter_what_is_kymriah") in texts(after)


def test_socketio_refuses_an_over_long_message_kindly_but_never_an_emergency(
    stack: Stack,
) -> None:
    long_question = "Please tell me about the treatment. " * (MAX_LENGTH // 30)
    long_emergency = "my son has a fever of 40 and is confused right now. " + long_question
    refused, urgent = exchange(
        stack.servers.rasa_url, uuid.uuid4().hex, [long_question, long_emergency]
    )
    assert len(long_question) > MAX_LENGTH
    assert f"up to {MAX_LENGTH} characters" in texts(refused)
    assert "Call 911 now" in texts(urgent)


def test_socketio_session_persists_across_connections(stack: Stack) -> None:
    session = uuid.uuid4().hex
    [asked] = exchange(stack.servers.rasa_url, session, ["is my child eligible"])
    assert "How old is the patient?" in texts(asked)
    [next_question] = exchange(stack.servers.rasa_url, session, ["9"])
    assert "B-cell" in texts(next_question)


@pytest.mark.parametrize(
    "payload",
    [None, "just a string", 42, [], {"message": 7}, {"session_id": ""}, {"message": "\x00\ud7ff"}],
)
def test_socketio_odd_payloads_get_no_crash(stack: Stack, payload: object) -> None:
    received: list[dict] = []
    client = connect(stack.servers.rasa_url, received)
    try:
        client.emit("session_request", payload)
        client.call("user_uttered", payload, timeout=30)  # acknowledged: handled, no crash
    finally:
        client.disconnect()

    # The server still serves everyone else.
    [replies] = exchange(stack.servers.rasa_url, uuid.uuid4().hex, ["what is car t"])
    assert first_sentence("utter_what_is_car_t") in texts(replies)


def test_the_demo_page_is_served_with_its_policy(stack: Stack) -> None:
    import requests

    response = requests.get(stack.page_url, timeout=10)
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Who can get KYMRIAH?" in response.text
    assert '<script src="/widget/cart-chat.js"></script>' in response.text
    assert requests.get(f"{stack.page_url}widget/../pyproject.toml", timeout=10).status_code == 404
    assert (ROOT / "build" / "web" / "cart-chat.js").stat().st_size < 200_000


def _listening_addresses(port: int) -> set[str]:
    """Local addresses listening on `port`, read from the kernel (no traffic sent)."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.rsplit(":", 1)
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    addresses.add(address)
    return addresses


def test_the_action_server_listens_on_loopback_only(stack: Stack) -> None:
    port = urlsplit(stack.servers.action_url).port or 0
    assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and nothing else
