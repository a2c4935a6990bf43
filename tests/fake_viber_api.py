"""A fake of the Viber REST Bot API on 127.0.0.1, for channel tests over real HTTP.

It checks every request against Viber's documentation (the auth header, JSON, the 30 KB limit,
the required fields and their sizes, keyboards, broadcast_list of 1-300 ids, Silent keys only
with a min_api_version that has them) and answers a request that breaks a rule the way Viber
does (status 3 badData / 4 missingData), recording why in `violations`: the fixtures fail a test
that leaves any. Tests script the answers: statuses for the next sends, an account-wide status
for every call, a failed_list, billing_status, and a webhook that is refused until a moment.
On set_webhook it calls the webhook back with a signed `webhook` event the way Viber does,
accepting it only if the bot answers 200. It also signs and posts callbacks to the bot."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from tests.conftest import free_port

STATUS_MESSAGES = {0: "ok", 1: "invalidUrl", 2: "invalidAuthToken", 3: "badData",
                   4: "missingData", 5: "receiverNotRegistered", 6: "receiverNotSubscribed",
                   7: "publicAccountBlocked", 8: "publicAccountNotFound",
                   9: "publicAccountSuspended", 10: "webhookNotSet", 12: "tooManyRequests",
                   15: "publicAccountNotAuthorized", 23: "freeMessagesExceeded",
                   24: "noBalance"}
MAX_REQUEST_BYTES = 30 * 1024
MAX_SENDER_NAME = 28
MAX_TEXT = 7000
MAX_TRACKING = 4000
MAX_BROADCAST = 300
MAX_KEYBOARD_ROWS = 12
# Viber documents Silent for Viber 6.7 and later, the API level of rich media: 2.
SILENT_MIN_API_VERSION = 2
ACTION_TYPES = {"reply", "open-url", "location-picker", "share-phone", "none"}
EVENT_TYPES = {"delivered", "seen", "failed", "subscribed", "unsubscribed",
               "conversation_started"}


def sign(token: str, raw: bytes) -> str:
    return hmac.new(token.encode(), raw, hashlib.sha256).hexdigest()


@dataclass
class FakeViberApi:
    token: str
    base_url: str = ""
    sent: list[dict[str, Any]] = field(default_factory=list)  # accepted send_message bodies
    attempts: list[dict[str, Any]] = field(default_factory=list)  # every send_message body
    broadcasts: list[dict[str, Any]] = field(default_factory=list)  # every broadcast_message
    sizes: list[int] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    webhook_url: str | None = None
    webhook_attempts: int = 0
    event_types: list[str] = field(default_factory=list)  # what the registered webhook gets
    statuses: deque[int] = field(default_factory=deque)  # next send_message answers
    broadcast_statuses: deque[int] = field(default_factory=deque)  # next broadcast answers
    account_status: int = 0  # non-zero: every call is refused with it (blocked, no balance...)
    fail_receivers: dict[str, int] = field(default_factory=dict)  # failed_list entries
    billing_status: int | None = 5  # what answers carry; None leaves billing_status out
    # set_webhook is refused while this says so (a proxy that is not ready yet).
    refuse_webhook: Callable[[], bool] = lambda: False

    def answer_next(self, *statuses: int) -> None:
        self.statuses.extend(statuses)

    def to(self, receiver: str) -> list[dict[str, Any]]:
        """Messages that reached `receiver`, by send_message or by broadcast_message."""
        return [m for m in self.sent if m.get("receiver") == receiver]

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/pa/{method}", self.handle)
        return app

    def _refuse(self, status: int, why: str) -> web.Response:
        self.violations.append(why)
        return web.json_response({"status": status, "status_message": STATUS_MESSAGES[status]})

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.calls.append(method)
        if request.headers.get("X-Viber-Auth-Token") != self.token:
            return web.json_response({"status": 2, "status_message": "invalidAuthToken"})
        raw = await request.read()
        self.sizes.append(len(raw))
        if len(raw) > MAX_REQUEST_BYTES:
            return self._refuse(3, f"{method}: request of {len(raw)} bytes is over 30 KB")
        if not request.content_type.startswith("application/json"):
            return self._refuse(3, f"{method}: Content-Type {request.content_type}")
        try:
            body = json.loads(raw)
        except ValueError:
            return self._refuse(3, f"{method}: not JSON")
        if not isinstance(body, dict):
            return self._refuse(3, f"{method}: not a JSON object")
        if method == "set_webhook":
            return await self._set_webhook(body)
        if self.account_status:
            status = self.account_status
            if method == "send_message":
                self.attempts.append(body)
            return web.json_response({"status": status,
                                      "status_message": STATUS_MESSAGES.get(status, "error")})
        if method == "send_message":
            return self._send_message(body)
        if method == "broadcast_message":
            return self._broadcast_message(body)
        if method == "get_account_info":
            return web.json_response({"status": 0, "status_message": "ok", "id": "pa:1",
                                      "name": "Assistant", "uri": "assistant",
                                      "webhook": self.webhook_url or "",
                                      "event_types": [], "subscribers_count": 0})
        return self._refuse(3, f"unknown method {method}")

    # -- the message itself, as the docs describe it ------------------------------------------
    def _message_problem(self, body: dict[str, Any]) -> str | None:
        sender = body.get("sender")
        if not isinstance(sender, dict) or not isinstance(sender.get("name"), str) \
                or not sender["name"]:
            return "sender.name is required"
        if len(sender["name"]) > MAX_SENDER_NAME:
            return "sender.name is over 28 characters"
        avatar = sender.get("avatar")
        if avatar is not None and (not isinstance(avatar, str) or not avatar.startswith("http")):
            return "sender.avatar is not a URL"
        if body.get("type") != "text":
            return f"type {body.get('type')!r} (we only send text)"
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return "text is required"
        if len(text) > MAX_TEXT:
            return "text is over 7000 characters"
        tracking = body.get("tracking_data")
        if tracking is not None and (not isinstance(tracking, str) or len(tracking) > MAX_TRACKING):
            return "tracking_data is over 4000 characters"
        level = body.get("min_api_version", 1)
        if not isinstance(level, int) or isinstance(level, bool) or level < 1:
            return "min_api_version is not a positive integer"
        keyboard = body.get("keyboard")
        if keyboard is not None:
            return self._keyboard_problem(keyboard, level)
        return None

    @staticmethod
    def _keyboard_problem(keyboard: object, level: int) -> str | None:
        if not isinstance(keyboard, dict) or keyboard.get("Type") != "keyboard":
            return "keyboard.Type must be 'keyboard'"
        buttons = keyboard.get("Buttons")
        if not isinstance(buttons, list) or not buttons:
            return "keyboard.Buttons is required"
        cells = 0
        for button in buttons:
            if not isinstance(button, dict):
                return "a button is not an object"
            columns, rows = button.get("Columns", 6), button.get("Rows", 1)
            if not (isinstance(columns, int) and 1 <= columns <= 6):
                return "Columns must be 1-6"
            if not (isinstance(rows, int) and 1 <= rows <= 2):
                return "Rows must be 1-2"
            if button.get("ActionType", "reply") not in ACTION_TYPES:
                return f"ActionType {button.get('ActionType')!r}"
            if not isinstance(button.get("ActionBody"), str) or not button["ActionBody"]:
                return "ActionBody is required"
            if "Silent" in button and level < SILENT_MIN_API_VERSION:
                return "Silent needs min_api_version 2 (Viber 6.7)"
            cells += columns * rows
        if cells > 6 * MAX_KEYBOARD_ROWS:
            return "keyboard has too many rows"
        return None

    def _answer(self, status: int, **extra: Any) -> web.Response:
        body: dict[str, Any] = {"status": status,
                                "status_message": STATUS_MESSAGES.get(status, "error"),
                                "message_token": 5_000_000 + len(self.calls),
                                "chat_hostname": "fake", **extra}
        if status == 0 and self.billing_status is not None:
            body["billing_status"] = self.billing_status
        return web.json_response(body)

    def _send_message(self, body: dict[str, Any]) -> web.Response:
        self.attempts.append(body)
        receiver = body.get("receiver")
        if not isinstance(receiver, str) or not receiver:
            return self._refuse(4, "send_message: receiver is required")
        if "broadcast_list" in body:
            return self._refuse(3, "send_message: broadcast_list belongs to broadcast_message")
        problem = self._message_problem(body)
        if problem is not None:
            return self._refuse(3, f"send_message: {problem}")
        status = self.statuses.popleft() if self.statuses else 0
        if status == 0 and receiver in self.fail_receivers:
            status = self.fail_receivers[receiver]
        if status == 0:
            self.sent.append(body)
        return self._answer(status)

    def _broadcast_message(self, body: dict[str, Any]) -> web.Response:
        self.broadcasts.append(body)
        receivers = body.get("broadcast_list")
        if not isinstance(receivers, list) or not receivers:
            return self._refuse(4, "broadcast_message: broadcast_list is required")
        if len(receivers) > MAX_BROADCAST:
            return self._refuse(3, "broadcast_message: more than 300 receivers")
        if not all(isinstance(r, str) and r for r in receivers) or \
                len(set(receivers)) != len(receivers):
            return self._refuse(3, "broadcast_message: receivers must be distinct ids")
        if "receiver" in body:
            return self._refuse(3, "broadcast_message: receiver belongs to send_message")
        problem = self._message_problem(body)
        if problem is not None:
            return self._refuse(3, f"broadcast_message: {problem}")
        status = self.broadcast_statuses.popleft() if self.broadcast_statuses else 0
        if status != 0:
            return self._answer(status)
        failed = [{"receiver": r, "status": self.fail_receivers[r],
                   "status_message": STATUS_MESSAGES.get(self.fail_receivers[r], "error")}
                  for r in receivers if r in self.fail_receivers]
        message = {k: v for k, v in body.items() if k != "broadcast_list"}
        for receiver in receivers:
            if receiver not in self.fail_receivers:
                self.sent.append({**message, "receiver": receiver})
        return self._answer(0, failed_list=failed)

    async def _set_webhook(self, body: dict[str, Any]) -> web.Response:
        self.webhook_attempts += 1
        url = body.get("url")
        if not isinstance(url, str):
            return self._refuse(4, "set_webhook: url is required")
        parts = urlsplit(url)
        # Viber calls only https; a loopback http address is how the tests reach the bot.
        if parts.scheme != "https" and parts.hostname != "127.0.0.1":
            return self._refuse(1, "set_webhook: the url is not https")
        events = body.get("event_types", [])
        if not isinstance(events, list) or not set(events) <= EVENT_TYPES:
            return self._refuse(3, "set_webhook: unknown event_types")
        if body.get("send_name") is not False or body.get("send_photo") is not False:
            self.violations.append("set_webhook: asked for her name or photo")
        if self.account_status and self.account_status != 10:  # set_webhook is what fixes 10
            return web.json_response({"status": self.account_status,
                                      "status_message": STATUS_MESSAGES[self.account_status]})
        if self.refuse_webhook():
            return web.json_response({"status": 1, "status_message": "invalidUrl"})
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
        self.event_types = list(events)
        return web.json_response({"status": 0, "status_message": "ok",
                                  "event_types": events})


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
