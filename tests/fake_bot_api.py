"""A fake Telegram Bot API server (aiohttp, 127.0.0.1) that holds chats and their messages.

Tests and the benchmark point python-telegram-bot at it with base_url
f"http://127.0.0.1:{port}/bot". People are simulated with `say()` and `press()`; the server keeps
every message of every chat (hers and the bot's), so a test can check what is left on her screen
after a quick exit. Faults are injected per method with `fail()`.

Run on its own (the benchmark does): `python -m tests.fake_bot_api --port N`.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 7_000_000_001
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "Weather", "username": "weather_bot",
            "can_join_groups": False, "can_read_all_group_messages": False,
            "supports_inline_queries": False}


@dataclass
class Fault:
    kind: str  # "429", "403", "400", "500", "502", "timeout" (no answer), "slow" (late answer)
    count: int = 1
    retry_after: int = 1
    delay: float = 0.0


@dataclass
class Message:
    message_id: int
    chat_id: int
    from_bot: bool
    text: str
    reply_markup: dict[str, Any] | None = None
    protect_content: bool = False
    disable_notification: bool = False
    edited: int = 0


@dataclass
class FakeBotApi:
    token: str = "123456:TEST-token"
    chats: dict[int, dict[int, Message]] = field(default_factory=lambda: defaultdict(dict))
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=lambda: defaultdict(list))
    webhook: dict[str, Any] = field(default_factory=dict)
    commands: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    uploads: list[tuple[str, str, int]] = field(default_factory=list)
    record_calls: bool = True
    # Messages per second the server accepts over all chats (0: no limit); beyond it, a 429 with
    # retry_after 1, as Telegram answers a bot that goes over its limit (the pacing benchmark).
    # Modelled as a bucket of one second's worth, refilled at that rate: "no more than N a second"
    # on average, with the jitter of the network between two processes absorbed.
    rate_limit: float = 0.0

    def __post_init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._callback_ids = itertools.count(1)
        self._new_updates = asyncio.Event()
        self.answered_callbacks: set[str] = set()
        self.sent_count = 0
        self.edit_count = 0
        self.sent_event = asyncio.Event()
        self.closing = False
        self.too_many = 0  # sendMessage calls refused with 429 for going over rate_limit
        self._tokens = self.rate_limit
        self._tokens_at = time.perf_counter()
        self.sent_per_chat: Counter[int] = Counter()
        # A chat's typed message queued by /control/say -> when; the first answer to that chat
        # takes it out and adds the time it waited to `answer_seconds`.
        self._said_at: dict[int, float] = {}
        self.answer_seconds: list[float] = []

    # -- what a person does ------------------------------------------------------------------------
    def _next_message_id(self, chat_id: int) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    def _user(self, chat_id: int, language_code: str | None) -> dict[str, Any]:
        user: dict[str, Any] = {"id": chat_id, "is_bot": False, "first_name": "P"}
        if language_code:
            user["language_code"] = language_code
        return user

    def _queue(self, update: dict[str, Any]) -> dict[str, Any]:
        update["update_id"] = next(self._update_ids)
        self._updates.append(update)
        self._new_updates.set()
        return update

    def message_update(self, chat_id: int, text: str, language_code: str | None = "en",
                       *, store: bool = True) -> dict[str, Any]:
        """An update with a text she typed (not queued; `say` queues it)."""
        mid = self._next_message_id(chat_id)
        if store:
            self.chats[chat_id][mid] = Message(mid, chat_id, False, text)
        return {"message": {"message_id": mid, "date": 1_800_000_000, "text": text,
                            "chat": {"id": chat_id, "type": "private", "first_name": "P"},
                            "from": self._user(chat_id, language_code)}}

    def say(self, chat_id: int, text: str, language_code: str | None = "en") -> dict[str, Any]:
        return self._queue(self.message_update(chat_id, text, language_code))

    def callback_update(self, chat_id: int, data: str, message_id: int | None = None,
                        language_code: str | None = "en") -> dict[str, Any]:
        if message_id is None:
            message_id = self.last_bot_message(chat_id).message_id
        msg = self.chats[chat_id].get(message_id)
        return {"callback_query": {
            "id": str(next(self._callback_ids)), "chat_instance": str(chat_id),
            "from": self._user(chat_id, language_code), "data": data,
            "message": {"message_id": message_id, "date": 1_800_000_000,
                        "chat": {"id": chat_id, "type": "private", "first_name": "P"},
                        "from": BOT_USER, "text": msg.text if msg else "x"}}}

    def press(self, chat_id: int, data: str, message_id: int | None = None,
              language_code: str | None = "en") -> dict[str, Any]:
        """She taps a button (any payload: tests may forge one)."""
        return self._queue(self.callback_update(chat_id, data, message_id, language_code))

    # -- what a test reads --------------------------------------------------------------------------
    def messages(self, chat_id: int) -> list[Message]:
        return [self.chats[chat_id][k] for k in sorted(self.chats[chat_id])]

    def bot_messages(self, chat_id: int) -> list[Message]:
        return [m for m in self.messages(chat_id) if m.from_bot]

    def last_bot_message(self, chat_id: int) -> Message:
        found = self.bot_messages(chat_id)
        assert found, "the bot has not written in this chat"
        return found[-1]

    def buttons(self, chat_id: int) -> list[str]:
        markup = self.last_bot_message(chat_id).reply_markup or {}
        return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    def fail(self, method: str, kind: str, *, count: int = 1, retry_after: int = 1,
             delay: float = 0.0) -> None:
        """The next `count` calls of `method` fail with `kind`."""
        self.faults[method].append(Fault(kind, count, retry_after, delay))

    def pending_updates(self) -> int:
        return len(self._updates)

    # -- the HTTP side ------------------------------------------------------------------------------
    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        app.router.add_post("/control/say", self._control_say)
        app.router.add_get("/control/stats", self._control_stats)
        app.on_shutdown.append(self._wake_pollers)
        return app

    async def _wake_pollers(self, app: web.Application) -> None:
        # A long poll waiting for updates must not hold up the server's shutdown.
        self.closing = True
        self._new_updates.set()

    async def _control_say(self, request: web.Request) -> web.Response:
        """For a server in its own process: queue [[chat_id, text], ...] as typed messages, and
        [chat_id, data, "tap"] as a tap on a button of the bot's answer to her last typed message
        (the message that follows hers in the chat: the benchmarks queue everything at once, so
        that answer is not there yet; it is when the tap is handled, as her taps come in order)."""
        now = time.perf_counter()
        last_typed: dict[int, int] = {}
        for chat_id, text, *kind in await request.json():
            chat = int(chat_id)
            if kind == ["tap"]:
                self._queue(self.callback_update(chat, str(text), last_typed[chat] + 1))
                continue
            self._said_at.setdefault(chat, now)
            update = self._queue(self.message_update(chat, str(text), "en", store=False))
            last_typed[chat] = int(update["message"]["message_id"])
        return _ok(len(self._updates))

    async def _control_stats(self, request: web.Request) -> web.Response:
        stats: dict[str, Any] = {"sent": self.sent_count, "edits": self.edit_count,
                                 "pending": len(self._updates), "too_many": self.too_many}
        if request.query.get("detail"):
            stats["sent_per_chat"] = {str(k): v for k, v in self.sent_per_chat.items()}
            stats["answer_seconds"] = self.answer_seconds
        return _ok(stats)

    def _over_rate(self) -> bool:
        if not self.rate_limit:
            return False
        now = time.perf_counter()
        self._tokens = min(self.rate_limit,
                           self._tokens + (now - self._tokens_at) * self.rate_limit)
        self._tokens_at = now
        if self._tokens < 1.0:
            self.too_many += 1
            return True
        self._tokens -= 1.0
        return False

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        ctype = request.content_type
        if ctype == "application/json":
            body = await request.read()
            if body:
                params.update(json.loads(body))
        elif ctype.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                data = await part.read()  # type: ignore[union-attr]
                if part.filename:  # type: ignore[union-attr]
                    self.uploads.append((part.name or "", part.filename or "", len(data)))  # type: ignore[union-attr]
                    params[part.name or ""] = f"<file {len(data)} bytes>"
                else:
                    params[part.name or ""] = data.decode()
        elif ctype == "application/x-www-form-urlencoded":
            params.update(await request.post())
        # Like Telegram, accept JSON-encoded values in string form ("false", "[1, 2]").
        for key, value in list(params.items()):
            if key != "text" and isinstance(value, str) and value[:1] in ("{", "[", "t", "f"):
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    pass
        return params

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401,
                                      "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params = await self._params(request)
        if self.record_calls:
            self.calls.append((method, params))
        fault = self._take_fault(method)
        handler = getattr(self, "_m_" + method, None)
        if fault is not None and fault.kind == "slow":
            # The call succeeds, but too late for the client: did it arrive? (it did)
            await asyncio.sleep(fault.delay)
        elif fault is not None:
            return await self._fault(fault)
        if handler is None:
            return _error(404, "Not Found: method not found")
        return await handler(params)

    def _take_fault(self, method: str) -> Fault | None:
        queue = self.faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.count -= 1
        if fault.count <= 0:
            queue.pop(0)
        return fault

    async def _fault(self, fault: Fault) -> web.StreamResponse:
        if fault.kind == "429":
            return web.json_response({"ok": False, "error_code": 429,
                                      "description": "Too Many Requests: retry after "
                                                     f"{fault.retry_after}",
                                      "parameters": {"retry_after": fault.retry_after}},
                                     status=429)
        if fault.kind == "403":
            return _error(403, "Forbidden: bot was blocked by the user")
        if fault.kind == "400":
            return _error(400, "Bad Request: chat not found")
        if fault.kind == "timeout":
            await asyncio.sleep(fault.delay or 30)
            return _error(504, "Gateway Timeout")
        return _error(int(fault.kind), "Internal Server Error")

    # -- Bot API methods ----------------------------------------------------------------------------
    async def _m_getMe(self, p: dict[str, Any]) -> web.Response:  # noqa: N802
        return _ok(BOT_USER)

    async def _m_getUpdates(self, p: dict[str, Any]) -> web.Response:  # noqa: N802
        if self.webhook.get("url"):
            return _error(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(p.get("offset") or 0)
        limit = min(int(p.get("limit") or 100), 100)
        timeout = float(p.get("timeout") or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and timeout > 0 and not self.closing:
            self._new_updates.clear()
            try:
                await asyncio.wait_for(self._new_updates.wait(), timeout)
            except TimeoutError:
                pass
        return _ok(self._updates[:limit])

    def _keep(self, chat_id: int, p: dict[str, Any]) -> Message:
        mid = self._next_message_id(chat_id)
        msg = Message(mid, chat_id, True, str(p.get("text", "")), p.get("reply_markup"),
                      bool(p.get("protect_content")), bool(p.get("disable_notification")))
        self.chats[chat_id][mid] = msg
        return msg

    def _message_json(self, msg: Message) -> dict[str, Any]:
        out: dict[str, Any] = {"message_id": msg.message_id, "date": 1_800_000_000,
                               "chat": {"id": msg.chat_id, "type": "private"},
                               "from": BOT_USER, "text": msg.text}
        if msg.reply_markup:
            out["reply_markup"] = msg.reply_markup
        return out

    async def _m_sendMessage(self, p: dict[str, Any]) -> web.Response:  # noqa: N802
        text = str(p.get("text", ""))
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            return _error(400, "Bad Request: message is too long")
        for row in (p.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                if len(button.get("callback_data", "").encode()) > 64:
                    return _error(400, "Bad Request: BUTTON_DATA_INVALID")
        if self._over_rate():
            return web.json_response({"ok": False, "error_code": 429,
                                      "description": "Too Many Requests: retry after 1",
                                      "parameters": {"retry_after": 1}}, status=429)
        chat_id = int(p["chat_id"])
        msg = self._keep(chat_id, p)
        self.sent_count += 1
        self.sent_per_chat[chat_id] += 1
        said = self._said_at.pop(chat_id, None)
        if said is not None:
            self.answer_seconds.append(time.perf_counter() - said)
        self.sent_event.set()
        return _ok(self._message_json(msg))

    async def _m_sendDocument(self, p: dict[str, Any]) -> web.Response:  # noqa: N802
        msg = self._keep(int(p["chat_id"]), {"text": ""})
        return _ok(self._message_json(msg))

    async def _m_editMessageText(self, p: dict[str, Any]) -> web.Response:  # noqa: N802
        chat_id, mid = int(p["chat_id"]), int(p["message_id"])
        msg = self.chats[chat_id].get(mid)
        if msg is None:
            return _error(400, "Bad Request: message to edit not found")
        if not msg.from_bot:
            return _error(400, "Bad Request: message can't be edited")
        text = str(p.get("text", ""))
        if text == msg.text and p.get("reply_markup") == msg.reply_markup:
            return _error(400, "Bad Request: message is not modified: specified new message "
                               "content and reply markup are exactly the same")
        msg.text, msg.reply_markup = text, p.get("reply_markup")
        msg.edited += 1
        self.edit_count += 1
        self.sent_event.set()
        return _ok(self._message_json(msg))

    async def _m_deleteMessage(self, p: dict[str, Any]) -> web.Response:  # noqa: N802
        chat_id, mid = int(p["chat_id"]), int(p["message_id"])
        if self.chats[chat_id].pop(mid, None) is None:
            return _error(400, "Bad Request: message to delete not found")
        return _ok(True)

    async def _m_deleteMessages(self, p: dict[str, Any]) -> web.Response:  # noqa: N802
        chat_id, ids = int(p["chat_id"]), [int(i) for i in p.get("message_ids", [])]
        if not 1 <= len(ids) <= 100:
            return _error(400, "Bad Request: too many message identifiers specified")
        for mid in ids:  # ids it cannot find are skipped, like Telegram does
            self.chats[chat_id].pop(mid, None)
        return _ok(True)

    async def _m_answerCallbackQuery(self, p: dict[str, Any]) -> web.Response:  # noqa: N802
        self.answered_callbacks.add(str(p["callback_query_id"]))
        return _ok(True)

    async def _m_setMyCommands(self, p: dict[str, Any]) -> web.Response:  # noqa: N802
        self.commands[str(p.get("language_code") or "")] = list(p.get("commands", []))
        return _ok(True)

    async def _m_setWebhook(self, p: dict[str, Any]) -> web.Response:  # noqa: N802
        self.webhook = {"url": p.get("url", ""), "secret_token": p.get("secret_token", ""),
                        "allowed_updates": p.get("allowed_updates")}
        return _ok(True)

    async def _m_deleteWebhook(self, p: dict[str, Any]) -> web.Response:  # noqa: N802
        self.webhook = {}
        return _ok(True)

    async def _m_getWebhookInfo(self, p: dict[str, Any]) -> web.Response:  # noqa: N802
        return _ok({"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                    "pending_update_count": len(self._updates)})


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(code: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "error_code": code, "description": description},
                             status=code)


@asynccontextmanager
async def serve_fake(api: FakeBotApi | None = None, port: int = 0
                     ) -> AsyncIterator[tuple[FakeBotApi, str]]:
    """Serve a fake on 127.0.0.1; yields (fake, base_url in PTB's form)."""
    api = api or FakeBotApi()
    runner = web.AppRunner(api.make_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = runner.addresses[0][1]
    try:
        yield api, f"http://127.0.0.1:{bound}/bot"
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description="fake Telegram Bot API on 127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", default=FakeBotApi.token)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="messages per second accepted; more get 429 (0: no limit)")
    args = parser.parse_args()
    fake = FakeBotApi(token=args.token, record_calls=False, rate_limit=args.rate)
    web.run_app(fake.make_app(), host="127.0.0.1",
                port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
