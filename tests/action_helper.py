"""Builds a tracker, runs an action, and exposes what it said and did (covidflow style)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from core.content import load_domain_file

ROOT = Path(__file__).resolve().parent.parent


def load_domain() -> dict[str, Any]:
    return load_domain_file()


def make_tracker(
    slots: dict[str, Any] | None = None,
    intent: str | None = None,
    text: str = "",
    entities: list[dict[str, Any]] | None = None,
    active_loop: str | None = None,
) -> Tracker:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0} if intent else {},
        "entities": entities or [],
    }
    return Tracker(
        sender_id="test-sender",
        slots=slots or {},
        latest_message=latest,
        events=[],
        paused=False,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name="action_listen",
    )


@dataclass
class ActionRun:
    responses: list[str]
    texts: list[str]
    events: list[dict[str, Any]]


def run_action(action: Action, tracker: Tracker, domain: dict[str, Any] | None = None) -> ActionRun:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, domain or load_domain()))
    return ActionRun(
        responses=[m["response"] for m in dispatcher.messages if m.get("response")],
        texts=[m["text"] for m in dispatcher.messages if m.get("text")],
        events=list(events or []),
    )
