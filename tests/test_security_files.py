"""Issue #15, item 12: local files that hold what families wrote are the project user's
only (directories 0700, files 0600, whatever the umask), and database errors do not carry
the values of the statement (SQLAlchemy's hide_parameters)."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered

from components.tracker_store import ProgramTrackerStore
from console import insights, retention, tracker_events
from core.data_protection import _local_key
from core.handoff_store import engine_for
from scripts.devstack import spawn
from tests.action_helper import ROOT

SECRET = "Maria Lopez 617-555-0123"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """A typical umask (022): without explicit modes, new files would be world-readable."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def tracker_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ProgramTrackerStore:
    monkeypatch.setenv("CART_TRACKER_URL", f"sqlite:///{tmp_path / 'var' / 'conversations.db'}")
    return ProgramTrackerStore(domain=Domain.load(ROOT / "domain.yml"))


def test_the_conversations_database_and_its_journal_are_private(
    tmp_path: Path, tracker_store: ProgramTrackerStore
) -> None:
    tracker = asyncio.run(tracker_store.get_or_create_tracker("family"))
    tracker.update(UserUttered("hello"))
    asyncio.run(tracker_store.save(tracker))
    var = tmp_path / "var"
    assert mode(var) == 0o700
    files = sorted(var.iterdir())
    assert {p.name for p in files} >= {"conversations.db", "conversations.db-wal"}
    for path in files:
        assert mode(path) == 0o600, path


def test_the_handoff_database_and_the_local_data_key_are_private(tmp_path: Path) -> None:
    database = tmp_path / "var" / "handoffs.db"
    engine_for(f"sqlite:///{database}").dispose()
    assert mode(database) == 0o600 and mode(database.parent) == 0o700
    key = tmp_path / "keys" / "data-key"
    _local_key(key)
    assert mode(key) == 0o600 and mode(key.parent) == 0o700


def test_the_local_stack_writes_its_logs_and_the_mail_log_privately(tmp_path: Path) -> None:
    """`make run` (scripts/devstack.py) sends each server's output, the local mail
    catcher's (an inbox of what families wrote) included, to a log under var/."""
    log = tmp_path / "var" / "local-mail.log"
    process = spawn([sys.executable, "-c", "print('a coordinator email')"], dict(os.environ), log)
    assert process.wait(timeout=30) == 0
    assert "a coordinator email" in log.read_text()
    assert mode(log) == 0o600


def test_an_existing_world_readable_database_is_made_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "conversations.db"
    database.touch(mode=0o644)
    monkeypatch.setenv("CART_TRACKER_URL", f"sqlite:///{database}")
    ProgramTrackerStore(domain=Domain.load(ROOT / "domain.yml"))
    assert mode(database) == 0o600


def test_database_errors_do_not_carry_the_values(
    tmp_path: Path, tracker_store: ProgramTrackerStore
) -> None:
    failing = sa.text("INSERT INTO no_such_table (name) VALUES (:name)")
    tracker_url = f"sqlite:///{tmp_path / 'conversations.db'}"
    engines = [
        tracker_store.engine,
        engine_for(f"sqlite:///{tmp_path / 'handoffs.db'}"),
        # The console's own readers of the conversations, and the retention commands.
        tracker_events.engine(tracker_url),
        insights.tracker_engine(tracker_url),
        retention.tracker_engine(tracker_url),
    ]
    for engine in engines:
        with engine.connect() as connection, pytest.raises(sa.exc.OperationalError) as error:
            connection.execute(failing, {"name": SECRET})
        assert "no such table" in str(error.value)
        assert SECRET not in str(error.value)
        assert "hidden" in str(error.value)  # SQLAlchemy says so instead
    for engine in engines[2:]:
        engine.dispose()  # the console's cached engines: no file left open in tmp_path
