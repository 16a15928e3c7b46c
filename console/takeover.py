"""Live takeover of a family's conversation, on Rasa's own mechanisms.

The console talks to the Rasa server's HTTP API (enabled with a token, never exposed to
families): it appends `pause` / `resume` events (Rasa's conversation-paused mechanism)
and the coordinator's words as `bot` events with `execute_side_effects`, so Rasa both
records them in the conversation's history and sends them through the socket.io channel
to the family's widget. The family's messages are read back from the tracker.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import aiohttp

from core.content import response_text
from core.transcript import readable_messages

logger = logging.getLogger(__name__)

FAMILY_CHANNEL = "socketio"


class RasaUnavailable(RuntimeError):
    """The Rasa server did not answer, or refused: the console says so and goes on."""


def _stamp(timestamp: Any) -> str:
    if not isinstance(timestamp, (int, float)):
        return ""
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")


def plain(text: str) -> str:
    return text.replace("**", "")


def conversation_messages(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Who said what, in order: the family, the assistant, a coordinator, or a notice."""
    messages = []
    for index, event, text in readable_messages(events):
        kind = event.get("event")
        custom = ((event.get("data") or {}).get("custom")) or {}
        if kind == "user":
            who = "family"
        elif custom.get("sender") == "coordinator":
            who = "coordinator"
        elif custom.get("notice"):
            who = "notice"
        else:
            who = "assistant"
        messages.append(
            {
                "index": index,
                "who": who,
                "name": custom.get("name", "") if who == "coordinator" else "",
                # The assistant's Markdown bold marks mean nothing in the console.
                "text": text if who == "family" else plain(text),
                "at": _stamp(event.get("timestamp")),
            }
        )
    return messages


@dataclass
class RasaConversations:
    """The few calls of the Rasa HTTP API the console needs."""

    base_url: str
    token: str
    timeout: float = 10

    def _url(self, sender_id: str, suffix: str) -> str:
        return f"{self.base_url.rstrip('/')}/conversations/{quote(sender_id, safe='')}/{suffix}"

    async def _request(self, method: str, url: str, **kwargs: Any) -> Any:
        params = {"token": self.token, **kwargs.pop("params", {})}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session,
                session.request(method, url, params=params, **kwargs) as response,
            ):
                if response.status != 200:
                    raise RasaUnavailable(f"Rasa answered {response.status}")
                return await response.json()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise RasaUnavailable(type(error).__name__) from error

    async def tracker(self, sender_id: str) -> dict[str, Any]:
        return await self._request(
            "GET", self._url(sender_id, "tracker"), params={"include_events": "ALL"}
        )

    async def append(self, sender_id: str, events: list[dict[str, Any]]) -> None:
        """Records the events; `bot` events also reach the family's widget."""
        await self._request(
            "POST",
            self._url(sender_id, "tracker/events"),
            params={
                "output_channel": FAMILY_CHANNEL,
                "execute_side_effects": "true",
                "include_events": "NONE",
            },
            json=events,
        )


def _bot(text: str, **custom: Any) -> dict[str, Any]:
    return {"event": "bot", "text": text, "data": {"custom": custom}, "timestamp": time.time()}


async def join(rasa: RasaConversations, sender_id: str, coordinator: str) -> None:
    text = response_text("utter_coordinator_joined", coordinator=coordinator)
    await rasa.append(sender_id, [{"event": "pause"}, _bot(text, notice="joined")])


async def say(rasa: RasaConversations, sender_id: str, coordinator: str, text: str) -> None:
    await rasa.append(sender_id, [_bot(text, sender="coordinator", name=coordinator)])


async def hand_back(rasa: RasaConversations, sender_id: str, left: bool = False) -> None:
    """The assistant resumes; the family is told first (`left`: the coordinator vanished)."""
    text = response_text("utter_coordinator_left" if left else "utter_assistant_back")
    await rasa.append(
        sender_id, [_bot(text, notice="left" if left else "back"), {"event": "resume"}]
    )


@dataclass
class Watchdog:
    """Notices a coordinator whose console stopped asking for news (closed, crashed, lost
    its network) and hands the conversation back after `timeout` seconds."""

    timeout: float
    last_seen: dict[str, float] = field(default_factory=dict)  # reference -> monotonic time

    def seen(self, reference: str) -> None:
        self.last_seen[reference] = time.monotonic()

    def forget(self, reference: str) -> None:
        self.last_seen.pop(reference, None)

    def expired(self) -> list[str]:
        now = time.monotonic()
        return [ref for ref, at in self.last_seen.items() if now - at > self.timeout]
