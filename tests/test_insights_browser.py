"""The insights page in Debian's Chromium: a coordinator logs in, picks a period, sees the
charts and their tables; axe-core finds no serious or critical violation; nothing breaks
the console's Content-Security-Policy; screenshots in reports/screenshots/."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from console.auth import create_user
from tests.browser import AXE, SCREENSHOTS, PageWatch, console_server, serious_violations, watch
from tests.test_insights import (
    CONVERSATIONS,
    END,
    PASSWORD,
    START,
    ZONE_NAME,
    write_conversations,
    write_handoffs,
)


@dataclass
class Console:
    url: str
    username: str


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    folder = tmp_path_factory.mktemp("insights-browser")
    tracker_url = f"sqlite:///{folder / 'conversations.db'}"
    database_url = f"sqlite:///{folder / 'handoffs.db'}"
    with pytest.MonkeyPatch.context() as monkeypatch:
        write_conversations(tracker_url, CONVERSATIONS, monkeypatch)
    write_handoffs(database_url)
    username = f"coord-{uuid.uuid4().hex[:6]}"
    create_user(database_url, username, "Alex Kim", PASSWORD)
    env = {
        "CART_DATABASE_URL": database_url,
        "CART_TRACKER_URL": tracker_url,
        "CART_OFFICE_TIMEZONE": ZONE_NAME,
        "CART_RASA_API_TOKEN": "not-used-by-these-tests",
        "CART_CONSOLE_SECURE_COOKIES": "false",  # plain HTTP on loopback
    }
    with console_server(folder / "logs", env) as url:
        yield Console(url, username)


def log_in(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/insights")
    expect(page).to_have_url(f"{console.url}/login")  # staff only
    page.get_by_label("User name").fill(console.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def show_known_period(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/insights")
    page.get_by_label("From", exact=True).fill(START.isoformat())
    page.get_by_label("To", exact=True).fill(END.isoformat())
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#total-messages")).to_have_text("11")


def test_a_coordinator_sees_the_charts_and_their_tables(browser: Browser, console: Console) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    seen = watch(page, PageWatch())
    try:
        log_in(page, console)
        show_known_period(page, console)
        charts = page.get_by_role("img")
        expect(charts).to_have_count(5)
        expect(page.get_by_role("img", name="Topics asked most")).to_be_visible()
        for chart in charts.all():
            box = chart.bounding_box()
            assert box and box["width"] > 300 and box["height"] > 100
        # The table under a chart opens from the keyboard.
        table = page.locator("#table-topics")
        expect(table).to_be_hidden()
        page.locator("#h-topics ~ details summary").focus()
        page.keyboard.press("Enter")
        expect(table).to_be_visible()
        expect(table.get_by_role("row", name="CRS (cytokine release) 2")).to_be_visible()
        # The quick periods and the CSV link are there.
        expect(page.get_by_role("link", name="Last 30 days")).to_be_visible()
        with page.expect_download() as download:
            page.get_by_role("link", name="Download these figures (CSV)").click()
        path = download.value.path()
        assert "topics,crs,messages,2" in Path(path).read_text(encoding="utf-8")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "insights-desktop.png"), full_page=True)
        assert seen.unexpected_errors() == []  # no CSP violation, no script error
        assert seen.foreign_requests == []  # nothing from a CDN
    finally:
        context.close()


def test_the_page_on_a_phone(browser: Browser, console: Console) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    try:
        log_in(page, console)
        show_known_period(page, console)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360 + 1, "the page scrolls sideways on a phone"
        # A chart keeps a readable size and scrolls in its own box, from the keyboard too.
        box = page.get_by_role("region", name="Chart of topics")
        assert box.evaluate("e => e.scrollWidth > e.clientWidth")
        box.focus()
        page.keyboard.press("ArrowRight")
        expect(box).to_be_focused()
        page.wait_for_function(
            "() => document.querySelector('[aria-label=\"Chart of topics\"]').scrollLeft > 0"
        )
        page.screenshot(path=str(SCREENSHOTS / "insights-phone.png"), full_page=True)
    finally:
        context.close()


@pytest.mark.parametrize("width", [1280, 360])
def test_no_serious_accessibility_violations(
    browser: Browser, console: Console, width: int
) -> None:
    # axe-core is injected as a script, which the page's CSP rightly refuses; this
    # context alone bypasses it.
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    page = context.new_page()
    try:
        log_in(page, console)
        show_known_period(page, console)
        for summary in page.locator("details summary").all():
            summary.click()  # the tables too
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
        assert serious_violations(page) == []
    finally:
        context.close()
