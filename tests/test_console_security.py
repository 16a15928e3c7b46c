"""The console's log-in, sessions, roles, audit log and retention (issue #15, items 7-10
and the __Host- log-in cookie of item 12), against the real console server on loopback
and real SQLite / PostgreSQL databases. No Rasa server is needed: requests are stored
directly, as the action server stores them.

Each test talks from its own loopback address (127.0.0.N), so the per-address back-off
of one test does not slow another down.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import yaml
from requests.adapters import HTTPAdapter
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError

from console import audit, inbox
from console.auth import count_failure, create_user, failures_of
from console.models import ensure_schema
from console.retention import forget
from core.handoff_store import HandoffRequest, NewHandoff, create_request, session_for, utcnow
from tests.action_helper import ROOT
from tests.browser import console_server, serve_module
from tests.servers import free_port

PASSWORD = "correct horse battery staple"
FREE_FAILURES = 3  # per account, before the back-off starts
FREE_FAILURES_PER_ADDRESS = 8
BACKOFF_MAX = 2  # seconds: the longest an attacker can make a coordinator wait
IDLE_SECONDS = 3

_addresses = iter(range(2, 250))


class FromAddress(HTTPAdapter):
    """Connects from a given loopback address: another 'network address' for the console."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def browser_at(address: str | None = None) -> requests.Session:
    session = requests.Session()
    adapter = FromAddress(address or f"127.0.0.{next(_addresses)}")
    session.mount("http://", adapter)
    return session


@dataclass
class Console:
    url: str
    database_url: str
    tracker_url: str
    env: dict[str, str]

    def log_in(
        self, username: str, password: str = PASSWORD, browser: requests.Session | None = None
    ) -> tuple[requests.Session, requests.Response]:
        browser = browser or browser_at()
        page = browser.get(f"{self.url}/login", timeout=10)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        answer = browser.post(
            f"{self.url}/login",
            data={"username": username, "password": password, "csrf_token": token},
            allow_redirects=False,
            timeout=30,
        )
        return browser, answer

    def cli(self, module: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            env={**self.env, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    import os

    logs = tmp_path_factory.mktemp("console-security")
    database_url = f"sqlite:///{logs / 'handoffs.db'}"
    tracker_url = f"sqlite:///{logs / 'conversations.db'}"
    env = {
        **os.environ,
        "CART_DATABASE_URL": database_url,
        "CART_TRACKER_URL": tracker_url,
        "CART_RASA_URL": f"http://127.0.0.1:{free_port()}",  # nobody: no takeover here
        "CART_RASA_API_TOKEN": "not-used-here",
        "CART_CONSOLE_SECURE_COOKIES": "false",  # plain HTTP on loopback: explicitly local
        "CART_CONSOLE_MAX_FAILED_LOGINS": str(FREE_FAILURES),
        "CART_CONSOLE_MAX_FAILED_LOGINS_PER_ADDRESS": str(FREE_FAILURES_PER_ADDRESS),
        "CART_CONSOLE_LOGIN_BACKOFF_MAX_SECONDS": str(BACKOFF_MAX),
        "CART_CONSOLE_IDLE_MINUTES": str(IDLE_SECONDS / 60),
    }
    with console_server(logs, env) as url:
        yield Console(url, database_url, tracker_url, env)


def new_staff(console: Console, role: str = "coordinator") -> str:
    username = f"staff-{uuid.uuid4().hex[:6]}"
    create_user(console.database_url, username, username.title(), PASSWORD, role)
    return username


def new_request(database_url: str, sender_id: str | None = None) -> str:
    request = create_request(
        database_url,
        NewHandoff(
            sender_id=sender_id or f"family-{uuid.uuid4().hex[:8]}",
            channel="socketio",
            name="Rosa Delgado",
            role="parent",
            contact_kind="phone",
            contact_value="+16175550147",
            patient_age="7",
            need="Our daughter relapsed",
            consent=True,
            transcript=[{"who": "Family", "text": "Our daughter relapsed", "at": ""}],
        ),
        ["email"],
    )
    return request.reference


def csrf_of(browser: requests.Session, url: str) -> str:
    page = browser.get(url, timeout=10).text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


# ---- 7. Log-in: one answer, back-off instead of lock-out, an atomic counter ----


def test_a_known_and_an_unknown_user_name_get_the_same_answers(console: Console) -> None:
    known = new_staff(console)
    unknown = f"nobody-{uuid.uuid4().hex[:6]}"
    answers: dict[str, list[tuple[int, str]]] = {}
    for name in (known, unknown):
        browser = browser_at()
        answers[name] = []
        for _ in range(FREE_FAILURES + 2):
            _, answer = console.log_in(name, "wrong password 123", browser)
            message = re.search(r'role="alert">([^<]+)<', answer.text).group(1)
            answers[name].append((answer.status_code, message))
            assert "cart_console_session" not in answer.cookies
    assert answers[known] == answers[unknown]
    assert answers[known][0] == (401, "Wrong user name or password.")
    assert answers[known][-1][0] == 429  # slowed down, both alike


def test_failed_log_ins_slow_down_but_never_lock_the_coordinator_out(console: Console) -> None:
    username = new_staff(console)
    attacker = browser_at()
    for _ in range(FREE_FAILURES + 3):
        console.log_in(username, "wrong password 123", attacker)
    # From another address, with the right password: asked to wait, briefly.
    coordinator = browser_at()
    _, answer = console.log_in(username, PASSWORD, coordinator)
    assert answer.status_code == 429
    wait = int(answer.headers["Retry-After"])
    assert 1 <= wait <= BACKOFF_MAX
    time.sleep(wait + 0.2)
    _, answer = console.log_in(username, PASSWORD, coordinator)
    assert answer.status_code == 303 and "cart_console_session" in answer.cookies
    # The success cleared the account's count: the next mistype is not slowed down.
    assert failures_of(console.database_url, f"user:{username}") == 0


def test_one_address_trying_many_accounts_is_slowed_down_and_others_are_not(
    console: Console,
) -> None:
    username = new_staff(console)
    sprayer = browser_at()
    statuses = []
    for _ in range(FREE_FAILURES_PER_ADDRESS + 3):
        # A new user name each time: no account reaches its own limit.
        _, answer = console.log_in(f"guess-{uuid.uuid4().hex[:6]}", "Summer2026!!", sprayer)
        statuses.append(answer.status_code)
    assert statuses[:FREE_FAILURES_PER_ADDRESS] == [401] * FREE_FAILURES_PER_ADDRESS
    assert 429 in statuses
    _, answer = console.log_in(username, PASSWORD, sprayer)
    assert answer.status_code == 429  # even a right password waits from this address
    _, answer = console.log_in(username, PASSWORD)  # another address: at once
    assert answer.status_code == 303


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_concurrent_failures_are_all_counted(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'handoffs.db'}"
        if database == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    key = f"user:race-{uuid.uuid4().hex[:6]}"
    threads, per_thread = 6, 15

    def fail() -> None:
        for _ in range(per_thread):
            count_failure(url, key, utcnow())

    workers = [threading.Thread(target=fail) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures_of(url, key) == threads * per_thread


# ---- 8. Sessions: idle timeout, disabled and removed accounts, Secure cookies, HSTS ----


def test_an_idle_session_ends_and_a_used_one_does_not(console: Console) -> None:
    username = new_staff(console)
    used, _ = console.log_in(username)
    idle, _ = console.log_in(username)
    started = time.monotonic()
    while time.monotonic() - started < IDLE_SECONDS + 1.5:
        assert used.get(f"{console.url}/requests", timeout=10).status_code == 200
        time.sleep(0.5)
    assert used.get(f"{console.url}/requests", timeout=10).status_code == 200
    answer = idle.get(f"{console.url}/requests", allow_redirects=False, timeout=10)
    assert answer.status_code == 303 and answer.headers["Location"] == "/login"


def test_a_disabled_account_is_logged_out_and_cannot_log_in(console: Console) -> None:
    username = new_staff(console)
    browser, _ = console.log_in(username)
    assert browser.get(f"{console.url}/requests", timeout=10).status_code == 200

    done = console.cli("console.users", "disable", username)
    assert done.returncode == 0, done.stderr
    assert "1 session(s) ended" in done.stdout
    answer = browser.get(f"{console.url}/requests", allow_redirects=False, timeout=10)
    assert answer.status_code == 303
    _, answer = console.log_in(username)
    assert answer.status_code == 401 and "Wrong user name or password." in answer.text

    assert console.cli("console.users", "enable", username).returncode == 0
    _, answer = console.log_in(username)
    assert answer.status_code == 303


def test_a_removed_account_has_no_working_session_on_sqlite(console: Console) -> None:
    removed_by_cli, kept_row = new_staff(console), new_staff(console)
    first, _ = console.log_in(removed_by_cli)
    second, _ = console.log_in(kept_row)
    done = console.cli("console.users", "remove", removed_by_cli)
    assert done.returncode == 0, done.stderr
    assert (
        first.get(f"{console.url}/requests", allow_redirects=False, timeout=10).status_code == 303
    )
    # Deleted by hand, sessions left behind (SQLite enforces no foreign key): no access.
    with sqlite3.connect(console.database_url.removeprefix("sqlite:///")) as connection:
        connection.execute("DELETE FROM console_staff WHERE username = ?", (kept_row,))
        left = connection.execute(
            "SELECT COUNT(*) FROM console_sessions s WHERE NOT EXISTS "
            "(SELECT 1 FROM console_staff u WHERE u.id = s.user_id)"
        ).fetchone()[0]
    assert left >= 1
    answer = second.get(f"{console.url}/requests", allow_redirects=False, timeout=10)
    assert answer.status_code == 303


def test_cookies_are_secure_and_hsts_is_sent_unless_explicitly_local(tmp_path: Path) -> None:
    import os

    env = {key: value for key, value in os.environ.items() if key != "CART_CONSOLE_SECURE_COOKIES"}
    env |= {
        "CART_DATABASE_URL": f"sqlite:///{tmp_path / 'handoffs.db'}",
        "CART_RASA_API_TOKEN": "not-used-here",
    }
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serve_module(tmp_path, "console.server", ["--port", str(port)], f"{url}/healthz", env):
        answer = requests.get(f"{url}/login", timeout=10)
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
    cookie = answer.headers["Set-Cookie"]
    # The log-in form's CSRF cookie: __Host- (Secure, this host only, Path=/).
    assert cookie.startswith("__Host-cart_console_login=")
    assert "Secure" in cookie and "Path=/" in cookie and "Domain" not in cookie

    # Turned off, the console serves loopback only.
    refused = subprocess.run(
        [sys.executable, "-m", "console.server", "--host", "0.0.0.0", "--port", str(free_port())],
        cwd=ROOT,
        env={**env, "CART_CONSOLE_SECURE_COOKIES": "false", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1 and "loopback only" in refused.stderr


# ---- 9. Roles and the audit log ----


def test_coordinators_see_open_requests_and_admins_also_closed_ones_and_the_audit_log(
    console: Console,
) -> None:
    closed, still_open = new_request(console.database_url), new_request(console.database_url)
    inbox.record(console.database_url, closed, "someone", "status", "closed")
    coordinator, _ = console.log_in(new_staff(console, "coordinator"))
    admin, _ = console.log_in(new_staff(console, "admin"))

    assert coordinator.get(f"{console.url}/requests/{still_open}", timeout=10).status_code == 200
    for path in (f"/requests/{closed}", "/requests?status=closed", "/audit"):
        assert coordinator.get(f"{console.url}{path}", timeout=10).status_code == 403, path
    everything = coordinator.get(f"{console.url}/requests?status=all", timeout=10).text
    assert still_open in everything and closed not in everything

    for path in (f"/requests/{closed}", "/requests?status=closed", "/audit"):
        assert admin.get(f"{console.url}{path}", timeout=10).status_code == 200, path
    assert closed in admin.get(f"{console.url}/requests?status=all", timeout=10).text


def test_the_review_queue_and_insights_are_for_every_staff_role_and_nobody_else(
    console: Console,
) -> None:
    """The decision per page: the review queue shows masked messages, which coordinators
    label (their daily work), so coordinators and admins; insights shows counts only, so
    all staff. Those are the console's two roles: neither page is admin-only, and both
    stay behind the log-in."""
    from console import feedback_store

    sender = f"family-{uuid.uuid4().hex[:8]}"
    with feedback_store.store(console.database_url) as session, session.begin():
        item = feedback_store.ReviewItem(
            conversation_id=sender, user_event_id=1, reason="not_understood",
            text=f"what does {sender} mean for [NAME]")  # fmt: skip
        session.add(item)
        session.flush()
        item_id = item.id
    for role in ("coordinator", "admin"):
        browser, _ = console.log_in(new_staff(console, role))
        queue = browser.get(f"{console.url}/review?status=all", timeout=30)
        assert queue.status_code == 200 and sender in queue.text, role
        labelled = browser.post(
            f"{console.url}/review/{item_id}/label",
            data={"label": "reviewed", "view": "all",
                  "csrf_token": csrf_of(browser, f"{console.url}/review?status=all")},
            allow_redirects=False, timeout=30,
        )  # fmt: skip
        assert labelled.status_code == 303, (role, labelled.text)
        for path in ("/insights", "/insights.csv"):
            assert browser.get(f"{console.url}{path}", timeout=30).status_code == 200, (role, path)
    assert feedback_store.find_item(console.database_url, item_id).status == "reviewed"
    stranger = browser_at()
    for path in ("/review", "/insights", "/insights.csv"):
        answer = stranger.get(f"{console.url}{path}", allow_redirects=False, timeout=10)
        assert answer.status_code in (302, 303) and "/login" in answer.headers["Location"], path
        assert sender not in answer.text


def test_reads_and_changes_are_audited_and_the_log_outlives_the_request(console: Console) -> None:
    sender = f"family-{uuid.uuid4().hex[:8]}"
    reference = new_request(console.database_url, sender)
    username = new_staff(console)
    browser, _ = console.log_in(username)
    url = f"{console.url}/requests/{reference}"
    browser.get(url, timeout=10)
    csrf = csrf_of(browser, url)
    for action, field, value in (
        ("status", "status", "in_progress"),
        ("notes", "note", "Called Rosa"),
    ):
        browser.post(
            f"{url}/{action}",
            data={field: value, "csrf_token": csrf},
            allow_redirects=False,
            timeout=10,
        )

    def logged() -> list[tuple[str, str, str]]:
        rows = audit.entries(console.database_url, reference)
        return [(e.actor, e.action, e.detail) for e in reversed(rows)]

    assert logged()[:4] == [
        (username, "viewed", ""),
        (username, "viewed", ""),
        (username, "status", "new → in_progress"),
        (username, "note", "11 characters"),  # the note itself is not in the audit log
    ]
    admin, _ = console.log_in(new_staff(console, "admin"))
    page = admin.get(f"{console.url}/audit", params={"reference": reference}, timeout=10).text
    assert f"<td>{username}</td>" in page and "new → in_progress" in page

    assert forget(console.database_url, console.tracker_url, sender).requests == 1
    assert inbox.find_request(console.database_url, reference) is None
    assert [action for _, action, _ in logged()] == [
        "viewed", "viewed", "status", "note", "forgotten",
    ]  # fmt: skip
    assert "Rosa" not in repr(logged())


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_audit_log_cannot_be_changed_or_deleted(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'handoffs.db'}"
        if database == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    audit.record(url, "alex", "viewed", "CT-2026-00001")
    engine = ensure_schema(url)
    for statement in (
        "UPDATE console_audit_log SET actor = 'someone else'",
        "DELETE FROM console_audit_log",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    assert [e.actor for e in audit.entries(url)] == ["alex"]


# ---- 10. Retention: what is erased and what is not; open requests expire; scheduled ----


def test_purge_expires_old_open_requests_and_says_what_it_does_not_erase(
    console: Console,
) -> None:
    old_open, recent_open = new_request(console.database_url), new_request(console.database_url)
    with session_for(console.database_url) as session, session.begin():
        session.execute(
            update(HandoffRequest)
            .where(HandoffRequest.reference == old_open)
            .values(created_at=utcnow() - timedelta(days=31))
        )
    done = subprocess.run(
        [sys.executable, "-m", "console.retention", "purge"],
        cwd=ROOT,
        env={**console.env, "CART_OPEN_REQUEST_DAYS": "30", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "(1 never closed)" in done.stdout
    not_erased = done.stdout.split("Not erased:", 1)[1]
    for kept in ("emails already delivered", "var/local-mail.log", "audit log",
                 "other conversations", "backups", "in-memory"):  # fmt: skip
        assert kept in not_erased, kept
    assert inbox.find_request(console.database_url, old_open) is None
    assert inbox.find_request(console.database_url, recent_open) is not None
    # The newest entry (on a database made before sqlite_autoincrement, a reference may recur).
    assert audit.entries(console.database_url, old_open)[0].action == "expired"


def test_forget_says_what_it_erased_and_what_it_cannot(console: Console) -> None:
    sender = f"family-{uuid.uuid4().hex[:8]}"
    new_request(console.database_url, sender)
    done = console.cli("console.retention", "forget", sender)
    assert done.returncode == 0, done.stderr
    assert "Erased 1 request(s)" in done.stdout
    assert "Not erased:" in done.stdout and "other conversations" in done.stdout


def test_the_deploy_files_schedule_the_purge() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    purge = compose["services"]["purge"]
    command = " ".join(purge["command"])
    assert "console.retention purge --every" in command
    assert purge.get("restart") == "unless-stopped"
    cronjob = yaml.safe_load((ROOT / "deploy" / "helm" / "retention-cronjob.yaml").read_text())
    assert cronjob["kind"] == "CronJob"
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid" and spec["schedule"]
    [container] = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"][-3:] == ["-m", "console.retention", "purge"]
    settings = {e["name"] for e in container["env"]}
    assert {"CART_DATABASE_URL", "CART_TRACKER_URL"} <= settings


def test_a_database_from_before_gets_roles_and_idle_times(tmp_path: Path) -> None:
    """Accounts and sessions made by the previous version keep working."""
    path = tmp_path / "handoffs.db"
    with sqlite3.connect(path) as connection:
        connection.executescript(
            "CREATE TABLE console_staff (id INTEGER PRIMARY KEY, username VARCHAR(80) UNIQUE "
            "NOT NULL, display_name VARCHAR(200) NOT NULL, password_hash VARCHAR(255) NOT NULL, "
            "failed_logins INTEGER NOT NULL, locked_until DATETIME, created_at DATETIME NOT NULL);"
            "CREATE TABLE console_sessions (id INTEGER PRIMARY KEY, token_hash VARCHAR(64) "
            "UNIQUE NOT NULL, csrf_token VARCHAR(64) NOT NULL, user_id INTEGER NOT NULL, "
            "created_at DATETIME NOT NULL, expires_at DATETIME NOT NULL);"
            "INSERT INTO console_staff VALUES (1, 'old', 'Old', 'x', 0, NULL, "
            "'2026-01-01 00:00:00.000000');"
        )
    url = f"sqlite:///{path}"
    ensure_schema(url)
    create_user(url, "new-admin", "New", PASSWORD, "admin")
    with sqlite3.connect(path) as connection:
        roles = dict(connection.execute("SELECT username, role FROM console_staff"))
    assert roles == {"old": "coordinator", "new-admin": "admin"}
