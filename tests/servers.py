"""Starts the real action server and Rasa server on loopback for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.action_helper import ROOT

MODEL = ROOT / "models" / "cart-assistant.tar.gz"
RASA = ROOT / ".venv" / "bin" / "rasa"
PYTHON = ROOT / ".venv" / "bin" / "python"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def _wait(url: str, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


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
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "RASA_TELEMETRY_ENABLED": "false",
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
    }
    logs.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen] = []

    def spawn(name: str, command: list[str]) -> subprocess.Popen:
        with open(logs / f"{name}.log", "w") as log:  # the child keeps its own handle
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
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
        process = action_servers[-1]
        process.terminate()
        process.wait(timeout=20)

    try:
        action_server = spawn("action-server", action_command)
        action_servers.append(action_server)
        # As make run starts it: the API's token from the environment, never in argv.
        rasa_server = spawn(
            "rasa-server",
            [str(PYTHON), "-m", "components.rasa_server", "run", "--model", str(model),
             "--endpoints", "endpoints.yml", "--credentials", "credentials.yml",
             "--interface", "127.0.0.1", "--port", str(rasa_port),
             *(["--enable-api"] if api_token else [])],
        )  # fmt: skip
        if notification_worker:
            spawn(
                "notification-worker",
                [str(PYTHON), "-m", "actions.notify",
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
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
