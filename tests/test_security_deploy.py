"""Issue #15, items 3 and 12, in the deployment files: separate PostgreSQL roles for the
conversations and the handoff requests (deploy/postgres/init-roles.sh, run here against
the real PostgreSQL), data keys only for the processes that decrypt, a supported nginx
image, and secrets (.env) ignored by git."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg2
import pytest
import sqlalchemy as sa
import yaml
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from sqlalchemy.engine import make_url

from components.tracker_store import ProgramTrackerStore
from core.handoff_store import engine_for
from tests.action_helper import ROOT
from tests.conftest import POSTGRES_ADMIN_URL

DEPLOY = ROOT / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))


@dataclass
class Roles:
    tracker: str  # role and database of the conversations
    reader: str
    handoffs: str  # role and database of the handoff requests
    passwords: dict[str, str]

    def url(self, role: str, database: str) -> str:
        admin = make_url(POSTGRES_ADMIN_URL)
        return str(
            admin.set(
                drivername="postgresql+psycopg2",
                username=role,
                password=self.passwords[role],
                database=database,
            )
        )


@pytest.fixture(scope="module")
def roles() -> Iterator[Roles]:
    """The init script of the compose file's postgres service, on this machine's server."""
    suffix = uuid.uuid4().hex[:8]
    made = Roles(f"t_tracker_{suffix}", f"t_reader_{suffix}", f"t_handoffs_{suffix}", {})
    made.passwords = {name: secrets.token_urlsafe(16) for name in (made.tracker, made.reader,
                                                                    made.handoffs)}  # fmt: skip
    admin = make_url(POSTGRES_ADMIN_URL)
    env = {
        **os.environ,
        "PGHOST": admin.host or "127.0.0.1",
        "PGPORT": str(admin.port or 5432),
        "POSTGRES_USER": admin.username or "postgres",
        "TRACKER_DB": made.tracker,
        "TRACKER_READER_ROLE": made.reader,
        "HANDOFF_DB": made.handoffs,
        "TRACKER_DB_PASSWORD": made.passwords[made.tracker],
        "TRACKER_READER_DB_PASSWORD": made.passwords[made.reader],
        "HANDOFF_DB_PASSWORD": made.passwords[made.handoffs],
    }
    if admin.password:
        env["PGPASSWORD"] = admin.password
    done = subprocess.run(
        ["sh", str(DEPLOY / "postgres" / "init-roles.sh")],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    try:
        assert done.returncode == 0, done.stderr
        yield made
    finally:
        engine_for.cache_clear()
        connection = psycopg2.connect(POSTGRES_ADMIN_URL, connect_timeout=5)
        connection.autocommit = True
        with connection.cursor() as cursor:
            for database in (made.tracker, made.handoffs):
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (database,),
                )
                cursor.execute(f'DROP DATABASE IF EXISTS "{database}"')
            for role in (made.tracker, made.reader, made.handoffs):
                cursor.execute(f'DROP ROLE IF EXISTS "{role}"')
        connection.close()


def can_connect(url: str) -> bool:
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError as error:
        assert "permission denied for database" in str(error)
        return False
    finally:
        engine.dispose()


def test_each_role_reaches_its_own_database_only(
    roles: Roles, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker_url = roles.url(roles.tracker, roles.tracker)
    handoffs_url = roles.url(roles.handoffs, roles.handoffs)
    # The Rasa servers' role creates and writes the conversations ...
    monkeypatch.setenv("CART_TRACKER_URL", tracker_url)
    store = ProgramTrackerStore(domain=Domain.load(ROOT / "domain.yml"))
    tracker = asyncio.run(store.get_or_create_tracker("family"))
    tracker.update(UserUttered("hello"))
    asyncio.run(store.save(tracker))
    store.engine.dispose()
    # ... the handoff role creates and writes the requests' tables.
    engine_for(handoffs_url).dispose()

    # The console's reader reads the conversations, and cannot change them.
    reader = sa.create_engine(roles.url(roles.reader, roles.tracker))
    try:
        with reader.connect() as connection:
            count = connection.execute(sa.text("SELECT count(*) FROM events")).scalar()
            assert count == len(tracker.events)
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                connection.execute(sa.text("DELETE FROM events"))
    finally:
        reader.dispose()
    # Nobody reaches the other kind of data.
    assert not can_connect(roles.url(roles.tracker, roles.handoffs))
    assert not can_connect(roles.url(roles.reader, roles.handoffs))
    assert not can_connect(roles.url(roles.handoffs, roles.tracker))


def _env(service: str) -> dict[str, str]:
    return COMPOSE["services"][service].get("environment") or {}


def _role(url: str) -> tuple[str, str]:
    parsed = re.match(r"postgresql\+psycopg2://(\w+):\$\{[^}]+\}@postgres:5432/(\w+)$", url)
    assert parsed, url
    return parsed.group(1), parsed.group(2)


def test_compose_gives_roles_and_keys_only_to_the_processes_that_use_them() -> None:
    for rasa in ("rasa-1", "rasa-2", "rasa-staff"):
        env = _env(rasa)
        # Internet-facing: the conversations' role and keys, never the handoff requests'.
        assert _role(env["CART_TRACKER_URL"]) == ("cart_tracker", "cart_tracker")
        assert "CART_TRACKER_KEYS" in env
        assert not {"CART_DATA_KEYS", "CART_DATABASE_URL"} & set(env)
    for service in ("actions-1", "actions-2", "notify"):
        env = _env(service)
        assert _role(env["CART_DATABASE_URL"]) == ("cart_handoffs", "cart_handoffs")
        assert "CART_DATA_KEYS" in env
        assert not {"CART_TRACKER_KEYS", "CART_TRACKER_URL"} & set(env)
    console = _env("console")
    assert _role(console["CART_TRACKER_URL"]) == ("cart_tracker_reader", "cart_tracker")
    assert {"CART_DATA_KEYS", "CART_TRACKER_KEYS"} <= set(console)
    purge = _env("purge")  # deletes; decrypts nothing
    assert not {"CART_DATA_KEYS", "CART_TRACKER_KEYS"} & set(purge)
    # The action servers and the Rasa servers share the secret of the action calls.
    assert "CART_ACTION_SERVER_SECRET" in _env("actions-1") and "CART_ACTION_SERVER_SECRET" in (
        _env("rasa-1")
    )
    volumes = COMPOSE["services"]["postgres"]["volumes"]
    assert "./postgres/init-roles.sh:/docker-entrypoint-initdb.d/10-roles.sh:ro" in volumes


def test_the_nginx_image_is_a_supported_branch() -> None:
    image = COMPOSE["services"]["nginx"]["image"]
    name, _, tag = image.partition(":")
    assert name == "nginx"
    version = re.match(r"(\d+)\.(\d+)", tag)
    if version:  # a pinned branch: 1.28 was the oldest supported one when this was written
        assert (int(version.group(1)), int(version.group(2))) >= (1, 28), image
    else:
        assert tag.split("-")[0] in ("stable", "mainline"), image


def test_secrets_files_are_ignored_by_git() -> None:
    for path in (".env", "deploy/.env", ".env.production"):
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert ignored.returncode == 0, f"{path} is not ignored"


def _rasa_servers() -> list[str]:
    """The compose services that run a Rasa server: the Rasa image with its own CMD
    (components.rasa_server) or a command that starts it."""
    found = []
    for name, service in COMPOSE["services"].items():
        command = service.get("command")
        if service.get("image") == "cart-assistant-rasa" and (
            command is None or "components.rasa_server" in command
        ):
            found.append(name)
    return found


def test_every_rasa_server_signs_conversation_ids_with_the_one_key_from_env() -> None:
    # channels/session_ids.py: a server whose key differs refuses the id another issued,
    # so a family reconnecting through another replica would start a new conversation.
    servers = _rasa_servers()
    assert {"rasa-1", "rasa-2", "rasa-staff"} <= set(servers)
    for name in servers:
        assert _env(name).get("CART_SESSION_KEY") == "${CART_SESSION_KEY:?set in .env}", name
    # Processes that issue no ids do not hold the key.
    for name in ("actions-1", "notify", "console", "purge"):
        assert "CART_SESSION_KEY" not in _env(name), name
    values = yaml.safe_load((DEPLOY / "helm" / "rasa-values.yaml").read_text(encoding="utf-8"))
    from_secret = {entry["name"]: entry.get("valueFrom") for entry in values["extraEnv"]}
    # One Kubernetes secret for all replicas, never a literal value in the file.
    assert from_secret.get("CART_SESSION_KEY") == {
        "secretKeyRef": {"name": "cart-assistant", "key": "session-key"}
    }
    assert values["replicaCount"] >= 2
    action_env = {entry["name"] for entry in values["rasa-action-server"]["extraEnv"]}
    assert "CART_SESSION_KEY" not in action_env
