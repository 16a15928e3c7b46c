"""Known advisories for the locked versions of the notable dependencies (issue #15).

    python scripts/list_advisories.py            # the packages docs/advisories.md covers
    python scripts/list_advisories.py sanic aiohttp

Reads each package's version from uv.lock and asks PyPI's JSON API for that release
(`/pypi/<name>/<version>/json`), whose "vulnerabilities" array lists the advisories known
for it (id, aliases, summary, fixed_in); where only the project page answers, its list
counts when the locked version is the newest release. Prints a Markdown table with the date, for
docs/advisories.md; whether each advisory is reachable here is judged there, by hand.
Exits 1 when a look-up failed, so a partial table is never taken for a clean one.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

import requests

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # Python 3.10, this project's
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
INDEX_URL = "https://pypi.org/pypi"

# The servers' stacks first (what the internet or the internal network reaches), then the
# notable libraries Rasa 3.6.21 holds back.
PACKAGES = (
    "rasa", "rasa-sdk", "sanic", "sanic-routing", "sanic-cors", "python-socketio",
    "python-engineio", "websockets", "aiohttp", "multidict", "yarl", "requests", "urllib3",
    "idna", "certifi", "h11", "jinja2", "markupsafe", "cryptography", "argon2-cffi",
    "pyjwt", "sqlalchemy", "psycopg2-binary", "redis", "aiosmtpd", "tensorflow", "keras",
    "protobuf", "numpy", "scikit-learn", "spacy", "pydantic", "pyyaml", "ruamel-yaml",
    "setuptools", "pillow", "werkzeug", "sentry-sdk", "dnspython", "pymongo", "twilio",
    "matplotlib", "dask", "joblib", "tqdm", "grpcio",
)  # fmt: skip


def locked_versions(lock: Path) -> dict[str, str]:
    """Package name (normalised) -> version, from uv.lock."""
    data = tomllib.loads(lock.read_text(encoding="utf-8"))
    return {p["name"].lower().replace("_", "-"): p["version"] for p in data.get("package", [])}


class LookupFailed(Exception):
    pass


def advisories(index_url: str, name: str, version: str) -> list[dict]:
    """The "vulnerabilities" of one release.

    The release's own page first. Some mirrors serve only the project page
    (`/pypi/<name>/json`), whose list is for the newest release: exact only when the
    locked version is that release, so anything else is a failure, never "none known".
    """
    reply = requests.get(f"{index_url}/{name}/{version}/json", timeout=30)
    if reply.status_code == 404:
        project = requests.get(f"{index_url}/{name}/json", timeout=30)
        project.raise_for_status()
        data = project.json()
        latest = data.get("info", {}).get("version")
        if latest != version:
            raise LookupFailed(f"no release page (HTTP 404); the newest release is {latest}")
        return list(data.get("vulnerabilities") or [])
    reply.raise_for_status()
    return list(reply.json().get("vulnerabilities") or [])


def _cell(text: str) -> str:
    # One line per advisory: a summary may hold newlines and the table's bar.
    return " ".join(str(text).split()).replace("|", "\\|")


def table(index_url: str, versions: dict[str, str], names: list[str]) -> tuple[list[str], int]:
    """The Markdown lines and the number of failed look-ups."""
    lines = [
        "| package | locked | advisory | aliases | summary | fixed in |",
        "|---|---|---|---|---|---|",
    ]
    failed = 0
    for name in names:
        version = versions.get(name.lower())
        if version is None:
            lines.append(f"| {name} | not locked | | | | |")
            continue
        try:
            found = advisories(index_url, name, version)
        except (requests.RequestException, ValueError, LookupFailed) as error:
            failed += 1
            lines.append(f"| {name} | {version} | look-up failed: {_cell(str(error))} | | | |")
            continue
        if not found:
            lines.append(f"| {name} | {version} | none known | | | |")
        for vuln in found:
            summary = vuln.get("summary") or (vuln.get("details") or "").split("\n", 1)[0]
            lines.append(
                f"| {name} | {version} | {vuln.get('id', '?')} "
                f"| {_cell(', '.join(vuln.get('aliases') or []))} | {_cell(summary)[:200]} "
                f"| {_cell(', '.join(vuln.get('fixed_in') or []))} |"
            )
    return lines, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="packages (default: the notable ones)")
    parser.add_argument("--lock", type=Path, default=ROOT / "uv.lock")
    parser.add_argument("--index-url", default=INDEX_URL, help="PyPI's JSON API root")
    args = parser.parse_args(argv)
    lines, failed = table(args.index_url, locked_versions(args.lock), args.names or list(PACKAGES))
    print(f"Advisories from {args.index_url}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n")
    print("\n".join(lines))
    if failed:
        print(f"\n{failed} look-up(s) failed: this table is incomplete.", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
