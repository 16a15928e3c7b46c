"""The pre-screen's parsers, validators and result: never a verdict of eligibility."""

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.eligibility import (
    ActionClearPrescreen,
    ActionEligibilityResult,
    ValidateEligibilityForm,
    parse_age,
    parse_diagnosis,
    parse_relapse,
    prescreen_result,
)
from tests.action_helper import load_domain, make_tracker, run_action


@pytest.mark.parametrize(
    ("value", "years"),
    [
        ("7", 7.0),
        ("7 year old", 7.0),
        ("18 months", 1.5),
        ("seven", 7.0),
        ("twenty two", 22.0),
        ("age 12", 12.0),
        ("14yo", 14.0),
        (22, 22.0),
        ("0", 0.0),
        ("120", 120.0),
    ],
)
def test_parse_age_reads_common_forms(value: object, years: float) -> None:
    assert parse_age(value) == years


@pytest.mark.parametrize("value", ["130", "-3", "abc", "", None, True, "seventy hundred"])
def test_parse_age_rejects_what_is_not_an_age(value: object) -> None:
    assert parse_age(value) is None


@pytest.mark.parametrize(
    ("value", "answer"),
    [
        ("b-cell all", "yes"),
        ("pre-b all", "yes"),
        ("B cell acute lymphoblastic leukemia", "yes"),
        ("t-cell all", "no"),
        ("aml", "no"),
        ("neuroblastoma", "no"),
        ("ALL", None),
        ("leukemia", None),
        ("yes", "yes"),
        ("unsure", "unsure"),
    ],
)
def test_parse_diagnosis(value: str, answer: str | None) -> None:
    assert parse_diagnosis(value) == answer


@pytest.mark.parametrize(
    ("value", "answer"),
    [
        ("relapsed twice", "yes"),
        ("second relapse", "yes"),
        ("refractory", "yes"),
        ("didn't respond", "yes"),
        ("relapsed once", "no"),
        ("first relapse", "no"),
        ("newly diagnosed", "no"),
        ("relapsed", None),
        ("came back", None),
        ("no", "no"),
    ],
)
def test_parse_relapse(value: str, answer: str | None) -> None:
    assert parse_relapse(value) == answer


def test_validator_accepts_an_age_and_stays_quiet() -> None:
    dispatcher = CollectingDispatcher()
    result = ValidateEligibilityForm().validate_patient_age(
        "9 years old", dispatcher, make_tracker(), load_domain()
    )
    assert result == {"patient_age": 9.0}
    assert dispatcher.messages == []


def test_validator_asks_again_for_a_bad_age() -> None:
    dispatcher = CollectingDispatcher()
    result = ValidateEligibilityForm().validate_patient_age(
        "two hundred and fifty", dispatcher, make_tracker(), load_domain()
    )
    assert result == {"patient_age": None}
    assert [m["response"] for m in dispatcher.messages] == ["utter_ask_age_again"]


def test_validator_maps_diagnosis_and_relapse_entities() -> None:
    form, dispatcher, tracker, domain = (
        ValidateEligibilityForm(),
        CollectingDispatcher(),
        make_tracker(),
        load_domain(),
    )
    assert form.validate_has_bcell_all("B-cell ALL", dispatcher, tracker, domain) == {
        "has_bcell_all": "yes"
    }
    assert form.validate_relapsed_or_refractory("relapsed twice", dispatcher, tracker, domain) == {
        "relapsed_or_refractory": "yes"
    }
    # Plain "ALL" does not say which kind: the form asks.
    assert form.validate_has_bcell_all("ALL", dispatcher, tracker, domain) == {
        "has_bcell_all": None
    }


@pytest.mark.parametrize(
    ("age", "b_all", "relapsed", "response"),
    [
        (7, "yes", "yes", "utter_prescreen_may_be_candidate"),
        (25, "yes", "yes", "utter_prescreen_may_be_candidate"),
        (26, "yes", "yes", "utter_prescreen_over_age"),
        (40, "no", "no", "utter_prescreen_over_age"),
        (7, "no", "yes", "utter_prescreen_not_b_all"),
        (7, "yes", "no", "utter_prescreen_not_relapsed"),
        (7, "unsure", "yes", "utter_prescreen_unsure"),
        (7, "yes", "unsure", "utter_prescreen_unsure"),
        (None, "yes", "yes", "utter_prescreen_unsure"),
    ],
)
def test_prescreen_result(age: object, b_all: str, relapsed: str, response: str) -> None:
    assert prescreen_result(age, b_all, relapsed) == response


def test_result_action_says_the_result_and_forgets_the_answers() -> None:
    tracker = make_tracker(
        slots={"patient_age": 7.0, "has_bcell_all": "yes", "relapsed_or_refractory": "yes"}
    )
    run = run_action(ActionEligibilityResult(), tracker)
    assert run.responses == ["utter_prescreen_may_be_candidate"]
    assert run.events == [
        SlotSet("patient_age", None),
        SlotSet("has_bcell_all", None),
        SlotSet("relapsed_or_refractory", None),
    ]


def test_no_result_ever_says_eligible() -> None:
    responses = load_domain()["responses"]
    for name in responses:
        if name.startswith("utter_prescreen"):
            text = responses[name][0]["text"].lower()
            assert "eligible" not in text, name
            assert any(
                b["payload"] == "/request_human" for b in responses[name][0].get("buttons", [])
            ) or name in ("utter_prescreen_intro", "utter_prescreen_stopped"), name


def test_clear_action_forgets_half_given_answers() -> None:
    run = run_action(ActionClearPrescreen(), make_tracker(slots={"patient_age": 7.0}))
    assert run.responses == []
    assert {e["name"] for e in run.events} == {
        "patient_age",
        "has_bcell_all",
        "relapsed_or_refractory",
    }
    assert all(e["value"] is None for e in run.events)
