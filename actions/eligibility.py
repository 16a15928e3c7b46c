"""The eligibility pre-screen: reading the answers and choosing the result.

It never decides eligibility: the results only say a child *may* be a candidate, or
explain the approved use, and always point to the care team. The words are in
domain.yml; here is only which words fit.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

# KYMRIAH's label: patients up to 25 years of age (facts.yml, eligibility).
MAX_APPROVED_AGE = 25
MIN_AGE, MAX_AGE = 0, 120
PRESCREEN_SLOTS = ("patient_age", "has_bcell_all", "relapsed_or_refractory")

YES, NO, UNSURE = "yes", "no", "unsure"

_NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_NUMBER_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "a": 1, "an": 1})


_YEARS_AND_MONTHS = re.compile(
    r"(\d{1,3})\s*(?:years?|yrs?|y)\b(?:\s*old)?[\s,]*(?:and\s+)?(\d{1,2})\s*(?:months?|mos?)\b"
)


def parse_age(value: Any) -> float | None:
    """An age in years from "7", "7 year old", "18 months", "seven", "twenty two"."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        years = float(value)
    else:
        text = str(value).lower().strip()
        match = re.search(r"(-?\d{1,3}(?:[.,]\d+)?)", text)
        with_months = _YEARS_AND_MONTHS.search(text)
        if with_months:  # "30 years 2 months" is 30, not 2.5
            years = float(with_months.group(1)) + float(with_months.group(2)) / 12
        elif match:
            years = float(match.group(1).replace(",", "."))
        else:
            words = re.findall(r"[a-z]+", text)
            if {"hundred", "thousand", "million"} & set(words):
                return None  # never an age we should guess at
            numbers = [
                _NUMBER_WORDS[w] for w in words if w in _NUMBER_WORDS and w not in ("a", "an")
            ]
            if not numbers:
                return None
            years = float(sum(numbers))  # "twenty two" -> 22
        if with_months:
            pass
        elif re.search(r"\bmonths?\b|\bmos?\b", text):
            years = years / 12
        elif re.search(r"\bweeks?\b", text):
            years = years / 52
    if not MIN_AGE <= years <= MAX_AGE:
        return None
    return round(years, 2)


_NOT_B_ALL = re.compile(
    r"\bt[- ]?cell\b|\bt-all\b|\baml\b|\bmyeloid\b|\bcml\b|neuroblastoma|lymphoma"
)
_B_ALL = re.compile(
    r"\b(pre[- ]?)?b[- ]?(cell )?(precursor )?(all|acute|lymphoblastic|leuka?emia)\b|\bb-all\b"
)


def parse_diagnosis(value: Any) -> str | None:
    """yes / no / unsure from a diagnosis the family named; None when it does not say."""
    text = str(value or "").lower()
    if text in (YES, NO, UNSURE):
        return text
    if _NOT_B_ALL.search(text):
        return NO
    if _B_ALL.search(text):
        return YES
    return None  # "ALL", "leukemia": ask whether it is the B-cell kind


_MORE_THAN_ONCE = re.compile(
    r"twice|two times|2 times|three|3 times|second|2nd|third|3rd|multiple|several|"
    r"more than once|again|two relapses|2 relapses|refractory|n.?t respond|not responding|"
    r"stopped responding|never went into remission|no remission|not in remission|resistant"
)
_NOT_YET = re.compile(r"\bonce\b|one time|first|1st|newly diagnosed|just diagnosed")


# "not refractory", "hasn't relapsed", "no relapse": a no, before any word below matches.
_DENIED = re.compile(
    r"\b(not|isn.?t|wasn.?t|never|hasn.?t|has not)\s+(been\s+|ever\s+)?"
    r"(refractory|relapsed|resistant|come back|came back)\b|\bno relapses?\b"
)


def parse_relapse(value: Any) -> str | None:
    """yes when it came back more than once or did not respond; no for a first relapse."""
    text = str(value or "").lower()
    if text in (YES, NO, UNSURE):
        return text
    if _DENIED.search(text):
        return NO
    if _MORE_THAN_ONCE.search(text):
        return YES
    if _NOT_YET.search(text):
        return NO
    return None  # "relapsed", "came back": ask how often


def prescreen_result(age: Any, has_bcell_all: str | None, relapsed: str | None) -> str:
    """The response that fits the answers. Never a verdict: the team decides."""
    years = parse_age(age)
    # "Up to 25 years of age": 25 years and 11 months is still 25.
    if years is not None and int(years) > MAX_APPROVED_AGE:
        return "utter_prescreen_over_age"
    if has_bcell_all == NO:
        return "utter_prescreen_not_b_all"
    if relapsed == NO:
        return "utter_prescreen_not_relapsed"
    if years is None or has_bcell_all != YES or relapsed != YES:
        return "utter_prescreen_unsure"
    return "utter_prescreen_may_be_candidate"


class ValidateEligibilityForm(FormValidationAction):
    """Turns what the family typed into an age and yes/no/unsure answers."""

    def name(self) -> str:
        return "validate_eligibility_form"

    def validate_patient_age(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        years = parse_age(slot_value)
        if years is None:
            dispatcher.utter_message(response="utter_ask_age_again")
        return {"patient_age": years}

    def validate_has_bcell_all(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        return {"has_bcell_all": parse_diagnosis(slot_value)}

    def validate_relapsed_or_refractory(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        return {"relapsed_or_refractory": parse_relapse(slot_value)}


def clear_prescreen() -> list[EventType]:
    return [SlotSet(slot, None) for slot in PRESCREEN_SLOTS]


class ActionEligibilityResult(Action):
    """Says what the answers suggest, offers a coordinator, and forgets the answers."""

    def name(self) -> str:
        return "action_eligibility_result"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        response = prescreen_result(
            tracker.get_slot("patient_age"),
            tracker.get_slot("has_bcell_all"),
            tracker.get_slot("relapsed_or_refractory"),
        )
        dispatcher.utter_message(response=response)
        return clear_prescreen()


class ActionClearPrescreen(Action):
    """Forgets half-given pre-screen answers when the family leaves the pre-screen."""

    def name(self) -> str:
        return "action_clear_prescreen"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        return clear_prescreen()
