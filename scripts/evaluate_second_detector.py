"""The second emergency detector, measured on writers it never saw: each earlier writer's
set is left out in turn, the detector is trained on the NLU examples and the other
writers, and scored on the one left out.

Prints, per threshold: the detector's recall alone on happening-now messages (and on
unusual wording), how often it would add an alarm to a past/general/other message where
the triage found no sign (the only place it acts), how often it fires on topic questions,
and how many happening-now messages the triage missed that it catches. (The triage was
tuned on these sets, so it misses few of them here; the held-out set is the result.)

    python scripts/evaluate_second_detector.py [--thresholds 0.5 0.6 0.7 0.8]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.emergency_detector import (
    DEFAULT_C,
    EmergencyDetector,
    examples_by_writer,
    training_examples,
)
from core.evaluation_sets import DEV_DIR
from core.evaluation_sets import training_examples as nlu_examples
from core.safety import assess


def patterns_by_writer() -> dict[str, dict[str, str]]:
    """text -> pattern of each writer's safety messages ("unusual_wording", ...)."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted(DEV_DIR.glob("safety_dev*.yml")):
        messages = yaml.safe_load(path.read_text(encoding="utf-8"))["messages"]
        found[path.stem.removeprefix("safety_")] = {str(m["text"]): m["pattern"] for m in messages}
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8])
    parser.add_argument("--c", type=float, default=DEFAULT_C)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    writers = examples_by_writer()
    patterns = patterns_by_writer()
    intents = nlu_examples()
    counts: dict[float, Counter[str]] = {t: Counter() for t in args.thresholds}
    for left_out in sorted(writers):
        others = {w: m for w, m in writers.items() if w != left_out}
        detector = EmergencyDetector.fit(*training_examples(intents, others), c=args.c)
        messages = writers[left_out]
        scores = detector.scores([text for text, _ in messages])
        kinds = patterns.get(left_out, {})
        for (text, emergency), score in zip(messages, scores, strict=True):
            pattern = kinds.get(text, "question")
            triage_sign = bool(assess(text).signs)
            triage_now = assess(text).verdict.value == "emergency" if triage_sign else False
            for threshold, c in counts.items():
                fires = score >= threshold
                if emergency:
                    c["now"] += 1
                    c["now_caught"] += fires
                    c["unusual"] += pattern == "unusual_wording"
                    c["unusual_caught"] += fires and pattern == "unusual_wording"
                    c["triage_missed"] += not triage_now
                    c["rescued"] += (not triage_now) and (not triage_sign) and fires
                elif pattern == "question":
                    c["questions"] += 1
                    c["questions_fired"] += fires and not triage_sign
                else:
                    c["others"] += 1
                    c["others_added"] += fires and not triage_sign

    print(f"Leave-one-writer-out over {len(writers)} writers' sets (C={args.c}):")
    for threshold, c in counts.items():
        print(
            f"- threshold {threshold}: recall alone {c['now_caught'] / c['now']:.3f} "
            f"(unusual wording {c['unusual_caught'] / max(c['unusual'], 1):.3f}); "
            f"alarms it adds to past/general/other messages "
            f"{c['others_added'] / c['others']:.3f} ({c['others_added']}/{c['others']}); "
            f"to topic questions {c['questions_fired'] / c['questions']:.4f}; "
            f"triage misses it catches {c['rescued']}/{c['triage_missed']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
