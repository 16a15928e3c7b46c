"""The domain as plain data, for code that runs outside Rasa (the action server, the
channels' notices, the console, the evaluation and the tests)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOMAIN_FILE = PROJECT_ROOT / "domain.yml"


def load_domain_file(path: Path = DOMAIN_FILE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def domain() -> dict[str, Any]:
    return load_domain_file()


def responses() -> dict[str, Any]:
    return domain()["responses"]


def response_text(name: str, **values: Any) -> str:
    """The first text of a domain response, with contact details and `values` filled in."""
    from core.settings import load_contacts  # settings reads the environment: only when asked

    template = responses()[name][0]["text"]
    return template.format(**{**load_contacts().placeholders(), **values})


def intent_names() -> list[str]:
    return [i if isinstance(i, str) else next(iter(i)) for i in domain()["intents"]]


def domain_text() -> str:
    """The domain's raw text, for checks on what is typed into it."""
    return DOMAIN_FILE.read_text(encoding="utf-8")
