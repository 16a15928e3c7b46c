"""Whole conversations over the REST channel, against the real Rasa and action servers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import yaml

from core.settings import load_contacts
from tests.action_helper import ROOT, load_domain
from tests.servers import Servers, running_servers

RESPONSES = load_domain()["responses"]
CONTACTS = load_contacts()
DISCLAIMER = RESPONSES["utter_disclaimer"][0]["text"]


def opening(response: str) -> str:
    """The first words of a response as a family sees it (placeholders filled)."""
    return RESPONSES[response][0]["text"].format(**CONTACTS.placeholders())[:60]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    with running_servers(tmp_path_factory.mktemp("e2e-logs")) as running:
        yield running


@pytest.fixture
def sender() -> str:
    return f"family-{uuid.uuid4().hex[:8]}"


def test_first_reply_carries_the_disclaimer_then_the_greeting(
    servers: Servers, sender: str
) -> None:
    replies = servers.say(sender, "hello")
    assert replies[0]["text"].startswith(DISCLAIMER)
    assert opening("utter_greet") in replies[0]["text"]
    second = servers.texts(sender, "what is crs")
    assert DISCLAIMER not in second


TOPIC_QUESTIONS = yaml.safe_load((ROOT / "tests" / "test_stories.yml").read_text())["stories"]


@pytest.mark.parametrize(
    "story", [s for s in TOPIC_QUESTIONS if s["story"].startswith("FAQ ")], ids=lambda s: s["story"]
)
def test_every_topic_is_answered(servers: Servers, sender: str, story: dict) -> None:
    question = story["steps"][0]["user"].strip()
    topic = story["steps"][0]["intent"]
    replies = servers.say(sender, question)
    assert opening(f"utter_{topic}") in replies[0]["text"]
    assert {"title": "Talk to a coordinator", "payload": "/request_human"} in replies[0]["buttons"]


def test_button_payloads_answer_deterministically(servers: Servers, sender: str) -> None:
    assert opening("utter_neurotoxicity") in servers.texts(sender, "/neurotoxicity")


def test_current_symptom_gets_911_and_the_care_team_at_once(servers: Servers, sender: str) -> None:
    servers.say(sender, "hi")
    replies = servers.say(sender, "my son had car t last week and he is burning up, 39.4")
    text = "\n\n".join(r.get("text", "") for r in replies)
    assert text.startswith("This may be an emergency.")
    assert "911" in text and CONTACTS.care_team_phone in text
    assert CONTACTS.care_team_after_hours_phone in text
    assert {"custom": {"emergency": True}} in [
        {"custom": r["custom"]} for r in replies if "custom" in r
    ]


def test_emergency_wins_even_when_the_words_look_like_another_topic(
    servers: Servers, sender: str
) -> None:
    text = servers.texts(sender, "how much does the hospital stay cost, she has a fever of 102 now")
    assert text.startswith("This may be an emergency.")


@pytest.mark.parametrize(
    "message",
    [
        "he's staring at the wall like his batteries ran out",
        "mi hija se queda mirando la pared y no me contesta",
    ],
)
def test_a_sign_in_words_the_triage_has_no_list_for_gets_the_emergency_answer(
    servers: Servers, sender: str, message: str
) -> None:
    """The second emergency detector, through the real server (components/emergency_detector.py)."""
    replies = servers.say(sender, message)
    text = "\n\n".join(r.get("text", "") for r in replies)
    assert text.startswith((opening("utter_emergency"), opening("utter_emergency_es"))), text[:200]
    assert CONTACTS.care_team_phone in text


def test_a_sign_not_placed_in_time_gets_the_answer_after_a_safety_line(
    servers: Servers, sender: str
) -> None:
    """Issue #14, outcome 2: the answer asked for, preceded by one safety line."""
    servers.say(sender, "hi")
    text = servers.texts(sender, "what if he gets a fever after we go home?")
    assert text.startswith(opening("utter_safety_line"))
    assert CONTACTS.care_team_phone in text and "911" in text
    assert "This may be an emergency" not in text
    assert len(text) > len(opening("utter_safety_line")) + 80  # an answer follows


def test_a_general_side_effect_question_gets_the_answer_alone(
    servers: Servers, sender: str
) -> None:
    """Issue #14, outcome 3: general questions get what they asked, no alarm."""
    servers.say(sender, "hi")
    text = servers.texts(sender, "what is CRS, does it cause fever?")
    assert opening("utter_crs") in text
    assert not text.startswith(opening("utter_safety_line"))
    assert "This may be an emergency" not in text


def test_a_spanish_emergency_gets_the_spanish_emergency_answer(
    servers: Servers, sender: str
) -> None:
    replies = servers.say(sender, "mi hijo tiene fiebre de 39 y no despierta")
    text = "\n\n".join(r.get("text", "") for r in replies)
    assert text.startswith(opening("utter_emergency_es"))
    assert CONTACTS.care_team_phone in text and CONTACTS.care_team_after_hours_phone in text
    assert {"custom": {"emergency": True}} in [
        {"custom": r["custom"]} for r in replies if "custom" in r
    ]


def test_prescreen_takes_what_the_message_already_says(servers: Servers, sender: str) -> None:
    servers.say(sender, "hi")
    text = servers.texts(sender, "can my 7 year old get car t? she relapsed twice")
    assert opening("utter_prescreen_intro") in text
    assert opening("utter_ask_has_bcell_all") in text
    assert "How old" not in text and "come back (relapsed)" not in text
    result = servers.say(sender, "yes")
    assert opening("utter_prescreen_may_be_candidate") in result[0]["text"]
    assert "eligible" not in result[0]["text"].lower()
    assert {"title": "Talk to a coordinator", "payload": "/request_human"} in result[0]["buttons"]


def test_prescreen_asks_again_for_a_bad_age_and_explains_the_age_limit(
    servers: Servers, sender: str
) -> None:
    servers.say(sender, "hi")
    assert opening("utter_ask_patient_age") in servers.texts(sender, "is my child eligible")
    again = servers.texts(sender, "a thousand")
    assert opening("utter_ask_age_again") in again and opening("utter_ask_patient_age") in again
    assert opening("utter_ask_has_bcell_all") in servers.texts(sender, "31")
    assert opening("utter_ask_relapsed_or_refractory") in servers.texts(sender, "yes")
    assert opening("utter_prescreen_over_age") in servers.texts(sender, "yes")


def test_stop_leaves_the_prescreen_and_a_new_one_starts_clean(
    servers: Servers, sender: str
) -> None:
    servers.say(sender, "hi")
    servers.say(sender, "check if my child may qualify")
    servers.say(sender, "12")
    stopped = servers.texts(sender, "stop")
    assert opening("utter_prescreen_stopped") in stopped and CONTACTS.program_phone in stopped
    # The half-given age was forgotten: a new pre-screen asks it again.
    assert opening("utter_ask_patient_age") in servers.texts(sender, "is my child eligible")


def test_emergency_during_the_prescreen_is_answered_first(servers: Servers, sender: str) -> None:
    servers.say(sender, "hi")
    servers.say(sender, "is my daughter eligible")
    text = servers.texts(sender, "my 9 year old has a fever of 102 right now")
    assert text.startswith("This may be an emergency.")
    assert opening("utter_greet") in servers.texts(sender, "hello")  # the form is gone


def test_question_during_the_prescreen_is_answered(servers: Servers, sender: str) -> None:
    servers.say(sender, "hi")
    servers.say(sender, "can my son get car t")
    assert opening("utter_cost_insurance") in servers.texts(sender, "how much does it cost")


def test_two_misunderstandings_in_a_row_offer_a_coordinator(servers: Servers, sender: str) -> None:
    servers.say(sender, "hi")
    first = servers.say(sender, "qwzx plorb")
    # "Did you mean…?" with the likeliest topics, or "I didn't understand" without a guess.
    offered = opening("utter_did_you_mean") in first[0]["text"]
    assert offered or opening("utter_not_understood") in first[0]["text"]
    if offered:
        assert first[0]["buttons"][-1]["payload"] == "/something_else"
    second = servers.say(sender, "zzkq vrrm")
    assert opening("utter_offer_coordinator") in second[0]["text"]
    assert second[0]["buttons"][0]["payload"] == "/request_human"


def test_out_of_scope_is_kind_and_offers_help(servers: Servers, sender: str) -> None:
    servers.say(sender, "hi")
    replies = servers.say(sender, "can you book me a table at a restaurant")
    assert (
        "I can only help with questions about CAR T-cell therapy at this program"
        in replies[0]["text"]
    )
    assert replies[0]["buttons"][0]["payload"] == "/help"


def test_help_lists_every_topic_as_a_button(servers: Servers, sender: str) -> None:
    servers.say(sender, "hi")
    replies = servers.say(sender, "what can i ask")
    payloads = {b["payload"] for b in replies[0]["buttons"]}
    faq_topics = [s["steps"][0]["intent"] for s in TOPIC_QUESTIONS if s["story"].startswith("FAQ ")]
    assert {f"/{t}" for t in faq_topics} <= payloads
    assert {"/check_eligibility", "/request_human"} <= payloads


def test_coordinator_request_says_what_happens_and_stop_gives_the_contacts(
    servers: Servers, sender: str
) -> None:
    servers.say(sender, "hi")
    text = servers.texts(sender, "i want to talk to a real person")
    assert opening("utter_handoff_intro") in text and opening("utter_ask_handoff_name") in text
    stopped = servers.texts(sender, "cancel")
    assert CONTACTS.program_phone in stopped and CONTACTS.program_email in stopped


@pytest.mark.parametrize(
    "message", ["", "   ", "<img src=x onerror=alert(1)>", "\u202eabc", "🙂🙂"]
)
def test_odd_input_gets_a_reply_not_an_error(servers: Servers, sender: str, message: str) -> None:
    servers.say(sender, message)  # asserts HTTP 200
    assert servers.say(sender, "/crs")[0]["text"]  # and the server keeps serving


def test_disclaimer_faqs_and_emergencies_work_with_the_action_server_down(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Answers, the disclaimer and the emergency path live in the Rasa server alone."""
    import os
    import signal

    with running_servers(tmp_path_factory.mktemp("no-actions")) as servers:
        os.kill(servers.action_pid, signal.SIGTERM)
        sender = f"family-{uuid.uuid4().hex[:8]}"
        first = servers.say(sender, "hello")
        assert first[0]["text"].startswith(DISCLAIMER)
        assert opening("utter_greet") in first[0]["text"]
        assert opening("utter_side_effects") in servers.texts(sender, "what are the side effects")
        emergency = servers.texts(sender, "my daughter has a fever of 102 right now")
        assert emergency.startswith("This may be an emergency.") and "911" in emergency
