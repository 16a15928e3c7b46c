"""Issue #17 as people meet it, in Debian's Chromium driven by Playwright: a family rates
an answer "No" in the widget and says what they were looking for; a coordinator logs in
to the console, finds it in the review queue with personal data masked and labels it;
the export writes it as training data. Real Rasa, action, page and console servers.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Browser, Page, expect

from console.auth import create_user
from tests.action_helper import ROOT
from tests.browser import (
    AXE,
    SCREENSHOTS,
    Chat,
    PageWatch,
    console_server,
    serious_violations,
    serve_module,
    watch,
)
from tests.servers import free_port, running_servers

PASSWORD = "correct horse battery staple"
QUESTION = "how long is the hospital stay for my son Liam?"
MASKED_QUESTION = "how long is the hospital stay for my son [NAME]?"
COMMENT = "Parking near the hospital, call me at 617-555-0142"
MASKED_COMMENT = "Parking near the hospital, call me at [PHONE]"


@dataclass
class Stack:
    page_url: str
    console_url: str
    database_url: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("feedback-browser-logs")
    database_url = f"sqlite:///{logs / 'handoffs.db'}"
    token = secrets.token_urlsafe(24)
    web_port = free_port()
    page_url = f"http://127.0.0.1:{web_port}"
    with running_servers(
        logs, {"CART_DATABASE_URL": database_url}, cors=[page_url], api_token=token
    ) as servers:
        env = {
            "CART_DATABASE_URL": database_url,
            "CART_TRACKER_URL": f"sqlite:///{logs / 'conversations.db'}",
            "CART_RASA_URL": servers.rasa_url,
            "CART_RASA_API_TOKEN": token,
            "CART_CONSOLE_SECURE_COOKIES": "false",  # plain HTTP on loopback
        }
        args = ["--port", str(web_port), "--socket-url", servers.rasa_url]
        with (
            serve_module(logs, "web.server", args, f"{page_url}/healthz", env),
            console_server(logs, env) as console_url,
        ):
            yield Stack(f"{page_url}/", console_url, database_url)


def feedback(page: Page):
    return page.get_by_role("group", name="Was this helpful?")


def coordinator_logs_in(page: Page, stack: Stack) -> None:
    username = f"coord-{uuid.uuid4().hex[:6]}"
    create_user(stack.database_url, username, "Alex Kim", PASSWORD)
    page.goto(f"{stack.console_url}/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Handoff requests")).to_be_visible()


def test_a_no_with_a_comment_reaches_the_queue_masked_is_labelled_and_exported(
    browser: Browser, stack: Stack, tmp_path: Path
) -> None:
    family = browser.new_context(viewport={"width": 1280, "height": 800})
    coordinator = browser.new_context(viewport={"width": 1280, "height": 900})
    seen = PageWatch()
    try:
        page = family.new_page()
        watch(page, seen)
        page.goto(stack.page_url)
        chat = Chat(page)
        chat.open()
        # Not under the disclaimer, nor under the greeting.
        expect(page.locator(".cart-chat__feedback")).to_have_count(0)

        assert "hospital" in chat.ask(QUESTION).lower()
        group = feedback(page)
        expect(group).to_have_count(1)
        # Under the answer, the last message of the turn.
        last = page.locator(".cart-chat__message--bot").last
        expect(last.locator(".cart-chat__feedback")).to_have_count(1)
        expect(group).to_be_visible()

        # From the keyboard: back from the input to "No", then the optional comment.
        no = group.get_by_role("button", name="No")
        no.focus()
        page.keyboard.press("Enter")
        comment = page.get_by_label("What were you looking for? (optional)")
        expect(comment).to_be_focused()
        page.keyboard.type(COMMENT)
        page.keyboard.press("Enter")
        thanks = page.locator(".cart-chat__feedback [role='status']")
        expect(thanks).to_have_text("Thank you. This helps us improve the answers.")
        expect(chat.input).to_be_focused()
        expect(page.get_by_role("button", name="No", exact=True)).to_have_count(0)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "feedback-widget-thanks.png"))

        # Never under the emergency answer.
        assert "Call 911 now" in chat.ask("my son has a fever right now")
        expect(page.locator(".cart-chat__message--emergency")).not_to_have_count(0)
        expect(feedback(page)).to_have_count(0)

        # At most once: after a reload the rated answer asks nothing again.
        page.reload()
        expect(chat.bot.last).to_be_visible()
        expect(feedback(page)).to_have_count(0)
        assert seen.unexpected_errors() == [] and seen.dialogs == []
        assert seen.foreign_requests == []

        # The coordinator's queue: masked, with what was understood and the comment.
        console = coordinator.new_page()
        coordinator_logs_in(console, stack)
        console.goto(f"{stack.console_url}/review")
        expect(console.get_by_role("heading", name="Review queue")).to_be_visible()
        item = console.locator("li.review", has_text=MASKED_QUESTION)
        expect(item).to_have_count(1)
        expect(item).to_contain_text("Rated not helpful")
        expect(item).to_contain_text(MASKED_COMMENT)
        expect(item).to_contain_text("The hospital stay")  # what the assistant understood
        content = console.content()
        for secret in ("Liam", "555-0142"):
            assert secret not in content
        console.screenshot(path=str(SCREENSHOTS / "review-queue.png"), full_page=True)

        item.get_by_label("Another topic").select_option("lodging_travel")
        item.get_by_role("button", name="Label", exact=True).click()
        expect(console.locator("li.review", has_text=MASKED_QUESTION)).to_have_count(0)
        console.get_by_role("link", name="Labelled").click()
        labelled = console.locator("li.review", has_text=MASKED_QUESTION)
        expect(labelled).to_contain_text("Labelled: Travel and lodging")

        # The insights page counts the rating under the topic the answer was about.
        console.goto(f"{stack.console_url}/insights")
        row = console.locator("#table-feedback tr", has_text="The hospital stay")
        expect(row.locator("td").nth(1)).to_have_text("1")  # rated "No" once
    finally:
        family.close()
        coordinator.close()

    out = tmp_path / "reviewed.yml"
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "scripts/export_reviewed.py",
         "--database", stack.database_url, "--out", str(out),
         "--new-topics", str(tmp_path / "new-topics.md")],
        cwd=ROOT, check=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    nlu = yaml.safe_load(out.read_text(encoding="utf-8"))["nlu"]
    assert {"intent": "lodging_travel", "examples": f"- {MASKED_QUESTION}\n"} in nlu
    assert "Liam" not in out.read_text(encoding="utf-8")


def test_the_feedback_controls_and_the_queue_pass_axe(browser: Browser, stack: Stack) -> None:
    # axe-core is injected as a script, which the pages' CSP rightly refuses; these
    # contexts alone bypass it.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(stack.page_url)
        chat = Chat(page)
        chat.open()
        chat.ask("what is car t")
        expect(feedback(page)).to_be_visible()
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
        assert serious_violations(page) == []
        feedback(page).get_by_role("button", name="No").click()
        expect(page.get_by_label("What were you looking for? (optional)")).to_be_focused()
        assert serious_violations(page) == []

        console = context.new_page()
        coordinator_logs_in(console, stack)
        console.goto(f"{stack.console_url}/review?status=all")
        console.add_script_tag(content=AXE.read_text(encoding="utf-8"))
        assert serious_violations(console) == []
    finally:
        context.close()
