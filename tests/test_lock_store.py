"""The conversation lock store on the real Redis: two stores stand for two Rasa servers."""

from __future__ import annotations

import asyncio
import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from components.lock_store import AtomicRedisLockStore, ProgramLockStore, QuickInMemoryLockStore

REDIS_URL = os.environ.get("CART_TEST_REDIS_URL", "redis://127.0.0.1:6379/1")


@pytest.fixture
def redis_url(monkeypatch: pytest.MonkeyPatch) -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as error:
        pytest.fail(f"These tests need Redis at {REDIS_URL} (CART_TEST_REDIS_URL): {error}")
    monkeypatch.setenv("CART_LOCK_STORE_URL", REDIS_URL)
    return REDIS_URL


def test_the_settings_choose_the_store(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(ProgramLockStore(), AtomicRedisLockStore)
    monkeypatch.delenv("CART_LOCK_STORE_URL")
    assert isinstance(ProgramLockStore(), QuickInMemoryLockStore)


def test_tickets_taken_at_once_on_two_servers_are_all_different(redis_url: str) -> None:
    stores = [ProgramLockStore(), ProgramLockStore()]
    conversation = f"tickets-{uuid.uuid4().hex}"
    with ThreadPoolExecutor(16) as pool:
        tickets = list(pool.map(lambda n: stores[n % 2].issue_ticket(conversation), range(200)))
    assert len(set(tickets)) == len(tickets)
    for ticket in tickets:
        stores[0].cleanup(conversation, ticket)
    assert stores[0].get_lock(conversation) is None  # nothing left behind


def test_two_servers_never_handle_one_conversation_at_once(redis_url: str) -> None:
    stores = [ProgramLockStore(), ProgramLockStore()]
    conversation = f"turns-{uuid.uuid4().hex}"
    inside: list[int] = []
    overlaps: list[int] = []

    async def turn(n: int) -> None:
        async with stores[n % 2].lock(conversation):
            inside.append(n)
            if len(inside) > 1:
                overlaps.append(n)
            await asyncio.sleep(0.01)
            inside.remove(n)

    async def all_turns() -> None:
        await asyncio.gather(*(turn(n) for n in range(20)))

    asyncio.run(all_turns())
    assert overlaps == []
