"""The Viber channel: the real app (bot.app.create_app) with our aiohttp client and webhook route,
against a fake Viber API over real HTTP. We assert on what the fake received."""
from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select

from bot.app import ADAPTERS, RUNTIME, create_app
from bot.channels.viber.adapter import (
    ACTION_MARKER,
    EXIT_BG,
    MAX_ROWS,
    MAX_TEXT_CHARS,
    SENDER_NAME,
    WEBHOOK_PATH,
    ViberChannel,
    fit_rows,
    keyboard,
    merged_rows,
    render,
    request_size,
    split_text,
)
from bot.channels.viber.client import MAX_REQUEST_BYTES, AccountRefused, ViberClient
from bot.core.types import Button, Channel, Reply
from bot.core.ui import exit_button
from bot.runtime import Runtime
from bot.services.delivery import DeliveryFailed, RateLimited, RecipientGone
from db.models import User
from tests.canary import assert_not_logged, assert_not_on_disk, new_canary
from tests.conftest import FakeClock, free_port, make_settings
from tests.fake_viber_api import FakeViberApi, post_event, run_fake, sign
from tests.http import serve

TOKEN = "4f1c9a0b2d3e4f50-" + secrets.token_hex(16)


# -- a phone talking to the bot through the fake Viber ---------------------------------------------
@dataclass
class Bot:
    base: str
    app: web.Application
    http: aiohttp.ClientSession
    fake: FakeViberApi

    @property
    def url(self) -> str:
        return self.base + WEBHOOK_PATH

    @property
    def runtime(self) -> Runtime:
        return self.app[RUNTIME]

    @property
    def channel(self) -> ViberChannel:
        return self.app[ADAPTERS]["viber"]

    async def users(self) -> int:
        async with self.runtime.sessionmaker() as db:
            return int((await db.execute(select(func.count()).select_from(User))).scalar_one())

    async def user(self, address: str) -> User | None:
        key = self.runtime.vault.lookup_hash(Channel.VIBER, address)
        async with self.runtime.sessionmaker() as db:
            return (await db.execute(select(User).where(User.lookup_hash == key))
                    ).scalar_one_or_none()


_tokens = iter(range(10**12, 10**13))


@dataclass
class Phone:
    bot: Bot
    address: str = field(default_factory=lambda: secrets.token_urlsafe(16) + "==")
    language: str = "en"
    seen: int = 0
    welcome: dict[str, Any] | None = None

    def _event(self, kind: str, **extra: Any) -> dict[str, Any]:
        return {"event": kind, "timestamp": int(time.time() * 1000),
                "message_token": next(_tokens), **extra}

    def _sender(self) -> dict[str, Any]:
        return {"id": self.address, "language": self.language, "country": "BG", "api_version": 10}

    async def post(self, event: dict[str, Any], **kwargs: Any) -> tuple[int, str]:
        status, body = await post_event(self.bot.http, self.bot.url, TOKEN, event, **kwargs)
        await self.bot.channel.drain()
        return status, body

    async def open(self, context: str | None = None) -> dict[str, Any]:
        extra: dict[str, Any] = {"type": "open", "user": self._sender(), "subscribed": False}
        if context is not None:
            extra["context"] = context
        status, body = await self.post(self._event("conversation_started", **extra))
        assert status == 200
        self.welcome = json.loads(body)
        return self.welcome

    async def type(self, text: str) -> list[dict[str, Any]]:
        return await self.message({"type": "text", "text": text})

    async def message(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        status, _ = await self.post(self._event("message", sender=self._sender(),
                                                message=message))
        assert status == 200
        return self.new()

    async def press(self, action: str) -> list[dict[str, Any]]:
        assert action in self.actions(), f"no button {action!r}; have {self.actions()}"
        return await self.type(ACTION_MARKER + action)

    def new(self) -> list[dict[str, Any]]:
        mine = self.bot.fake.to(self.address)
        fresh, self.seen = mine[self.seen:], len(mine)
        return fresh

    def last_keyboard(self) -> dict[str, Any]:
        mine = self.bot.fake.to(self.address)
        for message in reversed(mine):
            if "keyboard" in message:
                return dict(message["keyboard"])
        assert self.welcome is not None and "keyboard" in self.welcome
        return dict(self.welcome["keyboard"])

    def actions(self) -> list[str]:
        return [b["ActionBody"].removeprefix(ACTION_MARKER)
                for b in self.last_keyboard()["Buttons"] if b["ActionType"] == "reply"]

    def text(self) -> str:
        return "\n".join(m["text"] for m in self.bot.fake.to(self.address)[-3:])

    async def answered(self) -> None:
        """She opened the chat and chose her language (still a visitor: no row until she
        finishes the start screens)."""
        await self.open()
        await self.press("lang:en")

    async def onboard(self) -> None:
        await self.open()
        await self.press("lang:en")
        await self.press("safe:ok")
        await self.press("region:bulgaria")


@pytest.fixture
async def fake() -> AsyncIterator[FakeViberApi]:
    async with run_fake(TOKEN) as api:
        yield api
        assert api.violations == []  # every request the bot made is one Viber documents


@asynccontextmanager
async def serve_viber(database_url: str, fake: FakeViberApi, clock: FakeClock,
                      **overrides: Any) -> AsyncIterator[tuple[str, web.Application]]:
    """The real app with Viber on, its PUBLIC_URL the loopback address it listens on (the fake
    calls the webhook back there, as Viber calls the proxy)."""
    port = free_port()
    values: dict[str, Any] = dict(viber_token=TOKEN, viber_api_base_url=fake.base_url,
                                  public_url=f"http://127.0.0.1:{port}")
    values.update(overrides)
    app = create_app(make_settings(database_url, **values), clock=clock)
    app[ADAPTERS]["viber"].sleep = no_wait
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        await runner.cleanup()


async def no_wait(seconds: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
async def bot(database_url: str, fake: FakeViberApi, clock: FakeClock) -> AsyncIterator[Bot]:
    async with serve_viber(database_url, fake, clock) as (base, app), \
            aiohttp.ClientSession() as http:
        yield Bot(base, app, http, fake)


def assert_screen(kb: dict[str, Any]) -> None:
    """A Viber keyboard as we promise it: full rows, reply buttons, a distinct quick exit."""
    buttons = kb["Buttons"]
    exits = [b for b in buttons if b["ActionBody"] == ACTION_MARKER + "exit"]
    assert len(exits) == 1, buttons
    assert exits[0]["BgColor"] == EXIT_BG
    assert all(b["BgColor"] != EXIT_BG for b in buttons if b is not exits[0])
    assert all(1 <= b["Columns"] <= 6 and b["Rows"] == 1 for b in buttons)
    assert all(b["ActionType"] == "reply" and b["Silent"] is True for b in buttons)
    assert sum(b["Columns"] for b in buttons) % 6 == 0  # every row is filled
    assert sum(b["Columns"] for b in buttons) <= 6 * MAX_ROWS


def assert_message(message: dict[str, Any]) -> None:
    assert message["sender"] == {"name": SENDER_NAME} and len(SENDER_NAME) <= 28
    assert message["type"] == "text" and 0 < len(message["text"]) <= MAX_TEXT_CHARS
    assert "tracking_data" not in message


# -- the journey -------------------------------------------------------------------------------------
async def test_signed_journey_to_help_and_quick_exit(bot: Bot) -> None:
    phone = Phone(bot, language="uk")
    welcome = await phone.open()
    # The welcome rides in the conversation_started answer: the language choice, hint first.
    assert "receiver" not in welcome
    assert_message(welcome)
    assert_screen(welcome["keyboard"])
    assert phone.actions()[0] == "lang:uk"
    assert bot.fake.sent == []  # nothing sent (or paid) before she writes
    steps = [("lang:en", "safe moment"), ("safe:ok", "Where do you live"),
             ("region:bulgaria", "Main menu"), ("help", "0800 1 8676")]
    for action, expected in steps:
        got = await phone.press(action)
        assert got, action
        assert expected in "\n".join(m["text"] for m in got)
        for message in got:
            assert_message(message)
            assert message["receiver"] == phone.address
        # One keyboard per answer, on its last message, always with the quick exit.
        assert [("keyboard" in m) for m in got] == [False] * (len(got) - 1) + [True]
        assert_screen(got[-1]["keyboard"])
    assert "call log" in phone.text()
    got = await phone.press("exit")
    assert len(got) == 1
    assert got[0]["text"] == "Thanks, talk soon."
    # The menu is replaced by a blank key that does nothing: no way back in one tap.
    buttons = got[0]["keyboard"]["Buttons"]
    assert [b["ActionType"] for b in buttons] == ["none"]
    assert all(not b["ActionBody"].startswith(ACTION_MARKER) and b["Text"].strip() == ""
               for b in buttons)
    assert all(size <= MAX_REQUEST_BYTES for size in bot.fake.sizes)
    user = await bot.user(phone.address)
    assert user is not None and user.onboarded and user.region_code == "bulgaria"
    assert phone.address.encode() not in user.address_enc
    # The session is gone: a new message starts calmly, not inside the help screen.
    await phone.type("hello")
    assert "Main menu" in phone.text()


async def test_every_answer_carries_the_exit_button(bot: Bot) -> None:
    phone = Phone(bot)
    await phone.onboard()
    steps = [ACTION_MARKER + a for a in ("help:safety", "help:c:GR", "menu", "set", "ev", "job",
                                         "lang", "safe:ok")] + ["hello?", "/start", "/help"]
    for step in steps:
        got = await phone.type(step)
        assert got, step
        assert_screen(got[-1]["keyboard"])


async def test_deep_link_context_is_kept_and_odd_context_ignored(bot: Bot) -> None:
    phone = Phone(bot)
    welcome = await phone.open(context="ev-1")
    assert "lang:en" in phone.actions() and "That link" not in welcome["text"]
    other = Phone(bot)
    welcome = await other.open(context="x' OR 1=1; <b>")
    assert "lang:en" in other.actions() and "That link" not in welcome["text"]


# -- authenticate before parsing ---------------------------------------------------------------------
@pytest.mark.parametrize("signature", [None, "", "0" * 64, "nothex", sign("other-token", b"{}"),
                                       "A" * 1000])
async def test_forged_or_missing_signature_is_refused(bot: Bot, signature: str | None) -> None:
    phone = Phone(bot)
    opened = phone._event("conversation_started", user=phone._sender(), type="open")
    typed = phone._event("message", sender=phone._sender(),
                         message={"type": "text", "text": "/start"})
    for event in (opened, typed):
        status, body = await phone.post(event, signature=signature)
        assert status == 403 and "lang:" not in body
    assert await bot.users() == 0
    assert bot.fake.attempts == []


async def test_signature_of_another_body_is_refused(bot: Bot) -> None:
    phone = Phone(bot)
    event = phone._event("message", sender=phone._sender(),
                         message={"type": "text", "text": "/start"})
    status, _ = await phone.post(event, signature=sign(TOKEN, b'{"event":"webhook"}'))
    assert status == 403
    assert await bot.users() == 0 and bot.fake.attempts == []


async def test_oversized_and_malformed_callbacks(bot: Bot) -> None:
    big = b'{"event":"message","x":"' + b"a" * 70_000 + b'"}'
    for raw, expected in ((big, 413), (b"not json", 400), (b"[1,2]", 400), (b"\xff\xfe", 400)):
        async with bot.http.post(bot.url, data=raw,
                                 headers={"X-Viber-Content-Signature": sign(TOKEN, raw)}) as resp:
            assert resp.status == expected, raw[:20]
    phone = Phone(bot)
    # Signed but incomplete events: acknowledged, nothing created, nothing sent.
    for event in ({"event": "message"}, {"event": "message", "sender": {"id": ""}},
                  {"event": "message", "sender": {"id": "x" * 500}},
                  {"event": "conversation_started", "user": "me"},
                  {"event": "unsubscribed"}, {"event": "delivered", "user_id": phone.address},
                  {"event": "seen"}, {"event": "failed", "desc": "x"}, {"event": "newer_thing"},
                  {"event": "webhook"}):
        status, _ = await phone.post(event)
        assert status == 200, event
    assert await bot.users() == 0 and bot.fake.attempts == []


# -- payloads and bad input ----------------------------------------------------------------------------
async def test_typed_payloads_stay_text_and_forged_ones_are_refused(bot: Bot) -> None:
    phone = Phone(bot)
    await phone.onboard()
    got = await phone.type("lang:bg")  # typed, no marker: just words
    assert "did not understand" in got[0]["text"]
    user = await bot.user(phone.address)
    assert user is not None and user.language == "en"
    await phone.type(ACTION_MARKER + "region:atlantis")  # typed imitation, unknown target
    assert "Where do you live" in phone.text()
    user = await bot.user(phone.address)
    assert user is not None and user.region_code == "bulgaria"
    for forged in ("x" * 100, "lang:en; DROP TABLE users", "пароль", ""):
        got = await phone.type(ACTION_MARKER + forged)
        assert "not valid any more" in got[0]["text"], forged
        assert_screen(got[-1]["keyboard"])
    user = await bot.user(phone.address)
    assert user is not None and user.language == "en" and user.region_code == "bulgaria"


@pytest.mark.parametrize("text", ["", " ", "x" * 10_000, "🙂" * 50, "\u202e\u200fمرحبا\u202c",
                                  "'; DROP TABLE users; --", "<script>alert(1)</script>"])
async def test_bad_input_gets_a_calm_answer(bot: Bot, text: str) -> None:
    phone = Phone(bot)
    await phone.onboard()
    got = await phone.type(text)
    assert got
    if len(text) > 2000:
        assert "too long" in got[0]["text"]
    assert_screen(got[-1]["keyboard"])
    assert await bot.users() == 1


async def test_pictures_and_stickers_are_not_looked_at(bot: Bot) -> None:
    phone = Phone(bot)
    await phone.onboard()
    for message in ({"type": "picture", "media": "https://example.org/x.jpg", "text": "hi"},
                    {"type": "sticker", "sticker_id": 46105}, {"type": "location",
                                                                "location": {"lat": 1, "lon": 2}},
                    {"type": "text", "text": 42}, "nonsense"):
        got = await phone.message(message)  # type: ignore[arg-type]
        assert got and "did not understand" in got[0]["text"]
        assert_screen(got[-1]["keyboard"])


async def test_a_duplicated_callback_is_handled_once(bot: Bot) -> None:
    phone = Phone(bot)
    await phone.onboard()
    event = phone._event("message", sender=phone._sender(),
                         message={"type": "text", "text": ACTION_MARKER + "help"})
    await phone.post(event)
    first = len(phone.new())
    await phone.post(event)
    assert first > 0 and phone.new() == []


async def test_a_duplicated_callback_after_a_restart_is_handled_once(bot: Bot) -> None:
    """The replay guard remembers in the database (a hash of the token, nothing else): the
    process's memory is gone after a restart."""
    from db.models import SeenToken

    phone = Phone(bot)
    await phone.onboard()
    event = phone._event("message", sender=phone._sender(),
                         message={"type": "text", "text": ACTION_MARKER + "help"})
    await phone.post(event)
    assert phone.new()
    bot.channel._seen.clear()  # noqa: SLF001 - what a restart does to the in-memory guard
    await phone.post(event)
    assert phone.new() == []
    async with bot.runtime.sessionmaker() as db:
        hashes = list((await db.execute(select(SeenToken.token_hash))).scalars())
    assert hashes and str(event["message_token"]) not in " ".join(hashes)


# -- unsubscribed, and the platform's error table ---------------------------------------------------
async def test_unsubscribed_marks_her_inactive_and_stops_sending(bot: Bot) -> None:
    phone = Phone(bot)
    await phone.onboard()
    status, _ = await phone.post(phone._event("unsubscribed", user_id=phone.address))
    assert status == 200
    user = await bot.user(phone.address)
    assert user is not None and user.active is False
    before = len(bot.fake.attempts)
    assert await bot.runtime.delivery.send_to_user(user.id, [Reply("Reminder")]) is False
    assert len(bot.fake.attempts) == before
    await phone.post(phone._event("subscribed", user=phone._sender()))
    user = await bot.user(phone.address)
    assert user is not None and user.active is True
    assert await bot.runtime.delivery.send_to_user(user.id, [Reply("Reminder")]) is True


@pytest.mark.parametrize("status", [5, 6])
async def test_gone_recipient_is_marked_inactive(bot: Bot, status: int) -> None:
    phone = Phone(bot)
    await phone.onboard()  # conversation_started alone leaves no row (bot/core.py: visitors)
    bot.fake.attempts.clear()  # count only what follows the start screens
    bot.fake.sent.clear()
    user = await bot.user(phone.address)
    assert user is not None
    bot.fake.answer_next(status)
    assert await bot.runtime.delivery.send_to_user(user.id, [Reply("A training date")]) is False
    assert (await bot.user(phone.address)).active is False  # type: ignore[union-attr]


async def test_reply_to_a_gone_recipient_marks_her_inactive(bot: Bot) -> None:
    phone = Phone(bot)
    await phone.open()
    assert await bot.user(phone.address) is None  # a visitor: no row before the start screens
    await phone.press("lang:en")
    await phone.press("safe:ok")
    phone.new()
    bot.fake.answer_next(6)
    await phone.press("region:milan")  # her row is written; the answer finds her gone
    assert phone.new() == []
    assert (await bot.user(phone.address)).active is False  # type: ignore[union-attr]


async def test_rate_control_is_postponed_not_retried_in_seconds(
        bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    phone = Phone(bot)
    await phone.onboard()  # conversation_started alone leaves no row (bot/core.py: visitors)
    bot.fake.attempts.clear()  # count only what follows the start screens
    bot.fake.sent.clear()
    user = await bot.user(phone.address)
    assert user is not None
    before = len(bot.fake.attempts)
    bot.fake.answer_next(12)
    with pytest.raises(RateLimited):
        await bot.runtime.delivery.send_to_user(user.id, [Reply("A training date")])
    assert len(bot.fake.attempts) == before + 1  # asked once: the caller postpones it
    assert await bot.runtime.delivery.send_to_user(user.id, [Reply("A training date")]) is True
    # The NGO sees what bot-initiated (paid) messages cost, without any address.
    counted = [r for r in caplog.records if "bot-initiated" in r.getMessage()]
    assert counted and phone.address not in counted[-1].getMessage()
    assert "1 since start" in counted[-1].getMessage()
    assert (await bot.user(phone.address)).active is True  # type: ignore[union-attr]


async def test_client_error_table_directly(fake: FakeViberApi) -> None:
    payload = {"receiver": "r", "type": "text", "text": "hi", "sender": {"name": "Assistant"}}
    async with aiohttp.ClientSession(headers={"X-Viber-Auth-Token": TOKEN}) as http:
        client = ViberClient(http, fake.base_url)
        assert (await client.send_message(payload))["status"] == 0
        for status, error in ((5, RecipientGone), (6, RecipientGone), (12, RateLimited),
                              (13, DeliveryFailed), (24, AccountRefused), (7, AccountRefused)):
            fake.answer_next(status)
            with pytest.raises(error) as raised:
                await client.send_message(payload)
            if error is DeliveryFailed:
                assert raised.value.retry is False
        info = await client.get_account_info()
        assert info["status"] == 0
        with pytest.raises(DeliveryFailed):  # larger than Viber takes: never sent
            await client.send_message({**payload, "text": "x" * (MAX_REQUEST_BYTES + 1)})
        assert fake.violations == []
    async with aiohttp.ClientSession(headers={"X-Viber-Auth-Token": "wrong"}) as http:
        client = ViberClient(http, fake.base_url)
        with pytest.raises(AccountRefused) as refused:
            await client.send_message(payload)
        assert refused.value.status == 2
        dead = ViberClient(http, f"http://127.0.0.1:{free_port()}/pa/")
        with pytest.raises(DeliveryFailed) as failed:
            await dead.send_message(payload)
        assert failed.value.retry is True


# -- what she types stays out of logs and files -------------------------------------------------------
async def test_canary_is_never_logged(bot: Bot, caplog_all: pytest.LogCaptureFixture,
                                      tmp_path: Path) -> None:
    canary = new_canary()
    phone = Phone(bot)
    await phone.onboard()
    await phone.type(canary)
    await phone.type(f"I am {canary} 🙂")
    await phone.type(ACTION_MARKER + canary)
    await phone.type(ACTION_MARKER + "talk")
    await phone.type(f"please call me {canary}")
    bot.fake.answer_next(23)
    await phone.type(canary)
    bot.fake.answer_next(6)
    await phone.type(canary)
    await phone.post(phone._event("message", sender=phone._sender(),
                                  message={"type": "text", "text": canary}),
                     signature="0" * 64)
    assert_not_logged(canary, caplog_all)
    for record in caplog_all.records:
        assert phone.address not in record.getMessage() and TOKEN not in record.getMessage()
    assert_not_on_disk(canary, tmp_path)


# -- set_webhook after start-up -------------------------------------------------------------------------
async def test_webhook_is_registered_once_the_server_listens(database_url: str,
                                                             fake: FakeViberApi) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    settings = make_settings(database_url, viber_token=TOKEN, viber_api_base_url=fake.base_url,
                             public_url=public)
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        for _ in range(200):
            if fake.webhook_url:
                break
            await asyncio.sleep(0.05)
        assert fake.webhook_url == public + WEBHOOK_PATH
    finally:
        await runner.cleanup()


async def test_no_token_no_route(database_url: str) -> None:
    async with serve(make_settings(database_url)) as (base, app), aiohttp.ClientSession() as http:
        assert "viber" not in app[ADAPTERS]
        async with http.post(base + WEBHOOK_PATH, data=b"{}") as resp:
            assert resp.status in (404, 405)
        assert "viber" not in app[RUNTIME].senders


# -- rendering, without a server ------------------------------------------------------------------------
def test_split_text_respects_the_limits() -> None:
    words = ("word " * 4000).strip()
    chunks = split_text(words)
    assert all(0 < len(c) <= MAX_TEXT_CHARS for c in chunks) and len(chunks) == 3
    assert " ".join(chunks) == words
    emoji = "👩‍👧" * 4000  # joiner sequences, 4-byte characters
    chunks = split_text(emoji)
    assert "".join(chunks) == emoji
    assert all(len(c.encode()) <= 16 * 1024 for c in chunks)
    assert all(not c.startswith("\u200d") and not c.endswith("\u200d") for c in chunks)
    assert split_text("") == [""] and split_text("short") == ["short"]
    assert split_text("a" * 20_000) == ["a" * 7000, "a" * 7000, "a" * 6000]


def test_keyboard_layout_fills_rows_and_keeps_the_exit() -> None:
    row = tuple(Button(f"B{i}", f"b:{i}") for i in range(4))
    kb = keyboard((row, (exit_button(),)))
    assert [b["Columns"] for b in kb["Buttons"]] == [2, 2, 1, 1, 6]
    wide = tuple(Button(f"B{i}", f"w:{i}") for i in range(8))
    assert [len(r) for r in fit_rows((wide, (exit_button(),)))] == [6, 2, 1]
    many = tuple((Button(f"R{i}", f"r:{i}"),) for i in range(30)) + ((exit_button(),),)
    fitted = fit_rows(many)
    assert len(fitted) == MAX_ROWS and fitted[-1][0].action == "exit"
    assert fit_rows(((Button("A", "a"),),))[-1][0].action == "exit"


def test_labels_are_escaped_and_merged_rows_keep_one_exit() -> None:
    kb = keyboard(((Button("<b>Jobs & more</b>", "job"),), (exit_button(),)))
    assert kb["Buttons"][0]["Text"] == "&lt;b&gt;Jobs &amp; more&lt;/b&gt;"
    first = Reply("One", ((Button("A", "a"), exit_button()),))
    second = Reply("Two", ((Button("B", "b"),), (exit_button(),)))
    rows = merged_rows([first, second])
    assert [[b.action for b in r] for r in rows] == [["a"], ["b"], ["exit"]]


def test_render_stays_under_thirty_kilobytes() -> None:
    label = "Ж" * 300
    rows = tuple((Button(label, f"x:{i}"), Button(label, f"y:{i}")) for i in range(20))
    reply = Reply("🙂" * 9000, rows + ((exit_button(),),))
    messages = render([reply])
    assert len(messages) >= 3
    for message in messages:
        assert request_size({"receiver": "x" * 64, **message}) <= MAX_REQUEST_BYTES
    last = messages[-1]["keyboard"]["Buttons"]
    assert last[-1]["ActionBody"] == ACTION_MARKER + "exit"
    assert render([]) == []
    exit_messages = render([Reply("Thanks, talk soon.")], exit_=True)
    assert exit_messages[0]["keyboard"]["Buttons"][0]["ActionType"] == "none"


async def test_a_body_arriving_in_pieces_is_read_whole(bot: Bot) -> None:
    phone = Phone(bot)
    await phone.onboard()
    event = phone._event("message", sender=phone._sender(),
                         message={"type": "text", "text": "Здравей " * 875})  # 7000 characters
    raw = json.dumps(event, ensure_ascii=False).encode("utf-8")

    async def pieces() -> AsyncIterator[bytes]:
        for i in range(0, len(raw), 4096):
            yield raw[i:i + 4096]
            await asyncio.sleep(0.01)

    async with bot.http.post(bot.url, data=pieces(),
                             headers={"X-Viber-Content-Signature": sign(TOKEN, raw)}) as resp:
        assert resp.status == 200
    await bot.channel.drain()
    assert "too long" in phone.new()[0]["text"]


async def test_one_persons_messages_are_answered_in_order(bot: Bot) -> None:
    phone = Phone(bot)
    await phone.onboard()
    phone.new()
    for action in ("help", "menu", "help:safety", "menu", "help"):
        event = phone._event("message", sender=phone._sender(),
                             message={"type": "text", "text": ACTION_MARKER + action})
        status, _ = await post_event(bot.http, bot.url, TOKEN, event)  # no waiting in between
        assert status == 200
    await bot.channel.drain()
    texts = [m["text"] for m in phone.new()]
    marks = [("0800" in t and "h") or ("Main menu" in t and "m") or ("Tips" in t and "t") or "?"
             for t in texts]
    assert marks == ["h", "m", "t", "m", "h"], marks


# -- failures after the request went out: it may have arrived, so never sent again --------------------
@asynccontextmanager
async def misbehaving(fake: FakeViberApi, kind: str) -> AsyncIterator[str]:
    """A Viber that takes the message (the fake records it as sent) and then answers badly."""
    async def handle(request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        if request.match_info["method"] == "broadcast_message":
            fake._broadcast_message(body)
        else:
            fake._send_message(body)
        if kind == "drop":
            assert request.transport is not None
            request.transport.close()  # the connection is gone before any answer
            return web.Response()
        if kind == "slow":
            await asyncio.sleep(2.0)
        if kind == "unreadable":
            return web.Response(text="<html>busy</html>", status=200)
        if kind == "list":
            return web.json_response([{"status": 0}])
        return web.Response(text="Bad Gateway", status=int(kind))

    app = web.Application()
    app.router.add_post("/pa/{method}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/pa/"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("kind", ["500", "502", "503", "drop", "slow", "unreadable", "list"])
async def test_failure_after_sending_is_never_retried(fake: FakeViberApi, kind: str) -> None:
    timeout = aiohttp.ClientTimeout(total=0.5)
    async with misbehaving(fake, kind) as base, aiohttp.ClientSession(timeout=timeout) as http:
        client = ViberClient(http, base)
        with pytest.raises(DeliveryFailed) as failed:
            await client.send_message({"receiver": "r", "type": "text", "text": "A date 😀",
                                       "sender": {"name": "Assistant"}})
    assert failed.value.retry is False  # it may have arrived: a broadcast must not repeat it
    assert len(fake.attempts) == 1 and len(fake.sent) == 1  # asked once, and it did arrive


async def test_only_a_connection_never_made_or_a_refusal_is_retried(fake: FakeViberApi) -> None:
    payload = {"receiver": "r", "type": "text", "text": "hi", "sender": {"name": "Assistant"}}
    async with aiohttp.ClientSession() as http:
        dead = ViberClient(http, f"http://127.0.0.1:{free_port()}/pa/")
        with pytest.raises(DeliveryFailed) as failed:
            await dead.send_message(payload)
        assert failed.value.retry is True  # ClientConnectorError: nothing was sent
    async with misbehaving(fake, "429") as base, aiohttp.ClientSession() as http:
        with pytest.raises(DeliveryFailed) as failed:
            await ViberClient(http, base).send_message(payload)
        assert failed.value.retry is True  # Too Many Requests: refused, like status 12


async def test_broadcast_send_that_lost_its_answer_is_not_repeated(bot: Bot) -> None:
    phone = Phone(bot)
    await phone.onboard()  # conversation_started alone leaves no row (bot/core.py: visitors)
    bot.fake.attempts.clear()  # count only what follows the start screens
    bot.fake.sent.clear()
    user = await bot.user(phone.address)
    assert user is not None
    client = bot.channel.client
    assert client is not None
    async with misbehaving(bot.fake, "drop") as base:
        real, client.base_url = client.base_url, base
        try:
            with pytest.raises(DeliveryFailed) as failed:
                await bot.runtime.delivery.send_to_user(user.id, [Reply("A training date")])
        finally:
            client.base_url = real
    assert failed.value.retry is False
    assert [m["text"] for m in bot.fake.to(phone.address)].count("A training date") == 1
    assert (await bot.user(phone.address)).active is True  # type: ignore[union-attr]
