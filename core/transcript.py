"""What the family and the assistant said, read from a conversation's tracker events:
for the coordinators' email and the console (a button the family tapped reads as its title)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any


def readable_messages(events: list[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any], str]]:
    """(index, event, text) of each user and bot message with text, in order. A button the
    family tapped reads as its title ("Yes"), not as the payload it sent ("/affirm"): a
    coordinator reads these."""
    titles: dict[str, str] = {}  # payload -> title, of every button offered so far
    for index, event in enumerate(events):
        kind, text = event.get("event"), event.get("text")
        if kind == "bot":
            for button in (event.get("data") or {}).get("buttons") or []:
                if isinstance(button, dict) and button.get("payload") and button.get("title"):
                    titles[str(button["payload"])] = str(button["title"])
        if kind not in ("user", "bot") or not text:
            continue
        text = str(text)
        yield index, event, titles.get(text, text) if kind == "user" else text


def build_transcript(events: list[dict[str, Any]]) -> list[dict[str, str]]:
    """What the family and the assistant said, in order, from the tracker's events."""
    transcript = []
    for _, event, text in readable_messages(events):
        stamp = event.get("timestamp")
        at = (
            datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
            if isinstance(stamp, (int, float))
            else ""
        )
        who = "Family" if event["event"] == "user" else "Assistant"
        transcript.append({"who": who, "text": text, "at": at})
    return transcript
