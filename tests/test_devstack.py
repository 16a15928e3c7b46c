"""The local stack of `make run`/`make shell` (scripts/devstack.py), tried as staff use it:
closing the terminal stops every process it started; a taken port is one clear line and
a non-zero exit; the terminal shows the addresses, not the servers' warnings."""

from __future__ import annotations

import ast
import contextlib
import os
import pty
import queue
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scripts import devstack
from scripts.devstack import free_port, port_is_free, project_env
from tests.action_helper import ROOT
from tests.servers import MODEL

PORT_VARIABLES = ["RASA_PORT", "ACTION_PORT", "WEB_PORT", "CART_CONSOLE_PORT", "CART_SMTP_PORT"]


def _stack_env(tmp_path: Path, ports: dict[str, int]) -> dict[str, str]:
    """Free ports and the test's own databases: others run stacks and tests here too."""
    env = {k: v for k, v in project_env().items() if not k.startswith(("CART_", "ACTION_"))}
    env.update({name: str(port) for name, port in ports.items()})
    env.update(
        CART_TRACKER_URL=f"sqlite:///{tmp_path / 'conversations.db'}",
        CART_DATABASE_URL=f"sqlite:///{tmp_path / 'handoffs.db'}",
        CART_RASA_API_TOKEN="devstack-test-token",
        CART_DATA_KEYS=os.environ["CART_DATA_KEYS"],  # the tests' key (conftest.py)
    )
    return env


def _children(pid: int) -> set[int]:
    """The direct children of `pid`, from /proc (no psutil here)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with open(task / "children") as children:
            found |= {int(child) for child in children.read().split()}
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie holds no port and runs nothing


@pytest.fixture
def held_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_taken_port_gives_one_clear_line_and_a_non_zero_exit(
    tmp_path: Path, held_port: int
) -> None:
    ports = {name: free_port() for name in PORT_VARIABLES} | {"RASA_PORT": held_port}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "scripts.devstack", "run", "--logs", str(tmp_path / "logs")],
        cwd=ROOT, env=_stack_env(tmp_path, ports), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == devstack.PORT_TAKEN != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"Port {held_port} (Rasa server) is already in use" in lines[0]
    assert "RASA_PORT" in lines[0]
    assert not (tmp_path / "logs").exists()  # nothing was started
    assert time.monotonic() - started < 60


def test_each_part_of_the_stack_names_the_setting_that_moves_its_port() -> None:
    settings = devstack.StackSettings.from_env({"CART_SMTP_HOST": ""})
    parts = {part.name: part for part in devstack.parts("run", settings)}
    assert {p.variable for p in parts.values() if p.port} == set(PORT_VARIABLES)
    assert parts["rasa-server"].command[1:3] == ("-m", "components.rasa_server")
    assert "--credentials" in parts["rasa-server"].command


def test_the_staff_shell_binds_loopback_through_the_projects_entry_point() -> None:
    settings = devstack.StackSettings.from_env({})
    shell = devstack.parts("shell", settings)[-1]
    command = list(shell.command)
    assert command[1:4] == ["-m", "components.rasa_server", "shell"]
    assert command[command.index("--interface") + 1] == "127.0.0.1"
    assert command[command.index("--endpoints") + 1] == devstack.ENDPOINTS
    assert {p.name for p in devstack.parts("shell", settings)} == {
        "action-server", "notification-worker", "local-mail", "rasa-shell",
    }  # fmt: skip


def test_a_configured_smtp_server_replaces_the_local_mail_catcher() -> None:
    settings = devstack.StackSettings.from_env({"CART_SMTP_HOST": "mail.example.org"})
    assert "local-mail" not in {p.name for p in devstack.parts("run", settings)}


def _read_until(process: subprocess.Popen, marker: str, seconds: float) -> list[str]:
    """The process's output lines up to the one with `marker` (a thread reads: no hang)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if marker in line:
            return seen
    raise AssertionError(f"no {marker!r} (exit {process.poll()}): {seen}")


@pytest.mark.e2e
@pytest.mark.parametrize("signum", [signal.SIGHUP])
def test_closing_the_terminal_stops_every_process_and_frees_every_port(
    tmp_path: Path, signum: int
) -> None:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` (make test does it).")
    ports = {name: free_port() for name in PORT_VARIABLES}
    logs = tmp_path / "logs"
    # Its own session, as a terminal's: the signal reaches the stack the way a closed
    # window's SIGHUP does, and nothing of the test's.
    stack = subprocess.Popen(
        [sys.executable, "-m", "scripts.devstack", "run", "--logs", str(logs)],
        cwd=ROOT, env=_stack_env(tmp_path, ports), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        console = _read_until(stack, "Stop with Ctrl-C", 400)
        children = _children(stack.pid)
        assert len(children) == 6, children  # action, worker, mail, web, console, Rasa
        assert not any(port_is_free("127.0.0.1", port) for port in ports.values())
        # The console: the addresses, no pages of third-party warnings (those are logged).
        assert len(console) <= 15, console
        assert not any("Warning" in line for line in console), console
        assert (logs / "rasa-server.log").stat().st_size > 0

        os.kill(stack.pid, signum)
        assert stack.wait(timeout=60) == 128 + signum
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in children if _alive(pid)], "a child outlived the stack"
        held = [name for name, port in ports.items() if not port_is_free("127.0.0.1", port)]
        assert not held, f"ports still held after {signal.Signals(signum).name}: {held}"
    finally:
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait()


@pytest.mark.e2e
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stack_stopped_while_it_starts_leaves_no_process(tmp_path: Path, signum: int) -> None:
    """SIGTERM (a closed session, `kill`) or Ctrl-C while the model is still loading."""
    ports = {name: free_port() for name in PORT_VARIABLES}
    stack = subprocess.Popen(
        [sys.executable, "-m", "scripts.devstack", "run", "--logs", str(tmp_path / "logs")],
        cwd=ROOT, env=_stack_env(tmp_path, ports), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    children: set[int] = set()
    try:
        _read_until(stack, "Starting the assistant", 120)
        deadline = time.monotonic() + 60
        while len(children) < 6 and time.monotonic() < deadline:
            children = _children(stack.pid)
            time.sleep(0.2)
        assert len(children) == 6, children
        os.kill(stack.pid, signum)
        assert stack.wait(timeout=60) == 128 + signum
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in children if _alive(pid)], "a child outlived the stack"
    finally:
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait()
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _listening_addresses(port: int) -> set[str]:
    """The local addresses something listens on at `port` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, _remote, state = line.split()[1:4]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def _read_terminal(fd: int, marker: str, seconds: float) -> str:
    seen = b""
    deadline = time.monotonic() + seconds
    while marker.encode() not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the other side is gone
                break
            seen += chunk
    text = seen.decode(errors="replace")
    assert marker in text, f"no {marker!r} in the terminal: {text[-2000:]}"
    return text


@dataclass
class Window:
    """A command run in a real terminal (a pseudo-terminal it leads), as in a window."""

    pid: int
    terminal: int
    children: set[int] = field(default_factory=set)  # what the test saw it start

    def read_until(self, marker: str, seconds: float) -> str:
        return _read_terminal(self.terminal, marker, seconds)

    def close(self) -> None:
        """The window closes: the kernel hangs the terminal up."""
        os.close(self.terminal)
        self.terminal = -1

    def assert_all_gone(self, ports: dict[str, int], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, os.WNOHANG)  # reaps the command once it ends
            if not any(_alive(p) for p in (self.pid, *self.children)):
                break
            time.sleep(0.2)
        assert not _alive(self.pid), "the command outlived its terminal"
        assert not [c for c in self.children if _alive(c)], "a child outlived the terminal"
        held = [name for name, port in ports.items() if not port_is_free("127.0.0.1", port)]
        assert not held, f"ports still held after the terminal closed: {held}"


@contextlib.contextmanager
def window(command: list[str], env: dict[str, str]) -> Iterator[Window]:
    pid, terminal = pty.fork()
    if pid == 0:  # the child: the terminal's session, then the command
        try:
            os.chdir(ROOT)
            os.execve(command[0], command, env)
        finally:
            os._exit(127)
    opened = Window(pid, terminal)
    try:
        yield opened
    finally:
        if opened.terminal >= 0:
            os.close(opened.terminal)
        for process in (pid, *opened.children):
            if _alive(process):
                os.kill(process, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _make(*arguments: str) -> list[str]:
    make = shutil.which("make")
    assert make is not None
    return [make, "--no-print-directory", *arguments]


@pytest.mark.e2e
@pytest.mark.parametrize("launcher", ["devstack", "make"])
def test_make_shell_binds_loopback_and_a_closed_terminal_stops_it_all(
    tmp_path: Path, launcher: str
) -> None:
    """The staff shell in a real terminal (a pseudo-terminal); closing the window hangs the
    terminal up. "devstack": the stack leads the terminal's session, as under a window's
    shell, and gets the SIGHUP. "make": `make shell` leads it, as in a window opened to run
    it; make gets the SIGHUP and waits for the stack, which must notice by itself."""
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` (make test does it).")
    ports = {name: free_port() for name in PORT_VARIABLES}
    env = _stack_env(tmp_path, ports)
    if launcher == "make":
        command = _make("shell", f"STACK_LOGS={tmp_path}")
    else:
        command = [sys.executable, "-m", "scripts.devstack", "shell", "--logs", str(tmp_path)]
    with window(command, env) as shell:
        screen = shell.read_until("Your input", 400)
        assert "Warning" not in screen, screen  # warnings go to var/rasa-shell.log
        stack = shell.pid
        if launcher == "make":
            (stack,) = _children(shell.pid)  # make runs the stack, the stack runs the servers
        shell.children = _children(stack) | ({stack} - {shell.pid})
        # action server, worker, mail catcher, shell (and the stack under make)
        assert len(shell.children) == 4 + (launcher == "make"), shell.children
        assert _listening_addresses(ports["RASA_PORT"]) == {"127.0.0.1"}
        assert _listening_addresses(ports["ACTION_PORT"]) == {"127.0.0.1"}

        shell.close()
        shell.assert_all_gone(ports, 60)


@pytest.mark.e2e
def test_a_window_closed_while_make_run_loads_the_model_stops_it_all(tmp_path: Path) -> None:
    """`make run` in a window of its own, closed while the Rasa server still loads its
    model: the stack's wait notices the terminal is gone, not only its watch afterwards."""
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` (make test does it).")
    ports = {name: free_port() for name in PORT_VARIABLES}
    with window(_make("run", f"STACK_LOGS={tmp_path}"), _stack_env(tmp_path, ports)) as run:
        run.read_until("Starting the assistant", 300)
        deadline = time.monotonic() + 60
        stack: int | None = None
        while time.monotonic() < deadline:
            stack = next(iter(_children(run.pid)), None)
            if stack is not None and len(_children(stack)) == 6:
                break
            time.sleep(0.2)
        assert stack is not None
        run.children = _children(stack) | {stack}
        assert len(run.children) == 7, run.children  # the stack and its six servers

        run.close()
        run.assert_all_gone(ports, 60)
    # The stack stopped while waiting, not once the server was up (its watch after).
    assert "Rasa server is up and running" not in (tmp_path / "rasa-server.log").read_text()


# --- the test tiers (tests/conftest.py) ----------------------------------------------------

FAST_TIERS = ("unit", "conversation")
HEAVY = re.compile(r"running_servers\(|ScaledStack|scaled_stack\(|\bBrowser\b")
OWN_TIER = {"pytest.mark.e2e", "pytest.mark.browser", "pytest.mark.scale"}


def _heavy_tests(tree: ast.Module) -> list[str]:
    """Tests that start servers or a browser, themselves or through the module's fixtures,
    and carry no heavy tier marker of their own."""
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    heavy = {"browser"}  # tests/conftest.py's Chromium
    changed = True
    while changed:  # fixtures that use heavy fixtures are heavy too
        changed = False
        for node in functions:
            uses = {a.arg for a in node.args.args}
            if node.name not in heavy and (HEAVY.search(ast.unparse(node)) or uses & heavy):
                heavy.add(node.name)
                changed = True
    return [
        node.name for node in functions
        if node.name.startswith("test_") and node.name in heavy
        and not {ast.unparse(d) for d in node.decorator_list} & OWN_TIER
    ]  # fmt: skip


def test_no_test_of_the_fast_tier_starts_servers() -> None:
    """`make test-fast` must not start servers: a fast module's heavy test carries its own
    tier marker (as the e2e tests of this module do). Listed modules and those placed by
    their source alike."""
    from tests.conftest import MODULE_TIERS, TIER_OF_MODULE, _tier_from_source

    listed = [module for modules in MODULE_TIERS.values() for module in modules]
    assert len(listed) == len(set(listed)), "a module is listed in two tiers"
    for module in listed:
        assert (ROOT / "tests" / f"{module}.py").exists(), f"{module} is listed but gone"
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        tier = TIER_OF_MODULE.get(path.stem) or _tier_from_source(path)
        if tier in FAST_TIERS:
            heavy = _heavy_tests(ast.parse(path.read_text(encoding="utf-8")))
            assert not heavy, f"{path.stem}: {heavy} start servers in the {tier} tier"


def test_the_heavy_test_finder_sees_servers_behind_fixtures() -> None:
    """The check above can fail: the e2e and browser modules are all found heavy."""
    for module in ("test_e2e_rest", "test_bad_input", "test_web_chat", "test_console"):
        tree = ast.parse((ROOT / "tests" / f"{module}.py").read_text(encoding="utf-8"))
        assert _heavy_tests(tree), module


SKIPPING = """
import pytest

def test_needs_the_shared_content():
    pytest.skip("../shared/content is not beside this checkout")
"""


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 failed"), ("", "1 skipped")])
def test_a_skip_fails_under_ci(tmp_path: Path, ci: str, outcome: str) -> None:
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    env = project_env({"CI": ci})
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider",
         "test_skipping.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert outcome in result.stdout, result.stdout[-2000:]
    if ci:
        assert "Skipped in CI" in result.stdout and "../shared/content" in result.stdout
