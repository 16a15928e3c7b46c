"""The shape of the code (issue #16): a plain-Python core that knows nothing of Rasa,
rasa-sdk actions that only the action server loads, and no import cycles."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("actions", "channels", "components", "console", "core", "scripts", "web")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            modules[name] = path
    return modules


def test_the_core_imports_nothing_of_rasa_or_of_the_parts_around_it() -> None:
    forbidden = ("rasa", "rasa_sdk", "actions", "components", "channels", "console", "web")
    offenders = {
        name: sorted(m for m in imported_modules(path) if m.split(".")[0] in forbidden)
        for name, path in project_modules().items()
        if name.startswith("core")
    }
    assert not {name: found for name, found in offenders.items() if found}


def test_only_the_action_server_loads_actions_and_every_action_module_is_rasa_sdk() -> None:
    for name, path in project_modules().items():
        imports = imported_modules(path)
        if name.startswith("actions."):
            assert any(m.startswith("rasa_sdk") for m in imports), name
        elif not name.startswith("actions"):
            assert not any(m.split(".")[0] == "actions" for m in imports), name


def test_there_are_no_import_cycles_between_project_modules() -> None:
    modules = project_modules()
    graph = {
        name: {m for m in imported_modules(path) if m in modules and m != name}
        for name, path in modules.items()
    }
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for other in sorted(graph[name]):
            assert state.get(other) != "open", " -> ".join([*trail, name, other])
            if other not in state:
                visit(other, [*trail, name])
        state[name] = "done"

    for name in modules:
        if name not in state:
            visit(name, [])


def test_the_data_key_command_makes_a_key_and_refuses_nonsense() -> None:
    made = subprocess.run(
        [sys.executable, "-m", "core.data_keys", "new-key"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert len(made.stdout.strip()) == 44  # a Fernet key: 32 bytes, URL-safe base64
    wrong = subprocess.run(
        [sys.executable, "-m", "core.data_keys", "sideways"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert wrong.returncode == 2 and "usage" in wrong.stderr
