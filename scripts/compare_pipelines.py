"""Measures NLU pipeline choices on the held-out test set; writes docs/pipeline.md's table.

    make compare-pipelines

For each variant of config.yml it trains an NLU-only model, evaluates it on
tests/nlu_test.yml, and reports weighted intent F1 and training time. With the chosen
model it then sweeps the FallbackClassifier threshold: how many held-out questions would
fall back (a family gets "I didn't understand") and how much gibberish would not.
"""

from __future__ import annotations

import asyncio
import copy
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RASA = ROOT / ".venv" / "bin" / "rasa"
GIBBERISH = [
    "qwzx plorb",
    "asdf asdf",
    "zzkq vrrm",
    "hmm",
    "lorem ipsum dolor",
    "???",
    "ok so like",
    "blue banana seven",
    "xyz",
    "the the the",
    "jjjjjjj",
    "potato",
]


def variants(base: dict) -> dict[str, dict]:
    def with_pipeline(change) -> dict:
        config = copy.deepcopy(base)
        config["pipeline"] = change(copy.deepcopy(config["pipeline"]))
        return config

    def diet(pipeline: list[dict], **changes) -> list[dict]:
        for component in pipeline:
            if component["name"] == "DIETClassifier":
                component.update(changes)
        return pipeline

    return {
        "chosen: DIET 100 epochs, word + char n-grams": base,
        "DIET 50 epochs": with_pipeline(lambda p: diet(p, epochs=50)),
        "DIET 200 epochs": with_pipeline(lambda p: diet(p, epochs=200)),
        "no char n-grams": with_pipeline(
            lambda p: [c for c in p if c.get("analyzer") != "char_wb"]
        ),
    }


def train_and_test(name: str, config: dict, workdir: Path) -> dict:
    slug = "".join(ch if ch.isalnum() else "-" for ch in name)[:40]
    config_path = workdir / f"{slug}.yml"
    config_path.write_text(yaml.safe_dump(config))
    started = time.monotonic()
    subprocess.run(
        [
            str(RASA),
            "train",
            "nlu",
            "--config",
            str(config_path),
            "--nlu",
            "data",
            "--out",
            str(workdir / slug),
            "--fixed-model-name",
            "nlu",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    training_seconds = time.monotonic() - started
    model = workdir / slug / "nlu.tar.gz"
    out = workdir / f"{slug}-results"
    subprocess.run(
        [
            str(RASA),
            "test",
            "nlu",
            "--nlu",
            "tests/nlu_test.yml",
            "--model",
            str(model),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    report = json.loads((out / "intent_report.json").read_text())
    return {
        "variant": name,
        "f1": report["weighted avg"]["f1-score"],
        "train_s": training_seconds,
        "model": str(model),
    }


def threshold_sweep(model: str) -> list[dict]:
    from rasa.core.agent import Agent

    test = yaml.safe_load((ROOT / "tests" / "nlu_test.yml").read_text())["nlu"]
    examples = [
        (line.strip()[2:], block["intent"])
        for block in test
        for line in block["examples"].splitlines()
        if line.strip()
    ]
    agent = Agent.load(model)

    async def parse(text: str) -> dict:
        return await agent.parse_message(text)

    def top_original(result: dict) -> tuple[str, float]:
        ranking = [r for r in result["intent_ranking"] if r["name"] != "nlu_fallback"]
        return ranking[0]["name"], ranking[0]["confidence"]

    parsed = [(top_original(asyncio.run(parse(text))), intent) for text, intent in examples]
    noise = [top_original(asyncio.run(parse(text)))[1] for text in GIBBERISH]
    rows = []
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7):
        answered_right = sum(
            1 for (name, conf), gold in parsed if conf >= threshold and name == gold
        )
        fell_back = sum(1 for (_, conf), _ in parsed if conf < threshold)
        wrong = len(parsed) - answered_right - fell_back
        caught = sum(1 for conf in noise if conf < threshold)
        rows.append(
            {
                "threshold": threshold,
                "right": answered_right / len(parsed),
                "fallback": fell_back / len(parsed),
                "wrong": wrong / len(parsed),
                "gibberish_caught": caught / len(noise),
            }
        )
    return rows


def main() -> int:
    base = yaml.safe_load((ROOT / "config.yml").read_text())
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, config in variants(base).items():
            results.append(train_and_test(name, config, Path(tmp)))
            print(
                f"{results[-1]['variant']:45s} F1 {results[-1]['f1']:.3f}  "
                f"train {results[-1]['train_s']:.0f} s",
                flush=True,
            )
        sweep = threshold_sweep(results[0]["model"])
    print("\n| variant | weighted intent F1 (held-out) | NLU training time |\n|---|---|---|")
    for row in results:
        print(f"| {row['variant']} | {row['f1']:.3f} | {row['train_s']:.0f} s |")
    print(
        "\n| fallback threshold | answered right | fell back | answered wrong | gibberish caught |"
    )
    print("|---|---|---|---|---|")
    for row in sweep:
        print(
            f"| {row['threshold']:.1f} | {row['right']:.1%} | {row['fallback']:.1%} | "
            f"{row['wrong']:.1%} | {row['gibberish_caught']:.0%} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
