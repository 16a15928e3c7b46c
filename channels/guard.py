"""What both chat channels check before a message reaches the assistant: which web pages
may use them (CORS allow-list), how often one conversation or one network address may
write (rate limits), and how much client metadata rides along.

Limits are kept in memory, per Rasa server: behind a load balancer with N servers and
sticky sessions a family meets one server, so its limit holds; an address spread over
servers gets up to N times its limit, still bounded.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from core.settings import ChannelSettings, load_flood_settings

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60.0
# Keys remembered per limiter; the oldest are forgotten first, so a flood of made-up
# sender ids cannot grow the server's memory without bound.
MAX_TRACKED_KEYS = 50_000


class SlidingWindowLimit:
    """At most `limit` events per key in any `window` seconds; `limit` 0 means no limit."""

    def __init__(
        self,
        limit: int,
        window: float = WINDOW_SECONDS,
        max_keys: int = MAX_TRACKED_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self.clock = clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    def has_room(self, key: str) -> bool:
        if self.limit <= 0:
            return True
        events = self._events.get(key)
        if events is None:
            return True
        cutoff = self.clock() - self.window
        while events and events[0] <= cutoff:
            events.popleft()
        return len(events) < self.limit

    def record(self, key: str) -> None:
        if self.limit <= 0:
            return
        events = self._events.setdefault(key, deque())
        self._events.move_to_end(key)
        events.append(self.clock())
        while len(self._events) > self.max_keys:
            self._events.popitem(last=False)

    def retry_after(self, key: str) -> int:
        """Seconds until `key` may send again (at least 1)."""
        events = self._events.get(key)
        if not events:
            return 1
        return max(1, int(events[0] + self.window - self.clock()) + 1)


class Admission(enum.Enum):
    ASSISTANT = "assistant"  # within the limits: the assistant answers
    EMERGENCY_ONLY = "emergency_only"  # over them, reads as an emergency: the fixed answer
    REFUSED = "refused"  # over them: the "slow down" answer (it also says to call 911)


class FloodGuard:
    """Per-conversation and per-address message limits, and a bounded allowance of
    emergency answers past them."""

    def __init__(
        self,
        settings: ChannelSettings,
        clock: Callable[[], float] = time.monotonic,
        emergency_answers_per_minute: int | None = None,
    ):
        self.senders = SlidingWindowLimit(settings.sender_messages_per_minute, clock=clock)
        self.addresses = SlidingWindowLimit(settings.address_messages_per_minute, clock=clock)
        if emergency_answers_per_minute is None:
            emergency_answers_per_minute = load_flood_settings().emergency_answers_per_minute
        # Never 0 ("no limit" for SlidingWindowLimit): at least one answer a minute.
        allowance = max(1, emergency_answers_per_minute)
        self.emergency_senders = SlidingWindowLimit(allowance, clock=clock)
        self.emergency_addresses = SlidingWindowLimit(allowance, clock=clock)

    def screen(self, sender: str, address: str, emergency: Callable[[], bool]) -> Admission:
        """Who answers this message. Within the limits, the assistant. Over them, a message
        that reads as an emergency (`emergency()`, asked only then) gets the emergency
        answer without the model or the tracker store, a bounded number of times a minute
        per conversation and per address: a flood of emergency-looking text costs no
        more than any other flood."""
        if self.admit(sender, address):
            return Admission.ASSISTANT
        if not emergency():
            return Admission.REFUSED
        limits = (self.emergency_senders, sender), (self.emergency_addresses, address)
        if not all(limit.has_room(key) for limit, key in limits):
            logger.warning("Emergency answer refused: too many past the message limits")
            return Admission.REFUSED
        for limit, key in limits:
            limit.record(key)
        return Admission.EMERGENCY_ONLY

    def admit(self, sender: str, address: str) -> bool:
        """True, and counted, if neither limit is reached; False, and not counted, if one is."""
        if not (self.senders.has_room(sender) and self.addresses.has_room(address)):
            logger.warning("Message refused: too many from one %s", _which(self, sender))
            return False
        self.senders.record(sender)
        self.addresses.record(address)
        return True

    def retry_after(self, sender: str, address: str) -> int:
        return max(self.senders.retry_after(sender), self.addresses.retry_after(address))


def _which(guard: FloodGuard, sender: str) -> str:
    return "conversation" if not guard.senders.has_room(sender) else "address"


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    networks = []
    for entry in trusted:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            logger.error("CART_TRUSTED_PROXIES: %r is not an address or network; ignored", entry)
    return tuple(networks)


def _is_trusted(address: str, trusted: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(trusted))


def client_address(peer: str, forwarded_for: str | None, trusted_proxies: tuple[str, ...]) -> str:
    """The family's address: the peer's, or, when the peer is a trusted proxy (an address
    or a network such as 10.0.0.0/8), the nearest address in X-Forwarded-For that is not."""
    if not forwarded_for or not _is_trusted(peer, trusted_proxies):
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a forged or broken header: fall back to what we know
        if not _is_trusted(hop, trusted_proxies):
            return hop
    return peer


def origin_allowed(origin: str | None, allowed: tuple[str, ...]) -> bool:
    """Requests without an Origin header do not come from a web page's script."""
    return origin is None or origin in allowed or "*" in allowed


def screen_metadata(metadata: Any, max_bytes: int) -> dict[str, Any]:
    """The client's metadata if it is a JSON object of at most `max_bytes`, else {}."""
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata) if len(metadata) <= max_bytes else None
        except ValueError:
            metadata = None
    if not isinstance(metadata, dict):
        return {}
    try:
        size = len(json.dumps(metadata, ensure_ascii=False).encode())
    except (TypeError, ValueError):
        return {}
    if size > max_bytes:
        logger.info("Client metadata of %d bytes dropped (limit %d)", size, max_bytes)
        return {}
    return metadata


# The metadata key under which the channels pass the family's network address, keyed-
# hashed, to the action server (per-address handoff limits). Whatever a client sends
# under this key is replaced, so no client chooses it.
ADDRESS_METADATA_KEY = "cart_address"


def stamp_address(metadata: dict[str, Any], address: str, key: bytes) -> dict[str, Any]:
    """`metadata` with the address as an HMAC (the tracker store keeps metadata: no IP
    address in it, yet the same address gives the same value on every server)."""
    digest = hmac.new(key, f"cart-address:{address}".encode(), hashlib.sha256).hexdigest()
    return {**metadata, ADDRESS_METADATA_KEY: digest[:32]}
