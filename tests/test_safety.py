"""The red-flag check: current symptoms are emergencies, general questions are not."""

import pytest

from actions.safety import Verdict, assess

EMERGENCIES = [
    "my son has a fever",
    "fever 39.5",
    "fever",
    "is it normal that my son has a fever",
    "she is confused and slurring her words",
    "he's having a seizure",
    "my daughter can't breathe properly",
    "he had a fever last night and now he is very sleepy",
    "temp of 101 since this morning",
    "what do i do if my child has a fever after car t",
    "my kid is really sleepy and wont wake up",
    "our son fainted",
    "she keeps throwing up",
    "i feel dizzy",
    "fever and chills in my daughter",
    "does my daughter have crs? she has a fever of 39",
    "My son\u2019s lips are turning blue",
    "HE IS HAVING A SEIZURE",
    "my 9 year old has a fever of 102 right now",
]

GENERAL_QUESTIONS = [
    "what is CRS, does it cause fever?",
    "does car t cause fever",
    "can my son get a seizure from car t",
    "will my daughter get a fever after the infusion?",
    "what are the signs of neurotoxicity like confusion or seizures",
    "how common is crs with fever and chills",
    "how long do fevers last after kymriah?",
    "will my son have a fever after car t",
    "does the fever come in the first week?",
]

NOTHING = [
    "what are the side effects",
    "I'm confused about the insurance part",
    "is the cytokine storm dangerous",
    "my 7 year old has relapsed twice",
    "",
    "   ",
    "how much does it cost",
]


@pytest.mark.parametrize("text", EMERGENCIES)
def test_current_symptoms_are_emergencies(text: str) -> None:
    assert assess(text).verdict is Verdict.EMERGENCY


@pytest.mark.parametrize("text", GENERAL_QUESTIONS)
def test_general_questions_only_mention_a_sign(text: str) -> None:
    result = assess(text)
    assert result.verdict is Verdict.MENTION
    assert result.signs


@pytest.mark.parametrize("text", NOTHING)
def test_messages_without_warning_signs(text: str) -> None:
    assert assess(text).verdict is Verdict.NONE


def test_signs_are_named() -> None:
    assert set(assess("she has a fever and chills and is confused").signs) >= {
        "fever",
        "chills",
        "confusion",
    }


def test_huge_and_odd_input_does_not_crash() -> None:
    assert assess("fever " * 20000).verdict is Verdict.EMERGENCY
    assert assess("\x00\x01<script>alert(1)</script>").verdict is Verdict.NONE
