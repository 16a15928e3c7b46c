"""What the browser tests need besides the assistant's servers: the families' web page,
Debian's Chromium driven by Playwright, and a loopback proxy a test can cut to drop the
widget's connection for real."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from tests.action_helper import ROOT
from tests.servers import _wait, free_port

CHROMIUM = os.environ.get("CART_CHROMIUM", "/usr/bin/chromium")
# As the machine notes say: root needs --no-sandbox, and a closed network wants Chromium's
# own background traffic off.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDGET_BUNDLE = ROOT / "build" / "web" / "cart-chat.js"
AXE = ROOT / "widget" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "reports" / "screenshots"
REPLY_TIMEOUT_MS = 20_000


@dataclass
class PageWatch:
    """What a page did that no family should ever meet."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    # Console errors a test causes on purpose (a cut connection), as regular expressions.
    expected_errors: list[str] = field(default_factory=list)

    def unexpected_errors(self) -> list[str]:
        return [
            error
            for error in self.errors
            if not any(re.search(pattern, error) for pattern in self.expected_errors)
        ]


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page (axe already injected)."""
    results = page.evaluate("async () => await axe.run(document)")
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def watch(page: Page, seen: PageWatch) -> PageWatch:
    page.on("console", lambda m: m.type == "error" and seen.errors.append(m.text))
    page.on("pageerror", lambda e: seen.errors.append(str(e)))
    page.on("dialog", lambda d: (seen.dialogs.append(d.message), d.dismiss()))
    page.on(
        "request",
        lambda r: urlsplit(r.url).hostname != "127.0.0.1" and seen.foreign_requests.append(r.url),
    )
    return seen


class Chat:
    """A family using the widget, as a person would: clicks, typing, Enter."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.bot = page.locator(".cart-chat__message--bot .cart-chat__bubble")
        self.user = page.locator(".cart-chat__message--user .cart-chat__bubble")
        self.input = page.get_by_label("Your message")
        # Always in view (an answer's quick replies may offer the same words too).
        self.handoff = page.locator(".cart-chat__handoff")

    def open(self) -> None:
        self.page.get_by_role("button", name="Questions? Chat with us").click()
        expect(self.bot.nth(1)).to_be_visible(timeout=REPLY_TIMEOUT_MS)  # disclaimer, greeting

    def wait_for_answer(self, bot_messages_before: int) -> str:
        expect(self.bot.nth(bot_messages_before)).to_be_visible(timeout=REPLY_TIMEOUT_MS)
        # The server acknowledges a message after all its answers went out.
        expect(self.page.locator("[data-pending]")).to_have_count(0, timeout=REPLY_TIMEOUT_MS)
        return "\n".join(self.bot.all_inner_texts()[bot_messages_before:])

    def ask(self, text: str) -> str:
        before = self.bot.count()
        self.input.fill(text)
        self.input.press("Enter")
        return self.wait_for_answer(before)

    def click_reply(self, title: str) -> str:
        before = self.bot.count()
        self.page.locator(".cart-chat__quick-reply", has_text=title).last.click()
        return self.wait_for_answer(before)

    def session_id(self) -> str:
        stored = self.page.evaluate("() => sessionStorage.getItem('cart-chat:v1')")
        return re.search(r'"sessionId":"([0-9a-f.]+)"', stored).group(1)


class CuttableProxy:
    """Forwards loopback TCP connections to a port until `cut()`: then every open
    connection is closed and new ones are refused until `restore()`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self._open.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self._open.clear()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self.listener.close()


@contextmanager
def serve_module(
    logs: Path, module: str, args: list[str], health_url: str, env: dict[str, str] | None = None
) -> Iterator[None]:
    """`python -m <module> <args>` until the block ends, once `health_url` answers."""
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{module}.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait(health_url, process, 30)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def web_page_server(logs: Path, socket_url: str, port: int | None = None) -> Iterator[str]:
    """The families' page (`web.server`) on a loopback port; yields the page's URL."""
    if not WIDGET_BUNDLE.exists():
        raise RuntimeError(f"{WIDGET_BUNDLE} is missing: run `make widget` (make test does it).")
    url = f"http://127.0.0.1:{port or free_port()}/"
    args = ["--port", url.rsplit(":", 1)[1].strip("/"), "--socket-url", socket_url]
    with serve_module(logs, "web.server", args, f"{url}healthz"):
        yield url


@contextmanager
def console_server(logs: Path, env: dict[str, str]) -> Iterator[str]:
    """The coordinators' console (`console.server`) on a free loopback port; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serve_module(logs, "console.server", ["--port", str(port)], f"{url}/healthz", env):
        yield url
