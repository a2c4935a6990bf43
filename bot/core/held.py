"""Words waiting in memory (or Redis), never in the database (DESIGN.md 2.1): a caseworker's
answer until she presses "Show" (discreet notifications), and her first messages until a
caseworker takes her request.

Backed by a session store with its own TTL: with REDIS_URL every worker sees the same held
words; without it they live in this one process's memory (the one-machine default runs one
process) and a restart forgets them, which is the point of keeping them nowhere else."""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from bot.core.sessions import SessionData, SessionStore

# A caseworker may answer hours later, and she may read it hours after that; one day, then
# gone. Inside Telegram's 48-hour deletion window, like the vanishing chat's longest setting.
HELD_TTL_SECONDS = 24 * 3600
MAX_HELD_TEXTS = 20
_PREFIX = "held:"
_STATE = "held"


@dataclass
class HeldMessages:
    store: SessionStore

    async def hold_for(self, owner_id: str, text: str, handoff_id: int) -> str:
        """One text for one person, behind a new opaque token (the "Show" button's payload)."""
        token = secrets.token_urlsafe(18)
        await self.store.save(_PREFIX + "one:" + token, SessionData(
            _STATE, {"owner": owner_id, "texts": [text], "handoff": handoff_id}))
        return token

    async def take_for(self, owner_id: str, token: str) -> tuple[list[str], int | None]:
        """The texts behind `token` and their request, if they are hers, once; ([], None)
        otherwise (expired, forged, already shown, somebody else's)."""
        key = _PREFIX + "one:" + token
        held = await self.store.load(key)
        handoff = held.data.get("handoff")
        texts = await self._take(key, owner_id, held)
        return texts, handoff if texts and isinstance(handoff, int) else None

    async def append(self, thread: str, owner_id: str, text: str) -> bool:
        """Add a text to a waiting thread (her request before anyone took it). False when the
        thread is full: she is then asked to wait for the answer."""
        key = _PREFIX + "thread:" + thread
        held = await self.store.load(key)
        texts = list(held.data.get("texts") or []) if held.data.get("owner") == owner_id else []
        if len(texts) >= MAX_HELD_TEXTS:
            return False
        texts.append(text)
        await self.store.save(key, SessionData(_STATE, {"owner": owner_id, "texts": texts}))
        return True

    async def take_thread(self, thread: str, owner_id: str) -> list[str]:
        key = _PREFIX + "thread:" + thread
        return await self._take(key, owner_id, await self.store.load(key))

    async def drop_thread(self, thread: str) -> None:
        await self.store.drop(_PREFIX + "thread:" + thread)

    async def _take(self, key: str, owner_id: str, held: SessionData) -> list[str]:
        if held.state != _STATE or held.data.get("owner") != owner_id:
            return []
        await self.store.drop(key)
        return [t for t in held.data.get("texts") or [] if isinstance(t, str)]

    async def close(self) -> None:
        await self.store.close()
