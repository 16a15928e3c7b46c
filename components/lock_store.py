"""The conversation lock store: one message of a conversation is handled at a time.

In memory for one Rasa server (the embedded default); Redis when CART_LOCK_STORE_URL
names a Redis server, so that several Rasa servers behind a load balancer take turns on
a conversation whose messages reach more than one of them.

Two changes to Rasa's lock stores:
- Rasa's RedisLockStore reads a conversation's ticket lock, changes it and writes it back
  in separate steps. Two servers taking a ticket at the same moment could get the same
  number and handle two messages of one family at once, and one turn was lost (found by
  tests/test_scale.py). Here every read-change-write holds a short Redis mutex.
- A waiting message looks again every 50 ms, not every second.

Named in endpoints.yml (`lock_store: type: components.lock_store.ProgramLockStore`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, InMemoryLockStore, LockStore, RedisLockStore
from redis.connection import parse_url

from core.settings import load_tracker_settings

KEY_PREFIX = "cart"
WAIT_SECONDS = 0.05


class QuickInMemoryLockStore(InMemoryLockStore):
    def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = WAIT_SECONDS,
    ) -> AbstractAsyncContextManager[TicketLock]:
        return super().lock(conversation_id, lock_lifetime, wait_time_in_seconds)


class AtomicRedisLockStore(RedisLockStore):
    """Rasa's RedisLockStore with each change of a ticket lock under a Redis mutex."""

    @contextmanager
    def _mutex(self, conversation_id: str) -> Iterator[None]:
        # SET NX with an expiry: a server that dies holding it blocks nobody for long.
        with self.red.lock(
            f"{KEY_PREFIX}:mutex:{conversation_id}", timeout=5, sleep=0.002, blocking_timeout=5
        ):
            yield

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        with self._mutex(conversation_id):
            return super().issue_ticket(conversation_id, lock_lifetime)

    def update_lock(self, conversation_id: str) -> None:
        with self._mutex(conversation_id):
            super().update_lock(conversation_id)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        with self._mutex(conversation_id):
            super().cleanup(conversation_id, ticket_number)

    def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = WAIT_SECONDS,
    ) -> AbstractAsyncContextManager[TicketLock]:
        return super().lock(conversation_id, lock_lifetime, wait_time_in_seconds)


class ProgramLockStore(LockStore):
    """Builds the Redis or in-memory lock store from the project's settings."""

    def __new__(cls, endpoint_config: Any = None, **_: Any) -> LockStore:
        url = load_tracker_settings().lock_store_url
        if not url:
            return QuickInMemoryLockStore()
        options = parse_url(url)
        return AtomicRedisLockStore(
            host=options.get("host", "localhost"),
            port=options.get("port", 6379),
            db=options.get("db", 1),
            username=options.get("username"),
            password=options.get("password"),
            use_ssl=url.startswith("rediss://"),
            key_prefix=KEY_PREFIX,
        )
