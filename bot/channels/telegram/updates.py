"""Different chats at once, each chat's updates in order (python-telegram-bot update processor).

PTB's own choice is all-sequential (slow) or all-concurrent (a woman's two quick taps could be
handled out of order). Here the first update of a chat runs at once; updates that arrive while its
chat is busy wait in that chat's queue, without holding one of the processor's slots, and the
chat's worker runs them in arrival order. The core also locks per person; this keeps the order.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Hashable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

log = logging.getLogger(__name__)

# A chat that sends more than this while its earlier updates are still running is flooding us
# (or is a script): the excess is dropped rather than queued without bound.
MAX_PENDING_PER_CHAT = 100


def chat_key(update: object) -> Hashable:
    """The chat an update belongs to; updates without one (or with an id that is not a number:
    a forged webhook body) share one queue (kept in order)."""
    if isinstance(update, Update):
        for holder in (update.effective_chat, update.effective_user):
            if holder is not None and isinstance(holder.id, int):
                return holder.id
    return None


class PerChatUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int = 512) -> None:
        super().__init__(max_concurrent_updates)
        self._pending: dict[Hashable, deque[Awaitable[Any]]] = {}
        self._workers: set[asyncio.Future[None]] = set()
        self.dropped = 0

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = chat_key(update)
        queue = self._pending.get(key)
        if queue is not None:
            # This chat is busy: its worker will run this one after the earlier ones.
            if len(queue) >= MAX_PENDING_PER_CHAT:
                self.dropped += 1
                log.warning("chat flooding: dropped an update (%d so far)", self.dropped)
                if asyncio.iscoroutine(coroutine):
                    coroutine.close()
                return
            queue.append(coroutine)
            return
        queue = self._pending[key] = deque()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._workers.add(done)
        try:
            await self._run(coroutine)
            while queue:
                await self._run(queue.popleft())
        finally:
            del self._pending[key]
            self._workers.discard(done)
            done.set_result(None)

    @staticmethod
    async def _run(coroutine: Awaitable[Any]) -> None:
        try:
            await coroutine
        except Exception as exc:  # noqa: BLE001 - PTB's error handler already saw it
            log.debug("update failed: %s", type(exc).__name__)

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        # Let the chats that are busy finish what they already received.
        if self._workers:
            await asyncio.gather(*list(self._workers), return_exceptions=True)
