"""The domain as plain data: every file of `domain/` merged, for code that runs outside Rasa.

Rasa merges the folder itself (`rasa train`, `Domain.load("domain")`); the action server,
the channels' notices, the console and the tests read responses and intents through here.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOMAIN_DIR = PROJECT_ROOT / "domain"


def domain_files(domain_dir: Path = DOMAIN_DIR) -> list[Path]:
    return sorted(domain_dir.glob("*.yml"))


def merge_domain(domain_dir: Path = DOMAIN_DIR) -> dict[str, Any]:
    """Lists are joined and mappings merged, file by file, as Rasa does."""
    merged: dict[str, Any] = {}
    for path in domain_files(domain_dir):
        part = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for key, value in part.items():
            if isinstance(value, list):
                merged.setdefault(key, []).extend(value)
            elif isinstance(value, dict):
                merged.setdefault(key, {}).update(value)
            else:
                merged[key] = value
    return merged


@lru_cache(maxsize=1)
def domain() -> dict[str, Any]:
    return merge_domain()


def responses() -> dict[str, Any]:
    return domain()["responses"]


def intent_names() -> list[str]:
    return [i if isinstance(i, str) else next(iter(i)) for i in domain()["intents"]]


def domain_text() -> str:
    """Every domain file's raw text, for checks on what is typed into it."""
    return "\n".join(p.read_text(encoding="utf-8") for p in domain_files())
