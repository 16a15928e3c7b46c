"""Understanding and safety figures of a trained model on the independent sets.

    python scripts/evaluate_understanding.py [--set heldout|dev] [--gate] [--model PATH]

Parses every question of the chosen set with the trained model (the whole NLU pipeline,
with the fallback, the language screen and the emergency triage, as the Rasa server
runs it) and reports, per topic and per style:
- top-1: the answer given is the right topic (a sub-topic counts as its parent);
- within one click: top-1, or a "Did you mean…?" offer whose buttons hold the right topic,
  or an answer to a neighbouring topic whose buttons hold the right one (the family
  taps it); `strict_one_click` leaves that last path out;
- safety: emergency recall and false alarms, per pattern and language.
Writes reports/understanding-<set>.md and .json. With --gate it exits 1 below the gates
below the floors in GATES (the issues' targets are in TARGETS).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.content import responses
from core.evaluation_sets import (
    ROOT,
    STYLES,
    Question,
    SafetyMessage,
    load_questions,
    load_safety,
    set_dir,
)
from core.suggestions import parent_topic, suggestions

# Floors just under the clean looks at the latest held-out sets (docs/pipeline.md), so
# that a change cannot quietly make understanding or safety worse. Each new writer's set
# has been harder than the last one tuned on, so the floors follow the latest clean looks
# (top-1 0.880, one click 0.944, recall 0.951 and false alarms 0.115 at worst; the ninth and
# tenth writers put the sign words in far more non-urgent sentences).
# The targets of issues #13 and #14 (one click 0.97, recall 1.00, false alarms 0.05) are
# not met: they stay the goal.
# Recall floor: lowered to 0.93 on 2026-11-30 when three fresh writers in a row had first
# looks of 0.947, 0.936 and 0.940 (rule triage alone); raised to 0.97 the same day once the
# second emergency detector (core/emergency_detector.py) gave 0.994 on the next fresh set.
# False alarms: 0.044 on that set, floor 0.10. The floors catch regressions; the targets
# below are the goal.
# Understanding: since the sentence model (core/sentence_encoder.py) the fresh twentieth
# and twenty-first sets' first looks gave top-1 0.929 and 0.952, one click 0.972 and 0.982:
# the gates are now issue #13's own targets (0.90, 0.97). Safety's recall and false alarms
# (0.989 / 0.990, 0.070 / 0.048) stay floors.
GATES = {"top1": 0.90, "one_click": 0.97, "recall": 0.97, "false_alarm": 0.10}
TARGETS = {"top1": 0.90, "one_click": 0.97, "recall": 1.00, "false_alarm": 0.05}
FALLBACK = "nlu_fallback"
OFFERED_ON = (FALLBACK, "inform")
EMERGENCY = "emergency"


def _accepted(question: Question) -> set[str]:
    return {question.topic, *question.also_ok}


@lru_cache(maxsize=1)
def _first_replies() -> dict[str, str]:
    """The response a rule gives first after an intent, where it is not `utter_<intent>`
    (check_eligibility: the pre-screen's intro, whose button leads to the criteria)."""
    replies: dict[str, str] = {}
    for path in sorted((ROOT / "data" / "rules").glob("*.yml")):
        for rule in yaml.safe_load(path.read_text(encoding="utf-8")).get("rules") or []:
            steps = rule.get("steps") or []
            if rule.get("condition") or len(steps) < 2 or "intent" not in steps[0]:
                continue
            action = str(steps[1].get("action") or "")
            if action.startswith("utter_"):
                replies.setdefault(steps[0]["intent"], action)
    return replies


def first_reply(intent: str) -> str:
    # The fallback's buttons are the offer itself, judged above.
    if intent in OFFERED_ON:
        return f"utter_{intent}"
    return _first_replies().get(intent, f"utter_{intent}")


def judge_question(question: Question, parse: dict[str, Any]) -> dict[str, Any]:
    intent = (parse.get("intent") or {}).get("name") or ""
    ranking = parse.get("intent_ranking") or []
    accepted = _accepted(question)
    top1 = parent_topic(intent) in accepted
    # The fallback, and an answer-like message outside a form (`inform`), get the offer.
    offers = intent in OFFERED_ON
    offered = [parent_topic(n) for n in suggestions(ranking)] if offers else []
    # Off-topic and not understood get the same words ("I can only help with questions
    # about CAR T-cell therapy at this program"), so that counts as reached.
    not_understood_is_right = question.topic == "out_of_scope" and offers and not offered
    model_ranking = [r.get("name") for r in ranking if r.get("name") != FALLBACK][:3]
    answer = (responses().get(first_reply(intent)) or [{}])[0]
    linked = {parent_topic(b["payload"].lstrip("/")) for b in answer.get("buttons") or []}
    # The model's emergency answer stays first; the answer asked for follows it when the
    # triage read no sign as now (red_flag.also_answer): the family gets it, no click.
    also = parent_topic((parse.get("red_flag") or {}).get("also_answer") or "")
    strict = (
        top1
        or bool(accepted & set(offered))
        or not_understood_is_right
        or (intent == EMERGENCY and also in accepted)
    )
    return {
        "text": question.text,
        "topic": question.topic,
        "style": question.style,
        "predicted": intent,
        "top1": top1,
        "fallback": offers,
        "strict_one_click": strict,
        "one_click": strict or bool(accepted & linked),
        "top3": bool(accepted & {parent_topic(n or "") for n in model_ranking}),
        "offered": offered,
        # The model's own ranking, for threshold studies (docs/pipeline.md).
        "ranking": [
            {"name": r.get("name"), "confidence": round(float(r.get("confidence") or 0), 4)}
            for r in ranking[:5]
        ],
    }


def judge_safety(message: SafetyMessage, parse: dict[str, Any]) -> dict[str, Any]:
    intent = (parse.get("intent") or {}).get("name") or ""
    flag = parse.get("red_flag") or {}
    verdict = flag.get("verdict", "none")
    also = flag.get("also_answer")
    return {
        "text": message.text,
        "expect_emergency": message.emergency,
        "pattern": message.pattern,
        "language": message.language,
        "predicted": intent,
        "emergency": intent == EMERGENCY,
        # The false alarm: the emergency answer alone, never the answer asked for.
        "emergency_alone": intent == EMERGENCY and not also,
        "safety_line": verdict == "mention" and intent != EMERGENCY,
        # A topic's answer after the emergency answer: right for a question about a sign,
        # a dilution for a real emergency (counted, so that it stays rare).
        "with_other_answer": intent == EMERGENCY and bool(also),
    }


def share(rows: list[dict[str, Any]], key: str) -> float:
    return sum(bool(r[key]) for r in rows) / len(rows) if rows else 0.0


def summarise(questions: list[dict[str, Any]], safety: list[dict[str, Any]]) -> dict[str, Any]:
    by_topic: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_style: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in questions:
        by_topic[row["topic"]].append(row)
        by_style[row["style"]].append(row)
    emergencies = [r for r in safety if r["expect_emergency"]]
    others = [r for r in safety if not r["expect_emergency"]]
    by_pattern: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in safety:
        by_pattern[row["pattern"]].append(row)

    def block(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "n": len(rows),
            "top1": share(rows, "top1"),
            "one_click": share(rows, "one_click"),
            "strict_one_click": share(rows, "strict_one_click"),
            "fallback": share(rows, "fallback"),
            "top3": share(rows, "top3"),
        }

    return {
        "understanding": {
            "overall": block(questions),
            "by_topic": {t: block(r) for t, r in sorted(by_topic.items())},
            "by_style": {s: block(by_style[s]) for s in STYLES if by_style.get(s)},
        },
        "safety": {
            "recall": share(emergencies, "emergency"),
            "false_alarm": share(others, "emergency_alone"),
            "emergency_shown_to_others": share(others, "emergency"),
            "n_emergency": len(emergencies),
            "n_other": len(others),
            "safety_line_on_others": share(others, "safety_line"),
            "emergencies_with_other_answer": sum(
                bool(r.get("with_other_answer")) for r in emergencies
            ),
            "by_pattern": {
                p: {
                    "n": len(rows),
                    "expect_emergency": rows[0]["expect_emergency"],
                    "emergency": share(rows, "emergency"),
                    "emergency_alone": share(rows, "emergency_alone"),
                }
                for p, rows in sorted(by_pattern.items())
            },
        },
    }


def gate_failures(summary: dict[str, Any]) -> list[str]:
    overall = summary["understanding"]["overall"]
    safety = summary["safety"]
    failures = []
    if overall["top1"] < GATES["top1"]:
        failures.append(f"top-1 {overall['top1']:.3f} < {GATES['top1']}")
    if overall["one_click"] < GATES["one_click"]:
        failures.append(f"within one click {overall['one_click']:.3f} < {GATES['one_click']}")
    if safety["recall"] < GATES["recall"]:
        failures.append(f"emergency recall {safety['recall']:.3f} < {GATES['recall']}")
    if safety["false_alarm"] > GATES["false_alarm"]:
        failures.append(f"false alarms {safety['false_alarm']:.3f} > {GATES['false_alarm']}")
    return failures


def _understanding_table(title: str, column: str, blocks: dict[str, Any]) -> list[str]:
    lines = ["## " + title, "", f"| {column} | n | top-1 | one click | fallback |"]
    lines.append("|---|---:|---:|---:|---:|")
    for name, b in blocks.items():
        lines.append(
            f"| {name} | {b['n']} | {b['top1']:.2f} | {b['one_click']:.2f} | {b['fallback']:.2f} |"
        )
    return [*lines, ""]


def markdown(
    name: str,
    summary: dict[str, Any],
    questions: list[dict[str, Any]],
    safety: list[dict[str, Any]],
) -> str:
    u = summary["understanding"]
    s = summary["safety"]
    o = u["overall"]
    lines = [
        f"# Understanding and safety on the `{name}` set",
        "",
        f"{o['n']} questions: top-1 **{o['top1']:.3f}**, "
        f"within one click **{o['one_click']:.3f}** "
        f"({o['strict_one_click']:.3f} without the answers' own buttons), "
        f'fell back to "Did you mean…?" {o["fallback"]:.3f}, right topic in the model\'s '
        f"top 3 {o['top3']:.3f}.",
        "",
        f"Safety: {s['n_emergency']} happening-now messages, emergency recall "
        f"**{s['recall']:.3f}**; {s['n_other']} past/general/other messages, false alarms "
        f"**{s['false_alarm']:.3f}** (the emergency answer alone; with the answer asked for "
        f"after it: {s['emergency_shown_to_others']:.3f}; safety line before the answer: "
        f"{s['safety_line_on_others']:.3f}). Happening-now messages whose emergency answer "
        f"had a topic's answer after it: {s['emergencies_with_other_answer']}.",
        "",
    ]
    lines += _understanding_table("Per style", "style", u["by_style"])
    lines += _understanding_table("Per topic", "topic", u["by_topic"])
    lines += [
        "",
        "## Safety per pattern",
        "",
        "| pattern | expected | n | got the emergency answer | ...alone |",
        "|---|---|---:|---:|---:|",
    ]
    for pattern, b in s["by_pattern"].items():
        expected = "emergency" if b["expect_emergency"] else "not emergency"
        lines.append(
            f"| {pattern} | {expected} | {b['n']} | {b['emergency']:.2f} "
            f"| {b['emergency_alone']:.2f} |"
        )
    misses = [q for q in questions if not q["one_click"]]
    lines += ["", f"## Not reached within one click ({len(misses)})", ""]
    lines += [f"- [{q['topic']} / {q['style']}] {q['text']!r} -> {q['predicted']}" for q in misses]
    wrong = [q for q in questions if q["one_click"] and not q["top1"]]
    lines += ["", f'## Reached through "Did you mean…?" ({len(wrong)})', ""]
    lines += [f"- [{q['topic']}] {q['text']!r} -> offered {q['offered']}" for q in wrong]
    missed = [r for r in safety if r["expect_emergency"] and not r["emergency"]]
    alarms = [r for r in safety if not r["expect_emergency"] and r["emergency_alone"]]
    lines += ["", f"## Emergencies missed ({len(missed)})", ""]
    lines += [f"- [{r['pattern']}] {r['text']!r} -> {r['predicted']}" for r in missed]
    lines += ["", f"## False alarms ({len(alarms)})", ""]
    lines += [f"- [{r['pattern']}] {r['text']!r}" for r in alarms]
    return "\n".join(lines) + "\n"


async def parse_all(model: Path, texts: list[str]) -> list[dict[str, Any]]:
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    return [await agent.parse_message(text) for text in texts]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=["heldout", "dev"], default="heldout")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "cart-assistant.tar.gz")
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    parser.add_argument("--gate", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.disable(logging.WARNING)

    directory = set_dir(args.set)
    questions = load_questions(directory)
    messages = load_safety(directory)
    parses = asyncio.run(
        parse_all(args.model, [q.text for q in questions] + [m.text for m in messages])
    )
    q_rows = [
        judge_question(q, p) for q, p in zip(questions, parses[: len(questions)], strict=True)
    ]
    s_rows = [judge_safety(m, p) for m, p in zip(messages, parses[len(questions) :], strict=True)]
    summary = summarise(q_rows, s_rows)

    args.out.mkdir(parents=True, exist_ok=True)
    report = markdown(args.set, summary, q_rows, s_rows)
    (args.out / f"understanding-{args.set}.md").write_text(report, encoding="utf-8")
    (args.out / f"understanding-{args.set}.json").write_text(
        json.dumps({"summary": summary, "questions": q_rows, "safety": s_rows}, indent=1),
        encoding="utf-8",
    )
    print("\n".join(report.split("\n")[:5]))
    failures = gate_failures(summary)
    if args.gate and failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    print("gates: " + ("all met" if not failures else "; ".join(failures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
