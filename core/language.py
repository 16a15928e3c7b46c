"""Is a message written in a language other than English?

The assistant answers only in English; a family writing in another language should hear
at once, in words it can read, how to reach a person. The word lists live in
`content/languages.yml`; this module only decides. Used by
`components.language_screen` on every message.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

LANGUAGES_FILE = Path(__file__).resolve().parent.parent / "content" / "languages.yml"
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


@dataclass(frozen=True)
class LanguageRules:
    foreign_words: dict[str, frozenset[str]]
    english: frozenset[str]
    min_foreign_words: int
    other_script_share: float

    @classmethod
    def from_file(cls, path: Path = LANGUAGES_FILE) -> LanguageRules:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        return cls(
            foreign_words={k: frozenset(v) for k, v in spec["foreign_words"].items()},
            english=frozenset(spec["english"]),
            min_foreign_words=int(spec["min_foreign_words"]),
            other_script_share=float(spec["other_script_share"]),
        )


@lru_cache(maxsize=1)
def default_rules() -> LanguageRules:
    return LanguageRules.from_file()


def _other_script_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 2:
        return 0.0
    other = sum(1 for c in letters if not unicodedata.name(c, "").startswith("LATIN"))
    return other / len(letters)


def other_language(text: str, rules: LanguageRules | None = None) -> str | None:
    """The language (or "other script") a message is written in, if not English; else None."""
    rules = rules or default_rules()
    if _other_script_share(text) > rules.other_script_share:
        return "other script"
    words = [w.lower() for w in _WORD.findall(text)]
    english = sum(1 for w in words if w in rules.english)
    for language, vocabulary in rules.foreign_words.items():
        foreign = sum(1 for w in words if w in vocabulary)
        if foreign >= rules.min_foreign_words and foreign > english:
            return language
    return None
