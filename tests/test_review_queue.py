"""The learning loop of issue #17, part 1, through real parts: the Rasa server and action
server answering over REST, the families' page server taking "Was this helpful?", the
console's review queue (log-in, CSRF) and the export, checked by `rasa data validate`.

Masking is tested on its own first, with realistic names, US phone formats and emails.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
import yaml

from console import feedback_store, review, tracker_events
from console.auth import create_user
from console.feedback_store import is_rated
from core.masking import mask
from tests.action_helper import ROOT
from tests.browser import console_server, serve_module
from tests.servers import RASA, Servers, free_port, running_servers

PASSWORD = "correct horse battery staple"
EXPORT = ROOT / "scripts" / "export_reviewed.py"
PYTHON = ROOT / ".venv" / "bin" / "python"

# ---- Masking ----


@pytest.mark.parametrize(
    ("typed", "masked"),
    [
        (
            "Hi, my name is Maria Lopez and my son Liam has ALL",
            "Hi, my name is [NAME] and my son [NAME] has ALL",
        ),
        (
            "this is jennifer, my daughter Ava-Grace O'Neil relapsed",
            "this is [NAME], my daughter [NAME] relapsed",
        ),
        (
            "Dr. Patel said my 7 year old Sofia might qualify",
            "Dr. [NAME] said my 7 year old [NAME] might qualify",
        ),
        ("our son Mateo Garcia Ruiz, 8 years old", "our son [NAME], 8 years old"),
        ("my name is sam rivera", "my name is [NAME]"),
        ("I'm Keisha. Is CAR T covered by Medicaid?", "I'm [NAME]. Is CAR T covered by Medicaid?"),
        ("What does CRS mean? Thanks, Tom", "What does CRS mean? Thanks, [NAME]"),
        ("call me at (617) 555-0142", "call me at [PHONE]"),
        ("617-555-0142 or 617.555.0142", "[PHONE] or [PHONE]"),
        ("my cell is 617 555 0142, home 6175550142", "my cell is [PHONE], home [PHONE]"),
        ("+1 617 555 0142 / 1-800-555-0199", "[PHONE] / [PHONE]"),
        ("text +1 (857) 555-0110 ext. 4", "text [PHONE] ext. 4"),
        ("email maria.lopez@gmail.com", "email [EMAIL]"),
        ("J.O'Brien+cart@childrens.harvard.edu please", "[EMAIL] please"),
    ],
)
def test_names_phone_numbers_and_emails_are_masked(typed: str, masked: str) -> None:
    assert mask(typed) == masked


@pytest.mark.parametrize(
    "question",
    [
        "I'm worried about CRS",
        "my son is 8 and has relapsed",
        "how long is the hospital stay in Boston?",
        "Is KYMRIAH approved for B-ALL?",
        "my 7-year-old has a fever",
        "Will Medicaid pay for it? Thank you!",
        "can we stay at the Ronald McDonald House for 30 days",
    ],
)
def test_questions_without_personal_data_keep_their_words(question: str) -> None:
    assert mask(question) == question


def test_the_emergency_answer_and_form_questions_are_not_rated() -> None:
    not_answers = ("utter_emergency", "utter_emergency_es", "utter_disclaimer", "utter_greet",
                   "utter_ask_handoff_name", "utter_handoff_name_again")  # fmt: skip
    for response in not_answers:
        assert not is_rated(response), response
    for response in ("utter_crs", "utter_did_you_mean", "utter_ask_rephrase", "utter_help"):
        assert is_rated(response), response


def test_retention_deletes_feedback_and_queue_items(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'console.db'}"
    answer = feedback_store.RatedAnswer(7, 5, "utter_crs", "crs", 0.9)
    old, new = datetime(2026, 1, 2, tzinfo=timezone.utc), datetime.now(timezone.utc)
    with feedback_store.store(url) as session, session.begin():
        for sender, at in (("old", old), ("new", new), ("forget-me", new)):
            session.add(feedback_store.ReviewItem(
                created_at=at, conversation_id=sender, user_event_id=5, reason="sample",
                text="what is crs"))  # fmt: skip
    assert feedback_store.record_feedback(url, "forget-me", answer, False, "more on CRS")
    assert not feedback_store.record_feedback(url, "forget-me", answer, True, "")

    assert feedback_store.purge_before(url, new - timedelta(days=90)) == 1
    feedback_store.forget_conversation(url, "forget-me")

    assert [i.conversation_id for i in feedback_store.list_items(url, "all")] == ["new"]
    with feedback_store.store(url) as session:
        assert session.query(feedback_store.AnswerFeedback).count() == 0


# ---- Through the real servers ----


@dataclass
class Stack:
    servers: Servers
    page_url: str
    console_url: str
    database_url: str
    tracker_url: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("review-logs")
    database_url = f"sqlite:///{logs / 'handoffs.db'}"
    tracker_url = f"sqlite:///{logs / 'conversations.db'}"  # running_servers' tracker store
    token = secrets.token_urlsafe(24)
    with running_servers(logs, {"CART_DATABASE_URL": database_url}, api_token=token) as servers:
        env = {
            "CART_DATABASE_URL": database_url,
            "CART_TRACKER_URL": tracker_url,
            "CART_RASA_URL": servers.rasa_url,
            "CART_RASA_API_TOKEN": token,
            "CART_CONSOLE_SECURE_COOKIES": "false",  # plain HTTP on loopback
        }
        port = free_port()
        page_url = f"http://127.0.0.1:{port}"
        args = ["--port", str(port), "--socket-url", servers.rasa_url]
        with (
            serve_module(logs, "web.server", args, f"{page_url}/healthz", env),
            console_server(logs, env) as console_url,
        ):
            yield Stack(servers, page_url, console_url, database_url, tracker_url)


def family() -> str:
    return f"family-{uuid.uuid4().hex[:10]}"


def items_of(stack: Stack, sender: str, view: str = "all") -> list[feedback_store.ReviewItem]:
    review.refresh(stack.database_url, stack.tracker_url)
    return [
        i
        for i in feedback_store.list_items(stack.database_url, view)
        if i.conversation_id == sender
    ]


def last_answer(stack: Stack, sender: str) -> str:
    """The last paragraph of the assistant's last message, as the widget shows it."""
    bots = [e for e in tracker_events.recent_messages(stack.tracker_url, sender)
            if e.type_name == "bot"]  # fmt: skip
    return bots[-1].text.strip().split("\n\n")[-1]


def rate(stack: Stack, body: dict, headers: dict | None = None) -> requests.Response:
    return requests.post(
        f"{stack.page_url}/feedback",
        json=body,
        headers={"Origin": stack.page_url} if headers is None else headers,
        timeout=10,
    )


def log_in(stack: Stack) -> requests.Session:
    username = f"coord-{uuid.uuid4().hex[:6]}"
    create_user(stack.database_url, username, "Alex Kim", PASSWORD)
    browser = requests.Session()
    page = browser.get(f"{stack.console_url}/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = browser.post(
        f"{stack.console_url}/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303
    return browser


def test_missed_messages_reach_the_queue_masked_with_what_came_next(stack: Stack) -> None:
    sender = family()
    say = stack.servers.texts
    assert "Did you mean" in say(sender, "cells and money")
    say(sender, "/something_else")
    say(sender, "Hi my name is Maria Lopez, call me at (617) 555-0142 about my son Liam")
    say(sender, "maria.lopez@gmail.com asdf qwerty zxcv")
    assert "Call 911 now" in say(sender, "my son has a fever right now")
    say(sender, "what is car t")

    items = {i.text: i for i in items_of(stack, sender)}

    assert set(items) == {
        "cells and money",
        "Hi my name is [NAME], call me at [PHONE] about my son [NAME]",
        "[EMAIL] asdf qwerty zxcv",
        "my son has a fever right now",
    }
    offered = items["cells and money"]
    assert offered.reason == "did_you_mean"
    assert offered.reply == "utter_did_you_mean"
    assert offered.next_step == "Tapped “Something else”"
    assert len(offered.runner_up_list) == 3
    missed = items["Hi my name is [NAME], call me at [PHONE] about my son [NAME]"]
    assert missed.reason in ("did_you_mean", "not_understood")
    # What the family did next is masked too.
    assert missed.next_step == "Wrote: [EMAIL] asdf qwerty zxcv"
    emergency = items["my son has a fever right now"]
    assert emergency.emergency and emergency.reason == "emergency"
    assert emergency.reply == "utter_emergency"
    # Nothing the family typed reaches the queue's table unmasked.
    everything = " ".join(f"{i.text} {i.next_step}" for i in items.values())
    for secret in ("Maria", "Lopez", "Liam", "555-0142", "maria.lopez"):
        assert secret not in everything

    # Emergencies are never hidden: reviewed, still in every view.
    assert feedback_store.label_item(stack.database_url, emergency.id, None, "alex")
    for view in ("open", "labelled", "reviewed", "all"):
        assert emergency.id in [i.id for i in items_of(stack, sender, view)], view
    # A second look reads only what is new, and adds nothing twice.
    assert review.refresh(stack.database_url, stack.tracker_url) == 0


def test_a_no_with_a_comment_is_stored_once_and_queued(stack: Stack) -> None:
    sender = family()
    stack.servers.texts(sender, "how long is the hospital stay")
    answer = last_answer(stack, sender)
    body = {"conversation_id": sender, "answer": answer, "helpful": False}

    assert rate(stack, body).status_code == 201
    comment = "lodging for my son Liam, call 617-555-0142"
    assert rate(stack, {**body, "comment": comment}).status_code == 201
    again = rate(stack, {**body, "helpful": True})
    assert again.status_code == 200 and again.json() == {"stored": False}  # at most once

    [item] = items_of(stack, sender)
    assert item.reason == "rated_no"
    assert item.text == "how long is the hospital stay"
    assert item.intent == "hospital_stay"
    assert item.comment == "lodging for my son [NAME], call [PHONE]"
    with feedback_store.store(stack.database_url) as session:
        [stored] = session.query(feedback_store.AnswerFeedback).filter_by(conversation_id=sender)
        assert (stored.response, stored.intent, stored.helpful) == (
            "utter_hospital_stay", "hospital_stay", False
        )  # fmt: skip


def test_feedback_from_elsewhere_or_about_nothing_is_refused(stack: Stack) -> None:
    sender = family()
    stack.servers.texts(sender, "what is car t")
    answer = last_answer(stack, sender)
    good = {"conversation_id": sender, "answer": answer, "helpful": True}
    assert rate(stack, good, headers={}).status_code == 403  # no Origin
    assert rate(stack, good, headers={"Origin": "https://evil.example"}).status_code == 403
    as_form = requests.post(
        f"{stack.page_url}/feedback",
        data={"conversation_id": sender, "answer": answer, "helpful": "true"},
        headers={"Origin": stack.page_url},
        timeout=10,
    )
    assert as_form.status_code == 415
    assert rate(stack, {**good, "helpful": "yes"}).status_code == 400
    assert rate(stack, {**good, "comment": "x" * 201, "helpful": False}).status_code == 400
    assert rate(stack, {**good, "answer": "An answer never given."}).status_code == 404
    assert rate(stack, {**good, "conversation_id": family()}).status_code == 404
    assert requests.post(
        f"{stack.page_url}/feedback", data=b"x" * 20_000,
        headers={"Origin": stack.page_url, "Content-Type": "application/json"}, timeout=10,
    ).status_code == 413  # fmt: skip
    # The emergency answer is never rated, whatever a client sends.
    stack.servers.texts(sender, "my son has a fever right now")
    emergency = last_answer(stack, sender)
    assert rate(stack, {**good, "answer": emergency, "helpful": False}).status_code == 404
    assert rate(stack, good).status_code == 201


def test_staff_label_in_the_console_and_the_export_is_valid_training_data(
    stack: Stack, tmp_path: Path
) -> None:
    sender = family()
    question = "Hi I'm Keisha, can my daughter Ava stay in school during treatment?"
    stack.servers.texts(sender, question)  # answered (school and work), rated No
    no = {"conversation_id": sender, "answer": last_answer(stack, sender), "helpful": False}
    assert rate(stack, no).status_code == 201
    stack.servers.texts(sender, "zorblax frumious question")  # not understood
    stack.servers.texts(sender, "is there a support group for siblings")  # not understood
    masked = "Hi I'm [NAME], can my daughter [NAME] stay in school during treatment?"

    assert requests.get(f"{stack.console_url}/review", timeout=10).url.endswith("/login")
    browser = log_in(stack)
    page = browser.get(f"{stack.console_url}/review", timeout=10)
    assert page.status_code == 200
    assert "Hi I&#39;m [NAME], can my daughter [NAME] stay in school" in page.text
    assert "Keisha" not in page.text and "Ava " not in page.text
    items = {i.text: i for i in items_of(stack, sender)}
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)

    def label(text: str, value: str, token: str = csrf) -> requests.Response:
        return browser.post(
            f"{stack.console_url}/review/{items[text].id}/label",
            data={"label": value, "view": "open", "csrf_token": token},
            allow_redirects=False,
            timeout=10,
        )

    assert label(masked, "follow_up__school_work", token="forged").status_code == 403
    assert label(masked, "not_an_intent").status_code == 400
    assert label(masked, "follow_up__school_work").status_code == 303
    assert label("zorblax frumious question", "out_of_scope").status_code == 303
    assert label("is there a support group for siblings", "new_topic").status_code == 303
    labelled = browser.get(f"{stack.console_url}/review?status=labelled", timeout=10).text
    assert "Labelled: Out of scope" in labelled

    # Export beside a copy of the project's training data; Rasa must accept it.
    project = tmp_path / "project"
    shutil.copytree(ROOT / "data", project / "data")
    for name in ("domain.yml", "config.yml"):
        shutil.copy(ROOT / name, project / name)
    out = project / "data" / "nlu" / "reviewed.yml"
    topics = tmp_path / "new-topics.md"
    export = [str(PYTHON), str(EXPORT), "--database", stack.database_url, "--out", str(out),
              "--new-topics", str(topics), "--data", str(project / "data")]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # with the tests' data key (conftest)
    subprocess.run(export, cwd=ROOT, check=True, timeout=60, env=env)
    subprocess.run(export, cwd=ROOT, check=True, timeout=60, env=env)

    nlu = yaml.safe_load(out.read_text(encoding="utf-8"))["nlu"]
    examples = {b["intent"]: b["examples"].splitlines() for b in nlu}
    assert f"- {masked}" in examples["follow_up__school_work"]
    assert "- zorblax frumious question" in examples["out_of_scope"]
    everything = out.read_text(encoding="utf-8")
    assert everything.count(masked) == 1  # de-duplicated, also when exported twice
    assert "Keisha" not in everything and "siblings" not in everything
    assert "is there a support group for siblings" in topics.read_text(encoding="utf-8")

    validate = subprocess.run(
        [str(RASA), "data", "validate", "--data", "data", "--domain", "domain.yml",
         "--config", "config.yml"],
        cwd=project, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert validate.returncode == 0, validate.stdout[-3000:] + validate.stderr[-3000:]


def test_the_queue_keeps_its_tables_on_postgresql_too(stack: Stack, postgres_url: str) -> None:
    """The console's database in production: the same queue, labels and export input."""
    sender = family()
    stack.servers.texts(sender, "cells and money")
    review.refresh(postgres_url, stack.tracker_url)
    [item] = [
        i for i in feedback_store.list_items(postgres_url, "open") if i.conversation_id == sender
    ]
    assert item.text == "cells and money" and item.reason == "did_you_mean"
    assert feedback_store.label_item(postgres_url, item.id, "how_it_works", "alex")
    assert [i.text for i in feedback_store.labelled_items(postgres_url)] == ["cells and money"]
    assert review.refresh(postgres_url, stack.tracker_url) == 0
