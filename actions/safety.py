"""The deterministic red-flag check: does a message describe a worrying symptom now?

It runs on every user message (see `components.red_flag_override`) and its verdict
overrides the NLU prediction. The terms live in `content/red_flags.yml`; this module only
decides. It is plain Python, so the action server can use it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from pathlib import Path

import yaml

RED_FLAGS_FILE = Path(__file__).resolve().parent.parent / "content" / "red_flags.yml"


class Verdict(str, Enum):
    NONE = "none"  # no warning sign in the message
    MENTION = "mention"  # a warning sign asked about in general ("does it cause fever?")
    EMERGENCY = "emergency"  # a warning sign described as happening now


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    signs: tuple[str, ...] = field(default_factory=tuple)
    looks_like_general_question: bool = False


@dataclass(frozen=True)
class RedFlagRules:
    warning_signs: dict[str, re.Pattern[str]]
    happening_now: dict[str, re.Pattern[str]]
    general_question: re.Pattern[str]

    @classmethod
    def from_file(cls, path: Path = RED_FLAGS_FILE) -> RedFlagRules:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        return cls(
            warning_signs={k: re.compile(v) for k, v in spec["warning_signs"].items()},
            happening_now={k: re.compile(v) for k, v in spec["happening_now"].items()},
            general_question=re.compile(spec["general_question"]),
        )


@lru_cache(maxsize=1)
def default_rules() -> RedFlagRules:
    return RedFlagRules.from_file()


def _normalise(text: str) -> str:
    # Curly apostrophes and odd spacing are common on phones.
    text = text.replace("\u2019", "'").replace("\u2018", "'").lower()
    return re.sub(r"\s+", " ", text).strip()


def _describes_someone_now(message: str, rules: RedFlagRules) -> bool:
    """ "my son has ..." counts; "will my son have ..." is a hypothetical question."""
    pattern = rules.happening_now["subject_and_state"]
    match = pattern.search(message)
    while match:  # overlapping matches: "what do i do if my child has ..."
        if not rules.happening_now["hypothetical"].search(message[: match.start()]):
            return True
        match = pattern.search(message, match.start() + 1)
    return False


def assess(text: str, rules: RedFlagRules | None = None) -> Assessment:
    """Classify a message; an emergency whenever a warning sign is described as current."""
    rules = rules or default_rules()
    message = _normalise(text or "")
    if not message:
        return Assessment(Verdict.NONE)
    signs = tuple(name for name, pattern in rules.warning_signs.items() if pattern.search(message))
    general = bool(rules.general_question.search(message))
    if not signs:
        return Assessment(Verdict.NONE, looks_like_general_question=general)
    if rules.happening_now["acute"].search(message):
        return Assessment(Verdict.EMERGENCY, signs, general)
    happening_now = (
        _describes_someone_now(message, rules)
        or bool(rules.happening_now["time"].search(message))
        or ("fever" in signs and bool(rules.happening_now["temperature"].search(message)))
    )
    if happening_now:
        return Assessment(Verdict.EMERGENCY, signs, general)
    if general:
        return Assessment(Verdict.MENTION, signs, general)
    # A bare symptom ("fever", "seizure!!") with nothing else: safety first.
    return Assessment(Verdict.EMERGENCY, signs, general)
