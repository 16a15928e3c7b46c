"""Issue #15, item 12: the action server answers only the Rasa servers, which send a shared
secret header (actions/secured_server.py, deploy/endpoints.yml). A real action server
on loopback; the Rasa side is Rasa's own EndpointConfig, read from deploy/endpoints.yml,
as the Rasa server calls its actions."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from rasa.utils.endpoints import ClientResponseError, read_endpoint_config

from tests.action_helper import ROOT
from tests.servers import free_port

SECRET = "s3cr3t-for-the-tests"
ACTION_CALL = {
    "next_action": "action_clear_prescreen",
    "sender_id": "family-1",
    "version": "3.1.0",
    "domain": {},
    "tracker": {
        "sender_id": "family-1",
        "slots": {},
        "latest_message": {},
        "events": [],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": None,
    },
}


def server_env(tmp_path: Path, **changes: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SANIC_HOST": "127.0.0.1",
        "CART_DATABASE_URL": f"sqlite:///{tmp_path / 'handoffs.db'}",
        "CART_ACTION_SERVER_SECRET": SECRET,
        **changes,
    }
    return {name: value for name, value in env.items() if value != ""}


@pytest.fixture(scope="module")
def action_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp_path = tmp_path_factory.mktemp("action-server")
    port = free_port()
    with open(tmp_path / "action-server.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "actions.secured_server", "--actions", "actions",
             "--port", str(port)],
            cwd=ROOT, env=server_env(tmp_path), stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (tmp_path / "action-server.log").read_text()
            try:
                if requests.get(f"{url}/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "the action server did not start"
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_call_without_the_secret_is_refused(action_url: str) -> None:
    assert requests.post(f"{action_url}/webhook", json=ACTION_CALL, timeout=10).status_code == 401
    wrong = {"X-Cart-Action-Secret": "v1:guess"}
    reply = requests.post(f"{action_url}/webhook", json=ACTION_CALL, headers=wrong, timeout=10)
    assert reply.status_code == 401
    assert "slot" not in reply.text
    # The health check stays open for the load balancer, and says nothing more.
    assert requests.get(f"{action_url}/health", timeout=10).json() == {"status": "ok"}


def _call_as_rasa(action_url: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("ACTION_ENDPOINT_URL", f"{action_url}/webhook")
    endpoint = read_endpoint_config(str(ROOT / "deploy" / "endpoints.yml"), "action_endpoint")
    return asyncio.run(endpoint.request(json=ACTION_CALL, method="post", timeout=10))


def test_the_rasa_server_sends_the_secret_from_its_endpoints(
    action_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CART_ACTION_SERVER_SECRET", SECRET)
    result = _call_as_rasa(action_url, monkeypatch)
    assert {e["event"] for e in result["events"]} == {"slot"}


def test_a_rasa_server_without_the_secret_is_refused(
    action_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CART_ACTION_SERVER_SECRET", raising=False)
    with pytest.raises(ClientResponseError) as refused:
        _call_as_rasa(action_url, monkeypatch)
    assert refused.value.status == 401


def test_without_a_secret_the_action_server_starts_on_loopback_only(tmp_path: Path) -> None:
    env = server_env(tmp_path, SANIC_HOST="0.0.0.0", CART_ACTION_SERVER_SECRET="")
    done = subprocess.run(
        [sys.executable, "-m", "actions.secured_server", "--actions", "actions",
         "--port", str(free_port())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "set CART_ACTION_SERVER_SECRET" in done.stderr
