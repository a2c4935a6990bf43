"""Journey 1, peer-group meetups, through the core: list, page, sign up, waiting list, cancel,
reminders, purge; the meeting place only for a confirmed place; bad input changes nothing."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.demo import MEETUP_PLACE
from bot.runtime import Runtime, open_runtime
from bot.services.reminders import purge_past_signups, send_reminders
from db.models import (
    Handoff,
    ImpactCount,
    Meetup,
    Membership,
    Organisation,
    PostStatus,
    Signup,
    SignupStatus,
    User,
)
from handlers.mod_team import MEMBER_CODE, create_invite
from tests.canary import assert_not_logged, assert_not_on_disk, new_canary
from tests.chat import ChatDriver
from tests.conftest import FakeClock, make_settings
from tests.fakes import Outbox

PLACE = "Via Segreta 12, room 3"


@pytest.fixture
def outbox(rt: Runtime) -> Outbox:
    box = Outbox()
    rt.add_sender(box)
    return box


async def make_meetup(rt: Runtime, *, starts_in: timedelta, capacity: int = 5,
                      region: str = "milan", status: str = PostStatus.PUBLISHED,
                      title: str = "Tea and talk", now: datetime | None = None) -> int:
    async with rt.sessionmaker() as db, db.begin():
        org = (await db.execute(select(Organisation).where(Organisation.slug == "t"))
               ).scalar_one_or_none()
        if org is None:
            org = Organisation(slug="t", name="Test centre")
            db.add(org)
            await db.flush()
        meetup = Meetup(org_id=org.id, region_code=region, title=title, place=PLACE,
                        description="Bring nothing.", capacity=capacity, status=status,
                        starts_at=(now or rt.services.clock()) + starts_in)
        db.add(meetup)
        await db.flush()
        return meetup.id


async def member(rt: Runtime, chat: ChatDriver, slug: str = "t") -> None:
    """She redeems a member code of the organisation (the new rule: only members sign up)."""
    async with rt.sessionmaker() as db, db.begin():
        org = (await db.execute(select(Organisation).where(Organisation.slug == slug))
               ).scalar_one()
        code, _invite = await create_invite(db, role=MEMBER_CODE, org_id=org.id,
                                            now=rt.services.clock(), ttl_hours=1)
    await chat.say(f"/redeem {code}")
    async with rt.sessionmaker() as db:
        assert (await db.execute(select(Membership).where(
            Membership.user_id == chat.last.user_id,  # type: ignore[union-attr]
            Membership.org_id == org.id))).scalar_one_or_none() is not None, chat.text


async def signups(rt: Runtime) -> list[Signup]:
    async with rt.sessionmaker() as db:
        return list((await db.execute(select(Signup).order_by(Signup.id))).scalars())


async def counter(rt: Runtime, metric: str) -> int:
    async with rt.sessionmaker() as db:
        return int((await db.execute(select(func.coalesce(func.sum(ImpactCount.value), 0))
                                     .where(ImpactCount.metric == metric))).scalar_one())


async def user_of(rt: Runtime, chat: ChatDriver) -> User:
    assert chat.last is not None and chat.last.user_id
    async with rt.sessionmaker() as db:
        user = await db.get(User, chat.last.user_id)
        assert user is not None
        return user


# -- list -------------------------------------------------------------------------------------
async def test_list_shows_her_region_with_time_and_places_never_the_place(
        demo_chat: ChatDriver, demo_rt: Runtime) -> None:
    await demo_chat.onboard(region="milan")
    await demo_chat.press("ev")
    text = demo_chat.text
    assert "Coffee and conversation" in text
    # 2 days after 27 Nov 2026 at 17:30 in Rome (the demo times are region-local).
    assert "Sunday 29 November, 5:30\u202fPM" in text
    assert "12 places left" in text and "Full" in text
    assert MEETUP_PLACE not in text and "DEMO address" not in text
    shown = [int(a.split(":")[2]) for a in demo_chat.actions() if a.startswith("ev:show:")]
    assert len(shown) == 5  # a page holds five
    async with demo_rt.sessionmaker() as db:
        regions = set((await db.execute(select(Meetup.region_code)
                                        .where(Meetup.id.in_(shown)))).scalars())
    assert regions == {"milan"}
    assert "ev:list:1" in demo_chat.actions()
    await demo_chat.press("ev:list:1")
    assert "Computer basics, step by step" in demo_chat.text
    assert "ev:list:0" in demo_chat.actions() and "ev:list:2" not in demo_chat.actions()


async def test_list_in_italian_uses_italian_dates(demo_rt: Runtime) -> None:
    chat = ChatDriver(demo_rt.core, language_hint="it-IT")
    await chat.onboard(language="it", region="milan")
    await chat.say("/meetups")
    assert "domenica 29 novembre, 17:30" in chat.text
    assert "exit" in chat.actions()


async def test_other_regions_and_cancelled_or_past_meetups_are_not_listed(
        chat: ChatDriver, rt: Runtime, clock: FakeClock) -> None:
    await make_meetup(rt, starts_in=timedelta(days=1), title="Madrid group", region="catalonia")
    await make_meetup(rt, starts_in=timedelta(days=1), title="Called off",
                      status=PostStatus.CANCELLED)
    await make_meetup(rt, starts_in=timedelta(hours=-1), title="Yesterday group")
    await make_meetup(rt, starts_in=timedelta(days=1), title="Draft group", status=PostStatus.DRAFT)
    await chat.onboard(region="milan")
    await chat.press("ev")
    assert "no upcoming meetups" in chat.text
    for title in ("Madrid group", "Called off", "Yesterday group", "Draft group"):
        assert title not in chat.text


# -- the whole journey -------------------------------------------------------------------------
async def test_sign_up_see_place_then_cancel(chat: ChatDriver, rt: Runtime) -> None:
    mid = await make_meetup(rt, starts_in=timedelta(days=3), capacity=4)
    await chat.onboard(region="milan")
    await member(rt, chat)
    await chat.press("ev:list:0")
    await chat.press(f"ev:show:{mid}")
    assert "Tea and talk" in chat.text and "4 places left" in chat.text
    assert PLACE not in chat.text
    assert "place is shown after you sign up" in chat.text
    assert f"ev:where:{mid}" not in chat.actions()
    await chat.press(f"ev:join:{mid}")
    assert "you have a place" in chat.text.lower()
    assert PLACE not in chat.text  # only behind "Where is it?"
    await chat.press(f"ev:where:{mid}")
    assert PLACE in chat.text
    await chat.press(f"ev:show:{mid}")
    stored = await signups(rt)
    assert [(s.meetup_id, s.status) for s in stored] == [(mid, SignupStatus.CONFIRMED)]
    assert await counter(rt, "meetup_signups") == 1
    async with rt.sessionmaker() as db:
        row = (await db.execute(select(ImpactCount)
                                .where(ImpactCount.metric == "meetup_signups"))).scalar_one()
        assert row is not None and row.region_code == "milan" and row.org_id > 0

    # Somebody else sees the meetup, one place less, and never the place.
    other = ChatDriver(rt.core)
    await other.onboard(region="milan")
    await other.press(f"ev:show:{mid}", must_exist=False)
    assert "3 places left" in other.text and PLACE not in other.text
    await other.press(f"ev:where:{mid}", must_exist=False)
    assert PLACE not in other.text
    await other.press("ev:list:0")
    assert "Tea and talk" in other.text and PLACE not in other.text

    await chat.press("ev:mine")
    assert "Tea and talk" in chat.text and "You have a place" in chat.text
    assert PLACE not in chat.text  # only on the meetup's own page
    await chat.press(f"ev:show:{mid}")
    await chat.press(f"ev:cancel:{mid}")
    assert "give up your place" in chat.text
    await chat.press(f"ev:cancelok:{mid}")
    assert "cancelled" in chat.text and PLACE not in chat.text
    assert await signups(rt) == []
    await chat.press("ev:mine")
    assert "not signed up for any meetup" in chat.text


async def test_signing_up_twice_stores_one_row(chat: ChatDriver, rt: Runtime) -> None:
    mid = await make_meetup(rt, starts_in=timedelta(days=3))
    await chat.onboard()
    await member(rt, chat)
    await chat.press(f"ev:join:{mid}", must_exist=False)
    await chat.press(f"ev:join:{mid}", must_exist=False)
    assert "already signed up" in chat.text
    await chat.press(f"ev:wait:{mid}", must_exist=False)
    assert len(await signups(rt)) == 1
    assert await counter(rt, "meetup_signups") == 1


async def test_full_meetup_offers_waiting_list_and_promotes_on_cancel(
        rt: Runtime, outbox: Outbox) -> None:
    mid = await make_meetup(rt, starts_in=timedelta(days=3), capacity=1)
    first = ChatDriver(rt.core)
    await first.onboard(region="milan")
    await member(rt, first)
    await first.press(f"ev:join:{mid}", must_exist=False)
    second = ChatDriver(rt.core, language_hint="es")
    await second.onboard(language="es", region="milan")
    await member(rt, second)
    await second.press(f"ev:show:{mid}", must_exist=False)
    assert f"ev:join:{mid}" not in second.actions()
    # A forged sign-up on a full meetup stores nothing and offers the waiting list.
    await second.press(f"ev:join:{mid}", must_exist=False)
    assert f"ev:wait:{mid}" in second.actions()
    assert len(await signups(rt)) == 1
    await second.press(f"ev:wait:{mid}")
    assert PLACE not in second.text
    rows = await signups(rt)
    assert [r.status for r in rows] == [SignupStatus.CONFIRMED, SignupStatus.WAITING]
    third = ChatDriver(rt.core)
    await third.onboard(region="milan")
    await member(rt, third)
    await third.press(f"ev:wait:{mid}", must_exist=False)
    assert "(number 2)" in third.text

    await first.press(f"ev:cancel:{mid}", must_exist=False)
    await first.press(f"ev:cancelok:{mid}")
    await rt.core.drain()
    told = outbox.take(second.address)
    assert len(told) == 1
    # Discreet: a neutral line, the details only behind the button; nothing about the place.
    assert told[0].has_action(f"ev:show:{mid}")
    assert "Tea and talk" not in told[0].text and PLACE not in told[0].text
    assert outbox.take(third.address) == []
    await second.press(f"ev:where:{mid}", must_exist=False)
    assert PLACE in second.text
    await third.press(f"ev:where:{mid}", must_exist=False)
    assert PLACE not in third.text
    await third.press(f"ev:show:{mid}", must_exist=False)
    assert PLACE not in third.text and "(number 1)" in third.text
    statuses = {r.user_id: r.status for r in await signups(rt)}
    assert sorted(statuses.values()) == [SignupStatus.CONFIRMED, SignupStatus.WAITING]
    assert await counter(rt, "meetup_signups") == 2


async def test_promotion_without_discreet_mode_shows_details(rt: Runtime, outbox: Outbox
                                                             ) -> None:
    mid = await make_meetup(rt, starts_in=timedelta(days=3), capacity=1)
    first, second = ChatDriver(rt.core), ChatDriver(rt.core)
    await first.onboard()
    await member(rt, first)
    await first.press(f"ev:join:{mid}", must_exist=False)
    await second.onboard()
    await member(rt, second)
    await second.press(f"ev:wait:{mid}", must_exist=False)
    async with rt.sessionmaker() as db, db.begin():
        user = await db.get(User, (await user_of(rt, second)).id)
        assert user is not None
        user.discreet = False
    await first.press(f"ev:cancelok:{mid}", must_exist=False)
    await rt.core.drain()
    told = outbox.take(second.address)
    assert "Tea and talk" in told[0].text and "place became free" in told[0].text
    assert PLACE not in told[0].text


async def test_leaving_the_waiting_list_promotes_nobody(rt: Runtime, outbox: Outbox) -> None:
    mid = await make_meetup(rt, starts_in=timedelta(days=3), capacity=1)
    a, b, c = ChatDriver(rt.core), ChatDriver(rt.core), ChatDriver(rt.core)
    for person in (a, b, c):
        await person.onboard()
        await member(rt, person)
    await a.press(f"ev:join:{mid}", must_exist=False)
    await b.press(f"ev:wait:{mid}", must_exist=False)
    await c.press(f"ev:wait:{mid}", must_exist=False)
    await b.press(f"ev:cancel:{mid}", must_exist=False)
    assert "leave the waiting list" in b.text
    await b.press(f"ev:cancelok:{mid}")
    await rt.core.drain()
    assert outbox.sent == {}
    assert [r.status for r in await signups(rt)] == [SignupStatus.CONFIRMED, SignupStatus.WAITING]


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("payload", [
    "ev:show:999999", "ev:show:abc", "ev:show:", "ev:show:-1", "ev:join:0", "ev:join:99999",
    "ev:wait:999999", "ev:cancel:999999", "ev:cancelok:x", "ev:nope:1", "ev:list:-1",
    "ev:list:abc", "ev:list:99999999999", "ev:show:1:2:3", "ev:join", "ev:cancelok",
])
async def test_forged_payloads_get_an_answer_and_change_nothing(
        chat: ChatDriver, rt: Runtime, payload: str) -> None:
    await make_meetup(rt, starts_in=timedelta(days=1))
    await chat.onboard()
    out = await chat.press(payload, must_exist=False)
    assert out.replies and not out.exit
    assert "exit" in chat.actions()
    assert any(word in chat.text for word in ("not valid", "does not exist", "no upcoming",
                                              "no more meetups", "Tea and talk"))
    assert await signups(rt) == []
    assert await counter(rt, "meetup_signups") == 0


@pytest.mark.parametrize("status, words", [(PostStatus.CANCELLED, "was cancelled"),
                                           (PostStatus.DRAFT, "does not exist"),
                                           (PostStatus.CLOSED, "does not exist")])
async def test_cancelled_or_unpublished_meetup_refuses_sign_up(
        chat: ChatDriver, rt: Runtime, status: str, words: str) -> None:
    mid = await make_meetup(rt, starts_in=timedelta(days=1), status=status)
    await chat.onboard()
    for verb in ("show", "join", "wait", "cancelok"):
        await chat.press(f"ev:{verb}:{mid}", must_exist=False)
        assert words in chat.text and PLACE not in chat.text
    assert await signups(rt) == []


async def test_started_meetup_cannot_be_joined_or_cancelled(chat: ChatDriver, rt: Runtime,
                                                            clock: FakeClock) -> None:
    mid = await make_meetup(rt, starts_in=timedelta(hours=1))
    await chat.onboard()
    await member(rt, chat)
    await chat.press(f"ev:join:{mid}", must_exist=False)
    clock.advance(hours=1, minutes=5)
    await chat.press(f"ev:cancelok:{mid}", must_exist=False)
    assert "already started" in chat.text and PLACE not in chat.text
    assert len(await signups(rt)) == 1
    await chat.press(f"ev:show:{mid}", must_exist=False)
    assert "already started" in chat.text


@pytest.mark.parametrize("text", ["", "   ", "🙂🙂🙂", "\u200f\u202eplace?", "'; DROP TABLE signups;--",
                                  "<script>alert(1)</script>", "a" * 10_000])
async def test_typing_on_a_meetup_screen_stores_nothing(chat: ChatDriver, rt: Runtime,
                                                        text: str) -> None:
    mid = await make_meetup(rt, starts_in=timedelta(days=2))
    await chat.onboard()
    await chat.press(f"ev:show:{mid}", must_exist=False)
    out = await chat.say(text)
    assert out.replies and not out.exit and "exit" in chat.actions()
    assert any(w in chat.text for w in ("use the buttons", "too long", "Main menu"))
    assert await signups(rt) == []


async def test_not_set_up_yet_goes_to_the_start(chat: ChatDriver, rt: Runtime) -> None:
    mid = await make_meetup(rt, starts_in=timedelta(days=2))
    await chat.say("/start")
    await chat.press(f"ev:join:{mid}", must_exist=False)
    assert any(a.startswith("lang:") for a in chat.actions())
    assert await signups(rt) == []


async def test_deep_link_opens_the_meetup_after_the_safety_notice(chat: ChatDriver,
                                                                  rt: Runtime) -> None:
    mid = await make_meetup(rt, starts_in=timedelta(days=2))
    await chat.say(f"/start ev-{mid}")
    await chat.press("lang:en")
    assert "safe moment" in chat.text and "Tea and talk" not in chat.text
    await chat.press("safe:ok")
    await chat.press("region:milan")
    # A closed group: a visitor of its organisation may ask to join, not sign up.
    assert "Tea and talk" in chat.text and f"ev:ask:{mid}" in chat.actions()
    assert f"ev:join:{mid}" not in chat.actions()
    assert PLACE not in chat.text


async def test_deep_link_to_another_region_is_a_missing_meetup(chat: ChatDriver,
                                                               rt: Runtime) -> None:
    mid = await make_meetup(rt, starts_in=timedelta(days=2))
    await chat.say(f"/start ev-{mid}")
    await chat.press("lang:en")
    await chat.press("safe:ok")
    await chat.press("region:bulgaria")
    assert "does not exist or is no longer available" in chat.text
    assert "Tea and talk" not in chat.text and PLACE not in chat.text


# -- reminders and purge -----------------------------------------------------------------------
async def test_reminders_day_before_and_soon_once_each_never_after_start(
        chat: ChatDriver, rt: Runtime, outbox: Outbox, clock: FakeClock) -> None:
    mid = await make_meetup(rt, starts_in=timedelta(hours=30))
    await chat.onboard()
    await member(rt, chat)
    await chat.press(f"ev:join:{mid}", must_exist=False)
    assert await send_reminders(rt) == 0
    clock.advance(hours=7)  # 23 h before
    assert await send_reminders(rt) == 1
    got = outbox.take(chat.address)
    assert len(got) == 1 and got[0].has_action(f"ev:show:{mid}")
    assert PLACE not in got[0].text and "Tea and talk" not in got[0].text  # discreet
    assert "You have a reminder" in got[0].text
    assert await send_reminders(rt) == 0 and outbox.take(chat.address) == []
    clock.advance(hours=21, minutes=10)  # 1 h 50 before
    assert await send_reminders(rt) == 1
    assert outbox.take(chat.address)
    clock.advance(minutes=5)
    assert await send_reminders(rt) == 0
    clock.advance(hours=2)
    assert await send_reminders(rt) == 0
    row = (await signups(rt))[0]
    assert row.reminded_day and row.reminded_soon


async def test_reminder_not_discreet_has_title_and_time_never_the_place_after_quiet_hours(
        chat: ChatDriver, rt: Runtime, outbox: Outbox, clock: FakeClock) -> None:
    # 27 Nov 09:00 UTC is 10:00 in Milan; quiet 08-12 local holds the reminder back.
    mid = await make_meetup(rt, starts_in=timedelta(hours=20))
    await chat.onboard(region="milan")
    await member(rt, chat)
    await chat.press(f"ev:join:{mid}", must_exist=False)
    async with rt.sessionmaker() as db, db.begin():
        row = (await db.execute(select(Signup))).scalar_one()
        row.reminded_day = False  # as if she had signed up days ago
        user = await db.get(User, row.user_id)
        assert user is not None
        user.discreet, user.quiet_start, user.quiet_end = False, 8, 12
    assert await send_reminders(rt) == 0 and outbox.sent == {}
    clock.advance(hours=2)  # 12:00 in Milan
    assert await send_reminders(rt) == 1
    got = outbox.take(chat.address)
    assert PLACE not in got[0].text and "Tea and talk" in got[0].text
    assert "tomorrow" in got[0].text and "6:00" in got[0].text
    # The place only on tap: the page offers "Where is it?" (behind her lock).
    await chat.press(f"ev:show:{mid}", must_exist=False)
    assert PLACE not in chat.text and f"ev:where:{mid}" in chat.actions()


async def test_waiting_list_and_cancelled_meetups_get_no_reminder(
        rt: Runtime, outbox: Outbox, clock: FakeClock) -> None:
    mid = await make_meetup(rt, starts_in=timedelta(hours=30), capacity=1)
    a, b = ChatDriver(rt.core), ChatDriver(rt.core)
    await a.onboard()
    await b.onboard()
    await member(rt, a)
    await member(rt, b)
    await a.press(f"ev:join:{mid}", must_exist=False)
    await b.press(f"ev:wait:{mid}", must_exist=False)
    async with rt.sessionmaker() as db, db.begin():
        meetup = await db.get(Meetup, mid)
        assert meetup is not None
        meetup.status = PostStatus.CANCELLED
    clock.advance(hours=10)
    assert await send_reminders(rt) == 0 and outbox.sent == {}


async def test_purge_after_the_meetup_counts_attendance_then_deletes(
        rt: Runtime, clock: FakeClock) -> None:
    mid = await make_meetup(rt, starts_in=timedelta(hours=3), capacity=3)
    later = await make_meetup(rt, starts_in=timedelta(days=3))
    people = [ChatDriver(rt.core) for _ in range(3)]
    for person in people:
        await person.onboard()
        await member(rt, person)
        await person.press(f"ev:join:{mid}", must_exist=False)
    await people[0].press(f"ev:join:{later}", must_exist=False)
    async with rt.sessionmaker() as db, db.begin():
        rows = list((await db.execute(select(Signup).where(Signup.meetup_id == mid))).scalars())
        rows[0].attended, rows[1].attended = True, False
    assert await purge_past_signups(rt) == 0  # not over yet
    clock.advance(hours=4)  # started 1 h ago, lasts 90 minutes
    assert await purge_past_signups(rt) == 0
    clock.advance(minutes=31)
    assert await purge_past_signups(rt) == 3
    left = await signups(rt)
    assert [s.meetup_id for s in left] == [later]
    assert await counter(rt, "meetup_attended") == 1
    assert await counter(rt, "meetup_signups") == 4
    assert await purge_past_signups(rt) == 0


async def test_jobs_are_registered() -> None:
    from bot.services.jobs import all_jobs

    names = {job.name: job.seconds for job in all_jobs()}
    assert names["meetup_reminders"] <= 300 and "meetup_purge" in names


async def test_meetup_times_are_stored_in_utc(rt: Runtime) -> None:
    start = datetime(2026, 12, 1, 16, 30, tzinfo=UTC)
    mid = await make_meetup(rt, starts_in=start - rt.services.clock())
    async with rt.sessionmaker() as db:
        meetup = await db.get(Meetup, mid)
        assert meetup is not None
        stored = meetup.starts_at if meetup.starts_at.tzinfo else meetup.starts_at.replace(
            tzinfo=UTC)
        assert stored == start


async def test_canary_typed_on_meetup_and_job_screens_is_nowhere(
        tmp_path: Path, clock: FakeClock, caplog_all: pytest.LogCaptureFixture) -> None:
    """Walk both journeys typing a canary at every screen: it reaches no file and no log."""
    canary = new_canary()
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/canary.db", demo_data="on",
                             log_level="DEBUG")
    async with open_runtime(settings, clock=clock) as runtime:
        runtime.add_sender(Outbox())
        chat = ChatDriver(runtime.core)
        await chat.onboard(region="milan")
        await member(runtime, chat, slug="demo")
        steps = ["ev", "ev:show:1", "ev:where:1", "ev:code", "ev:reqs", "ev:access", "ev:join:1", "ev:mine", "ev:cancel:1", "ev:cancelok:1",
                 "ev:show:3", "ev:wait:3", "job", "job:f", "job:fp:sector", "job:ft:child",
                 "job:show:1", "job:int:1", "job:ic:1:morning", "job:req", "job:wd:1"]
        for action in steps:
            await chat.press(action, must_exist=False)
            await chat.say(canary + " " + action)
        await chat.press("job:wdok:1", must_exist=False)
        async with runtime.sessionmaker() as db:
            # The walk really went through: a waiting-list row and a withdrawn request exist.
            assert (await db.execute(select(Signup.status).join(User).where(
                User.id == chat.last.user_id))).scalar_one() == SignupStatus.WAITING  # type: ignore[union-attr]
            assert (await db.execute(select(Handoff.status))).scalar_one() == "withdrawn"
        await send_reminders(runtime)
        clock.advance(days=20)
        await purge_past_signups(runtime)
        await chat.say("exit")
    assert_not_on_disk(canary, tmp_path)
    assert_not_logged(canary, caplog_all)


async def test_a_failed_reminder_send_does_not_stop_the_others(
        rt: Runtime, outbox: Outbox, clock: FakeClock) -> None:
    """The first woman's send fails with nothing sent: the second still gets hers, and the first
    gets hers on the next run. A send that may have arrived is never repeated."""
    from bot.services.delivery import DeliveryFailed

    mid = await make_meetup(rt, starts_in=timedelta(hours=30))
    first, second, third = (ChatDriver(rt.core) for _ in range(3))
    for woman in (first, second, third):
        await woman.onboard()
        await member(rt, woman)
        await woman.press(f"ev:join:{mid}", must_exist=False)
    clock.advance(hours=7)  # 23 h before: the day-before reminders are due
    failing = {first.address: True, third.address: False}  # address -> retry?
    real_send = outbox.send

    async def flaky_send(address, replies, *, notification):  # noqa: ANN001, ANN202
        if address in failing:
            raise DeliveryFailed("test", retry=failing.pop(address))
        return await real_send(address, replies, notification=notification)

    outbox.send = flaky_send  # type: ignore[method-assign]
    assert await send_reminders(rt) == 1
    assert outbox.take(second.address) and not outbox.take(first.address)
    assert await send_reminders(rt) == 1
    assert outbox.take(first.address)
    assert outbox.take(third.address) == []  # maybe arrived: never sent again
