"""Rasa's patches in one guarded place (components/rasa_fixes.py), the private Rasa names
the project relies on (canaries: they fail first on a Rasa upgrade), and Rasa's own
commands working in the project as Rasa's docs teach (endpoints.yml with local defaults).

docs/rasa-patches.md lists each patch and subclass these tests pin."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from scripts.devstack import free_port, project_env, spawn, stop, wait_until_answers
from tests.action_helper import ROOT
from tests.servers import MODEL, RASA

PYTHON = sys.executable
DOCS = ROOT / "docs" / "rasa-patches.md"


def _run_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """A fresh interpreter in the project: patches applied in this one would hide a bug."""
    return subprocess.run(
        [PYTHON, "-c", code], cwd=ROOT, env=env or project_env(), capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip


def _env_without_project_settings() -> dict[str, str]:
    """As a staff member's terminal: none of the Makefile's or a deployment's settings, no
    PYTHONPATH (Rasa's CLI finds the project's modules from the working directory).
    Telemetry stays off: nothing leaves this machine, in tests either."""
    return {
        k: v for k, v in project_env().items()
        if not k.startswith(("CART_", "ACTION_", "RASA_HOST", "RASA_PORT", "SANIC_",
                             "PYTHONPATH"))
    }  # fmt: skip


# --- the guard ---------------------------------------------------------------------------


def test_only_the_supported_rasa_version_passes_the_guard() -> None:
    from components import rasa_fixes

    rasa_fixes.check_rasa_version()  # the installed one is the locked one
    for other in ("3.6.20", "3.7.0", "3.6.21rc1"):
        with pytest.raises(rasa_fixes.UnsupportedRasaVersion, match=re.escape(other)):
            rasa_fixes.check_rasa_version(other)


def test_the_entry_point_refuses_to_start_on_another_rasa_version(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """We cannot install another Rasa here: the installed one reports another version."""
    import rasa

    from components import rasa_server

    monkeypatch.setattr(rasa, "__version__", "3.7.0")
    with pytest.raises(SystemExit) as stopped:
        rasa_server.main(["run", "--help"])
    message = str(stopped.value.code)
    assert "Rasa 3.7.0 is installed" in message and "3.6.21" in message
    assert "usage:" not in capsys.readouterr().out  # Rasa itself never started


# One fresh interpreter for both ways Rasa starts (importing Rasa costs seconds): patches
# applied in the test process would hide a missing one.
BOTH_WAYS = """
import runpy, sys
import rasa.core.processor as processor
from rasa.core.actions.action import RemoteAction
from rasa.core.nlg import NaturalLanguageGenerator
from rasa.core.utils import read_endpoints_from_path
from rasa.shared.core.domain import Domain

original = (processor.DaskGraphRunner, RemoteAction._validate_action_result)

def patched():
    from components import rasa_fixes
    from components.graph_runner import SequentialGraphRunner
    return (processor.DaskGraphRunner is SequentialGraphRunner
            and RemoteAction._validate_action_result is rasa_fixes._validate_action_result)

assert not patched()
# 1. What a plain `rasa run`/`rasa shell` does: read endpoints.yml (no environment), then
#    create the NLG it names.
endpoints = read_endpoints_from_path("endpoints.yml")
NaturalLanguageGenerator.create(endpoints.nlg, Domain.empty())
from components import rasa_fixes
print("PLAIN", patched(), ",".join(rasa_fixes.applied), endpoints.action.url)

# 2. The entry point, from an unpatched Rasa again.
processor.DaskGraphRunner, RemoteAction._validate_action_result = original
rasa_fixes.applied.clear()
assert not patched()
sys.argv = ["components.rasa_server", "--version"]
try:
    runpy.run_module("components.rasa_server", run_name="__main__")
except SystemExit:
    pass
print("ENTRY", patched(), ",".join(rasa_fixes.applied))
"""


def test_rasa_gets_every_patch_through_the_entry_point_and_through_plain_rasa_run() -> None:
    result = _run_python(BOTH_WAYS, env=_env_without_project_settings())
    assert result.returncode == 0, result.stderr[-3000:]
    every = ",".join(
        [
            "action-result-validation",
            "sequential-graph-runner",
            "spacy-model-once",
            "windowed-action-call",
        ]
    )
    assert f"PLAIN True {every} http://127.0.0.1:5055/webhook" in result.stdout  # local default
    assert f"ENTRY True {every}" in result.stdout


def test_every_patch_has_its_section_in_the_docs() -> None:
    from components import rasa_fixes

    text = DOCS.read_text(encoding="utf-8")
    for name in rasa_fixes.PATCHES:
        assert f"`{name}`" in text, f"docs/rasa-patches.md does not describe {name}"


def test_no_module_but_rasa_fixes_assigns_to_rasa() -> None:
    """One guarded place: a monkeypatch anywhere else would escape the version check."""
    pattern = re.compile(
        r"^\s*(?:rasa\.[\w.]+|(?:RemoteAction|MessageProcessor|SQLTrackerStore|"
        r"SocketIOInput|SocketIOOutput|DaskGraphRunner|RedisLockStore|"
        r"TemplatedNaturalLanguageGenerator)\.\w+)\s*=[^=]",
        flags=re.MULTILINE,
    )
    for folder in ("components", "channels", "actions", "core", "console", "web"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "rasa_fixes.py":
                continue
            text = path.read_text(encoding="utf-8")
            assert not pattern.search(text), f"{path.relative_to(ROOT)} patches Rasa"
            assert "setattr(rasa" not in text, f"{path.relative_to(ROOT)} patches Rasa"


# --- canaries: the private Rasa names the project relies on -------------------------------


def _parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def test_canary_action_result_validation() -> None:
    from rasa.core.actions.action import RemoteAction

    original = inspect.getsource(RemoteAction)
    assert "def _validate_action_result(self, result: Dict[Text, Any]) -> bool" in original
    assert "jsonschema" in original or "validate(" in original
    assert isinstance(RemoteAction.action_response_format_spec(), dict)


def test_canary_graph_runner() -> None:
    import rasa.core.processor as processor
    from rasa.engine.runner.dask import DaskGraphRunner

    assert hasattr(processor, "DaskGraphRunner")
    # The model is loaded with the name looked up in rasa.core.processor at call time.
    assert "DaskGraphRunner" in inspect.getsource(processor.MessageProcessor._load_model)
    init = inspect.getsource(DaskGraphRunner.__init__)
    assert "self._graph_schema = graph_schema" in init
    assert "self._instantiated_nodes" in init
    assert _parameters(DaskGraphRunner.run) == ["self", "inputs", "targets"]


def test_canary_nlg_response_variables() -> None:
    from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator as Generator

    static = inspect.getattr_static(Generator, "_response_variables")
    assert isinstance(static, staticmethod)
    assert _parameters(Generator._response_variables) == ["filled_slots", "kwargs"]


def test_canary_sql_tracker_store() -> None:
    from rasa.core import tracker_store

    store = tracker_store.SQLTrackerStore
    assert hasattr(store, "SQLEvent") and hasattr(store, "session_scope")
    init = inspect.getsource(store.__init__)
    assert "self.engine = " in init and "self.sessionmaker = " in init
    assert "session_scope" in inspect.getsource(store.save)
    assert _parameters(tracker_store.create_engine_kwargs) == ["url"]


def test_canary_action_failure_log_message() -> None:
    """channels/action_server.py recognises a failed custom action by this log record."""
    from rasa.core.processor import MessageProcessor

    from channels.action_server import FAILURE_LOGGER, FAILURE_MESSAGE

    source = inspect.getsource(MessageProcessor._run_action)
    assert FAILURE_MESSAGE in source and "logger.exception(" in source
    assert inspect.getmodule(MessageProcessor).__name__ == FAILURE_LOGGER


def test_canary_socketio_channel() -> None:
    from rasa.core.channels import channel, socketio

    assert _parameters(socketio.SocketIOOutput._send_message) == [
        "self", "socket_id", "response",
    ]  # fmt: skip
    assert hasattr(socketio, "SocketBlueprint")
    # The bug channels/socketio.py works around: Rasa calls the coroutine without await.
    blueprint = inspect.getsource(socketio.SocketIOInput.blueprint)
    assert 'sio.enter_room(sid, data["session_id"])' in blueprint
    assert "await sio.enter_room" not in blueprint
    assert callable(channel.decode_bearer_token)


def test_canary_lock_store() -> None:
    from rasa.core import lock_store

    assert isinstance(lock_store.LOCK_LIFETIME, (int, float))
    redis_store = lock_store.RedisLockStore
    assert _parameters(redis_store.issue_ticket) == ["self", "conversation_id", "lock_lifetime"]
    assert _parameters(redis_store.update_lock) == ["self", "conversation_id"]
    assert _parameters(redis_store.cleanup) == ["self", "conversation_id", "ticket_number"]
    assert "self.red = " in inspect.getsource(redis_store.__init__)
    assert "wait_time_in_seconds" in _parameters(lock_store.LockStore.lock)


# --- Rasa's habits: endpoints.yml with local defaults, deploy/endpoints.yml from the env ----


def test_endpoints_yml_needs_no_environment_and_matches_the_deployments() -> None:
    local_text = (ROOT / "endpoints.yml").read_text(encoding="utf-8")
    assert "${" not in local_text  # Rasa stops on an unset variable
    local = yaml.safe_load(local_text)
    deployed = yaml.safe_load((ROOT / "deploy" / "endpoints.yml").read_text(encoding="utf-8"))
    assert local.keys() == deployed.keys()
    for key in local:
        if key == "action_endpoint":
            assert local[key]["url"] == "http://127.0.0.1:5055/webhook"
            assert deployed[key]["url"] == "${ACTION_ENDPOINT_URL}"
        else:
            assert local[key] == deployed[key], key


@pytest.mark.e2e
def test_plain_rasa_run_in_the_project_answers_on_loopback(tmp_path: Path) -> None:
    """`rasa run` from the project directory, with no settings in the environment, as a
    staff member following Rasa's docs would type it (a free port: others run tests)."""
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` (make test does it).")
    port = free_port()
    env = _env_without_project_settings()
    # Its own conversations, not the developer's var/conversations.db.
    env["CART_TRACKER_URL"] = f"sqlite:///{tmp_path / 'conversations.db'}"
    log = tmp_path / "rasa.log"
    process = spawn([str(RASA), "run", "--port", str(port)], env, log)
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/", process, 240)
        reply = requests.post(
            f"http://127.0.0.1:{port}/webhooks/rest/webhook",
            json={"sender": "plain-rasa-run", "message": "what is car t"},
            timeout=60,
        )
        assert reply.status_code == 200
        assert any("CAR" in m.get("text", "") for m in reply.json()), reply.json()
    finally:
        stop([process])
    output = log.read_text(errors="replace")
    assert "ACTION_ENDPOINT_URL" not in output
    assert os.path.exists(tmp_path / "conversations.db")
