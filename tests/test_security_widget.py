"""Issue #15, item 12, against the real Rasa and action servers: "Clear chat" in the widget,
for a shared family computer, in a real browser (Playwright, Debian's Chromium): the
conversation id and the messages are forgotten in the browser, the window is emptied,
and what is typed next starts a new conversation. And the health check nginx serves as
/health does not tell Rasa's version."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from scripts.scaled_stack import compose_nginx_config
from tests.browser import Chat, PageWatch, watch, web_page_server
from tests.servers import free_port, running_servers


@dataclass
class Stack:
    rasa_url: str
    page_url: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs: Path = tmp_path_factory.mktemp("clear-chat-logs")
    web_port = free_port()
    with (
        running_servers(
            logs,
            {"CART_DATABASE_URL": f"sqlite:///{logs / 'handoffs.db'}"},
            cors=[f"http://127.0.0.1:{web_port}"],
        ) as servers,
        web_page_server(logs, servers.rasa_url, web_port) as url,
    ):
        yield Stack(servers.rasa_url, url)


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    seen = watch(page, PageWatch())
    page.goto(stack.page_url)
    yield page
    context.close()
    assert seen.unexpected_errors() == []  # no Content-Security-Policy violation


def session_id(page: Page) -> str | None:
    """The conversation id the widget keeps in the browser (whatever its format)."""
    return page.evaluate(
        "() => JSON.parse(sessionStorage.getItem('cart-chat:v1') || '{}').sessionId || null"
    )


def test_clear_chat_forgets_the_conversation_and_empties_the_window(page: Page) -> None:
    chat = Chat(page)
    chat.open()
    assert "How old is the patient?" in chat.ask("is my child eligible for car t")
    old_session = session_id(page)
    assert old_session

    page.get_by_role("button", name="Clear chat").click()

    # The window is emptied, then a new conversation greets the next person.
    expect(chat.user).to_have_count(0)
    expect(page.get_by_text("is my child eligible for car t")).to_have_count(0)
    expect(page.get_by_text("How old is the patient?")).to_have_count(0)
    expect(chat.bot.nth(1)).to_be_visible()  # disclaimer and greeting, again
    new_session = session_id(page)
    assert new_session and new_session != old_session
    stored = page.evaluate("() => sessionStorage.getItem('cart-chat:v1')")
    assert old_session not in stored and "eligible" not in stored

    # The server does not go on with the old pre-screen in the new conversation.
    assert "B-cell" not in chat.ask("7")
    # A reload shows only the new conversation.
    page.reload()
    expect(chat.user).to_have_count(1)
    assert chat.user.all_inner_texts() == ["7"]
    assert session_id(page) == new_session


def test_the_public_health_check_does_not_tell_rasa_s_version(stack: Stack) -> None:
    # What nginx (deploy/nginx/) sends /health to, on the real Rasa server ...
    health = re.search(r"location = /health \{.*?proxy_pass http://rasa_any(/\S*);",
                       compose_nginx_config(), flags=re.DOTALL)  # fmt: skip
    assert health, "nginx serves no /health"
    reply = requests.get(f"{stack.rasa_url}{health.group(1)}", timeout=10)
    assert reply.status_code == 200 and reply.json() == {"status": "ok"}
    assert "3.6" not in reply.text and "Rasa" not in reply.text
    # ... and not Rasa's root page, which does tell it.
    assert "3.6" in requests.get(f"{stack.rasa_url}/", timeout=10).text
