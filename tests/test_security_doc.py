"""Issue #15, "Also": SECURITY.md is a threat model whose claims each name the test that
backs them, written `tests/file.py::test_name`. These tests keep the doc from drifting:
every cited file exists and defines the cited test (read with ast, not imported, so no
server starts), and every test file the doc names without a test exists too. The last
test runs scripts/list_advisories.py (docs/advisories.md's table) against a real HTTP
server on loopback that answers as PyPI's JSON API does."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "SECURITY.md", ROOT / "docs" / "advisories.md"]

# `tests/test_x.py::test_name`, `tests/test_x.py::TestClass::test_name`, and a
# parametrized id `tests/test_x.py::test_name[case]` (the [..] part is not a name).
CITATION = re.compile(r"(tests/[\w/]+\.py)((?:::\w+)+)(?:\[[^\]\s`]*\])?")
FILE_ONLY = re.compile(r"(tests/[\w/]+\.py)(?!::|\w)")


def defined_tests(path: Path) -> set[str]:
    """Names pytest would collect, as `name` or `Class::name`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    names.add(f"{node.name}::{item.name}")
    return {name for name in names if name.split("::")[-1].startswith("test")}


def citations(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)[2:]) for m in CITATION.finditer(text)]


def broken_citations(text: str, root: Path = ROOT) -> list[str]:
    """Every citation in `text` whose file or test does not exist."""
    broken: list[str] = []
    cache: dict[str, set[str]] = {}
    for file, name in citations(text):
        path = root / file
        if not path.is_file():
            broken.append(f"{file}::{name} (no such file)")
            continue
        if file not in cache:
            cache[file] = defined_tests(path)
        if name not in cache[file]:
            broken.append(f"{file}::{name}")
    for match in FILE_ONLY.finditer(text):
        if not (root / match.group(1)).is_file():
            broken.append(f"{match.group(1)} (no such file)")
    return broken


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_test_the_doc_cites_exists(doc: Path) -> None:
    assert doc.is_file(), f"{doc} is missing"
    assert broken_citations(doc.read_text(encoding="utf-8")) == []


def test_the_threat_model_backs_its_claims_with_tests() -> None:
    text = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    cited = {f"{file}::{name}" for file, name in citations(text)}
    # A threat model without citations would pass the check above trivially.
    assert len(cited) >= 30, f"only {len(cited)} distinct tests cited"
    for heading in ("## Assets", "## Who can reach what", "## What each control stops"):
        assert heading in text, f"SECURITY.md has no {heading!r} section"


def test_a_made_up_or_renamed_test_is_caught(tmp_path: Path) -> None:
    """The checker itself: it must fail on the drift it exists to catch."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_real.py").write_text(
        "import pytest\n\n"
        "def test_kept():\n    pass\n\n"
        "@pytest.mark.parametrize('x', [1, 2])\n"
        "async def test_param(x):\n    pass\n\n"
        "class TestGroup:\n    def test_inside(self):\n        pass\n\n"
        "def helper():\n    pass\n",
        encoding="utf-8",
    )
    good = (
        "`tests/test_real.py::test_kept`, `tests/test_real.py::test_param[1]`, "
        "`tests/test_real.py::TestGroup::test_inside`, `tests/test_real.py`."
    )
    assert broken_citations(good, tmp_path) == []
    bad = (
        "`tests/test_real.py::test_renamed`, `tests/test_real.py::helper`, "
        "`tests/test_gone.py::test_kept`, `tests/test_missing.py`."
    )
    assert broken_citations(bad, tmp_path) == [
        "tests/test_real.py::test_renamed",
        "tests/test_real.py::helper",
        "tests/test_gone.py::test_kept (no such file)",
        "tests/test_missing.py (no such file)",
    ]


# ---- scripts/list_advisories.py, against a stand-in for PyPI's JSON API ----

RELEASES = {
    "/pypi/sanic/21.12.2/json": {
        "info": {"name": "sanic"},
        "vulnerabilities": [
            {
                "id": "PYSEC-2099-1",
                "aliases": ["CVE-2099-0001", "GHSA-xxxx-yyyy-zzzz"],
                "summary": "Path | traversal\nin static files",
                "fixed_in": ["22.6.1"],
            }
        ],
    },
    # No release pages for these two (as on some mirrors): the project page answers for
    # its newest release only.
    "/pypi/jinja2/json": {"info": {"version": "3.1.6"}, "vulnerabilities": []},
    "/pypi/aiohttp/json": {
        "info": {"version": "3.14.3"},
        "vulnerabilities": [{"id": "PYSEC-2099-2", "summary": "newest release only"}],
    },
}


class FakeIndex(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = RELEASES.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        if body:
            self.wfile.write(json.dumps(body).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def index_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeIndex)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/pypi"
    server.shutdown()
    server.server_close()


def run_script(index_url: str, lock: Path, *names: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "list_advisories.py"), "--lock", str(lock),
         "--index-url", index_url, *names],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_advisories_script_lists_the_locked_releases_and_never_hides_a_failure(
    index_url: str, tmp_path: Path
) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text(
        "version = 1\n"
        '[[package]]\nname = "sanic"\nversion = "21.12.2"\n'
        '[[package]]\nname = "Jinja2"\nversion = "3.1.6"\n'
        '[[package]]\nname = "aiohttp"\nversion = "3.9.5"\n',
        encoding="utf-8",
    )
    done = run_script(index_url, lock, "sanic", "jinja2")
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert rows[1:] == [
        "| sanic | 21.12.2 | PYSEC-2099-1 | CVE-2099-0001, GHSA-xxxx-yyyy-zzzz "
        "| Path \\| traversal in static files | 22.6.1 |",
        "| jinja2 | 3.1.6 | none known | | | |",
    ]
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", done.stdout)  # the date

    # A release the index does not answer for is a failure, not "none known", even when
    # the project page lists advisories of a newer release.
    failed = run_script(index_url, lock, "aiohttp", "not-in-the-lock")
    assert failed.returncode == 1
    assert (
        "| aiohttp | 3.9.5 | look-up failed: no release page (HTTP 404); "
        "the newest release is 3.14.3 |" in failed.stdout
    )
    assert "PYSEC-2099-2" not in failed.stdout
    assert "| not-in-the-lock | not locked |" in failed.stdout
    assert "incomplete" in failed.stderr
