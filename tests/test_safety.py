"""The triage (core/safety.py): a warning sign now is an emergency; mentioned, a safety
line; past, negated, someone else's or general, neither. The broad measurement is the
held-out safety set (scripts/evaluate_understanding.py); these pin the rules' intent."""

from __future__ import annotations

import time

import pytest

from core.safety import MAX_SCREENED_CHARS, Reading, Verdict, assess

EMERGENCIES = [
    "my son has a fever",
    "fever 39.5",
    "fever",
    "temp 38.6 tonight",
    "the thermometer reads 101.9",
    "he's at 102",
    "38.4 and climbing, day 3 after kymriah",
    "is it normal that my son has a fever",
    "she is confused and slurring her words",
    "he's having a seizure",
    "she had a fit and her eyes are rolling back",
    "he's twitching and jerking",
    "she is seeing things that aren't there",
    "he doesn't recognise me",
    "my daughter can't breathe properly",
    "his heart is racing",
    "she's so floppy and weak",
    "he had a fever last night and now he is very sleepy",
    "should we go to the ER? she's at 101",
    "how high is too high? he's 38.4 now",
    "can i give tylenol, fever is 102",
    "my kid is really sleepy and wont wake up",
    "i feel dizzy",
    "im 20 and my temp is 38.5",
    "My son\u2019s lips are turning blue",
    "HE IS HAVING A SEIZURE",
]

MENTIONS = [
    "what if he gets a fever after we go home?",
    "who do we call if she has a seizure at night?",
    "will my daughter get a fever after the infusion?",
    "what do i do if my child has a fever after car t",
]

NOT_EMERGENCIES = [
    "he had a seizure as a baby, can he still get car t?",
    "last year during chemo she had high fevers, is crs like that?",
    "my nephew has a fever, is it safe for my son to see him?",
    "no fever so far, when can we go home?",
    "she's been fever free for a week",
    "what are the signs of CRS?",
    "how common are seizures with kymriah",
    "Neurotoxicity Symptoms After CAR T",
    "what are the side effects",
    "I'm confused about the insurance part",
    "my 7 year old has relapsed twice",
    "call 617-632-3352",
    "she is 38 years old",
    "",
    "   ",
]

SPANISH_EMERGENCIES = [
    "mi hijo tiene fiebre de 39",
    "mi hija está convulsionando",
    "no puede respirar",
    "esta muy confundido y no me reconoce",
]


@pytest.mark.parametrize("text", EMERGENCIES)
def test_a_warning_sign_now_is_an_emergency(text: str) -> None:
    assert assess(text).verdict is Verdict.EMERGENCY


@pytest.mark.parametrize("text", MENTIONS)
def test_a_sign_not_placed_in_time_gets_the_safety_line(text: str) -> None:
    result = assess(text)
    assert result.verdict is Verdict.MENTION
    assert Reading.HYPOTHETICAL.value in result.readings


@pytest.mark.parametrize("text", NOT_EMERGENCIES)
def test_past_negated_other_and_general_are_not_emergencies(text: str) -> None:
    assert assess(text).verdict is not Verdict.EMERGENCY


@pytest.mark.parametrize("text", SPANISH_EMERGENCIES)
def test_spanish_emergencies_are_recognised_as_spanish(text: str) -> None:
    result = assess(text)
    assert result.verdict is Verdict.EMERGENCY
    assert result.language == "es"


def test_temperatures_are_read_against_the_fever_line() -> None:
    assert assess("temp 100.4").signs == ("fever",)
    assert assess("temp 37.8").verdict is Verdict.MENTION
    assert assess("temp 98.6 this morning, all good").verdict is Verdict.NONE
    assert assess("39 c").verdict is Verdict.EMERGENCY
    assert assess("she is 102 pounds").verdict is Verdict.NONE


def test_the_signs_found_are_named() -> None:
    assert set(assess("she has a fever and chills and is confused").signs) >= {
        "fever",
        "chills",
        "confusion",
    }


def test_a_huge_crafted_message_is_screened_in_linear_time() -> None:
    """Issue #15.1: the old check was quadratic; a 1 MB message stalled the server."""
    for text in ("fever " * 200_000, "my son " * 150_000, "no " * 350_000, "a" * 1_000_000):
        started = time.perf_counter()
        assess(text)
        elapsed = time.perf_counter() - started
        assert elapsed < 1.0, (text[:10], elapsed)


def test_only_the_start_of_an_over_long_message_is_screened() -> None:
    assert assess("x " * MAX_SCREENED_CHARS + "my son has a fever").verdict is Verdict.NONE
    assert assess("my son has a fever " + "x " * MAX_SCREENED_CHARS).verdict is Verdict.EMERGENCY


def test_odd_input_is_no_emergency_and_no_crash() -> None:
    assert assess("\x00\x01<script>alert(1)</script>").verdict is Verdict.NONE
    assert assess("🙂🙂🙂").verdict is Verdict.NONE
