"""The NLG: contact details from settings, and the disclaimer on each session's first reply."""

from __future__ import annotations

import asyncio

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from components.program_nlg import ProgramResponseGenerator
from tests.action_helper import ROOT

DOMAIN = Domain.load(str(ROOT / "domain.yml"))


def tracker(*events: object) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("family", list(events), slots=DOMAIN.slots)


def generate(nlg: ProgramResponseGenerator, response: str, state: DialogueStateTracker) -> dict:
    message = asyncio.run(nlg.generate(response, state, "rest"))
    assert message is not None
    return message


NEW_SESSION = (
    ActionExecuted("action_session_start"),
    SessionStarted(),
    ActionExecuted("action_listen"),
    UserUttered("hi"),
)
DISCLAIMER = DOMAIN.responses["utter_disclaimer"][0]["text"]


def test_first_reply_of_a_session_starts_with_the_disclaimer() -> None:
    message = generate(
        ProgramResponseGenerator(domain=DOMAIN), "utter_greet", tracker(*NEW_SESSION)
    )
    assert message["text"].startswith(DISCLAIMER + "\n\n")
    assert message["buttons"]


def test_later_replies_have_no_disclaimer() -> None:
    state = tracker(*NEW_SESSION, BotUttered("Hello!"), UserUttered("what is crs"))
    message = generate(ProgramResponseGenerator(domain=DOMAIN), "utter_crs", state)
    assert DISCLAIMER not in message["text"]


def test_a_new_session_gets_the_disclaimer_again() -> None:
    state = tracker(*NEW_SESSION, BotUttered("Hello!"), *NEW_SESSION)
    message = generate(ProgramResponseGenerator(domain=DOMAIN), "utter_crs", state)
    assert message["text"].startswith(DISCLAIMER)


def test_emergency_comes_before_the_disclaimer() -> None:
    message = generate(
        ProgramResponseGenerator(domain=DOMAIN), "utter_emergency", tracker(*NEW_SESSION)
    )
    assert message["text"].startswith("This may be an emergency.")
    assert message["text"].endswith(DISCLAIMER)
    assert message["custom"] == {"emergency": True}


def test_contact_details_are_filled_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CART_PROGRAM_PHONE", "555-0100")
    monkeypatch.setenv("CART_PROGRAM_EMAIL", "team@example.org")
    state = tracker(*NEW_SESSION, BotUttered("Hello!"))
    message = generate(ProgramResponseGenerator(domain=DOMAIN), "utter_contact_info", state)
    assert "555-0100" in message["text"] and "team@example.org" in message["text"]
    assert "{" not in message["text"]


def test_default_contacts_are_the_seed_page_ones() -> None:
    state = tracker(*NEW_SESSION, BotUttered("Hello!"))
    text = generate(ProgramResponseGenerator(domain=DOMAIN), "utter_handoff_cancelled", state)[
        "text"
    ]
    assert "617-919-7008" in text and "colleen.dansereau@childrens.harvard.edu" in text


def _later(text: str, parse_data: dict) -> DialogueStateTracker:
    return tracker(*NEW_SESSION, BotUttered("Hello!"), UserUttered(text, parse_data=parse_data))


def _response(name: str) -> str:
    return DOMAIN.responses[name][0]["text"].split("{")[0]


def test_a_mentioned_sign_gets_one_safety_line_before_the_answer() -> None:
    state = _later("what if he gets a fever?", {"red_flag": {"verdict": "mention"}})
    message = generate(ProgramResponseGenerator(domain=DOMAIN), "utter_crs", state)
    assert message["text"].startswith(_response("utter_safety_line"))
    assert _response("utter_crs") in message["text"]


def test_a_spanish_emergency_gets_the_spanish_answer() -> None:
    state = _later("tiene fiebre", {"red_flag": {"verdict": "emergency", "language": "es"}})
    message = generate(ProgramResponseGenerator(domain=DOMAIN), "utter_emergency", state)
    assert message["text"].startswith(_response("utter_emergency_es"))
    assert message["custom"] == {"emergency": True}


def test_the_question_asked_follows_an_emergency_the_triage_read_as_not_now() -> None:
    flag = {"verdict": "none", "also_answer": "hospital_stay"}
    state = _later("no fever so far, when can we go home?", {"red_flag": flag})
    message = generate(ProgramResponseGenerator(domain=DOMAIN), "utter_emergency", state)
    assert message["text"].startswith(_response("utter_emergency"))
    assert _response("utter_hospital_stay") in message["text"]
    assert message["custom"] == {"emergency": True}


def test_did_you_mean_offers_the_likeliest_topics() -> None:
    ranking = [{"name": "nlu_fallback", "confidence": 0.3}, {"name": "crs", "confidence": 0.25}]
    state = _later("cytokine thing?", {"intent_ranking": ranking})
    message = generate(ProgramResponseGenerator(domain=DOMAIN), "utter_did_you_mean", state)
    assert [b["payload"] for b in message["buttons"]] == ["/crs", "/something_else"]
