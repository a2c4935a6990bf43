"""Session stores: in memory and in Redis, both with a TTL, both behaving the same."""
from __future__ import annotations

import socket
import uuid

import pytest

from bot.core.sessions import MemorySessionStore, RedisSessionStore, SessionData
from tests.conftest import REDIS_URL, require_service


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


class Tick:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


async def test_memory_store_round_trip_and_ttl() -> None:
    tick = Tick()
    store = MemorySessionStore(ttl_seconds=60, clock=tick)
    await store.save("k", SessionData(state="jobs.filter", data={"page": 2}))
    loaded = await store.load("k")
    assert (loaded.state, loaded.data) == ("jobs.filter", {"page": 2})
    tick.t = 61
    assert (await store.load("k")).state is None
    assert len(store) == 0


async def test_memory_store_forgets_empty_sessions() -> None:
    store = MemorySessionStore(ttl_seconds=60)
    await store.save("k", SessionData(state="x"))
    await store.save("k", SessionData())
    assert len(store) == 0


@pytest.mark.redis
async def test_redis_store_round_trip_ttl_and_drop() -> None:
    require_service("Redis", _redis_up())
    store = RedisSessionStore(REDIS_URL, ttl_seconds=30, prefix=f"wego:test:{uuid.uuid4().hex}:")
    try:
        await store.save("k", SessionData(state="talk.chat", data={"handoff": 3}))
        loaded = await store.load("k")
        assert (loaded.state, loaded.data) == ("talk.chat", {"handoff": 3})
        ttl = await store._redis.ttl(store._prefix + "k")  # noqa: SLF001 - checking the TTL itself
        assert 0 < ttl <= 30
        await store.drop("k")
        assert (await store.load("k")).state is None
    finally:
        await store.close()
