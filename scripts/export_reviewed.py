"""Writes the review queue's labels as Rasa NLU training data (issue #17).

    python scripts/export_reviewed.py [--out data/nlu/reviewed.yml]
                                      [--new-topics reports/new-topics.md] [--data data]

`make export-reviewed` runs it; the next `make train` then learns from the labelled
messages. Only masked text is written (the queue holds nothing else). Examples are
de-duplicated (case and spacing ignored; a message labelled twice keeps its latest
label), and an example already in the training data under any intent is left out, so
`rasa data validate` accepts the file. Messages labelled "new topic needed" are listed
for the content team in a separate Markdown file, never as training data.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.feedback_store import NEW_TOPIC, labelled_items  # noqa: E402
from core.content import intent_names  # noqa: E402
from core.settings import load_handoff_settings  # noqa: E402

DEFAULT_OUT = ROOT / "data" / "nlu" / "reviewed.yml"
DEFAULT_NEW_TOPICS = ROOT / "reports" / "new-topics.md"
ENTITY = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def normal(text: str) -> str:
    """What makes two examples the same for Rasa: case and spacing aside."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def example_line(text: str) -> str:
    """One line of an `examples: |` block: no line breaks, and a masked "[NAME]" followed
    by "(" must not read as Rasa's entity markup "[text](entity)"."""
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\](?=[({\[])", "] ", text)


def existing_examples(data_dir: Path, skip: Path) -> dict[str, str]:
    """normalised example -> intent, for every NLU example under `data_dir`."""
    known: dict[str, str] = {}
    for path in sorted(data_dir.rglob("*.yml")):
        if path.resolve() == skip.resolve():
            continue
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in document.get("nlu") or []:
            if not isinstance(block, dict) or "intent" not in block:
                continue
            for line in str(block.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    known[normal(ENTITY.sub(r"\1", line[2:]))] = str(block["intent"])
    return known


@dataclass
class Export:
    examples: dict[str, list[str]] = field(default_factory=dict)  # intent -> texts
    new_topics: list[tuple[str, str]] = field(default_factory=list)  # (date, text)
    already_known: int = 0
    conflicts: list[tuple[str, str, str]] = field(default_factory=list)  # text, label, existing


def collect(database_url: str, known: dict[str, str]) -> Export:
    intents = set(intent_names())
    latest: dict[str, tuple[str, str]] = {}  # normalised -> (label, text); later wins
    export = Export()
    seen_new: set[str] = set()
    for item in labelled_items(database_url):
        text = example_line(item.text or "")
        if not text or text.startswith("/"):
            continue  # a tapped button, not words a family typed
        key = normal(text)
        if item.label == NEW_TOPIC:
            if key not in seen_new:
                seen_new.add(key)
                export.new_topics.append((item.created_at.strftime("%Y-%m-%d"), text))
            latest.pop(key, None)
            continue
        if item.label in intents:
            latest[key] = (item.label, text)
    for key, (label, text) in latest.items():
        if key in known:
            if known[key] == label:
                export.already_known += 1
            else:
                export.conflicts.append((text, label, known[key]))
            continue
        export.examples.setdefault(label, []).append(text)
    return export


def write_nlu(export: Export, out: Path) -> None:
    lines = [
        'version: "3.1"',
        "# Written by `make export-reviewed` (scripts/export_reviewed.py) from the labels",
        "# coordinators gave in the console's review queue. Masked text only. Do not edit by",
        "# hand: the next export writes it again.",
        "nlu:",
    ]
    for intent in sorted(export.examples):
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {text}" for text in sorted(export.examples[intent], key=normal)]
    if not export.examples:
        lines[-1] = "nlu: []"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_new_topics(export: Export, out: Path) -> None:
    lines = [
        "# Messages labelled “new topic needed” in the review queue",
        "",
        "For the content team: families asked these and no answer covers them yet.",
        "Masked text; written by `make export-reviewed`.",
        "",
    ]
    lines += [f"- {day}: {text}" for day, text in export.new_topics] or ["(none)"]
    if export.conflicts:
        lines += ["", "## Labels that contradict the training data (not exported)", ""]
        lines += [
            f"- “{text}”: labelled {label}, trained as {was}"
            for text, label, was in export.conflicts
        ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=load_handoff_settings().database_url)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--new-topics", type=Path, default=DEFAULT_NEW_TOPICS)
    parser.add_argument("--data", type=Path, default=ROOT / "data", help="training data to check")
    args = parser.parse_args(argv)
    export = collect(args.database, existing_examples(args.data, args.out))
    write_nlu(export, args.out)
    write_new_topics(export, args.new_topics)
    count = sum(len(texts) for texts in export.examples.values())
    print(
        f"{count} example(s) for {len(export.examples)} intent(s) -> {args.out}; "
        f"{export.already_known} already in the training data, "
        f"{len(export.conflicts)} contradicting it (listed); "
        f"{len(export.new_topics)} new topic request(s) -> {args.new_topics}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
