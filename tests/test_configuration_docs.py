"""docs/configuration.md names every setting the code reads from the environment, so a new
setting (CART_SESSION_KEY, the SMTP login...) cannot ship undocumented."""

from __future__ import annotations

import re

from tests.action_helper import ROOT

# Where the project reads its environment: core/settings.py (the one place), and the few
# modules that read a setting of their own (keys, the staff password for scripts).
SOURCES = ["actions", "channels", "components", "console", "core", "web"]
READ = re.compile(r"""(?:os\.environ\.get|os\.getenv|_env)\(\s*["']([A-Z][A-Z0-9_]+)["']""")
# The project's settings, not the system's (USER names who ran a console command).
PROJECT = re.compile(r"(?:CART|RASA|ACTION|WEB|SANIC)_[A-Z0-9_]+")


def settings_read() -> set[str]:
    names: set[str] = set()
    for folder in SOURCES:
        for path in (ROOT / folder).glob("*.py"):
            names |= set(READ.findall(path.read_text(encoding="utf-8")))
    return {name for name in names if PROJECT.fullmatch(name)}


def test_every_setting_the_code_reads_is_in_the_configuration_doc() -> None:
    names = settings_read()
    assert {"CART_SESSION_KEY", "CART_DATABASE_URL", "SANIC_HOST"} <= names  # the scan works
    documented = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = sorted(name for name in names if f"`{name}`" not in documented)
    assert not missing, f"add to docs/configuration.md: {missing}"
