"""Conversation state (which screen, a draft being filled): in memory or in Redis, with a TTL,
never on disk (DESIGN.md 2.1). A draft survives nothing but the session."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class SessionData:
    state: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"state": self.state, "data": self.data}, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> SessionData:
        obj = json.loads(raw)
        return cls(state=obj.get("state"), data=dict(obj.get("data") or {}))

    def reset(self, state: str | None = None) -> None:
        self.state = state
        self.data.clear()


class SessionStore(Protocol):
    async def load(self, key: str) -> SessionData: ...
    async def save(self, key: str, session: SessionData) -> None: ...
    async def drop(self, key: str) -> None: ...
    async def close(self) -> None: ...


class MemorySessionStore:
    """One process: a dict of JSON strings with expiry (JSON so it behaves exactly like Redis)."""

    def __init__(self, ttl_seconds: int, clock: Any = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._items: dict[str, tuple[float, str]] = {}

    def _sweep(self, now: float) -> None:
        for key in [k for k, (exp, _) in self._items.items() if exp <= now]:
            del self._items[key]

    async def load(self, key: str) -> SessionData:
        now = self._clock()
        item = self._items.get(key)
        if item is None or item[0] <= now:
            self._items.pop(key, None)
            return SessionData()
        return SessionData.from_json(item[1])

    async def save(self, key: str, session: SessionData) -> None:
        now = self._clock()
        if len(self._items) > 10_000:
            self._sweep(now)
        if session.state is None and not session.data:
            self._items.pop(key, None)
            return
        self._items[key] = (now + self._ttl, session.to_json())

    async def drop(self, key: str) -> None:
        self._items.pop(key, None)

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
        if session.state is None and not session.data:
            await self._redis.delete(self._prefix + key)
        else:
            await self._redis.set(self._prefix + key, session.to_json(), ex=self._ttl)

    async def drop(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

    async def close(self) -> None:
        await self._redis.aclose()


def make_session_store(redis_url: str, ttl_seconds: int) -> SessionStore:
    if redis_url:
        return RedisSessionStore(redis_url, ttl_seconds)
    return MemorySessionStore(ttl_seconds)
