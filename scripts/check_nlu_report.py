"""Fails when intent F1 on the held-out NLU test set drops below a threshold.

    python scripts/check_nlu_report.py results/nlu --min-f1 0.90

Reads the `intent_report.json` written by `rasa test nlu` and prints the weighted F1,
the macro F1 and every intent below the threshold.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SUMMARY_KEYS = {"accuracy", "macro avg", "weighted avg", "micro avg"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results_dir", type=Path)
    parser.add_argument("--min-f1", type=float, default=0.90)
    args = parser.parse_args()
    report = json.loads((args.results_dir / "intent_report.json").read_text())
    weighted = report["weighted avg"]["f1-score"]
    macro = report["macro avg"]["f1-score"]
    print(
        f"Intent F1 on the held-out test set: weighted {weighted:.3f}, macro {macro:.3f} "
        f"(threshold {args.min_f1:.2f})"
    )
    weak = {
        name: scores["f1-score"]
        for name, scores in report.items()
        if name not in SUMMARY_KEYS and scores["f1-score"] < args.min_f1
    }
    for name, f1 in sorted(weak.items(), key=lambda item: item[1]):
        print(f"  below threshold: {name:22s} F1 {f1:.3f}")
    if weighted < args.min_f1:
        print("FAIL: intent F1 is below the threshold.")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
