"""The answers families read: complete, sourced, short, plain, and one place for contacts."""

from __future__ import annotations

import re

import pytest
import textstat
import yaml

from core.content import domain_text
from core.settings import load_contacts
from tests.action_helper import ROOT, load_domain

SHARED = ROOT.parent / "shared" / "content"
DOMAIN = load_domain()
RESPONSES = DOMAIN["responses"]


def topics_contract() -> tuple[list[str], list[str]]:
    """FAQ topic names and conversation intent names from ../shared/content/topics.md."""
    if not (SHARED / "topics.md").exists():
        pytest.skip("../shared/content is not beside this checkout")
    text = (SHARED / "topics.md").read_text(encoding="utf-8")
    faq_part, conversation_part = text.split("## Conversation intents")
    faq = re.findall(r"^\| ([a-z_]+) \|", faq_part, flags=re.M)
    conversation: list[str] = []
    for cell in re.findall(r"^\| ([a-z_, ]+) \|", conversation_part, flags=re.M):
        conversation += [name.strip() for name in cell.split(",") if name.strip() != "name"]
    return [n for n in faq if n != "name"], conversation


def faq_topics() -> list[str]:
    return topics_contract()[0]


SAMPLE_VALUES = {
    "reference": "CT-2026-00042",
    "coordinators_back": "Monday at 8:00 AM",
    "handoff_contact": "617-555-0123",
    "max_length": "2000",
    "coordinator": "Alex Kim",
}


def plain(text: str) -> str:
    """The words a family reads: markdown and placeholders filled with sample values."""
    text = text.format(**load_contacts().placeholders(), **SAMPLE_VALUES)
    return re.sub(r"[*_#]", "", text)


def test_every_contract_name_is_an_intent() -> None:
    faq, conversation = topics_contract()
    assert len(faq) == 19
    missing = set(faq + conversation) - set(DOMAIN["intents"])
    assert not missing


@pytest.mark.parametrize("topic", faq_topics() if (SHARED / "topics.md").exists() else [])
def test_every_topic_has_a_short_answer_with_related_buttons(topic: str) -> None:
    answer = RESPONSES[f"utter_{topic}"][0]
    assert len(plain(answer["text"]).split()) <= 95
    payloads = [b["payload"] for b in answer.get("buttons", [])]
    assert 2 <= len(payloads) <= 3
    assert "/request_human" in payloads
    for payload in payloads:
        assert payload.lstrip("/") in DOMAIN["intents"], payload


def test_reading_grade_of_every_answer() -> None:
    grades = {
        name: textstat.flesch_kincaid_grade(plain(r[0]["text"])) for name, r in RESPONSES.items()
    }
    too_hard = {name: grade for name, grade in grades.items() if grade > 10}
    assert not too_hard
    average = sum(grades.values()) / len(grades)
    assert average <= 8, f"average grade {average:.1f}"


def test_program_contacts_only_come_from_settings() -> None:
    """No answer types a number or address that lives in core/settings.py."""
    contacts = load_contacts().placeholders()
    raw = domain_text()
    for name, value in contacts.items():
        if name != "program_contact":
            assert value not in raw, f"{name} is typed into domain.yml; use {{{name}}}"
    used = set(re.findall(r"\{([a-z_]+)\}", raw))
    # Besides contacts: slots, values the handoff action passes (actions/handoff.py) and
    # the length limit the socket.io channel fills in (channels/socketio.py).
    passed_in = {"reference", "coordinators_back", "max_length", "coordinator"}
    allowed = set(contacts) | set(DOMAIN["slots"]) | passed_in
    assert used <= allowed, used - allowed


def test_contact_details_reach_the_answers_that_need_them() -> None:
    contacts = load_contacts()
    for name in (
        "utter_contact_info",
        "utter_referral",
        "utter_handoff_cancelled",
        "utter_handoff_not_saved",
        "utter_handoff_gave_up",
    ):
        text = plain(RESPONSES[name][0]["text"])
        assert contacts.program_phone in text and contacts.program_email in text, name
    emergency = plain(RESPONSES["utter_emergency"][0]["text"])
    assert "911" in emergency and contacts.care_team_after_hours_phone in emergency


def test_disclaimer_is_one_line_with_what_it_must_say() -> None:
    text = RESPONSES["utter_disclaimer"][0]["text"]
    assert "\n" not in text
    for words in ("automated", "general information", "not medical advice", "private", "911"):
        assert words in text


def test_current_label_governs() -> None:
    """June 2025 label: at least 2 weeks near the center, no driving for at least 2 weeks."""
    follow_up = RESPONSES["utter_follow_up"][0]["text"]
    assert "at least 2 weeks" in follow_up and "changed in June 2025" in follow_up
    for name in ("utter_timeline", "utter_lodging_travel", "utter_follow_up"):
        text = RESPONSES[name][0]["text"]
        assert "at least 4 weeks" not in text and "8 weeks of" not in text


def test_no_page_or_answer_says_the_center_is_certified() -> None:
    """REMS and the special certification were removed in June 2025 (facts.yml, referral)."""
    for path in (ROOT / "web" / "templates" / "demo.html", ROOT / "domain.yml"):
        text = path.read_text(encoding="utf-8").lower()
        assert "is certified" not in text and "certified treatment center" not in text, path


def test_every_answer_has_sources_from_the_facts() -> None:
    if not (SHARED / "facts.yml").exists():
        pytest.skip("../shared/content is not beside this checkout")
    known = set(re.findall(r"source: (\S+)", (SHARED / "facts.yml").read_text(encoding="utf-8")))
    known.add("seed-page")
    sources = yaml.safe_load((ROOT / "docs" / "sources.yml").read_text(encoding="utf-8"))
    for topic in faq_topics():
        assert sources.get(f"utter_{topic}"), f"utter_{topic} has no source"
    pages = {"demo_page"}  # web/templates/demo.html: medical text outside domain.yml
    for name, urls in sources.items():
        assert name in RESPONSES or name in pages, name
        assert set(urls) <= known, (name, set(urls) - known)


def test_every_response_is_used_somewhere() -> None:
    used_by = "\n".join(
        p.read_text(encoding="utf-8")
        for p in [
            *ROOT.glob("data/**/*.yml"),
            *ROOT.glob("actions/*.py"),
            *ROOT.glob("core/*.py"),
            *ROOT.glob("components/*.py"),
            *ROOT.glob("channels/*.py"),
            *ROOT.glob("console/*.py"),
        ]
    )
    for name in RESPONSES:
        asked_by_form = name.startswith("utter_ask_")
        assert asked_by_form or name in used_by or name == "utter_default", name
