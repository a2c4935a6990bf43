"""Broadcasts through the chat (web chat protocol, both databases): compose, preview, send or
schedule, progress, cancel; who may do what; and the delivery rules (quiet hours, blocked users,
retries, discreet notifications)."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.core.types import Reply
from bot.runtime import Runtime
from bot.services.broadcasting import Broadcaster
from bot.services.delivery import DeliveryFailed, RecipientGone
from db.models import (
    AuditEntry,
    Broadcast,
    BroadcastDelivery,
    BroadcastStatus,
    User,
)
from tests.chat import ChatDriver
from tests.conftest import FakeClock
from tests.test_moderation import make_org


class RecordingSender:
    """The web chat channel, faked at its boundary: records what each address received.
    `fail` maps an address to what to raise instead of sending."""

    name = "webchat"

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Reply]]] = []
        self.fail: dict[str, BaseException] = {}
        self.hold: asyncio.Event | None = None
        self.started = asyncio.Event()

    async def send(self, address: str, replies: Sequence[Reply], *,
                   notification: bool) -> list[str]:
        self.started.set()
        if self.hold is not None:
            await self.hold.wait()
        if address in self.fail:
            raise self.fail[address]
        self.sent.append((address, list(replies)))
        return []

    async def delete(self, address: str, refs: Sequence[str]) -> None:
        return None

    def to(self, chat: ChatDriver) -> list[list[Reply]]:
        return [replies for address, replies in self.sent if address == chat.address]


@pytest.fixture
def sender(rt: Runtime) -> RecordingSender:
    fake = RecordingSender()
    rt.add_sender(fake)
    return fake


async def update_user(rt: Runtime, chat: ChatDriver, **values: object) -> None:
    async with rt.sessionmaker() as db, db.begin():
        user = (await db.execute(select(User).where(
            User.lookup_hash == rt.vault.lookup_hash(chat.channel, chat.address)))).scalar_one()
        for key, value in values.items():
            setattr(user, key, value)


async def load_user(rt: Runtime, chat: ChatDriver) -> User:
    async with rt.sessionmaker() as db:
        return (await db.execute(select(User).where(
            User.lookup_hash == rt.vault.lookup_hash(chat.channel, chat.address)))).scalar_one()


async def person(rt: Runtime, *, role: str = "participant", org_id: int | None = None,
                 region: str = "milan", language: str = "en", topics: Sequence[str] = (),
                 **values: object) -> ChatDriver:
    """Someone who went through the start (language, safety, region), then given a role."""
    chat = ChatDriver(rt.core)
    await chat.onboard(language=language, region=region)
    await update_user(rt, chat, role=role, org_id=org_id, topics=list(topics), **values)
    return chat


async def coordinator(rt: Runtime, org_id: int, role: str = "coordinator") -> ChatDriver:
    return await person(rt, role=role, org_id=org_id)


async def compose(chat: ChatDriver, *, text: str = "Training on Monday at 10, Via Roma 1.",
                  audience: str = "participants", region: str = "milan",
                  topic: str = "trainings", extra: dict[str, str] | None = None) -> None:
    """Walk the compose flow to the preview."""
    await chat.say("/broadcasts")
    await chat.press("bc:new")
    await chat.press(f"bc:aud:{audience}")
    await chat.press(f"bc:reg:{region}")
    await chat.press(f"bc:top:{topic}")
    await chat.press("bc:lang:en")
    await chat.say(text)
    for lang, other in (extra or {}).items():
        await chat.press("bc:addlang")
        await chat.press(f"bc:lang:{lang}")
        await chat.say(other)
    await chat.press("bc:preview")


async def send_now(chat: ChatDriver) -> None:
    """"Send now", and the yes to the question it asks first."""
    await chat.press("bc:send")
    assert "now?" in chat.text
    await chat.press("bc:sendok")


async def count(rt: Runtime, model: type) -> int:
    async with rt.sessionmaker() as db:
        return int((await db.execute(select(func.count()).select_from(model))).scalar() or 0)


async def statuses(rt: Runtime, broadcast_id: int) -> dict[str, str]:
    async with rt.sessionmaker() as db:
        rows = await db.execute(select(User.lookup_hash, BroadcastDelivery.status)
                                .join(User, User.id == BroadcastDelivery.user_id)
                                .where(BroadcastDelivery.broadcast_id == broadcast_id))
        return {h: s for h, s in rows}


def key(rt: Runtime, chat: ChatDriver) -> str:
    return rt.vault.lookup_hash(chat.channel, chat.address)


async def only_broadcast(rt: Runtime) -> Broadcast:
    async with rt.sessionmaker() as db:
        return (await db.execute(select(Broadcast))).scalar_one()


# -- the whole journey -----------------------------------------------------------------------------
async def test_compose_preview_send_and_each_reads_her_language(
        rt: Runtime, sender: RecordingSender) -> None:
    org = await make_org(rt, "ngo", ["milan", "bulgaria"])
    boss = await coordinator(rt, org)
    anna = await person(rt, topics=["trainings"])  # discreet notifications (the default)
    bice = await person(rt, language="it", topics=["trainings"], discreet=False)
    uk = await person(rt, language="uk", topics=["trainings"], discreet=False)
    not_subscribed = await person(rt, topics=["job_fairs"])
    elsewhere = await person(rt, region="karditsa", topics=["trainings"])
    pro = await person(rt, role="professional", topics=["trainings"])

    await compose(boss, extra={"it": "Formazione lunedì alle 10."})
    preview = boss.text
    assert "Preview for readers in English" in preview and "Italiano" in preview
    assert "You have a new message." in preview
    assert "Training on Monday at 10, Via Roma 1." in preview
    assert "Formazione lunedì alle 10." in preview
    assert "Training dates" in preview and "Centre ngo" in preview
    assert "About 3 people" in preview
    assert await count(rt, Broadcast) == 0  # the draft lives only in the session

    await send_now(boss)
    assert "Sent: 0. Failed: 0. Left: 0." in boss.text
    broadcast = await only_broadcast(rt)
    assert broadcast.status == BroadcastStatus.SCHEDULED
    assert broadcast.texts == {"en": "Training on Monday at 10, Via Roma 1.",
                               "it": "Formazione lunedì alle 10."}
    await Broadcaster.for_runtime(rt).run_due()

    (first,) = sender.to(anna)
    assert first[0].text == "You have a new message."
    assert "Training" not in first[0].text
    assert first[0].has_action(f"bc:show:{broadcast.id}")
    await anna.press(f"bc:show:{broadcast.id}", must_exist=False)  # the tap on "Show"
    assert "Training on Monday at 10, Via Roma 1." in anna.text
    assert "Formazione lunedì alle 10." in sender.to(bice)[0][0].text
    assert "Training on Monday" in sender.to(uk)[0][0].text  # no Ukrainian text: the base one
    for nobody in (not_subscribed, elsewhere, pro, boss):
        assert sender.to(nobody) == []

    await boss.press(f"bc:view:{broadcast.id}", must_exist=False)
    assert "Finished" in boss.text and "Sent: 3. Failed: 0. Left: 0." in boss.text
    assert "bc:cancel:" not in " ".join(boss.actions())
    async with rt.sessionmaker() as db:
        actions = list((await db.execute(select(AuditEntry.action))).scalars())
    assert actions == ["broadcast.send"]


async def test_professionals_audience_reaches_only_professionals(
        rt: Runtime, sender: RecordingSender) -> None:
    org = await make_org(rt, "ngo", ["milan", "bulgaria"])
    boss = await coordinator(rt, org, role="admin")
    pro_milan = await person(rt, role="professional", topics=["trainings"])
    pro_sofia = await person(rt, role="professional", region="bulgaria", topics=["trainings"])
    woman = await person(rt, topics=["trainings"])
    await compose(boss, audience="professionals", region="all")
    assert "About 2 people" in boss.text
    await send_now(boss)
    await Broadcaster.for_runtime(rt).run_due()
    assert len(sender.to(pro_milan)) == 1 and len(sender.to(pro_sofia)) == 1
    assert sender.to(woman) == []


# -- who may do what -------------------------------------------------------------------------------
STAFF_PAYLOADS = ["bc", "bc:new", "bc:aud:participants", "bc:reg:milan", "bc:reg:all",
                  "bc:top:trainings", "bc:lang:en", "bc:summary", "bc:addlang", "bc:preview",
                  "bc:send", "bc:sendok", "bc:sched", "bc:schedok", "bc:view:1", "bc:cancel:1",
                  "bc:cancelok:1", "bc:view:999999999", "bc:nonsense"]


@pytest.mark.parametrize("role", ["participant", "moderator", "professional"])
async def test_only_coordinators_reach_compose(rt: Runtime, sender: RecordingSender,
                                               role: str) -> None:
    org = await make_org(rt, "ngo", ["milan"])
    boss = await coordinator(rt, org)
    await compose(boss)
    await send_now(boss)
    other = await person(rt, role=role, org_id=org, topics=["trainings"])
    for payload in STAFF_PAYLOADS:
        await other.press(payload, must_exist=False)
        assert "not available to you" in other.text, payload
        assert not [a for a in other.actions() if a.startswith("bc:")], payload
    await other.say("/broadcasts")
    assert "not available to you" in other.text
    await other.say("Sneaky text")
    broadcast = await only_broadcast(rt)
    assert broadcast.status == BroadcastStatus.SCHEDULED  # nothing cancelled
    assert await count(rt, Broadcast) == 1
    async with rt.sessionmaker() as db:
        assert (await db.execute(select(AuditEntry.actor_role))).scalars().all() == [
            "coordinator"]


async def test_coordinator_of_another_organisation_cannot_see_or_cancel(
        rt: Runtime, sender: RecordingSender) -> None:
    ours = await make_org(rt, "ours", ["milan"])
    theirs = await make_org(rt, "theirs", ["karditsa"])
    boss = await coordinator(rt, ours)
    await compose(boss)
    await send_now(boss)
    broadcast = await only_broadcast(rt)
    stranger = await coordinator(rt, theirs)
    await stranger.say("/broadcasts")
    assert f"bc:view:{broadcast.id}" not in stranger.actions()
    for verb in ("view", "cancel", "cancelok"):
        await stranger.press(f"bc:{verb}:{broadcast.id}", must_exist=False)
        assert "not found" in stranger.text
        assert "Training on Monday" not in stranger.text
    # Nor can she send to a region that is not her organisation's.
    await stranger.press("bc")
    await stranger.press("bc:new")
    await stranger.press("bc:aud:participants")
    assert "bc:reg:milan" not in stranger.actions()
    await stranger.press("bc:reg:milan", must_exist=False)
    assert "Please choose one of the buttons" in stranger.text
    assert (await only_broadcast(rt)).status == BroadcastStatus.SCHEDULED
    no_org = await coordinator(rt, ours)
    await update_user(rt, no_org, org_id=None)
    await no_org.press("bc:new", must_exist=False)
    assert "not linked to an organisation" in no_org.text


async def test_recipient_details_only_for_her(rt: Runtime, sender: RecordingSender) -> None:
    org = await make_org(rt, "ngo", ["milan"])
    boss = await coordinator(rt, org)
    anna = await person(rt, topics=["trainings"])
    nosy = await person(rt, topics=[])
    await compose(boss)
    await send_now(boss)
    await Broadcaster.for_runtime(rt).run_due()
    broadcast = await only_broadcast(rt)
    for payload in (f"bc:show:{broadcast.id}", "bc:show:999999", "bc:show:x", "bc:show",
                    "bc:show:1234567890123"):
        await nosy.press(payload, must_exist=False)
        assert "This message is not available." in nosy.text, payload
        assert "Training on Monday" not in nosy.text
    await anna.press(f"bc:show:{broadcast.id}", must_exist=False)
    assert "Training on Monday" in anna.text and "exit" in anna.actions()


# -- delivery rules --------------------------------------------------------------------------------
async def test_quiet_hours_postpone_until_they_end(rt: Runtime, sender: RecordingSender,
                                                   clock: FakeClock) -> None:
    org = await make_org(rt, "ngo", ["milan"])
    boss = await coordinator(rt, org)
    # 10:00 in Milan now; her quiet hours are 09:00-12:00 Milan time.
    sleeping = await person(rt, topics=["trainings"], quiet_start=9, quiet_end=12)
    awake = await person(rt, topics=["trainings"], quiet_start=21, quiet_end=8)
    await compose(boss)
    await send_now(boss)
    engine = Broadcaster.for_runtime(rt)
    await engine.run_due()
    broadcast = await only_broadcast(rt)
    assert len(sender.to(awake)) == 1 and sender.to(sleeping) == []
    async with rt.sessionmaker() as db:
        row = (await db.execute(select(BroadcastDelivery).join(User).where(
            User.lookup_hash == key(rt, sleeping)))).scalar_one()
    assert row.status == "pending"
    assert row.not_before is not None
    assert row.not_before.replace(tzinfo=UTC) == datetime(2026, 11, 27, 11, 0, tzinfo=UTC)
    assert (await only_broadcast(rt)).status == BroadcastStatus.SENDING
    await boss.press(f"bc:view:{broadcast.id}", must_exist=False)
    assert "Sent: 1. Failed: 0. Left: 1." in boss.text
    clock.advance(hours=1, minutes=30)
    await engine.run_due()
    assert sender.to(sleeping) == []
    clock.advance(minutes=31)
    await engine.run_due()
    assert len(sender.to(sleeping)) == 1 and len(sender.to(awake)) == 1
    assert (await only_broadcast(rt)).status == BroadcastStatus.DONE


async def test_blocked_user_is_skipped_and_marked(rt: Runtime, sender: RecordingSender) -> None:
    org = await make_org(rt, "ngo", ["milan"])
    boss = await coordinator(rt, org)
    blocked_before = await person(rt, topics=["trainings"], active=False)
    blocks_now = await person(rt, topics=["trainings"])
    fine = await person(rt, topics=["trainings"])
    sender.fail[blocks_now.address] = RecipientGone()
    await compose(boss)
    assert "About 2 people" in boss.text
    await send_now(boss)
    await Broadcaster.for_runtime(rt).run_due()
    broadcast = await only_broadcast(rt)
    found = await statuses(rt, broadcast.id)
    assert key(rt, blocked_before) not in found
    assert found[key(rt, blocks_now)] == "skipped" and found[key(rt, fine)] == "sent"
    assert not (await load_user(rt, blocks_now)).active
    assert sender.to(blocked_before) == [] and sender.to(blocks_now) == []
    await boss.press(f"bc:view:{broadcast.id}", must_exist=False)
    assert "Sent: 1." in boss.text and "Skipped (blocked the bot or unsubscribed): 1." in boss.text


async def test_retry_then_fail_and_unknown_never_resent(rt: Runtime, sender: RecordingSender,
                                                        clock: FakeClock) -> None:
    org = await make_org(rt, "ngo", ["milan"])
    boss = await coordinator(rt, org)
    flaky = await person(rt, topics=["trainings"])
    timed_out = await person(rt, topics=["trainings"])
    sender.fail[flaky.address] = DeliveryFailed("5xx", retry=True)
    sender.fail[timed_out.address] = DeliveryFailed("timeout", retry=False)
    await compose(boss)
    await send_now(boss)
    engine = Broadcaster.for_runtime(rt)
    broadcast_id = (await only_broadcast(rt)).id
    await engine.run_due()
    assert (await statuses(rt, broadcast_id))[key(rt, timed_out)] == "unknown"
    assert (await statuses(rt, broadcast_id))[key(rt, flaky)] == "pending"
    for _ in range(2):
        clock.advance(minutes=5)
        await engine.run_due()
    found = await statuses(rt, broadcast_id)
    assert found[key(rt, flaky)] == "failed" and found[key(rt, timed_out)] == "unknown"
    async with rt.sessionmaker() as db:
        attempts = (await db.execute(select(BroadcastDelivery.attempts).join(User).where(
            User.lookup_hash == key(rt, flaky)))).scalar_one()
    assert attempts == 3
    assert (await only_broadcast(rt)).status == BroadcastStatus.DONE
    await boss.press(f"bc:view:{broadcast_id}", must_exist=False)
    assert "Failed: 1." in boss.text and "never sent twice): 1." in boss.text


async def test_cancel_while_sending_stops_at_once(rt: Runtime, sender: RecordingSender) -> None:
    org = await make_org(rt, "ngo", ["milan"])
    boss = await coordinator(rt, org)
    women = [await person(rt, topics=["trainings"]) for _ in range(4)]
    await compose(boss)
    await send_now(boss)
    broadcast_id = (await only_broadcast(rt)).id
    sender.hold = asyncio.Event()
    task = asyncio.create_task(Broadcaster.for_runtime(rt).run_due())
    await asyncio.wait_for(sender.started.wait(), 10)  # the first message is on its way
    await boss.press(f"bc:view:{broadcast_id}", must_exist=False)
    assert "Sending" in boss.text
    await boss.press(f"bc:cancel:{broadcast_id}")
    assert "Nobody else will get it" in boss.text
    await boss.press(f"bc:cancelok:{broadcast_id}")
    assert "Broadcast stopped." in boss.text
    sender.hold.set()
    await asyncio.wait_for(task, 10)
    assert len(sender.sent) == 1
    await Broadcaster.for_runtime(rt).run_due()  # a later pass sends nothing either
    assert len(sender.sent) == 1 and sum(len(sender.to(w)) for w in women) == 1
    assert (await only_broadcast(rt)).status == BroadcastStatus.CANCELLED
    await boss.press(f"bc:view:{broadcast_id}", must_exist=False)
    assert "Cancelled" in boss.text and "the 3 left will not be sent" in boss.text
    assert f"bc:cancel:{broadcast_id}" not in boss.actions()
    await boss.press(f"bc:cancelok:{broadcast_id}", must_exist=False)
    assert "cannot be cancelled any more" in boss.text
    async with rt.sessionmaker() as db:
        actions = list((await db.execute(select(AuditEntry.action))).scalars())
    assert actions == ["broadcast.send", "broadcast.cancel"]


async def test_cancel_a_scheduled_broadcast_sends_nothing(rt: Runtime, sender: RecordingSender,
                                                          clock: FakeClock) -> None:
    org = await make_org(rt, "ngo", ["milan"])
    boss = await coordinator(rt, org)
    await person(rt, topics=["trainings"])
    await compose(boss)
    await boss.press("bc:sched")
    await boss.say("2026-11-28 18:30")
    await boss.press("bc:schedok")
    broadcast = await only_broadcast(rt)
    assert broadcast.scheduled_at is not None
    assert broadcast.scheduled_at.replace(tzinfo=UTC) == datetime(2026, 11, 28, 17, 30,
                                                                  tzinfo=UTC)
    assert "Scheduled" in boss.text
    engine = Broadcaster.for_runtime(rt)
    await engine.run_due()
    assert await count(rt, BroadcastDelivery) == 0  # not due yet
    await boss.press(f"bc:cancel:{broadcast.id}")
    await boss.press(f"bc:cancelok:{broadcast.id}")
    clock.advance(days=2)
    await engine.run_due()
    assert sender.sent == [] and await count(rt, BroadcastDelivery) == 0
    async with rt.sessionmaker() as db:
        actions = list((await db.execute(select(AuditEntry.action))).scalars())
    assert actions == ["broadcast.schedule", "broadcast.cancel"]


async def test_scheduled_broadcast_goes_out_when_due(rt: Runtime, sender: RecordingSender,
                                                     clock: FakeClock) -> None:
    org = await make_org(rt, "ngo", ["milan"])
    boss = await coordinator(rt, org)
    anna = await person(rt, topics=["trainings"])
    await compose(boss)
    await boss.press("bc:sched")
    assert "Europe/Rome" in boss.text
    await boss.say("28.11.2026 18:30")
    assert "Saturday 28 November, 6:30\u202fPM" in boss.text
    await boss.press("bc:schedok")
    engine = Broadcaster.for_runtime(rt)
    clock.advance(hours=32, minutes=29)
    await engine.run_due()
    assert sender.to(anna) == []
    clock.advance(minutes=1)
    await engine.run_due()
    assert len(sender.to(anna)) == 1
    assert (await only_broadcast(rt)).status == BroadcastStatus.DONE


# -- bad input changes nothing ---------------------------------------------------------------------
BAD_TEXTS = [
    ("", "The message is empty"),
    ("   ", "The message is empty"),
    ("\u200f\u200e\u200b", "The message is empty"),
    ("x" * 10_000, "That message is too long"),
    ("y" * 1600, "That is too long: 1600 characters"),
]


async def test_bad_text_is_refused_and_the_draft_kept(rt: Runtime, sender: RecordingSender
                                                      ) -> None:
    org = await make_org(rt, "ngo", ["milan"])
    boss = await coordinator(rt, org)
    await compose(boss)
    await boss.press("bc:addlang")
    await boss.press("bc:lang:en")
    for text, answer in BAD_TEXTS:
        await boss.say(text)
        assert answer in boss.text, text[:20]
        assert "exit" in boss.actions()
    await boss.press("bc:summary")
    await boss.press("bc:preview")
    assert "Training on Monday at 10, Via Roma 1." in boss.text
    # Emoji, right-to-left text and HTML-looking text are kept exactly as written.
    for text in ("Corso 🎓💼 lunedì", "\u200fتدريب يوم الاثنين\u200f",
                 "<b>Training</b><script>alert(1)</script> '; DROP TABLE users; --"):
        await boss.press("bc:addlang")
        await boss.press("bc:lang:ar")
        await boss.say(text)
        await boss.press("bc:preview")
        assert text in boss.text
    assert await count(rt, Broadcast) == 0


BAD_DATES = [
    ("", "could not read"),
    ("tomorrow", "could not read"),
    ("2026-02-30 10:00", "could not read"),
    ("2026-13-01 10:00", "could not read"),
    ("2026-12-01 25:00", "could not read"),
    ("2026-12-01", "could not read"),
    ("😀", "could not read"),
    ("\u200f2026-12-01 10:00\u200f", "could not read"),
    ("<i>2026-12-01 10:00</i>", "could not read"),
    ("x" * 10_000, "That message is too long"),
    ("2025-06-01 10:00", "already passed"),
    ("2026-11-27 09:59", "already passed"),  # 09:59 in Milan is 08:59 UTC: just gone
    ("2028-01-01 10:00", "more than a year ahead"),
]


async def test_bad_dates_are_refused_and_nothing_scheduled(rt: Runtime, sender: RecordingSender
                                                           ) -> None:
    org = await make_org(rt, "ngo", ["milan"])
    boss = await coordinator(rt, org)
    await compose(boss)
    await boss.press("bc:sched")
    for text, answer in BAD_DATES:
        await boss.say(text)
        assert answer in boss.text, text[:20]
        assert "bc:schedok" not in boss.actions()
    await boss.press("bc:schedok", must_exist=False)  # forged: no valid time was typed
    assert "When should it go out?" in boss.text
    assert await count(rt, Broadcast) == 0
    await boss.say("2026-11-27 10:30")  # in half an hour, Milan time
    assert "bc:schedok" in boss.actions()


FORGED = [
    ("bc:aud:everyone", "Please choose one of the buttons"),
    ("bc:aud", "Please choose one of the buttons"),
    ("bc:reg:karditsa", "Please choose one of the buttons"),
    ("bc:top:gossip", "Please choose one of the buttons"),
    ("bc:lang:xx", "Please choose one of the buttons"),
    ("bc:view:abc", "not found"),
    ("bc:view:99999", "not found"),
    ("bc:cancelok:", "not found"),
    ("bc:reg:milan%27", "not valid any more"),
]


async def test_forged_steps_change_nothing(rt: Runtime, sender: RecordingSender) -> None:
    org = await make_org(rt, "ngo", ["milan"])
    boss = await coordinator(rt, org)
    await boss.say("/broadcasts")
    for payload in ("bc:send", "bc:sendok", "bc:schedok", "bc:preview", "bc:summary",
                    "bc:lang:en"):
        await boss.press(payload, must_exist=False)  # out of order: no draft yet
        assert "no broadcast being written" in boss.text, payload
    await boss.press("bc:new")
    for payload, answer in FORGED:
        await boss.press(payload, must_exist=False)
        assert answer in boss.text, payload
        if payload.startswith("bc:aud"):
            await boss.press("bc:aud:participants")
        elif payload.startswith("bc:reg"):
            await boss.press("bc:reg:milan", must_exist=False)
        elif payload.startswith("bc:top"):
            await boss.press("bc:top:trainings", must_exist=False)
    assert await count(rt, Broadcast) == 0


async def test_draft_survives_nothing_but_the_session(rt: Runtime, sender: RecordingSender
                                                      ) -> None:
    org = await make_org(rt, "ngo", ["milan"])
    boss = await coordinator(rt, org)
    await compose(boss)
    out = await boss.say("/exit")
    assert out.exit
    await boss.press("bc:preview", must_exist=False)
    assert "no broadcast being written" in boss.text
    assert await count(rt, Broadcast) == 0


# -- engine pieces ---------------------------------------------------------------------------------
async def test_rate_limiter_spaces_sends_per_channel() -> None:
    from bot.services.broadcasting import CHANNEL_RATES, RateLimiter

    now = [100.0]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))

    limiter = RateLimiter(10, clock=lambda: now[0], sleep=fake_sleep)
    for _ in range(3):
        await limiter.wait()
    assert slept == [0.1, 0.2]  # the first goes at once, the next wait their turn
    now[0] += 5  # after a quiet spell, no debt and no burst beyond one message
    await limiter.wait()
    assert slept == [0.1, 0.2]
    unpaced = RateLimiter(0, clock=lambda: now[0], sleep=fake_sleep)
    for _ in range(50):
        await unpaced.wait()
    assert slept == [0.1, 0.2]
    assert CHANNEL_RATES["telegram"] < 30 and CHANNEL_RATES["viber"] <= CHANNEL_RATES["telegram"]
    assert "webchat" not in CHANNEL_RATES


async def test_materialising_resumes_after_a_committed_prefix(
        rt: Runtime, sender: RecordingSender, monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.services.broadcasting as engine_module

    monkeypatch.setattr(engine_module, "MATERIALISE_CHUNK", 3)
    org = await make_org(rt, "ngo", ["milan"])
    women = [await person(rt, topics=["trainings"]) for _ in range(8)]
    async with rt.sessionmaker() as db, db.begin():
        broadcast = Broadcast(org_id=org, audience="participants", region_code="milan",
                              topic="trainings", texts={"en": "Hello"}, base_language="en",
                              status=BroadcastStatus.SCHEDULED, scheduled_at=rt.services.clock())
        db.add(broadcast)
        await db.flush()
        # A crash after the first chunk was committed: rows for the 3 lowest ids exist.
        ids = sorted((await db.execute(select(User.id))).scalars())[:3]
        for user_id in ids:
            db.add(BroadcastDelivery(broadcast_id=broadcast.id, user_id=user_id))
    engine = Broadcaster.for_runtime(rt)
    assert await engine.materialise(broadcast.id) == 5
    assert await engine.materialise(broadcast.id) == 0  # already sending: nothing added
    await engine.run_due()
    assert all(len(sender.to(w)) == 1 for w in women)
    assert await count(rt, BroadcastDelivery) == 8


def test_dispatcher_is_a_registered_job() -> None:
    from bot.services.jobs import all_jobs

    (job,) = [j for j in all_jobs() if j.name == "broadcasts"]
    assert 10 <= job.seconds <= 30
