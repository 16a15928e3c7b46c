"""Starts the real action server and Rasa server on loopback for end-to-end tests.

Spawning, waiting and the servers' environment come from the dev stack
(scripts/devstack.py), so the tests start the servers as `make run` does."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from scripts import devstack
from scripts.devstack import ENDPOINTS, MODEL, PYTHON, RASA, free_port, project_env, stop
from scripts.devstack import wait_until_answers as _wait
from tests.action_helper import ROOT

# What other modules import from here (kept as before the dev stack moved to scripts/).
__all__ = ["MODEL", "PYTHON", "RASA", "ROOT", "Servers", "_wait", "free_port", "running_servers"]


@dataclass
class Servers:
    rasa_url: str
    action_url: str
    logs: Path
    rasa_pid: int = 0
    action_pid: int = 0
    start_action_server: Callable[[], None] = field(default=lambda: None, repr=False)
    stop_action_server: Callable[[], None] = field(default=lambda: None, repr=False)

    def say(self, sender: str, message: object, timeout: float = 30) -> list[dict]:
        response = requests.post(
            f"{self.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": message},
            timeout=timeout,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def texts(self, sender: str, message: str) -> str:
        return "\n\n".join(m.get("text", "") for m in self.say(sender, message))

    def log_tail(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.logs.glob("*.log"))
        )


@contextmanager
def running_servers(
    logs: Path,
    extra_env: dict[str, str] | None = None,
    notification_worker: bool = False,
    cors: list[str] | None = None,
    api_token: str | None = None,
    model: Path = MODEL,
) -> Iterator[Servers]:
    """The action server and the Rasa server; `cors`: web page origins allowed to call it
    (CART_ALLOWED_ORIGINS); `api_token`: Rasa's HTTP API on, with this token (for the
    coordinators' console)."""
    if not model.exists():
        raise RuntimeError(f"{model} is missing: run `make train` (make test does it).")
    rasa_port, action_port = free_port(), free_port()
    env = project_env({
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{action_port}/webhook",
        "SANIC_HOST": "127.0.0.1",  # where rasa-sdk binds the action server, as make run does
        # Each set of servers keeps its conversations apart, unless a test shares them.
        "CART_TRACKER_URL": f"sqlite:///{logs / 'conversations.db'}",
        # Every test talks from 127.0.0.1, fast: the flood tests set their own limits.
        "CART_SENDER_MESSAGES_PER_MINUTE": "0",
        "CART_ADDRESS_MESSAGES_PER_MINUTE": "0",
        **({"CART_ALLOWED_ORIGINS": ",".join(cors)} if cors else {}),
        **({"CART_RASA_API_TOKEN": api_token} if api_token else {}),
        **(extra_env or {}),
    })  # fmt: skip
    logs.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen] = []

    def spawn(name: str, command: list[str]) -> subprocess.Popen:
        log = logs / f"{name}.log"
        log.write_bytes(b"")
        process = devstack.spawn(command, env, log)
        processes.append(process)
        return process

    action_command = [str(RASA), "run", "actions", "--actions", "actions"]
    action_command += ["--port", str(action_port)]
    action_servers: list[subprocess.Popen] = []

    def start_action_server() -> None:
        """(Again) on its port, waiting until it answers."""
        process = spawn(f"action-server-{len(action_servers)}", action_command)
        action_servers.append(process)
        _wait(f"http://127.0.0.1:{action_port}/health", process, 120)

    def stop_action_server() -> None:
        stop([action_servers[-1]])

    try:
        action_server = spawn("action-server", action_command)
        action_servers.append(action_server)
        # As make run starts it: the API's token from the environment, never in argv.
        rasa_server = spawn(
            "rasa-server",
            [str(PYTHON), "-m", "components.rasa_server", "run", "--model", str(model),
             "--endpoints", ENDPOINTS, "--credentials", "credentials.yml",
             "--interface", "127.0.0.1", "--port", str(rasa_port),
             *(["--enable-api"] if api_token else [])],
        )  # fmt: skip
        if notification_worker:
            spawn(
                "notification-worker",
                [str(PYTHON), "-m", "core.notify",
                 "--interval", "0.5"],
            )  # fmt: skip
        servers = Servers(
            f"http://127.0.0.1:{rasa_port}",
            f"http://127.0.0.1:{action_port}",
            logs,
            rasa_pid=rasa_server.pid,
            action_pid=action_server.pid,
            start_action_server=start_action_server,
            stop_action_server=stop_action_server,
        )
        _wait(f"{servers.action_url}/health", action_server, 120)
        _wait(f"{servers.rasa_url}/", rasa_server, 180)
        yield servers
    finally:
        stop(processes)
