"""A fake of the Viber REST Bot API on 127.0.0.1, for channel tests over real HTTP.

It checks the auth token, records every request (and its size), answers send_message with
scripted statuses (0 by default), and on set_webhook calls the webhook back with a signed
`webhook` event the way Viber does, accepting it only if the bot answers 200. It also signs and
posts callbacks to the bot, as Viber would."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.conftest import free_port

STATUS_MESSAGES = {0: "ok", 5: "receiverNotRegistered", 6: "receiverNotSubscribed",
                   12: "tooManyRequests", 23: "freeMessagesExceeded", 24: "noBalance"}


def sign(token: str, raw: bytes) -> str:
    return hmac.new(token.encode(), raw, hashlib.sha256).hexdigest()


@dataclass
class FakeViberApi:
    token: str
    base_url: str = ""
    sent: list[dict[str, Any]] = field(default_factory=list)  # accepted send_message bodies
    attempts: list[dict[str, Any]] = field(default_factory=list)  # every send_message body
    sizes: list[int] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    webhook_url: str | None = None
    statuses: deque[int] = field(default_factory=deque)  # next send_message answers

    def answer_next(self, *statuses: int) -> None:
        self.statuses.extend(statuses)

    def to(self, receiver: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m.get("receiver") == receiver]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/pa/{method}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.calls.append(method)
        if request.headers.get("X-Viber-Auth-Token") != self.token:
            return web.json_response({"status": 2, "status_message": "invalidAuthToken"})
        raw = await request.read()
        self.sizes.append(len(raw))
        body = json.loads(raw)
        if method == "send_message":
            return self._send_message(body)
        if method == "set_webhook":
            return await self._set_webhook(body)
        if method == "get_account_info":
            return web.json_response({"status": 0, "status_message": "ok", "id": "pa:1",
                                      "name": "Assistant", "webhook": self.webhook_url or ""})
        return web.json_response({"status": 3, "status_message": "badData"})

    def _send_message(self, body: dict[str, Any]) -> web.Response:
        self.attempts.append(body)
        status = self.statuses.popleft() if self.statuses else 0
        if status == 0:
            self.sent.append(body)
        return web.json_response({"status": status,
                                  "status_message": STATUS_MESSAGES.get(status, "error"),
                                  "message_token": len(self.attempts),
                                  "chat_hostname": "fake"})

    async def _set_webhook(self, body: dict[str, Any]) -> web.Response:
        url = body.get("url", "")
        event = {"event": "webhook", "timestamp": int(time.time() * 1000),
                 "chat_hostname": "fake", "message_token": 1}
        try:
            async with aiohttp.ClientSession() as http:
                status, _ = await post_event(http, url, self.token, event)
        except aiohttp.ClientError:
            status = 0
        if status != 200:
            return web.json_response({"status": 1, "status_message": "invalidUrl"})
        self.webhook_url = url
        return web.json_response({"status": 0, "status_message": "ok",
                                  "event_types": body.get("event_types", [])})


@asynccontextmanager
async def run_fake(token: str) -> AsyncIterator[FakeViberApi]:
    fake = FakeViberApi(token)
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    fake.base_url = f"http://127.0.0.1:{port}/pa/"
    try:
        yield fake
    finally:
        await runner.cleanup()


async def post_event(http: aiohttp.ClientSession, url: str, token: str, event: dict[str, Any], *,
                     signature: str | None = "sign") -> tuple[int, str]:
    """POST a callback as Viber does; signature 'sign' signs it right, None leaves it out."""
    raw = json.dumps(event, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        headers["X-Viber-Content-Signature"] = sign(token, raw)
    elif signature is not None:
        headers["X-Viber-Content-Signature"] = signature
    async with http.post(url, data=raw, headers=headers) as resp:
        return resp.status, await resp.text()
