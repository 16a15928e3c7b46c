"""The scaled set-up on this machine: N Rasa servers and M action servers behind nginx,
sharing PostgreSQL (conversations and handoff requests) and Redis (conversation locks).

    make scale             # 2 Rasa servers + 2 action servers + nginx, until Ctrl-C

Families' entry: http://127.0.0.1:5080 (socket.io at /socket.io/ only: REST is not
exposed, the load tests add it with `expose_rest`). Databases: CART_SCALED_POSTGRES_URL
and CART_SCALED_REDIS_URL (core/settings.py), or CART_TRACKER_URL / CART_DATABASE_URL /
CART_LOCK_STORE_URL if set. The same code starts the set-up for the tests
(tests/test_scale.py) and the benchmark (`make bench-scaled`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.settings import load_scaled_setup_settings  # noqa: E402
from tests.servers import MODEL, RASA, free_port  # noqa: E402

NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "cart-assistant.conf.template"
# REST through nginx, for the load tests only: the widget speaks socket.io, and REST takes
# any conversation id its caller names.
REST_LOCATION = """        location = /webhooks/rest/webhook {
            proxy_pass http://rasa_any;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }"""
PYTHON = ROOT / ".venv" / "bin" / "python"


@dataclass
class ScaledStack:
    url: str  # nginx: what families reach
    rasa_urls: list[str]
    action_urls: list[str]
    logs: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def kill(self, name: str) -> None:
        """SIGKILL, as a crash would: no clean shut-down."""
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def pid(self, name: str) -> int:
        return self.processes[name].pid


def render_nginx_config(
    prefix: str,
    listen: str,
    actions_listen: str,
    rasa: list[str],
    actions: list[str],
    expose_rest: bool = False,
) -> str:
    """deploy/nginx/cart-assistant.conf.template with these addresses filled in."""
    return Template(NGINX_TEMPLATE.read_text()).safe_substitute(
        REST_LOCATION=REST_LOCATION if expose_rest else "",
        PREFIX=prefix,
        LISTEN=listen,
        ACTIONS_LISTEN=actions_listen,
        RASA_SERVERS="\n".join(f"        server {address};" for address in rasa),
        ACTION_SERVERS="\n".join(f"        server {address};" for address in actions),
    )


def compose_nginx_config() -> str:
    """The same configuration for deploy/docker-compose.yml's service names."""
    return render_nginx_config(
        "/var/cache/nginx", "8080", "5055", ["rasa-1:5005", "rasa-2:5005"],
        ["actions-1:5055", "actions-2:5055"],
    )  # fmt: skip


def nginx_binary() -> str:
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(found).exists():
        raise RuntimeError("nginx is missing: run scripts/ensure-nginx (make scale does it)")
    return found


def ensure_postgres_database(url: str) -> None:
    """Creates the database if it is missing (a local PostgreSQL with trust auth)."""
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": target.database},
            ).first()
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()


def shared_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every server of the set-up shares."""
    settings = load_scaled_setup_settings()
    merged = {**os.environ, **(env or {})}
    database = merged.get("CART_TRACKER_URL") or settings.postgres_url
    return {
        **merged,
        "PYTHONPATH": str(ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "RASA_TELEMETRY_ENABLED": "false",
        "SANIC_HOST": "127.0.0.1",
        "CART_TRACKER_URL": database,
        "CART_DATABASE_URL": merged.get("CART_DATABASE_URL") or database,
        "CART_LOCK_STORE_URL": merged.get("CART_LOCK_STORE_URL") or settings.redis_url,
        # nginx is the families' peer: its X-Forwarded-For names their address.
        "CART_TRUSTED_PROXIES": merged.get("CART_TRUSTED_PROXIES") or "127.0.0.1",
    }


def _wait(url: str, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: exited with {process.returncode}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


@contextmanager
def scaled_stack(
    logs: Path,
    env: dict[str, str] | None = None,
    rasa_servers: int | None = None,
    action_servers: int | None = None,
    port: int | None = None,
    model: Path = MODEL,
    expose_rest: bool = False,
) -> Iterator[ScaledStack]:
    """`expose_rest`: REST through nginx too (load tests); families' set-ups do not."""
    settings = load_scaled_setup_settings()
    rasa_count = rasa_servers or settings.rasa_servers
    action_count = action_servers or settings.action_servers
    if not model.exists():
        raise RuntimeError(f"{model} is missing: run `make train`.")
    logs.mkdir(parents=True, exist_ok=True)
    environment = shared_env(env)
    for url in {environment["CART_TRACKER_URL"], environment["CART_DATABASE_URL"]}:
        if make_url(url).get_backend_name() == "postgresql":
            ensure_postgres_database(url)
    # The handoff tables once, before several action servers could race to create them.
    subprocess.run(
        [str(PYTHON), "-c", "import sys; from core.handoff_store import engine_for; "
         "engine_for(sys.argv[1])", environment["CART_DATABASE_URL"]],
        cwd=ROOT, env=environment, check=True,
    )  # fmt: skip

    listen = port or free_port()
    actions_listen = free_port()
    rasa_ports = [free_port() for _ in range(rasa_count)]
    action_ports = [free_port() for _ in range(action_count)]
    environment["ACTION_ENDPOINT_URL"] = f"http://127.0.0.1:{actions_listen}/webhook"
    stack = ScaledStack(
        url=f"http://127.0.0.1:{listen}",
        rasa_urls=[f"http://127.0.0.1:{p}" for p in rasa_ports],
        action_urls=[f"http://127.0.0.1:{p}" for p in action_ports],
        logs=logs,
        env=environment,
    )

    def spawn(name: str, command: list[str]) -> subprocess.Popen:
        with open(logs / f"{name}.log", "w") as log:
            process = subprocess.Popen(
                command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
            )
        stack.processes[name] = process
        return process

    try:
        prefix = logs / "nginx"
        for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (prefix / temp).mkdir(parents=True, exist_ok=True)
        config = render_nginx_config(
            str(prefix),
            f"127.0.0.1:{listen}",
            f"127.0.0.1:{actions_listen}",
            [f"127.0.0.1:{p}" for p in rasa_ports],
            [f"127.0.0.1:{p}" for p in action_ports],
            expose_rest,
        )
        (prefix / "nginx.conf").write_text(config)
        spawn("nginx", [nginx_binary(), "-p", str(prefix), "-e", str(prefix / "error.log"),
                        "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"])  # fmt: skip
        for n, action_port in enumerate(action_ports, 1):
            spawn(f"action-server-{n}", [str(RASA), "run", "actions", "--actions", "actions",
                                        "--port", str(action_port)])  # fmt: skip
        for n, action_port in enumerate(action_ports, 1):
            _wait(f"http://127.0.0.1:{action_port}/health", stack.processes[f"action-server-{n}"],
                  120)  # fmt: skip
        # One after the other: the first creates the tracker store's tables.
        for n, rasa_port in enumerate(rasa_ports, 1):
            process = spawn(
                f"rasa-server-{n}",
                # The project's Rasa entry (version check, patches) and the deployment's
                # endpoints: the action servers' address from ACTION_ENDPOINT_URL.
                [str(PYTHON), "-m", "components.rasa_server", "run", "--model", str(model),
                 "--endpoints", "deploy/endpoints.yml",
                 "--credentials", "credentials.yml", "--interface", "127.0.0.1",
                 "--port", str(rasa_port),
                 # The HTTP API for the console's takeover, only with a token (internal
                 # ports; nginx never routes it).
                 *(["--enable-api"] if environment.get("CART_RASA_API_TOKEN") else [])],
            )  # fmt: skip
            if n == 1:
                _wait(f"http://127.0.0.1:{rasa_port}/", process, 180)
        for n, rasa_port in enumerate(rasa_ports, 1):
            _wait(f"http://127.0.0.1:{rasa_port}/", stack.processes[f"rasa-server-{n}"], 180)
        _wait(f"{stack.url}/health", stack.processes["nginx"], 30)
        yield stack
    finally:
        for process in stack.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in stack.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> int:
    if sys.argv[1:] == ["--compose-nginx-config"]:
        print(compose_nginx_config(), end="")
        return 0
    settings = load_scaled_setup_settings()
    logs = ROOT / "var" / "scaled"
    print(f"Starting {settings.rasa_servers} Rasa servers and {settings.action_servers} action "
          f"servers behind nginx (logs: {logs})...")  # fmt: skip
    with scaled_stack(logs, port=settings.port) as stack:
        print(f"""Ready.
  Families' entry (nginx):  {stack.url}/  socket.io at /socket.io/ (REST not exposed)
  Rasa servers:             {", ".join(stack.rasa_urls)}
  Action servers:           {", ".join(stack.action_urls)}
  Conversations:            {stack.env["CART_TRACKER_URL"]}
  Handoff requests:         {stack.env["CART_DATABASE_URL"]}
  Conversation locks:       {stack.env["CART_LOCK_STORE_URL"]}
Try:  curl -s {stack.url}/health; REST on a Rasa server directly: curl -s -XPOST \\
        {stack.rasa_urls[0]}/webhooks/rest/webhook -d '{{"sender":"me","message":"what is car t"}}'
Stop with Ctrl-C.""")  # fmt: skip
        try:
            while all(p.poll() is None for p in stack.processes.values()):
                time.sleep(1)
            print("A server stopped; see its log.", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
