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


async def test_a_live_session_is_kept_on_no_screen_and_reset_keeps_it() -> None:
    """The web chat's liveness marker: stored even with no state, kept by reset()."""
    tick = Tick()
    store = MemorySessionStore(ttl_seconds=60, clock=tick)
    session = SessionData(state="ev.list", data={"page": 1}, live=True)
    session.reset()
    assert session.live and not session.empty
    await store.save("k", session)
    assert await store.exists("k")
    loaded = await store.load("k")
    assert loaded.live and loaded.state is None and loaded.data == {}
    assert not SessionData().live and SessionData().empty
    assert not SessionData.from_json(SessionData(state="x").to_json()).live


async def test_memory_exists_honours_expiry_and_does_not_prolong_or_refresh() -> None:
    tick = Tick()
    store = MemorySessionStore(ttl_seconds=60, clock=tick, max_items=2)
    assert not await store.exists("a")
    await store.save("a", SessionData(live=True))
    await store.save("b", SessionData(live=True))
    assert await store.exists("a")  # asking is not using: "a" stays the least recently used
    await store.save("c", SessionData(live=True))
    assert not await store.exists("a") and await store.exists("b")
    tick.t = 61
    assert not await store.exists("b") and not await store.exists("c")


@pytest.mark.redis
async def test_redis_exists_and_the_live_marker() -> None:
    require_service("Redis", _redis_up())
    store = RedisSessionStore(REDIS_URL, ttl_seconds=30, prefix=f"wego:test:{uuid.uuid4().hex}:")
    try:
        assert not await store.exists("k")
        await store.save("k", SessionData(live=True))
        assert await store.exists("k") and (await store.load("k")).live
        await store.save("k", SessionData())
        assert not await store.exists("k")
    finally:
        await store.close()
