"""The independent evaluation sets and the training data, as plain lists, for two checks:
the held-out sets share no sentence or near-copy with the training data
(tests/test_independence.py), and the figures of understanding and safety
(scripts/evaluate_understanding.py).

- tests/heldout/: written by people who never saw the training data, from the topic
  contract and the facts only; never used for training or tuning. The gates run on them.
- tests/dev/: written the same way by other writers; used to tune thresholds and rules,
  and as training examples of the second emergency detector (core/emergency_detector.py).
  `*_dev2.yml` to `*_dev21.yml` were earlier held-out sets: once their misses were
  studied (figures in docs/pipeline.md) they became tuning data, and a new writer wrote
  today's held-out set (tests/heldout/README.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
HELDOUT_DIR = ROOT / "tests" / "heldout"
DEV_DIR = ROOT / "tests" / "dev"
DATA_DIR = ROOT / "data"
STYLES = ("headline", "patient", "parent", "long", "terse")


@dataclass(frozen=True)
class Question:
    text: str
    topic: str
    style: str
    also_ok: tuple[str, ...] = ()


@dataclass(frozen=True)
class SafetyMessage:
    text: str
    emergency: bool
    pattern: str
    language: str
    topic: str | None = None


def set_dir(name: str) -> Path:
    return {"heldout": HELDOUT_DIR, "dev": DEV_DIR}[name]


def _items(directory: Path, stem: str, key: str) -> list[dict[str, Any]]:
    """Every `<stem>*.yml` of the folder: the dev folder holds more than one writer's set."""
    items: list[dict[str, Any]] = []
    for path in sorted(directory.glob(f"{stem}*.yml")):
        items += yaml.safe_load(path.read_text(encoding="utf-8"))[key]
    return items


def load_questions(directory: Path) -> list[Question]:
    items = _items(directory, "understanding", "questions")
    return [
        Question(str(i["text"]), i["topic"], i["style"], tuple(i.get("also_ok") or ()))
        for i in items
    ]


def load_safety(directory: Path) -> list[SafetyMessage]:
    items = _items(directory, "safety", "messages")
    return [
        SafetyMessage(
            str(i["text"]),
            i["expect"] == "emergency",
            i["pattern"],
            i.get("language", "en"),
            i.get("topic"),
        )
        for i in items
    ]


_ANNOTATION = re.compile(r"\[([^\]]+)\]\([^)]+\)|\[([^\]]+)\]\{[^}]+\}")


def training_examples(data_dir: Path = DATA_DIR) -> list[tuple[str, str]]:
    """(intent, text) for every NLU example under data/, entity annotations removed."""
    examples: list[tuple[str, str]] = []
    for path in sorted(data_dir.rglob("*.yml")):
        content: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in content.get("nlu") or []:
            if "intent" not in block:
                continue
            for line in str(block.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    text = _ANNOTATION.sub(lambda m: m.group(1) or m.group(2), line[2:])
                    examples.append((block["intent"], text.strip()))
    return examples


def normalise(text: str) -> str:
    """What a near-copy check compares: lower case, letters and digits, single spaces."""
    text = text.lower().replace("\u2019", "'")
    return " ".join(re.findall(r"[^\W_]+", text))


def trigrams(text: str) -> frozenset[str]:
    padded = f"  {normalise(text)}  "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


def near_copies(
    probes: list[str], references: list[str], threshold: float = 0.8
) -> list[tuple[str, str, float]]:
    """Pairs whose character-trigram overlap (Jaccard) reaches the threshold.

    An inverted index keeps this quick: only references sharing a trigram are compared.
    """
    reference_grams = [trigrams(r) for r in references]
    index: dict[str, list[int]] = {}
    for n, grams in enumerate(reference_grams):
        for gram in grams:
            index.setdefault(gram, []).append(n)
    found: list[tuple[str, str, float]] = []
    for probe in probes:
        grams = trigrams(probe)
        shared: dict[int, int] = {}
        for gram in grams:
            for n in index.get(gram, ()):
                shared[n] = shared.get(n, 0) + 1
        for n, common in shared.items():
            union = len(grams) + len(reference_grams[n]) - common
            score = common / union if union else 0.0
            if score >= threshold:
                found.append((probe, references[n], round(score, 3)))
    return found
