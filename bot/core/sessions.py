"""Conversation state (which screen, a draft being filled): in memory or in Redis, with a TTL,
never on disk (docs/ARCHITECTURE.md 2.1). A draft survives nothing but the session."""
from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class SessionData:
    state: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # A visitor: someone who has not finished the start screens and so has no database row yet
    # (bot/core.py). What her row will hold (id, language, region) and the ids of the messages of
    # her chat, for quick exit, live here until she finishes them. reset() leaves it alone.
    visitor: dict[str, Any] | None = None
    # Kept even when she is on no screen: on a channel whose address lives only as long as the
    # session (the web chat's page secret), the session's existence says that her page is still
    # there; when it is gone, what her row holds is freed (bot/services/retention.py). The core
    # sets it; reset() leaves it alone.
    live: bool = False

    def to_json(self) -> str:
        obj: dict[str, Any] = {"state": self.state, "data": self.data}
        if self.visitor is not None:
            obj["visitor"] = self.visitor
        if self.live:
            obj["live"] = True
        return json.dumps(obj, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> SessionData:
        obj = json.loads(raw)
        visitor = obj.get("visitor")
        return cls(state=obj.get("state"), data=dict(obj.get("data") or {}),
                   visitor=dict(visitor) if isinstance(visitor, dict) else None,
                   live=obj.get("live") is True)

    @property
    def empty(self) -> bool:
        return (self.state is None and not self.data and self.visitor is None
                and not self.live)

    def reset(self, state: str | None = None) -> None:
        self.state = state
        self.data.clear()


class SessionStore(Protocol):
    async def load(self, key: str) -> SessionData: ...
    async def save(self, key: str, session: SessionData) -> None: ...
    async def drop(self, key: str) -> None: ...
    async def exists(self, key: str) -> bool:
        """Whether the session is there (not expired, not evicted); does not prolong it."""
        ...
    async def close(self) -> None: ...


# Sessions one process keeps at most. A session is a few hundred bytes (bench: memory per
# session), so this bounds the store near 20 MB whatever a flood of new chats does; the least
# recently used session goes first (she starts again at the language screen).
MEMORY_SESSIONS_MAX = 50_000


class MemorySessionStore:
    """One process: JSON strings with expiry (JSON so it behaves exactly like Redis), at most
    `max_items` of them, the least recently used dropped first."""

    def __init__(self, ttl_seconds: int, clock: Any = time.monotonic,
                 max_items: int = MEMORY_SESSIONS_MAX) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._max = max(1, max_items)
        self._items: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def _sweep(self, now: float) -> None:
        # The oldest are at the front; stop at the first one still alive.
        while self._items:
            key, (expires, _raw) = next(iter(self._items.items()))
            if expires > now:
                break
            del self._items[key]

    async def load(self, key: str) -> SessionData:
        now = self._clock()
        item = self._items.get(key)
        if item is None or item[0] <= now:
            self._items.pop(key, None)
            return SessionData()
        self._items.move_to_end(key)
        return SessionData.from_json(item[1])

    async def save(self, key: str, session: SessionData) -> None:
        if session.empty:
            self._items.pop(key, None)
            return
        now = self._clock()
        self._items[key] = (now + self._ttl, session.to_json())
        self._items.move_to_end(key)
        self._sweep(now)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    async def drop(self, key: str) -> None:
        self._items.pop(key, None)

    async def exists(self, key: str) -> bool:
        item = self._items.get(key)  # asking is not using: the order of eviction stays
        return item is not None and item[0] > self._clock()

    async def close(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class RedisSessionStore:
    """Several workers: Redis without persistence, each key with the TTL."""

    def __init__(self, url: str, ttl_seconds: int, prefix: str = "wego:s:") -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url)
        self._ttl = ttl_seconds
        self._prefix = prefix

    async def load(self, key: str) -> SessionData:
        raw = await self._redis.get(self._prefix + key)
        return SessionData.from_json(raw) if raw else SessionData()

    async def save(self, key: str, session: SessionData) -> None:
        if session.empty:
            await self._redis.delete(self._prefix + key)
        else:
            await self._redis.set(self._prefix + key, session.to_json(), ex=self._ttl)

    async def drop(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

    async def exists(self, key: str) -> bool:
        return bool(await self._redis.exists(self._prefix + key))

    async def close(self) -> None:
        await self._redis.aclose()


def make_session_store(redis_url: str, ttl_seconds: int,
                       memory_max: int = MEMORY_SESSIONS_MAX) -> SessionStore:
    if redis_url:
        return RedisSessionStore(redis_url, ttl_seconds)
    return MemorySessionStore(ttl_seconds, max_items=memory_max)
