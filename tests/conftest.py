"""Shared fixtures: a real SMTP server on loopback, a fresh PostgreSQL database, and
Debian's Chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet
from playwright.sync_api import Browser, sync_playwright

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.servers import free_port

# The tests' own key for data at rest, inherited by every server they start: nothing
# they store is readable with the developer's var/data-key, and nothing of theirs mixes.
os.environ.setdefault("CART_DATA_KEYS", Fernet.generate_key().decode())

POSTGRES_ADMIN_URL = os.environ.get(
    "CART_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@dataclass
class MailSink:
    """Collects every message the SMTP server accepts."""

    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    sink: MailSink
    controller: Controller

    def start(self) -> None:
        """(Re)starts on the same port, e.g. after a test stopped it to simulate an outage."""
        self.controller = Controller(self.sink, hostname=self.host, port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    port = free_port()
    sink = MailSink()
    server = SmtpServer("127.0.0.1", port, sink, Controller(sink, hostname="127.0.0.1", port=port))
    server.controller.start()
    yield server
    with contextlib.suppress(AssertionError, RuntimeError):
        server.controller.stop()  # a test may have stopped it already


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test run, dropped afterwards."""
    import psycopg2

    name = f"cart_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg2.connect(POSTGRES_ADMIN_URL, connect_timeout=5)
    except psycopg2.OperationalError as error:
        pytest.fail(
            f"These tests need PostgreSQL at {POSTGRES_ADMIN_URL} (set CART_TEST_POSTGRES_URL). "
            f"On these machines: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) "
            f"main start. Error: {error}"
        )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://")
    yield f"{base}/{name}"
    from core.handoff_store import engine_for

    engine_for.cache_clear()  # closes nothing by itself: terminate the sessions below
    with admin.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: run `make browser` (make test does it).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# --- Test tiers (markers registered in pyproject.toml) -----------------------------------
# unit: no servers (real SQLite/PostgreSQL/Redis/SMTP in-process are fine); conversation:
# dialogue through actions, NLG or the trained model, in-process; e2e: real Rasa/action
# servers; browser: Debian's Chromium; scale: the scaled set-up behind nginx.
# `make test-fast` runs `-m "unit or conversation"`. A test's own tier marker wins; a new
# module not listed here is placed by what its source uses (_tier_from_source).
TIERS = ("unit", "conversation", "e2e", "browser", "scale")
MODULE_TIERS = {
    "unit": [
        "test_answers", "test_architecture", "test_deploy", "test_devstack",
        "test_emergency_detector",
        "test_evaluation_judge", "test_faq_rules", "test_guard_units", "test_independence",
        "test_linear_intent_classifier",
        "test_lock_store", "test_rasa_patches",
        "test_safety", "test_security_email", "test_security_tracker_store",
        "test_sentence_encoder", "test_spacy_pipeline",
        "test_suggestions", "test_tracker_store",
    ],
    "conversation": [
        "test_content_action", "test_eligibility", "test_graph_runner", "test_handoff_units",
        "test_nonsense_screen", "test_program_nlg", "test_red_flag_override",
    ],
    "e2e": [
        "test_bad_input", "test_e2e_handoff", "test_e2e_rest", "test_faults", "test_privacy",
        "test_properties", "test_security", "test_security_action_server",
        "test_security_channels", "test_security_data",
    ],
    "browser": [
        "test_console", "test_console_security", "test_insights", "test_security_widget",
        "test_web_chat",
    ],
    "scale": ["test_scale"],
}  # fmt: skip
TIER_OF_MODULE = {module: tier for tier, modules in MODULE_TIERS.items() for module in modules}


def _tier_from_source(path: Path) -> str:
    """The tier of a module nobody listed yet: the heaviest part it uses."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if "scaled_stack" in text:
        return "scale"
    if "Browser" in text or "browser:" in text:
        return "browser"
    if "running_servers" in text or "subprocess" in text:
        return "e2e"
    return "unit"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.get_closest_marker(tier) for tier in TIERS):
            continue  # the test (or its module's pytestmark) chose
        path = Path(str(item.fspath))
        tier = TIER_OF_MODULE.get(path.stem) or _tier_from_source(path)
        item.add_marker(getattr(pytest.mark, tier))


# --- No silent skips in CI ---------------------------------------------------------------
# A test skipped for a missing input (../shared beside the checkout, a service) passes
# unnoticed. Under CI=true every skip is a failure that says why.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if (
        report.skipped
        and os.environ.get("CI", "").lower() == "true"
        and not hasattr(report, "wasxfail")
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"Skipped in CI, where nothing may be skipped: {reason}"
