"""The "Did you mean…?" offer: which topics to put on buttons when the model is unsure.

Used by the NLG (components/program_nlg.py) to build the buttons, and by the
understanding evaluation (scripts/evaluate_understanding.py) to count a question as
answered "within one click" when the right topic is among them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

TITLES_FILE = Path(__file__).resolve().parent.parent / "content" / "topic_titles.yml"
MAX_SUGGESTIONS = 3
# Below this the model is guessing; offering its guess would only confuse (measured: the
# right topic of a dev question that fell back was above it 9 times in 10, gibberish's
# guesses mostly below).
MIN_CONFIDENCE = 0.08
# When the model's best guess is one of these, the message is not about a topic at all:
# "I didn't understand" (with what the assistant can do) is the honest answer.
NOT_A_TOPIC = frozenset({"out_of_scope", "other_language"})
SOMETHING_ELSE = {"title": "Something else", "payload": "/something_else"}


@lru_cache(maxsize=1)
def topic_titles() -> dict[str, str]:
    return yaml.safe_load(TITLES_FILE.read_text(encoding="utf-8"))


def parent_topic(intent: str) -> str:
    """`lodging_travel__family_housing` counts as `lodging_travel` (topics.md)."""
    return intent.split("__", 1)[0]


def suggestions(ranking: Sequence[dict[str, Any]]) -> list[str]:
    """Up to three offerable intents from the model's ranking, one per parent topic."""
    titles = topic_titles()
    chosen: list[str] = []
    parents: set[str] = set()
    guesses = [e for e in ranking if e.get("name") != "nlu_fallback"]
    if guesses and guesses[0].get("name") in NOT_A_TOPIC:
        return []
    for entry in guesses:
        name = entry.get("name") or ""
        if name not in titles or float(entry.get("confidence") or 0) < MIN_CONFIDENCE:
            continue
        if parent_topic(name) in parents:
            continue
        chosen.append(name)
        parents.add(parent_topic(name))
        if len(chosen) == MAX_SUGGESTIONS:
            break
    return chosen


def suggestion_buttons(ranking: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    titles = topic_titles()
    buttons = [{"title": titles[n], "payload": f"/{n}"} for n in suggestions(ranking)]
    return [*buttons, SOMETHING_ELSE] if buttons else []
