"""The second emergency detector (core/emergency_detector.py), trained on the real
examples: it hears a warning sign in words no list holds, and stays quiet on questions."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest

from core.emergency_detector import (
    DEFAULT_THRESHOLD,
    EmergencyDetector,
    examples_by_writer,
    training_examples,
)
from core.evaluation_sets import training_examples as nlu_examples
from core.safety import assess


@lru_cache(maxsize=1)
def detector() -> EmergencyDetector:
    return EmergencyDetector.fit(*training_examples(nlu_examples(), examples_by_writer()))


# Written for this test, in words the triage has no list for (it finds no sign in them).
IMAGES_NOW = [
    "he's staring at the wall like his batteries ran out",
    "it's like her brain is buffering, she starts a sentence and it just stops",
    "her legs turned to jelly and she slid down the wall",
    "mi hija se queda mirando la pared y no me contesta",
]
QUESTIONS = [
    "how much does the family housing cost per night",
    "who do I send the referral letter to",
    "what does relapsed mean",
    # "like" is common in images; not every "like" is one.
    "what is the hospital stay like for kids",
    "is car t like a bone marrow transplant",
]


@pytest.mark.parametrize("text", IMAGES_NOW)
def test_an_image_of_a_sign_the_triage_cannot_read_is_heard(text: str) -> None:
    assert not assess(text).signs
    assert detector().score(text) >= DEFAULT_THRESHOLD


@pytest.mark.parametrize("text", QUESTIONS)
def test_topic_questions_stay_well_below_the_threshold(text: str) -> None:
    assert detector().score(text) < DEFAULT_THRESHOLD / 2


def test_it_needs_examples_of_both_kinds() -> None:
    with pytest.raises(ValueError):
        EmergencyDetector.fit(["he has a fever", "she is seizing"], [True, True])


def test_an_overlong_message_is_scored_on_its_capped_start() -> None:
    start = "she is seizing right now and won't stop "
    assert detector().score(start + "x " * 50_000) == pytest.approx(
        detector().score(start + "x " * 3_000), abs=0.05
    )


def test_each_writers_set_is_one_group(tmp_path: Path) -> None:
    (tmp_path / "safety_dev7.yml").write_text(
        "messages:\n- {text: he is seizing, expect: emergency, pattern: named_sign}\n"
        "- {text: what is crs, expect: not_emergency, pattern: general}\n",
        encoding="utf-8",
    )
    (tmp_path / "understanding_dev7.yml").write_text(
        "questions:\n- {text: what is kymriah, topic: what_is_kymriah, style: terse}\n",
        encoding="utf-8",
    )
    assert examples_by_writer(tmp_path) == {
        "dev7": [("he is seizing", True), ("what is crs", False), ("what is kymriah", False)]
    }
