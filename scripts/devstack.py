"""The local stack of `make run` and `make shell`, and the process helpers the tests use.

    python -m scripts.devstack run     Rasa server (REST and socket.io channels), action
                                       server, notification worker, local mail catcher,
                                       the families' web page and the coordinators' console
    python -m scripts.devstack shell   the same without the web page and console, and
                                       `rasa shell` for staff in this terminal (loopback)
    ... [--logs DIR]                   where the servers' output goes (default: var/)

What it promises staff:
- every process it starts stops with it: Ctrl-C, SIGTERM, and SIGHUP (the terminal
  window closed) all stop every child; so does the terminal going away when the SIGHUP
  went to make instead (`make shell` in a window of its own); a child also gets SIGTERM
  if this process is killed outright (PR_SET_PDEATHSIG), so no server is left holding a
  port;
- a port that is already taken gives one clear line on stderr and exit status 2, before
  anything starts;
- the terminal shows what staff need (addresses, "ready", how to stop); the servers'
  output, third-party deprecation warnings included, goes to the logs under var/.

One place for spawning, waiting and the servers' environment: tests/servers.py uses the
same helpers (`project_env`, `spawn`, `wait_until_answers`, `free_port`).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests

from core.private_files import private_directory, private_file

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
RASA = ROOT / ".venv" / "bin" / "rasa"
MODEL = ROOT / "models" / "cart-assistant.tar.gz"
# The servers' endpoints: the project's parts, addresses from the environment
# (ACTION_ENDPOINT_URL). endpoints.yml holds the same parts with local defaults.
ENDPOINTS = "deploy/endpoints.yml"
# Exit status when a port is taken: not 0, so `make run` fails visibly.
PORT_TAKEN = 2
STOP_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM)
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(host: str, port: int) -> bool:
    """Nothing listens on host:port (SO_REUSEADDR: a closed port in TIME_WAIT is free)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def project_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every server of the project starts with."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        # No telemetry or error reports leave this machine: families write about children.
        "RASA_TELEMETRY_ENABLED": "false",
        **(extra or {}),
    }


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the process that started it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def spawn(
    command: Sequence[str],
    env: dict[str, str],
    log: Path | None,
    *,
    own_group: bool = True,
    die_with_parent: bool = False,
    stdin: int | IO[Any] | None = subprocess.DEVNULL,
) -> subprocess.Popen:
    """Starts a child in the project directory, its output in `log` (or this terminal's).

    own_group: in a process group of its own, so `stop` reaches whatever it starts in
    turn and the terminal's Ctrl-C reaches only us (we stop it in order).
    die_with_parent: only for a spawning thread that lives as long as the stack (the
    signal follows the thread, not the process)."""
    # Logs (the local mail catcher's is an inbox) are the project user's only (0600).
    output = open(private_file(log), "ab") if log else None  # noqa: SIM115 - the child keeps its own handle
    try:
        return subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=env,
            stdin=stdin,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            start_new_session=own_group,
            preexec_fn=_die_with_parent if die_with_parent else None,
        )
    finally:
        if output:
            output.close()


def stop(processes: Sequence[subprocess.Popen], grace: float = 20) -> None:
    """SIGTERM to each process (and its group), then SIGKILL to whatever is left."""
    for process in processes:
        _signal(process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal(process, signal.SIGKILL)
            process.wait(timeout=10)


def _signal(process: subprocess.Popen, signum: int) -> None:
    if process.poll() is not None:
        return
    try:
        if os.getpgid(process.pid) == process.pid:  # its own group: reach its children too
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
    except ProcessLookupError:
        pass


def wait_until_answers(
    url: str,
    process: subprocess.Popen,
    seconds: float,
    check: Callable[[], None] | None = None,
) -> None:
    """Until `url` answers below 500; fails at once if the process exits first. `check`
    runs on every try (the stack's terminal watch: a window closed while the model loads)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check is not None:
            check()
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


@dataclass(frozen=True)
class Part:
    """One server of the stack: what it is, where it listens, how to start it."""

    name: str
    label: str  # what staff read in a message
    host: str
    port: int | None  # None: listens nowhere (the worker)
    variable: str  # the setting that moves it
    command: tuple[str, ...]
    health: str | None = None  # path that answers once it is ready

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class StackSettings:
    """The local stack's addresses: the same variables and defaults as core/settings.py
    and scripts/start-servers.sh always used."""

    rasa_host: str
    rasa_port: int
    action_host: str
    action_port: int
    web_host: str
    web_port: int
    console_host: str
    console_port: int
    smtp_host: str  # empty: a local mail catcher stands in
    smtp_port: int

    @classmethod
    def from_env(cls, env: dict[str, str]) -> StackSettings:
        def get(name: str, default: str) -> str:
            return (env.get(name) or "").strip() or default

        return cls(
            rasa_host=get("RASA_HOST", "127.0.0.1"),
            rasa_port=int(get("RASA_PORT", "5005")),
            action_host=get("ACTION_HOST", "127.0.0.1"),
            action_port=int(get("ACTION_PORT", "5055")),
            web_host=get("WEB_HOST", "127.0.0.1"),
            web_port=int(get("WEB_PORT", "8080")),
            console_host=get("CART_CONSOLE_HOST", "127.0.0.1"),
            console_port=int(get("CART_CONSOLE_PORT", "8081")),
            smtp_host=get("CART_SMTP_HOST", ""),
            smtp_port=int(get("CART_SMTP_PORT", "1025")),
        )


def api_token(env: dict[str, str]) -> str:
    """CART_RASA_API_TOKEN, or a random local one kept in var/ (the console's takeover)."""
    if env.get("CART_RASA_API_TOKEN"):
        return env["CART_RASA_API_TOKEN"]
    path = ROOT / "var" / "rasa-api-token"
    if not path.exists() or not path.read_text().strip():
        old = os.umask(0o077)
        try:
            path.write_text(secrets.token_urlsafe(32) + "\n")
        finally:
            os.umask(old)
    return path.read_text().strip()


def stack_env(mode: str, settings: StackSettings, base: dict[str, str]) -> dict[str, str]:
    console_url = base.get("CART_CONSOLE_URL") or (
        f"http://{settings.console_host}:{settings.console_port}"
    )
    return project_env(
        {
            **base,
            "RASA_HOST": settings.rasa_host,
            "RASA_PORT": str(settings.rasa_port),
            "WEB_HOST": settings.web_host,
            "WEB_PORT": str(settings.web_port),
            "ACTION_ENDPOINT_URL": base.get("ACTION_ENDPOINT_URL")
            or f"http://127.0.0.1:{settings.action_port}/webhook",
            "CART_RASA_API_TOKEN": api_token(base),
            "CART_CONSOLE_HOST": settings.console_host,
            "CART_CONSOLE_PORT": str(settings.console_port),
            "CART_CONSOLE_URL": console_url,
            # Plain HTTP on loopback: explicitly local, so no Secure cookies (the console
            # refuses that setting on any other host).
            "CART_CONSOLE_SECURE_COOKIES": base.get("CART_CONSOLE_SECURE_COOKIES") or "false",
            # rasa-sdk binds to SANIC_HOST (0.0.0.0 if unset): the action server is for
            # the Rasa server only, so loopback unless ACTION_HOST names an internal one.
            "SANIC_HOST": settings.action_host,
        }
    )


def parts(mode: str, settings: StackSettings, model: Path = MODEL) -> list[Part]:
    """The servers of `make run` ("run") or `make shell` ("shell"), in start order; the
    Rasa server of "run" last (the shell itself is started in the foreground)."""
    python = str(PYTHON)
    found = [
        Part("action-server", "Action server", settings.action_host, settings.action_port,
             "ACTION_PORT", (str(RASA), "run", "actions", "--actions", "actions",
                             "--port", str(settings.action_port)), "/health"),
        Part("notification-worker", "Notification worker", "", None, "",
             (python, "-m", "core.notify")),
    ]  # fmt: skip
    if not settings.smtp_host:
        # With no SMTP server configured, a local mail catcher stands in for the
        # coordinators' inbox (var/local-mail.log holds what families typed).
        found.append(
            Part("local-mail", "Local mail catcher", "127.0.0.1", settings.smtp_port,
                 "CART_SMTP_PORT", (python, "-m", "aiosmtpd", "-n", "-l",
                                    f"127.0.0.1:{settings.smtp_port}",
                                    "-c", "aiosmtpd.handlers.Debugging"))
        )  # fmt: skip
    if mode == "run":
        found += [
            Part("web", "Families' page", settings.web_host, settings.web_port, "WEB_PORT",
                 (python, "-m", "web.server"), "/"),
            Part("console", "Coordinators' console", settings.console_host,
                 settings.console_port, "CART_CONSOLE_PORT", (python, "-m", "console.server"),
                 "/healthz"),
            # The API's token comes from CART_RASA_API_TOKEN, never the command line (ps).
            Part("rasa-server", "Rasa server", settings.rasa_host, settings.rasa_port,
                 "RASA_PORT", rasa_command("run", settings, model) + (
                     "--credentials", "credentials.yml", "--enable-api"), "/"),
        ]  # fmt: skip
    else:
        # `rasa shell` runs its own Rasa server: checked here, started in the foreground.
        found.append(
            Part("rasa-shell", "Rasa shell's server", settings.rasa_host, settings.rasa_port,
                 "RASA_PORT", rasa_command("shell", settings, model))
        )
    return found


def rasa_command(mode: str, settings: StackSettings, model: Path = MODEL) -> tuple[str, ...]:
    """Rasa through the project's entry point (version check and patches applied)."""
    return (str(PYTHON), "-m", "components.rasa_server", mode, "--model", str(model),
            "--endpoints", ENDPOINTS, "--interface", settings.rasa_host,
            "--port", str(settings.rasa_port))  # fmt: skip


def taken_port(found: Sequence[Part]) -> Part | None:
    """The first part whose port something else already holds."""
    for part in found:
        if part.port is not None and not port_is_free(part.host or "127.0.0.1", part.port):
            return part
    return None


class _Stopped(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _on_stop_signal(signum: int, _frame: Any) -> None:
    # Further signals while stopping would interrupt the clean-up: ignore them.
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)
    raise _Stopped(signum)


def has_terminal() -> bool:
    """Does this process still have its controlling terminal? A closed window hangs the
    terminal up; the kernel then sends SIGHUP to the session leader only. Under `make
    shell` that is make, which waits for its children instead of passing it on, so the
    stack looks for itself."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError as error:
        # ENXIO/EIO: no terminal any more; anything else (too many open files) says nothing.
        return error.errno not in (errno.ENXIO, errno.EIO, errno.ENODEV)
    os.close(fd)
    return True


def _in_terminal_foreground() -> bool:
    """Started in the foreground of a terminal (`make run`), not as a background job
    (`make run &`, nohup, disown): only then does the terminal's end stop the stack."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)


class _TerminalWatch:
    """Raises _Stopped(SIGHUP) once the terminal the stack started in, in the foreground,
    is gone."""

    def __init__(self) -> None:
        self.had_terminal = _in_terminal_foreground()

    def check(self) -> None:
        if self.had_terminal and not has_terminal():
            for stop_signal in STOP_SIGNALS:
                signal.signal(stop_signal, signal.SIG_IGN)
            raise _Stopped(signal.SIGHUP)


def say(text: str, stream: IO[str] = sys.stdout) -> None:
    """A line for staff; nothing when the terminal is gone (SIGHUP: writes fail)."""
    with contextlib.suppress(OSError):
        print(text, file=stream, flush=True)


def banner(settings: StackSettings, env: dict[str, str], logs: Path) -> str:
    smtp = f"{settings.smtp_host or '127.0.0.1'}:{settings.smtp_port}"
    handoffs = env.get("CART_DATABASE_URL") or "var/handoffs.db (SQLite)"
    catcher = "" if settings.smtp_host else f" (local mail catcher: {logs}/local-mail.log)"
    rasa = f"http://{settings.rasa_host}:{settings.rasa_port}"
    return f"""The assistant is ready.
  Families' page:     http://{settings.web_host}:{settings.web_port}/  (the chat widget)
  Coordinators:       {env["CART_CONSOLE_URL"]}/  (accounts: make staff-user USERNAME=...)
  REST channel:       POST {rasa}/webhooks/rest/webhook  {{"sender": "...", "message": "..."}}
  socket.io channel:  {rasa}/socket.io
  Action server:      {env["ACTION_ENDPOINT_URL"]}
  Handoff requests:   {handoffs}; list them: make handoffs
  Coordinator email:  SMTP {smtp}{catcher}, retried until delivered
  Logs:               {logs}/*.log (each server's output and warnings)
Try:  curl -s -XPOST {rasa}/webhooks/rest/webhook -d '{{"sender":"me","message":"what is car t"}}'
Stop with Ctrl-C (closing this terminal stops everything too)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.devstack")
    parser.add_argument("mode", nargs="?", choices=["run", "shell"], default="run")
    parser.add_argument("--logs", type=Path, default=ROOT / "var", help="the servers' logs")
    arguments = parser.parse_args(argv)
    mode, logs = arguments.mode, arguments.logs.resolve()
    settings = StackSettings.from_env(dict(os.environ))
    found = parts(mode, settings)
    taken = taken_port(found)
    if taken is not None:
        say(
            f"Port {taken.port} ({taken.label}) is already in use: stop what holds it "
            f"(an earlier `make run` or `make shell`?) or set {taken.variable} to a free port.",
            sys.stderr,
        )
        return PORT_TAKEN
    if not MODEL.exists():
        say(f"{MODEL.relative_to(ROOT)} is missing: run `make train`.", sys.stderr)
        return 1
    private_directory(logs)
    private_directory(ROOT / "var")  # the API token's place
    env = stack_env(mode, settings, dict(os.environ))
    running: list[tuple[Part, subprocess.Popen]] = []
    previous = {s: signal.signal(s, _on_stop_signal) for s in STOP_SIGNALS}
    terminal = _TerminalWatch()
    try:
        say("Starting the assistant (loading the model takes about half a minute)...")
        for part in found:
            if part.name == "rasa-shell":
                continue
            log = logs / f"{part.name}.log"
            if part.name != "local-mail":  # the local inbox keeps earlier mail
                log.write_bytes(b"")
            running.append((part, spawn(part.command, env, log, die_with_parent=True)))
        for part, process in running:
            if part.health:  # a loopback probe also for a server bound to all addresses
                url = f"http://127.0.0.1:{part.port}{part.health}"
                wait_until_answers(url, process, 300, terminal.check)
        if mode == "shell":
            return _run_shell(found[-1], env, logs, running, terminal)
        say(banner(settings, env, _shown(logs)))
        return _watch(running, logs, terminal)
    except _Stopped as stopped:
        say(f"\n{stopped}: stopping the assistant.")
        return 128 + stopped.signum
    except (RuntimeError, TimeoutError) as error:
        say(f"Could not start: {error} (see {_shown(logs)}/*.log).", sys.stderr)
        return 1
    finally:
        for stop_signal in STOP_SIGNALS:
            signal.signal(stop_signal, signal.SIG_IGN)
        stop([process for _, process in reversed(running)])
        for stop_signal, handler in previous.items():
            signal.signal(stop_signal, handler)


def _shown(path: Path) -> Path:
    """A path as staff read it: relative to the project when it is inside."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _watch(
    running: list[tuple[Part, subprocess.Popen]], logs: Path, terminal: _TerminalWatch
) -> int:
    """Until a signal or a closed terminal stops the stack, or one of its servers exits
    (then: which, and why)."""
    while True:
        terminal.check()
        for part, process in running:
            if process.poll() is not None:
                say(
                    f"{part.label} stopped (exit {process.returncode}); its log: "
                    f"{_shown(logs)}/{part.name}.log. Stopping the others.",
                    sys.stderr,
                )
                return 1
        time.sleep(0.5)


def _run_shell(
    part: Part,
    env: dict[str, str],
    logs: Path,
    running: list[tuple[Part, subprocess.Popen]],
    terminal: _TerminalWatch,
) -> int:
    """`rasa shell` in this terminal: its answers here, its log lines and warnings in the log."""
    say("Rasa shell (bound to loopback): type a message; /stop ends the session.")
    log = logs / "rasa-shell.log"
    with open(log, "wb") as errors:
        shell = subprocess.Popen(
            part.command, cwd=ROOT, env=env, stdin=None, stdout=None, stderr=errors,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
    running.append((part, shell))  # stopped with the rest on a signal
    while (code := shell.poll()) is None:
        terminal.check()
        time.sleep(0.5)
    if code not in (0, -signal.SIGINT, 130):
        say(f"The Rasa shell stopped (exit {code}); its log: {_shown(log)}.", sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
