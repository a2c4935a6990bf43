"""The Telegram channel: the real python-telegram-bot Application, served by the real aiohttp app,
against a fake Bot API server over real HTTP (docs/ARCHITECTURE.md 8)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select

from bot.app import ADAPTERS, RUNTIME
from bot.channels.telegram.adapter import TelegramChannel, split_text
from bot.channels.telegram.request import AiohttpRequest
from bot.core.i18n import LANGUAGES
from bot.core.settings import Settings
from bot.runtime import Runtime
from db.models import MessageRef, User
from tests.canary import assert_not_logged, assert_not_on_disk, new_canary
from tests.conftest import FakeClock, make_settings
from tests.fake_bot_api import FakeBotApi, serve_fake
from tests.http import serve

CHAT = 424242


async def eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    """Wait (polling: the condition lives in another server) until check() holds."""
    async with asyncio.timeout(within):
        while True:
            if check():
                return
            await asyncio.sleep(0.01)


@dataclass
class Tg:
    fake: FakeBotApi
    app: web.Application
    url: str

    @property
    def channel(self) -> TelegramChannel:
        return self.app[ADAPTERS]["telegram"]

    @property
    def rt(self) -> Runtime:
        return self.app[RUNTIME]

    async def _settle(self, before: int, n: int = 1) -> None:
        await eventually(lambda: self.channel.handled >= before + n)
        await asyncio.sleep(0)

    async def say(self, text: str, chat: int = CHAT, lang: str | None = "en") -> None:
        before = self.channel.handled
        self.fake.say(chat, text, lang)
        await self._settle(before)

    async def press(self, data: str, chat: int = CHAT, *, must_exist: bool = True) -> None:
        if must_exist:
            assert data in self.fake.buttons(chat), (data, self.fake.buttons(chat))
        before = self.channel.handled
        self.fake.press(chat, data)
        await self._settle(before)

    def screen(self, chat: int = CHAT) -> str:
        return self.fake.last_bot_message(chat).text

    async def refs(self, chat: int = CHAT) -> list[MessageRef]:
        await self.rt.refs.flush()
        key = self.rt.vault.lookup_hash("telegram", str(chat))
        async with self.rt.sessionmaker() as db:
            user = (await db.execute(select(User).where(User.lookup_hash == key))).scalar_one()
            return list((await db.execute(select(MessageRef).where(
                MessageRef.user_id == user.id))).scalars())


def tg_settings(database_url: str, fake: FakeBotApi, base: str, **extra: object) -> Settings:
    return make_settings(database_url, telegram_token=fake.token, telegram_api_base_url=base,
                         **extra)


@pytest.fixture
async def tg(database_url: str, clock: FakeClock) -> AsyncIterator[Tg]:
    async with serve_fake() as (fake, base):
        async with serve(tg_settings(database_url, fake, base), clock=clock) as (url, app):
            yield Tg(fake, app, url)


async def onboard(tg: Tg, chat: int = CHAT) -> None:
    await tg.say("/start", chat)
    await tg.press("lang:en", chat)
    await tg.press("safe:ok", chat)
    await tg.press("region:milan", chat)


# -- the journey ----------------------------------------------------------------------------------
async def test_journey_then_quick_exit_leaves_only_the_cover(tg: Tg) -> None:
    fake = tg.fake
    await tg.say("/start")
    assert "choose your language" in tg.screen()
    first_screen = fake.last_bot_message(CHAT).message_id
    await tg.press("lang:en")
    # The menu edits the screen in place: one bot message so far, and every tap answered.
    assert [m.message_id for m in fake.bot_messages(CHAT)] == [first_screen]
    assert "safe moment" in tg.screen()
    await tg.press("safe:ok")
    await tg.press("region:milan")
    assert "Main menu" in tg.screen()
    await tg.say("hello there")  # typed text gets new messages below hers: a note and the menu
    assert len(fake.bot_messages(CHAT)) == 3 and fake.bot_messages(CHAT)[0].edited == 3
    await tg.press(fake.buttons(CHAT)[fake.buttons(CHAT).index("help")])
    await tg.press("exit")
    assert len(fake.answered_callbacks) == len(fake.calls_to("answerCallbackQuery")) == 5
    left = fake.messages(CHAT)
    assert [m.text for m in left] == ["Thanks, talk soon."]
    assert left[0].from_bot and left[0].disable_notification and left[0].reply_markup is None
    # deleteMessages was used, in batches of at most 100; the refs are gone but for the cover.
    assert fake.calls_to("deleteMessages")
    assert all(len(c["message_ids"]) <= 100 for c in fake.calls_to("deleteMessages"))
    assert [r.ref for r in await tg.refs()] == [str(left[0].message_id)]


async def test_start_language_jobs_vacancy_then_quick_exit(database_url: str,
                                                           clock: FakeClock) -> None:
    async with serve_fake() as (fake, base):
        settings = tg_settings(database_url, fake, base, demo_data="on")
        async with serve(settings, clock=clock) as (url, app):
            tg = Tg(fake, app, url)
            await tg.say("/start", lang="it")
            await tg.press("lang:en")
            await tg.press("safe:ok")
            await tg.press("region:milan")
            await tg.press("job")
            assert "committed to support women" in tg.screen()
            vacancy = next(b for b in fake.buttons(CHAT) if b.startswith("job:show:"))
            await tg.press(vacancy)
            page = tg.screen()
            assert page and "committed to support women" not in page
            await tg.say("is it still open?")
            assert len(fake.messages(CHAT)) >= 4
            await tg.press("exit")
            assert [m.text for m in fake.messages(CHAT)] == ["Thanks, talk soon."]
            assert len(await tg.refs()) == 1


async def test_quick_exit_deletes_more_than_a_hundred_messages_in_batches(tg: Tg) -> None:
    await onboard(tg)
    for i in range(60):  # 60 of hers, each answered with a note and the menu
        await tg.say(f"message {i}")
    assert len(tg.fake.messages(CHAT)) == 2 + 60 * 3
    await tg.say("exit")
    batches = tg.fake.calls_to("deleteMessages")
    assert len(batches) >= 2 and max(len(b["message_ids"]) for b in batches) == 100
    assert [m.text for m in tg.fake.messages(CHAT)] == ["Thanks, talk soon."]


async def test_exit_word_and_command_in_other_languages(tg: Tg) -> None:
    await tg.say("/start", lang="bg")
    await tg.press("lang:bg")
    await tg.say("изход")
    assert len(tg.fake.messages(CHAT)) == 1
    await tg.say("/exit")
    assert len(tg.fake.messages(CHAT)) == 1


async def test_forged_callback_payloads_are_refused(tg: Tg) -> None:
    await onboard(tg)
    menu = tg.fake.last_bot_message(CHAT).message_id
    for forged in ("job:show:999999", "mod:ok:1", "ev:rsvp:-1", "x" * 70, "lang:../../etc",
                   "region:' OR 1=1 --", "<b>hi</b>", "‮exit"):
        await tg.press(forged, must_exist=False)
        assert "exit" in tg.fake.buttons(CHAT)
    # Refused payloads change nothing: she is still set up in Milan, in English.
    async with tg.rt.sessionmaker() as db:
        user = (await db.execute(select(User))).scalar_one()
        assert (user.region_code, user.language, user.role) == ("milan", "en", "participant")
    assert tg.fake.last_bot_message(CHAT).message_id >= menu
    assert len(tg.fake.answered_callbacks) == 3 + 8


async def test_rendering_options_and_bad_input(tg: Tg) -> None:
    await onboard(tg)
    for text in ("", "x" * 10_000, "😀" * 3000, "\u200f\u202eمرحبا", "'; DROP TABLE users; --",
                 "<script>alert(1)</script>"):
        await tg.say(text)
        assert "exit" in tg.fake.buttons(CHAT)
    sends = tg.fake.calls_to("sendMessage")
    assert all(c["protect_content"] is True for c in sends)
    # Buttons never carry more than 64 bytes.
    for c in sends:
        for row in (c.get("reply_markup") or {}).get("inline_keyboard", []):
            assert all(len(b["callback_data"].encode()) <= 64 for b in row)


async def test_commands_menu_in_every_language(tg: Tg) -> None:
    commands = tg.fake.commands
    assert set(commands) == {"", *LANGUAGES}
    assert [c["command"] for c in commands["en"]] == ["start", "menu", "language", "exit"]
    assert all(c["description"] for cmds in commands.values() for c in cmds)


async def test_deep_link_start_payload(tg: Tg) -> None:
    await tg.say("/start ev-999999")
    assert "choose your language" in tg.screen()
    await tg.say("/start <script>")
    assert any("not valid" in m.text for m in tg.fake.bot_messages(CHAT))


# -- vanishing chat, across a restart -------------------------------------------------------------
async def test_vanishing_chat_survives_a_restart(database_url: str, clock: FakeClock) -> None:
    async with serve_fake() as (fake, base):
        settings = tg_settings(database_url, fake, base)
        async with serve(settings, clock=clock) as (_url, app):
            tg = Tg(fake, app, _url)
            await onboard(tg)
            await tg.say("something private")
            assert len(await tg.refs()) == 5  # her 2 messages, the 3 from the bot
        assert len(fake.messages(CHAT)) == 5
        clock.advance(hours=25)  # past the default 24 h
        async with serve(settings, clock=clock) as (_url, app):
            rt = app[RUNTIME]
            assert await rt.delivery.run_due_deletions(now=clock()) == 5
            assert fake.messages(CHAT) == []
            assert await Tg(fake, app, _url).refs() == []


# -- delivery under faults --------------------------------------------------------------------------
async def _user_id(rt: Runtime, chat: int = CHAT) -> str:
    key = rt.vault.lookup_hash("telegram", str(chat))
    async with rt.sessionmaker() as db:
        return (await db.execute(select(User.id).where(User.lookup_hash == key))).scalar_one()


async def test_faults_429_5xx_403_400_and_timeout(tg: Tg) -> None:
    await onboard(tg)
    rt, fake = tg.rt, tg.fake
    tg.channel.sender.backoff = 0.01  # type: ignore[union-attr]
    uid = await _user_id(rt)

    def notice() -> list:
        from bot.core.types import Reply
        return [Reply("A new date is out.")]

    fake.fail("sendMessage", "429", retry_after=1)
    assert await rt.delivery.send_to_user(uid, notice) is True
    fake.fail("sendMessage", "502", count=2)
    fake.fail("sendMessage", "500")
    assert await rt.delivery.send_to_user(uid, notice) is True
    assert [m.text for m in fake.bot_messages(CHAT)][-2:] == ["A new date is out."] * 2

    # 400: refused for good, nothing sent, she stays active.
    from bot.services.delivery import DeliveryFailed
    fake.fail("sendMessage", "400")
    with pytest.raises(DeliveryFailed) as failed:
        await rt.delivery.send_to_user(uid, notice)
    assert failed.value.retry is False

    # A bulk sendMessage that timed out may have arrived (here it did): never sent again.
    fake.fail("sendMessage", "slow", delay=2.5)
    request = tg.channel.app.bot._request[1]  # type: ignore[union-attr]
    assert isinstance(request, AiohttpRequest)
    request._read = 1.0
    with pytest.raises(DeliveryFailed) as timed_out:
        await rt.delivery.send_to_user(uid, notice)
    request._read = 10.0
    assert timed_out.value.retry is False
    await asyncio.sleep(2.0)
    notices = [m for m in fake.bot_messages(CHAT) if m.text == "A new date is out."]
    assert len(notices) == 3  # two delivered, one late: none twice
    assert [c["text"] for c in fake.calls_to("sendMessage")].count("A new date is out.") == 8

    # 403: she blocked the bot: marked inactive, nothing more is sent to her.
    fake.fail("sendMessage", "403")
    assert await rt.delivery.send_to_user(uid, notice) is False
    async with rt.sessionmaker() as db:
        assert (await db.get(User, uid)).active is False  # type: ignore[union-attr]
    calls = len(fake.calls_to("sendMessage"))
    assert await rt.delivery.send_to_user(uid, notice) is False
    assert len(fake.calls_to("sendMessage")) == calls


async def test_retry_after_holds_bulk_and_answers_still_come_first(tg: Tg) -> None:
    await onboard(tg)
    await onboard(tg, chat=CHAT + 1)
    rt, fake = tg.rt, tg.fake
    uid = await _user_id(rt)
    from bot.core.types import Reply

    fake.fail("sendMessage", "429", retry_after=1)
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await rt.delivery.send_to_user(uid, [Reply("one"), Reply("two")])
    # The flood wait was honoured, and one chat got at most one bulk message a second.
    assert loop.time() - start >= 1.9
    # While bulk waits for its per-chat gap, her answer goes out first.
    bulk = asyncio.create_task(rt.delivery.send_to_user(uid, [Reply("three")]))
    await tg.say("/menu", chat=CHAT + 1)
    assert not bulk.done()
    assert await bulk
    texts = [p["text"] for p in fake.calls_to("sendMessage")]
    assert texts.index("three") > len(texts) - 2


# -- the webhook -------------------------------------------------------------------------------------
async def test_webhook_refuses_a_wrong_secret_and_accepts_the_right_one(database_url: str,
                                                                        clock: FakeClock) -> None:
    secret = "s3cret-" + "x" * 20
    async with serve_fake() as (fake, base):
        settings = tg_settings(database_url, fake, base, public_url="https://bot.example.org",
                               telegram_webhook_secret=secret)
        async with serve(settings, clock=clock) as (url, app), aiohttp.ClientSession() as http:
            assert fake.webhook == {"url": "https://bot.example.org/webhooks/telegram",
                                    "secret_token": secret,
                                    "allowed_updates": ["message", "callback_query"]}
            channel = app[ADAPTERS]["telegram"]
            update = fake.message_update(CHAT, "/start")
            update["update_id"] = 1
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                            {"X-Telegram-Bot-Api-Secret-Token": secret[:-1]},
                            {"X-Telegram-Bot-Api-Secret-Token": secret + "x"}):
                async with http.post(url + "/webhooks/telegram", json=update,
                                     headers=headers) as resp:
                    assert resp.status == 403
            await asyncio.sleep(0.2)
            assert channel.handled == 0 and fake.bot_messages(CHAT) == []
            async with app[RUNTIME].sessionmaker() as db:
                assert (await db.execute(select(func.count()).select_from(User))).scalar() == 0
            good = {"X-Telegram-Bot-Api-Secret-Token": secret}
            async with http.post(url + "/webhooks/telegram", data=b"{not json",
                                 headers=good) as resp:
                assert resp.status == 400
            async with http.post(url + "/webhooks/telegram", json=update, headers=good) as resp:
                assert resp.status == 200
            await eventually(lambda: channel.handled == 1)
            assert "choose your language" in fake.last_bot_message(CHAT).text
            assert fake.calls_to("getUpdates") == []


async def test_webhook_needs_a_strong_secret(database_url: str) -> None:
    from bot.core.settings import SettingsError
    with pytest.raises(SettingsError):
        TelegramChannel(make_settings(database_url, telegram_token="1:x",
                                      public_url="https://bot.example.org",
                                      telegram_webhook_secret=""))


# -- logs and disk -------------------------------------------------------------------------------------
async def test_no_message_text_in_any_log_at_debug(tmp_path: Path, clock: FakeClock,
                                                   caplog_all: pytest.LogCaptureFixture) -> None:
    """Root at DEBUG and the libraries' loggers left unset (as if bot/logs.py had not run): the
    adapter itself keeps python-telegram-bot, httpx and aiohttp's client quiet."""
    libraries = [logging.getLogger(n) for n in ("telegram", "telegram.ext", "httpx", "aiohttp")]
    saved = [lg.level for lg in libraries]
    for lg in libraries:
        lg.setLevel(logging.NOTSET)
    canary = new_canary()
    db_url = f"sqlite+aiosqlite:///{tmp_path}/tg.db"
    try:
        async with serve_fake() as (fake, base):
            settings = tg_settings(db_url, fake, base, log_level="DEBUG")
            async with serve(settings, clock=clock) as (url, app):
                tg = Tg(fake, app, url)
                await tg.say("/start " + canary)
                await tg.say(canary)
                await tg.press("lang:en")
                await tg.press("safe:ok")
                await tg.press("region:milan")
                await tg.say(canary * 400)
                await tg.say(canary)
                fake.fail("sendMessage", "500")
                await tg.say(canary + " again")
                fake.fail("sendMessage", "400")
                await tg.say(canary + " refused")
                await tg.say("exit")
    finally:
        for lg, level in zip(libraries, saved, strict=True):
            lg.setLevel(level)
    assert any(r.name == "bot.channels.telegram.adapter" and r.levelno == logging.INFO
               for r in caplog_all.records)  # the capture worked, at INFO and below
    assert_not_logged(canary, caplog_all)
    assert_not_on_disk(canary, tmp_path)


def test_split_text_is_safe_at_4096() -> None:
    assert split_text("short") == ["short"]
    long = ("word " * 2000).strip()
    parts = split_text(long)
    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in parts)
    assert " ".join(parts) == long
    emoji = "😀" * 3000  # two UTF-16 units each
    parts = split_text(emoji)
    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in parts) and "".join(parts) == emoji
    assert split_text("a" * 4096) == ["a" * 4096]
    assert split_text("") == [""]


class DroppingBotApi(FakeBotApi):
    """Telegram that acts on the next `drops` sendMessage calls, then loses the connection."""

    drops = 0

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        response = await super()._dispatch(request)
        if request.match_info["method"] == "sendMessage" and self.drops > 0:
            self.drops -= 1
            assert request.transport is not None
            request.transport.close()  # the message went out; its answer never comes back
        return response


async def test_a_lost_connection_after_a_bulk_send_is_never_repeated(database_url: str,
                                                                    clock: FakeClock) -> None:
    async with serve_fake(DroppingBotApi()) as (fake, base):
        async with serve(tg_settings(database_url, fake, base), clock=clock) as (url, app):
            tg = Tg(fake, app, url)
            await onboard(tg)
            tg.channel.sender.backoff = 0.01  # type: ignore[union-attr]
            uid = await _user_id(tg.rt)
            from bot.core.types import Reply
            from bot.services.delivery import DeliveryFailed

            assert isinstance(fake, DroppingBotApi)
            fake.drops = 1
            with pytest.raises(DeliveryFailed) as failed:
                await tg.rt.delivery.send_to_user(uid, [Reply("A new date is out.")])
            assert failed.value.retry is False  # it may have arrived: never sent again
            assert [m.text for m in fake.bot_messages(CHAT)].count("A new date is out.") == 1
            assert [c["text"] for c in fake.calls_to("sendMessage")
                    ].count("A new date is out.") == 1
            # Her own answers are still retried: a screen shown twice is better than none.
            fake.drops = 1
            await tg.say("/menu")
            assert tg.screen() == fake.bot_messages(CHAT)[-2].text  # the retry showed it again
            assert fake.drops == 0


async def test_stop_removes_the_sender_from_the_runtime(tg: Tg) -> None:
    rt, channel = tg.rt, tg.channel
    assert rt.senders["telegram"] is channel.sender
    await channel.stop()
    assert "telegram" not in rt.senders
    await channel.stop()  # twice is harmless (the app's cleanup calls it again)


# -- a visitor (no row until she finishes the start screens: bot/core.py) ------------------------
async def test_telegram_quick_exit_deletes_a_visitors_messages(tg: Tg) -> None:
    fake = tg.fake
    await tg.say("/start")
    await tg.press("lang:en")
    await tg.say("hello")  # hers, then the bot's answer below it
    assert len(fake.messages(CHAT)) >= 3
    await tg.say("exit")
    assert [m.text for m in fake.messages(CHAT)] == ["Thanks, talk soon."]
    assert await _users(tg) == 0


async def test_telegram_visitor_refs_move_into_the_table_with_her_row(tg: Tg) -> None:
    await onboard(tg)
    refs = await tg.refs()
    # Her /start and the screen (edited in place since) were kept while she was a visitor.
    assert len(refs) >= 2


async def _users(tg: Tg) -> int:
    from sqlalchemy import func

    async with tg.rt.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(User)) or 0)
