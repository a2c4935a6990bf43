"""Serve the real aiohttp app on 127.0.0.1 for tests that speak HTTP."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web

from bot.app import ADAPTERS, create_app
from bot.channels.webchat.adapter import RateLimiter
from bot.core.settings import Settings
from tests.conftest import free_port


@asynccontextmanager
async def serve(settings: Settings, *, real_rate_limit: bool = False,
                **kwargs: Any) -> AsyncIterator[tuple[str, web.Application]]:
    """The real app on a free port. Tests click faster than people, so the web chat's rate limit
    is lifted unless a test is about it."""
    app = create_app(settings, **kwargs)
    if not real_rate_limit:
        app[ADAPTERS]["webchat"].limiter = RateLimiter(rate_per_second=10_000, burst=100_000)
        app[ADAPTERS]["webchat"].client_limiter = RateLimiter(rate_per_second=10_000, burst=100_000)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        await runner.cleanup()


class WebChatClient:
    def __init__(self, http: aiohttp.ClientSession, base: str, session: str,
                 accept_language: str = "en") -> None:
        self.http, self.base, self.session = http, base, session
        self.headers = {"Accept-Language": accept_language}
        self.last: dict[str, Any] = {}

    async def post(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        async with self.http.post(f"{self.base}/webchat/api/messages", json=body,
                                  headers=self.headers) as resp:
            return resp.status, await resp.json()

    async def say(self, text: str) -> dict[str, Any]:
        status, self.last = await self.post({"session": self.session, "text": text})
        assert status == 200, self.last
        return self.last

    async def press(self, action: str) -> dict[str, Any]:
        status, self.last = await self.post({"session": self.session, "action": action})
        assert status == 200, self.last
        return self.last

    def actions(self) -> list[str]:
        return [b["action"] for r in self.last["replies"] for row in r["buttons"] for b in row]

    def text(self) -> str:
        return "\n".join(r["text"] for r in self.last["replies"])
