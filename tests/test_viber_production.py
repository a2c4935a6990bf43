"""Viber in production (issue 10), the real adapter against the fake Viber API over HTTP on
127.0.0.1: start-up refusals, a webhook that registers after minutes of failures, account-wide
refusals that pause and resume broadcasts, bulk sends with broadcast_message, status 12, the
first contact that writes nothing, health and status."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, insert, select

from bot.app import ADAPTERS, create_app
from bot.channels.viber.adapter import (
    ACTION_MARKER,
    SILENT_MIN_API_VERSION,
    WEBHOOK_MAX_DELAY,
    WEBHOOK_PATH,
)
from bot.channels.viber.client import ACCOUNT_STATUSES
from bot.cli import main as cli_main
from bot.core.settings import SettingsError
from bot.core.types import Channel, Reply
from bot.runtime import Runtime
from bot.services.broadcasting import Broadcaster, progress
from bot.status import report_status
from db.models import Broadcast, BroadcastDelivery, BroadcastStatus, DeliveryStatus, User
from tests.chat import ChatDriver
from tests.conftest import FakeClock, free_port, make_settings
from tests.fake_viber_api import FakeViberApi, post_event, run_fake
from tests.test_moderation import make_org
from tests.test_viber import TOKEN, Bot, Phone, serve_viber

ACCOUNT_WIDE = sorted(ACCOUNT_STATUSES)  # 2, 7, 8, 9, 10, 15, 23, 24


@pytest.fixture
async def fake() -> AsyncIterator[FakeViberApi]:
    async with run_fake(TOKEN) as api:
        yield api
        assert api.violations == []  # every request the bot made is one Viber documents


@pytest.fixture
async def bot(database_url: str, fake: FakeViberApi, clock: FakeClock) -> AsyncIterator[Bot]:
    async with serve_viber(database_url, fake, clock) as (base, app), \
            aiohttp.ClientSession() as http:
        yield Bot(base, app, http, fake)


# -- start-up ------------------------------------------------------------------------------------
@pytest.mark.parametrize("public_url", ["", "http://bot.example.org", "ftp://bot.example.org",
                                        "https://", "bot.example.org"])
def test_refuses_to_start_without_an_https_public_url(tmp_path: Any, public_url: str) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db", viber_token=TOKEN,
                             public_url=public_url)
    with pytest.raises(SettingsError) as refused:
        create_app(settings)
    assert "PUBLIC_URL" in str(refused.value)
    assert ("empty" in str(refused.value)) == (public_url == "")


def test_the_cli_says_what_to_fix(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/x.db")
    monkeypatch.setenv("VIBER_TOKEN", TOKEN)
    monkeypatch.setenv("PUBLIC_URL", "http://bot.example.org")
    assert cli_main(["run"]) == 2
    err = capsys.readouterr().err
    assert "PUBLIC_URL must be an https:// address" in err and TOKEN not in err


async def test_a_wrong_token_refuses_to_start(database_url: str, fake: FakeViberApi,
                                             clock: FakeClock) -> None:
    port = free_port()
    app = create_app(make_settings(database_url, viber_token="wrong-" + TOKEN,
                                   viber_api_base_url=fake.base_url,
                                   public_url=f"http://127.0.0.1:{port}"), clock=clock)
    runner = web.AppRunner(app, access_log=None)
    try:
        with pytest.raises(SettingsError) as refused:
            await runner.setup()
    finally:
        await runner.cleanup()
    assert "VIBER_TOKEN" in str(refused.value) and "status 2" in str(refused.value)
    assert TOKEN not in str(refused.value)
    assert fake.calls == ["get_account_info"]  # nothing else was tried with it


@pytest.mark.parametrize("name,avatar", [("Weather notes", ""),
                                         ("N" * 28, "https://example.org/a.png")])
async def test_sender_name_and_avatar_come_from_the_settings(
        database_url: str, fake: FakeViberApi, clock: FakeClock, name: str, avatar: str
        ) -> None:
    async with serve_viber(database_url, fake, clock, viber_sender_name=name,
                           viber_avatar_url=avatar) as (base, app), \
            aiohttp.ClientSession() as http:
        phone = Phone(Bot(base, app, http, fake))
        welcome = await phone.open()
        got = await phone.press("lang:en")
    expected = {"name": name, **({"avatar": avatar} if avatar else {})}
    assert welcome["sender"] == expected and all(m["sender"] == expected for m in got)


def test_a_sender_name_over_28_characters_is_refused() -> None:
    from bot.core.settings import Settings

    with pytest.raises(SettingsError):
        Settings.from_env({"VIBER_SENDER_NAME": "N" * 29}, load_dotenv=False)
    assert Settings.from_env({}, load_dotenv=False).viber_sender_name == "Assistant"


# -- set_webhook for as long as it fails -----------------------------------------------------------
async def test_webhook_failing_for_five_minutes_then_registered(
        database_url: str, fake: FakeViberApi, clock: FakeClock,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    start = clock.now
    fake.refuse_webhook = lambda: clock.now < start + timedelta(minutes=5)
    waits: list[float] = []

    async def virtual_sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds=seconds)
        await asyncio.sleep(0)

    port = free_port()
    public = f"http://127.0.0.1:{port}"
    app = create_app(make_settings(database_url, viber_token=TOKEN, public_url=public,
                                   viber_api_base_url=fake.base_url), clock=clock)
    app[ADAPTERS]["viber"].sleep = virtual_sleep
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        for _ in range(500):
            if fake.webhook_url:
                break
            await asyncio.sleep(0.01)
        assert fake.webhook_url == public + WEBHOOK_PATH
        assert sum(waits) >= 300  # it kept trying for the five minutes
        assert max(waits) <= WEBHOOK_MAX_DELAY  # never further apart than the cap
        assert fake.webhook_attempts == len(waits)
        assert app[ADAPTERS]["viber"].registered and app[ADAPTERS]["viber"].webhook_failures == 0
        errors = [r for r in caplog.records if r.levelno == logging.ERROR
                  and "webhook not registered" in r.getMessage()]
        assert 1 <= len(errors) < fake.webhook_attempts - 1  # not one per attempt
        async with aiohttp.ClientSession() as http, http.get(public + "/healthz") as resp:
            health = await resp.json()
        assert health["ok"] is True
        assert health["channels"]["viber"]["registered"] is True
        assert health["channels"]["viber"]["healthy"] is True
        assert health["channels"]["telegram"] == {"configured": False}
    finally:
        await runner.cleanup()


async def test_health_and_status_show_an_unregistered_webhook(
        database_url: str, fake: FakeViberApi, clock: FakeClock) -> None:
    fake.refuse_webhook = lambda: True
    async with serve_viber(database_url, fake, clock) as (base, app):
        for _ in range(500):
            if fake.webhook_attempts >= 3:
                break
            await asyncio.sleep(0.01)
        async with aiohttp.ClientSession() as http, http.get(base + "/healthz") as resp:
            health = await resp.json()
        assert health["ok"] is False
        viber = health["channels"]["viber"]
        assert viber["registered"] is False and viber["healthy"] is False
        assert viber["webhook_failures"] >= 3
        settings = app[ADAPTERS]["viber"].settings
        lines, healthy = await report_status(settings, base + "/healthz")
    assert healthy is False
    text = "\n".join(lines)
    assert "viber: NOT healthy, webhook NOT registered" in text
    assert "webhook on file is (none)" in text
    assert TOKEN not in text


async def test_status_of_a_healthy_bot(bot: Bot) -> None:
    for _ in range(500):
        if bot.channel.registered:
            break
        await asyncio.sleep(0.01)
    lines, healthy = await report_status(bot.channel.settings, bot.base + "/healthz")
    assert healthy is True, lines
    assert "viber: healthy, webhook registered" in "\n".join(lines)
    lines, healthy = await report_status(bot.channel.settings,
                                         f"http://127.0.0.1:{free_port()}/healthz")
    assert healthy is False and "not reachable" in lines[0]


# -- the first contact ---------------------------------------------------------------------------
async def test_opening_the_chat_writes_no_row_and_needs_no_database(bot: Bot) -> None:
    blocked = asyncio.Event()
    real = bot.runtime.core.handle

    async def slow(inbound: Any) -> Any:
        await blocked.wait()  # a database that does not answer
        return await real(inbound)

    bot.runtime.core.handle = slow  # type: ignore[method-assign]
    phone = Phone(bot, language="bg")
    event = phone._event("conversation_started", type="open", user=phone._sender(),
                         subscribed=False, context="ev-1")
    status, body = await asyncio.wait_for(
        post_event(bot.http, bot.url, TOKEN, event), timeout=2)
    assert status == 200 and "lang:bg" in body  # the language screen, her language first
    blocked.set()
    await bot.channel.drain()
    bot.runtime.core.handle = real  # type: ignore[method-assign]
    other = Phone(bot)
    welcome = await other.open()
    assert welcome["keyboard"]["Buttons"][-1]["ActionBody"] == ACTION_MARKER + "exit"
    plain = Phone(bot)
    before = await bot.users()
    await plain.open()
    assert await bot.users() == before  # opening the chat alone writes nothing
    assert bot.fake.sent == []  # and nothing was sent (or paid) before she answered
    await plain.press("lang:en")
    assert "safe moment" in plain.text()
    # Her row is written only once she finishes the start screens (a visitor lives in her
    # session until then), deep link or not.
    assert await bot.users() == before
    await plain.press("safe:ok")
    await plain.press("region:bulgaria")
    assert await bot.users() == before + 1


async def test_silent_keys_only_with_the_api_level_that_has_them(bot: Bot) -> None:
    phone = Phone(bot)
    welcome = await phone.open()
    assert welcome["min_api_version"] == SILENT_MIN_API_VERSION
    assert all(b["Silent"] is True for b in welcome["keyboard"]["Buttons"])

    old = Phone(bot)
    old_sender = old._sender

    def sender_v1() -> dict[str, Any]:
        return {**old_sender(), "api_version": 1}

    old._sender = sender_v1  # type: ignore[method-assign]
    welcome = await old.open()
    assert welcome["min_api_version"] == 1
    assert all("Silent" not in b for b in welcome["keyboard"]["Buttons"])
    got = await old.press("lang:en")
    assert got[-1]["min_api_version"] == 1
    assert all("Silent" not in b for b in got[-1]["keyboard"]["Buttons"])
    assert bot.fake.violations == []


async def test_failed_events_are_counted(bot: Bot) -> None:
    phone = Phone(bot)
    for _ in range(3):
        status, _ = await phone.post(phone._event("failed", user_id=phone.address,
                                                  desc="message validation failed"))
        assert status == 200
    assert bot.channel.health()["failed_events"] == 3
    for _ in range(500):
        if bot.fake.webhook_url:
            break
        await asyncio.sleep(0.01)
    assert "failed" in bot.fake.event_types  # subscribed to it


# -- status 12 on a reply --------------------------------------------------------------------------
async def test_rate_control_on_a_reply_waits_outside_her_lock_then_sends_once(bot: Bot) -> None:
    phone = Phone(bot)
    await phone.open()
    held_during_pause: list[bool] = []

    async def pause(seconds: float) -> None:
        held_during_pause.append(phone.address in bot.channel._locks)
        await asyncio.sleep(0)

    bot.channel.sleep = pause
    bot.fake.answer_next(12)
    got = await phone.press("lang:en")
    assert [m["text"] for m in got].count(got[-1]["text"]) == 1 and "safe moment" in got[-1]["text"]
    assert held_during_pause == [False]  # her next message never waited for the pause
    tries = [m for m in bot.fake.attempts if m.get("receiver") == phone.address]
    assert len(tries) == 2  # refused once, sent once
    bot.fake.answer_next(12, 12)
    got = await phone.press("safe:ok")
    assert got == []  # refused twice: given up, never a third time within seconds
    assert len([m for m in bot.fake.attempts if m.get("receiver") == phone.address]) == 4


# -- broadcasts over broadcast_message -------------------------------------------------------------
async def viber_women(rt: Runtime, count: int, *, prefix: str = "v") -> list[str]:
    """`count` Viber participants in Milan who asked for training dates; their addresses."""
    addresses = [f"{prefix}{i:05d}AAAAAAAAAAAAAAAA==" for i in range(count)]
    rows = [dict(id=f"{prefix}{i:031d}"[-32:], channel=Channel.VIBER.value,
                 address_enc=rt.vault.encrypt(Channel.VIBER, a),
                 lookup_hash=rt.vault.lookup_hash(Channel.VIBER, a), language="en",
                 region_code="milan", role="participant", topics=["trainings"], discreet=True,
                 onboarded=True, active=True, vanish_minutes=0,
                 last_active_on=date(2026, 11, 1), created_on=date(2026, 11, 1))
            for i, a in enumerate(addresses)]
    async with rt.sessionmaker() as db, db.begin():
        for start in range(0, len(rows), 500):
            await db.execute(insert(User), rows[start:start + 500])
    return addresses


async def web_coordinator(rt: Runtime, org_id: int) -> ChatDriver:
    chat = ChatDriver(rt.core)
    await chat.onboard(region="milan")
    async with rt.sessionmaker() as db, db.begin():
        user = (await db.execute(select(User).where(
            User.lookup_hash == rt.vault.lookup_hash(chat.channel, chat.address)))).scalar_one()
        user.role, user.org_id = "coordinator", org_id
    return chat


async def scheduled_broadcast(rt: Runtime, org_id: int, clock: FakeClock) -> int:
    async with rt.sessionmaker() as db, db.begin():
        broadcast = Broadcast(org_id=org_id, audience="participants", region_code="milan",
                              topic="trainings", texts={"en": "Training on Monday"},
                              base_language="en", status=BroadcastStatus.SCHEDULED,
                              scheduled_at=clock())
        db.add(broadcast)
        await db.flush()
        return broadcast.id


async def delivery_statuses(rt: Runtime, broadcast_id: int) -> dict[str, str]:
    async with rt.sessionmaker() as db:
        rows = await db.execute(select(BroadcastDelivery.user_id, BroadcastDelivery.status)
                                .where(BroadcastDelivery.broadcast_id == broadcast_id))
        return {user_id: str(status) for user_id, status in rows}


def received(fake: FakeViberApi, addresses: list[str]) -> dict[str, int]:
    counts = {a: 0 for a in addresses}
    for message in fake.sent:
        if message.get("receiver") in counts:
            counts[message["receiver"]] += 1
    return counts


@pytest.fixture
async def setting(bot: Bot) -> AsyncIterator[tuple[Runtime, int]]:
    rt = bot.runtime
    org = await make_org(rt, "ngo", ("milan",))
    yield rt, org


async def test_a_thousand_women_in_four_calls_with_a_failed_list(
        bot: Bot, setting: tuple[Runtime, int], clock: FakeClock) -> None:
    rt, org = setting
    addresses = await viber_women(rt, 1000)
    gone, gone_too, refused, later = addresses[5], addresses[400], addresses[650], addresses[999]
    bot.fake.fail_receivers = {gone: 6, gone_too: 5, refused: 13, later: 12}
    broadcast_id = await scheduled_broadcast(rt, org, clock)
    broadcaster = Broadcaster.for_runtime(rt, rates={})
    await broadcaster.run_due()

    calls = bot.fake.broadcasts
    assert [len(c["broadcast_list"]) for c in calls] == [300, 300, 300, 100]
    assert sorted(r for c in calls for r in c["broadcast_list"]) == sorted(addresses)
    message = calls[0]
    assert message["text"] == "You have a new message."  # the neutral line only
    assert message["min_api_version"] == SILENT_MIN_API_VERSION
    bodies = [b["ActionBody"] for b in message["keyboard"]["Buttons"]]
    assert bodies[0] == f"{ACTION_MARKER}bc:show:{broadcast_id}"
    assert bodies[-1] == ACTION_MARKER + "exit"

    counts = await progress_of(rt, broadcast_id)
    assert counts["sent"] == 996 and counts["skipped"] == 2 and counts["failed"] == 1
    assert counts["pending"] == 1  # status 12 for her: postponed, not a try
    got = received(bot.fake, addresses)
    assert all(n == 1 for a, n in got.items() if a not in (gone, gone_too, refused, later))
    assert got[gone] == got[gone_too] == got[refused] == got[later] == 0
    async with rt.sessionmaker() as db:
        inactive = (await db.execute(select(func.count()).select_from(User)
                                     .where(User.active.is_(False)))).scalar()
        paid = (await db.execute(select(Broadcast.paid_messages)
                                 .where(Broadcast.id == broadcast_id))).scalar()
        row = (await db.execute(select(BroadcastDelivery).join(
            User, User.id == BroadcastDelivery.user_id)
            .where(BroadcastDelivery.status == DeliveryStatus.PENDING))).scalar_one()
    assert inactive == 2 and paid == 996  # billing_status 5 on every call
    assert row.attempts == 0 and row.not_before is not None

    bot.fake.fail_receivers = {}
    clock.advance(minutes=2)
    await broadcaster.run_due()
    assert [len(c["broadcast_list"]) for c in bot.fake.broadcasts[4:]] == [1]
    assert received(bot.fake, [later]) == {later: 1}
    counts = await progress_of(rt, broadcast_id)
    assert counts["sent"] == 997 and counts["pending"] == 0
    async with rt.sessionmaker() as db:
        broadcast = await db.get(Broadcast, broadcast_id)
        assert broadcast is not None and broadcast.status == BroadcastStatus.DONE
        assert broadcast.paid_messages == 997

    boss = await web_coordinator(rt, org)
    await boss.press(f"bc:view:{broadcast_id}", must_exist=False)
    assert "Sent: 997." in boss.text and "Paid Viber messages sent: 997." in boss.text


async def progress_of(rt: Runtime, broadcast_id: int) -> dict[str, int]:
    async with rt.sessionmaker() as db:
        return await progress(db, broadcast_id)


async def test_billing_status_tells_free_from_paid(bot: Bot, setting: tuple[Runtime, int],
                                                   clock: FakeClock) -> None:
    rt, org = setting
    await viber_women(rt, 10)
    bot.fake.billing_status = 4  # "free out-of-session message": not charged
    broadcast_id = await scheduled_broadcast(rt, org, clock)
    await Broadcaster.for_runtime(rt, rates={}).run_due()
    async with rt.sessionmaker() as db:
        broadcast = await db.get(Broadcast, broadcast_id)
        assert broadcast is not None and broadcast.paid_messages == 0
    assert (await progress_of(rt, broadcast_id))["sent"] == 10


@pytest.mark.parametrize("status", ACCOUNT_WIDE)
async def test_account_wide_status_pauses_and_resumes_the_broadcast(
        bot: Bot, setting: tuple[Runtime, int], clock: FakeClock, status: int,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    rt, org = setting
    boss = await web_coordinator(rt, org)
    addresses = await viber_women(rt, 350)
    broadcast_id = await scheduled_broadcast(rt, org, clock)
    broadcaster = Broadcaster.for_runtime(rt, rates={})
    webhook_attempts = bot.fake.webhook_attempts
    # The first call of 300 goes through; Viber refuses the bot account on the second.
    bot.fake.broadcast_statuses.extend([0, status])
    await broadcaster.run_due()
    await bot.channel.drain()

    first = (await delivery_statuses(rt, broadcast_id))
    assert sum(1 for s in first.values() if s == "sent") == 300
    assert sum(1 for s in first.values() if s == "pending") == 50  # nobody marked sent
    calls = len(bot.fake.broadcasts)
    assert calls == 2
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and f"status {status}" in errors[0].getMessage()
    assert all(a not in r.getMessage() for r in caplog.records for a in addresses[:3])
    alert = rt_webchat_take(bot, boss)
    assert f"status {status}" in alert and "Viber Partners" in alert
    health = bot.channel.health()
    assert health["paused"] is True and health["refused_status"] == status
    assert health["healthy"] is False
    if status == 10:
        for _ in range(200):  # a lost webhook is registered again at once
            if bot.fake.webhook_attempts > webhook_attempts:
                break
            await asyncio.sleep(0.01)
        assert bot.fake.webhook_attempts > webhook_attempts

    # Paused: the next passes ask Viber nothing, and nothing changes.
    bot.fake.account_status = status
    calls_before = len(bot.fake.calls)
    await broadcaster.run_due()
    clock.advance(minutes=5)
    await broadcaster.run_due()
    assert len(bot.fake.calls) == calls_before
    assert await delivery_statuses(rt, broadcast_id) == first

    # Still refused when the pause ends: tried once, paused again, no second ERROR or alert.
    clock.advance(minutes=6)
    await broadcaster.run_due()
    await bot.channel.drain()
    assert await delivery_statuses(rt, broadcast_id) == first
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    assert rt_webchat_take(bot, boss) == ""

    # Fixed: the broadcast resumes by itself and reaches the other 50, each once.
    bot.fake.account_status = 0
    clock.advance(minutes=11)
    await broadcaster.run_due()
    final = await delivery_statuses(rt, broadcast_id)
    assert all(s == "sent" for s in final.values()) and len(final) == 350
    assert set(received(bot.fake, addresses).values()) == {1}  # nobody twice
    async with rt.sessionmaker() as db:
        broadcast = await db.get(Broadcast, broadcast_id)
        assert broadcast is not None and broadcast.status == BroadcastStatus.DONE
        assert broadcast.paid_messages == 350
    assert bot.channel.health()["paused"] is False


def rt_webchat_take(bot: Bot, chat: ChatDriver) -> str:
    """What the coordinator's web chat page would fetch now."""
    return "\n".join(str(r.get("text", "")) for r in bot.app[ADAPTERS]["webchat"].sender.take(chat.address))


async def test_account_refusal_on_a_reminder_pauses_every_bot_initiated_send(
        bot: Bot, setting: tuple[Runtime, int]) -> None:
    rt, _org = setting
    (address,) = await viber_women(rt, 1)  # a woman who finished the start screens
    user = await bot.user(address)
    assert user is not None
    phone = Phone(bot)
    await phone.answered()  # another, at the safety notice
    bot.fake.answer_next(24)
    from bot.services.delivery import ChannelPaused

    with pytest.raises(ChannelPaused):
        await rt.delivery.send_to_user(user.id, [Reply("A reminder")])
    attempts = len(bot.fake.attempts)
    with pytest.raises(ChannelPaused):  # paused: Viber is not even asked
        await rt.delivery.send_to_user(user.id, [Reply("Another reminder")])
    assert len(bot.fake.attempts) == attempts
    assert (await bot.user(address)).active is True  # type: ignore[union-attr]
    # Her own conversation is still answered (replies are not bot-initiated).
    got = await phone.press("safe:ok")
    assert got and "Where do you live" in got[-1]["text"]
    assert bot.channel.health()["paused"] is False  # a reply went through: Viber is back


async def test_rate_control_on_a_broadcast_postpones_it(
        bot: Bot, setting: tuple[Runtime, int], clock: FakeClock) -> None:
    rt, org = setting
    addresses = await viber_women(rt, 20)
    broadcast_id = await scheduled_broadcast(rt, org, clock)
    broadcaster = Broadcaster.for_runtime(rt, rates={})
    bot.fake.broadcast_statuses.append(12)
    await broadcaster.run_due()
    assert all(s == "pending" for s in (await delivery_statuses(rt, broadcast_id)).values())
    async with rt.sessionmaker() as db:
        attempts = set((await db.execute(select(BroadcastDelivery.attempts))).scalars())
    assert attempts == {0}  # postponed, not counted as a try
    await broadcaster.run_due()  # within the minute: not asked again
    assert len(bot.fake.broadcasts) == 1
    clock.advance(minutes=2)
    await broadcaster.run_due()
    assert set(received(bot.fake, addresses).values()) == {1}
    assert bot.channel.health()["paused"] is False  # 12 is not account-wide


@pytest.mark.parametrize("fault", ["502", "drop"])
async def test_a_bulk_call_that_may_have_arrived_is_never_repeated(
        bot: Bot, setting: tuple[Runtime, int], clock: FakeClock, fault: str) -> None:
    """Viber took the batch, then answered 502 or dropped the connection mid-broadcast."""
    rt, org = setting
    addresses = await viber_women(rt, 30)
    broadcast_id = await scheduled_broadcast(rt, org, clock)
    client = bot.channel.client
    assert client is not None
    from tests.test_viber import misbehaving

    async with misbehaving(bot.fake, fault) as base:
        real, client.base_url = client.base_url, base
        try:
            await Broadcaster.for_runtime(rt, rates={}).run_due()
        finally:
            client.base_url = real
    assert set((await delivery_statuses(rt, broadcast_id)).values()) == {"unknown"}
    assert set(received(bot.fake, addresses).values()) == {1}  # it did arrive
    clock.advance(hours=1)
    await Broadcaster.for_runtime(rt, rates={}).run_due()
    assert set(received(bot.fake, addresses).values()) == {1}  # and is never sent again
