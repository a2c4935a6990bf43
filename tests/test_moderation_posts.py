"""Committed employers, vacancies and meetups posted step by step from a phone."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.core.sessions import MemorySessionStore, SessionData
from bot.core.types import Reply
from bot.runtime import Runtime, open_runtime
from db.models import Employer, Meetup, Signup, User, Vacancy
from tests.canary import assert_not_on_disk
from tests.chat import ChatDriver
from tests.conftest import make_settings
from tests.fakes import Outbox
from tests.test_moderation import (
    add_employer,
    add_meetup,
    add_vacancy,
    audit_actions,
    become_member,
    make_org,
    staff,
    user_row,
)


async def count(rt: Runtime, model: type) -> int:
    async with rt.sessionmaker() as db:
        return (await db.execute(select(func.count()).select_from(model))).scalar_one()


async def participant_sees_job(rt: Runtime, title: str) -> bool:
    her = ChatDriver(rt.core)
    await her.onboard(region="milan")
    await her.press("job:list:0", must_exist=False)
    return title in her.text


# -- employers ----------------------------------------------------------------------------------

async def test_register_employer_step_by_step(rt: Runtime) -> None:
    org = await make_org(rt)
    mod = await staff(rt, "moderator", org)
    await mod.press("mod", must_exist=False)
    await mod.press("emp")
    await mod.press("emp:new")
    assert "step 1 of 7" in mod.text and "form:cancel" in mod.actions()
    await mod.say("   ")
    assert "Please write some text" in mod.text
    await mod.say("Caffè <b>Roma</b> 'x'; DROP TABLE employers")
    await mod.say("typed instead of a button")
    assert "Please use the buttons" in mod.text
    await mod.press("form:pick:nuclear", must_exist=False)
    assert "not valid" in mod.text and "step 2 of 7" in mod.text
    await mod.press("form:pick:food")
    await mod.press("form:yes")
    await mod.press("form:back")
    assert "step 3 of 7" in mod.text and "✓ Yes" in [b.label for b in mod.buttons()]
    await mod.press("form:no")
    await mod.press("form:yes")
    await mod.press("form:skip")
    await mod.say("32.13.2026")
    assert "Please write a date" in mod.text
    await mod.say("31.12.2099")
    assert "not in the future" in mod.text
    await mod.press("form:today")
    await mod.say("Maria, HR")
    assert "Preview" in mod.text and "Caffè <b>Roma</b>" in mod.text
    assert await count(rt, Employer) == 0  # nothing before publishing
    await mod.press("form:pub")
    assert "registered" in mod.text
    async with rt.sessionmaker() as db:
        emp = (await db.execute(select(Employer))).scalar_one()
    assert (emp.name, emp.sector, emp.policy_against_violence, emp.supported_hiring,
            emp.contact_person, emp.committed_on) == (
        "Caffè <b>Roma</b> 'x'; DROP TABLE employers", "food", False, True, "Maria, HR",
        date(2026, 11, 27))
    assert "employer_register" in await audit_actions(rt)


async def test_suspend_and_end_hide_vacancies_at_once(rt: Runtime) -> None:
    org = await make_org(rt)
    mod = await staff(rt, "moderator", org)
    emp = await add_employer(rt, org)
    await add_vacancy(rt, emp, org, title="Baker wanted")
    assert await participant_sees_job(rt, "Baker wanted")
    await mod.press(f"emp:show:{emp}", must_exist=False)
    await mod.press(f"emp:sus:{emp}")
    assert "suspended" in mod.text
    assert not await participant_sees_job(rt, "Baker wanted")
    await mod.press(f"emp:act:{emp}")
    assert await participant_sees_job(rt, "Baker wanted")
    await mod.press(f"emp:end:{emp}")
    assert not await participant_sees_job(rt, "Baker wanted")
    await mod.press(f"emp:end:{emp}", must_exist=False)
    assert "already" in mod.text
    async with rt.sessionmaker() as db:
        row = await db.get(Employer, emp)
        assert row is not None and row.status == "ended"
        assert row.status_changed_on == date(2026, 11, 27)
    for bad in ("emp:show:999999", "emp:sus:abc", "emp:end:", "emp:act:99999999999"):
        await mod.press(bad, must_exist=False)
        assert "not available" in mod.text


# -- vacancies ----------------------------------------------------------------------------------

async def fill_vacancy(mod: ChatDriver, emp: int, title: str = "Cook's helper") -> None:
    await mod.press("vac", must_exist=False)
    await mod.press("vac:new")
    await mod.press(f"form:pick:{emp}")
    await mod.press("form:pick:milan")
    await mod.say(title)
    await mod.say("Help in the kitchen.\nNo experience needed.")
    await mod.press("form:pick:food")
    await mod.press("form:skip")  # place
    await mod.press("form:pick:part_time")
    await mod.say("6 months")
    await mod.say("900")
    await mod.say("800")  # lower than the lowest pay
    assert "cannot be lower" in mod.text
    await mod.say("1.100 €")
    await mod.press("form:yes")
    await mod.press("form:no")
    await mod.press("form:pick:it")
    await mod.say("yesterday")
    assert "Please write a date" in mod.text
    await mod.say("2026-11-26")
    assert "in the past" in mod.text
    await mod.say("31.12.2026")


async def test_post_a_vacancy_with_preview_exactly_as_she_sees_it(rt: Runtime) -> None:
    org = await make_org(rt)
    emp = await add_employer(rt, org)
    mod = await staff(rt, "moderator", org)
    await fill_vacancy(mod, emp)
    preview = mod.replies[-1].text
    assert "Preview" in preview and "Cook's helper" in preview and "1100" in preview.replace(
        ",", "").replace(".", "").replace("\u202f", "").replace("\xa0", "")
    assert await count(rt, Vacancy) == 0
    await mod.press("form:back")
    assert "step 14 of 14" in mod.text and "Now:" in mod.text
    await mod.press("form:keep")
    await mod.press("form:pub")
    assert "published" in mod.text
    async with rt.sessionmaker() as db:
        v = (await db.execute(select(Vacancy))).scalar_one()
    assert (v.pay_min, v.pay_max, v.childcare_friendly, v.remote_possible, v.work_language,
            v.expires_on, v.org_id, v.region_code) == (900, 1100, True, False, "it",
                                                       date(2026, 12, 31), org, "milan")
    # What she sees on the vacancy page is what the preview showed.
    her = ChatDriver(rt.core)
    await her.onboard()
    await her.press(f"job:show:{v.id}", must_exist=False)
    body = preview.split("\n\n", 1)[1]
    assert body.split("\n")[0] in her.text and "Help in the kitchen." in her.text
    assert "vacancy_publish" in await audit_actions(rt)


async def test_edit_and_close_a_vacancy(rt: Runtime, clock) -> None:  # noqa: ANN001
    org = await make_org(rt)
    emp = await add_employer(rt, org)
    vid = await add_vacancy(rt, emp, org, title="Old title")
    mod = await staff(rt, "moderator", org)
    await mod.press(f"vac:show:{vid}", must_exist=False)
    await mod.press(f"vac:ed:{vid}")
    await mod.press(f"vac:ef:{vid}:title")
    await mod.say("x" * 500)
    assert "too long" in mod.text
    await mod.say("New title 🙂")
    assert "Saved" in mod.text and "New title 🙂" in mod.text
    await mod.press(f"vac:ed:{vid}")
    await mod.press(f"vac:ef:{vid}:expires_on")
    await mod.say("05.12.2026")
    assert await participant_sees_job(rt, "New title")
    clock.advance(days=9)  # it expires on its date
    assert not await participant_sees_job(rt, "New title")
    clock.advance(days=-9)
    await mod.press(f"vac:ef:{vid}:status", must_exist=False)
    assert "not available" in mod.text
    await mod.press(f"vac:close:{vid}", must_exist=False)
    assert "closed" in mod.text
    assert not await participant_sees_job(rt, "New title")
    assert {"vacancy_edit", "vacancy_close"} <= set(await audit_actions(rt))


async def test_vacancy_needs_an_active_employer_of_her_own(rt: Runtime) -> None:
    org = await make_org(rt)
    other = await make_org(rt, "south", ("catalonia",))
    foreign = await add_employer(rt, other, name="Foreign")
    mod = await staff(rt, "moderator", org)
    await mod.press("vac:new", must_exist=False)
    assert "register a committed employer first" in mod.text
    emp = await add_employer(rt, org)
    await mod.press("vac:new", must_exist=False)
    await mod.press(f"form:pick:{foreign}", must_exist=False)
    assert "not valid" in mod.text and "step 1 of 14" in mod.text
    await fill_vacancy(mod, emp)
    # The employer is suspended while the draft waits: publishing is refused, nothing saved.
    async with rt.sessionmaker() as db, db.begin():
        row = await db.get(Employer, emp)
        assert row is not None
        row.status = "suspended"
    await mod.press("form:pub")
    assert "cannot be published" in mod.text
    assert await count(rt, Vacancy) == 0


async def test_draft_survives_nothing_but_the_session(database_url: str, clock) -> None:  # noqa: ANN001
    ticks = [0.0]
    store = MemorySessionStore(60, clock=lambda: ticks[0])
    # open_runtime takes `store or a new one`, and an empty store is falsy: give it one entry.
    await store.save("placeholder", SessionData(state="placeholder"))
    async with open_runtime(make_settings(database_url), clock=clock, store=store) as rt:
        org = await make_org(rt)
        emp = await add_employer(rt, org)
        mod = await staff(rt, "moderator", org)
        await mod.press("vac:new", must_exist=False)
        await mod.press(f"form:pick:{emp}")
        await mod.press("form:pick:milan")
        await mod.say("Secret draft title")
        ticks[0] += 61  # the session's time to live passes
        await mod.say("A description")
        assert "step" not in mod.text  # the draft is gone: this is not read as a field
        await mod.press("form:pub", must_exist=False)
        assert "expired" in mod.text and "Nothing was saved" in mod.text
        assert await count(rt, Vacancy) == 0
        # Quick exit drops the draft at once too.
        await mod.press("vac:new", must_exist=False)
        await mod.press(f"form:pick:{emp}")
        await mod.say("exit")
        await mod.press("form:pick:milan", must_exist=False)
        assert "expired" in mod.text
        assert await count(rt, Vacancy) == 0
    if database_url.startswith("sqlite"):
        assert_not_on_disk("Secret draft title", Path(database_url.split("///")[1]).parent)


async def test_cancel_discards_the_draft(rt: Runtime) -> None:
    org = await make_org(rt)
    mod = await staff(rt, "moderator", org)
    await mod.press("mev:new", must_exist=False)
    await mod.press("form:pick:milan")
    await mod.press("form:cancel")
    assert "discarded" in mod.text
    await mod.say("Some title")
    assert "step" not in mod.text
    assert await count(rt, Meetup) == 0


# -- meetups ------------------------------------------------------------------------------------

async def test_post_a_meetup_in_the_region_time_zone(rt: Runtime) -> None:
    org = await make_org(rt)
    mod = await staff(rt, "moderator", org)
    await mod.press("mev", must_exist=False)
    await mod.press("mev:new")
    await mod.press("form:pick:milan")
    await mod.say("Coffee morning")
    await mod.press("form:skip")
    await mod.say("Via Roma 1, room 2")
    assert "Who may see the place?" in mod.text
    await mod.press("form:pick:closed")
    await mod.say("2026-12-03")
    await mod.say("25:00")
    assert "like 17:30" in mod.text
    await mod.say("10:30")
    await mod.say("ninety")
    assert "whole number" in mod.text
    await mod.say("5")
    assert "from 15 to 600" in mod.text
    await mod.say("90")
    await mod.say("0")
    assert "from 1 to 500" in mod.text
    await mod.say("8")
    assert "Preview" in mod.text and "Coffee morning" in mod.text
    assert ("Only women with access to your groups and a confirmed place see the place: "
            "Via Roma 1, room 2") in mod.text
    await mod.press("form:pub")
    assert "published" in mod.text
    async with rt.sessionmaker() as db:
        m = (await db.execute(select(Meetup))).scalar_one()
    local = m.starts_at.replace(tzinfo=m.starts_at.tzinfo or ZoneInfo("UTC")).astimezone(
        ZoneInfo("Europe/Rome"))
    assert (local.date(), local.hour, local.minute, m.capacity) == (date(2026, 12, 3), 10, 30, 8)


async def test_meetup_today_in_the_past_is_refused(rt: Runtime) -> None:
    org = await make_org(rt)
    mod = await staff(rt, "moderator", org)
    await mod.press("mev:new", must_exist=False)
    await mod.press("form:pick:milan")
    await mod.say("Early")
    await mod.press("form:skip")
    await mod.say("Room")
    await mod.press("form:pick:open")
    await mod.say("27.11.2026")
    await mod.say("06:00")  # already past at 10:00 in Milan
    await mod.press("form:skip")
    await mod.say("5")
    await mod.press("form:pub")
    assert "already passed" in mod.text
    assert await count(rt, Meetup) == 0


async def test_edit_capacity_duplicate_and_cancel_a_meetup(rt: Runtime) -> None:
    org = await make_org(rt)
    mid = await add_meetup(rt, org, days=1)
    mod = await staff(rt, "moderator", org)
    her = ChatDriver(rt.core)
    await her.onboard()
    await become_member(rt, her, org)
    await her.press(f"ev:join:{mid}", must_exist=False)
    await mod.press(f"mev:show:{mid}", must_exist=False)
    assert "Signed up: 1 of 10" in mod.text
    await mod.press(f"mev:ed:{mid}")
    await mod.press(f"mev:ef:{mid}:capacity")
    await mod.say("0")
    assert "from 1 to 500" in mod.text
    await mod.say("4")
    assert "Signed up: 1 of 4" in mod.text
    await mod.press(f"mev:dup:{mid}")
    assert "one week later" in mod.text
    async with rt.sessionmaker() as db:
        rows = list((await db.execute(select(Meetup).order_by(Meetup.id))).scalars())
    assert len(rows) == 2 and rows[1].capacity == 4
    assert rows[1].starts_at - rows[0].starts_at == timedelta(days=7)
    await mod.press(f"mev:close:{mid}", must_exist=False)
    await mod.press(f"mev:closeok:{mid}")
    assert "cancelled" in mod.text
    await rt.core.drain()
    async with rt.sessionmaker() as db:
        assert (await db.get(Meetup, mid)).status == "cancelled"  # type: ignore[union-attr]
    assert {"meetup_edit", "meetup_duplicate", "meetup_cancel"} <= set(await audit_actions(rt))


async def test_mark_attendance_per_signup_and_by_number(rt: Runtime, clock) -> None:  # noqa: ANN001
    org = await make_org(rt)
    mid = await add_meetup(rt, org, days=1)
    mod = await staff(rt, "moderator", org)
    women = []
    for _i in range(3):
        her = ChatDriver(rt.core)
        await her.onboard()
        await become_member(rt, her, org)
        await her.press(f"ev:join:{mid}", must_exist=False)
        women.append(her)
    await mod.press(f"mev:att:{mid}", must_exist=False)
    assert "once the meetup has started" in mod.text
    clock.advance(days=1, minutes=30)
    await mod.press(f"mev:show:{mid}", must_exist=False)
    await mod.press(f"mev:att:{mid}")
    assert "Came: 0 of 3" in mod.text and "· Sign-up 1" in [b.label for b in mod.buttons()]
    first = mod.action_starting(f"mev:at:{mid}:")
    await mod.press(first)
    assert "Came: 1 of 3" in mod.text
    await mod.press(first)
    assert "Came: 0 of 3" in mod.text
    await mod.press(f"mev:atn:{mid}")
    await mod.say("7")
    assert "from 0 to 3" in mod.text
    await mod.say("2")
    assert "Came: 2 of 3" in mod.text
    async with rt.sessionmaker() as db:
        marks = (await db.execute(select(Signup.attended).order_by(Signup.id))).scalars().all()
    assert marks == [True, True, False]
    # A forged sign-up id of another meetup changes nothing.
    await mod.press(f"mev:at:{mid}:999999", must_exist=False)
    assert "not available" in mod.text


async def test_attendance_number_after_signups_are_deleted_counts_once(
        rt: Runtime, clock) -> None:  # noqa: ANN001
    from db.models import ImpactCount

    org = await make_org(rt)
    mid = await add_meetup(rt, org, days=-1)
    mod = await staff(rt, "moderator", org)
    await mod.press(f"mev:att:{mid}", must_exist=False)
    assert "How many women came" in mod.text
    await mod.say("6")
    await mod.press(f"mev:att:{mid}", must_exist=False)
    assert "already saved" in mod.text
    async with rt.sessionmaker() as db:
        total = (await db.execute(select(func.sum(ImpactCount.value)).where(
            ImpactCount.metric == "meetup_attended"))).scalar_one()
    assert total == 6


async def test_no_participant_data_in_staff_views(rt: Runtime) -> None:
    org = await make_org(rt)
    mid = await add_meetup(rt, org, days=1)
    her = ChatDriver(rt.core)
    await her.onboard()
    await become_member(rt, her, org)
    await her.press(f"ev:join:{mid}", must_exist=False)
    her_row = await user_row(rt, her)
    mod = await staff(rt, "moderator", org)
    await mod.press(f"mev:show:{mid}", must_exist=False)
    assert her_row.id not in str([mod.text, mod.actions()])
    assert her.address not in mod.text
    async with rt.sessionmaker() as db:
        assert (await db.execute(select(func.count(User.id)))).scalar_one() == 2
    assert isinstance(datetime.now(), datetime)


class NotingOutbox(Outbox):
    """The web chat, faked at its boundary: also notes whether each message made a sound."""

    def __init__(self) -> None:
        super().__init__()
        self.sound: dict[str, list[bool]] = {}

    async def send(self, address: str, replies: Sequence[Reply], *,
                   notification: bool) -> list[str]:
        self.sound.setdefault(address, []).append(notification)
        return await super().send(address, replies, notification=notification)


async def set_quiet_hours(rt: Runtime, chat: ChatDriver, start: int, end: int) -> None:
    async with rt.sessionmaker() as db, db.begin():
        user = await db.get(User, (await user_row(rt, chat)).id)
        assert user is not None
        user.quiet_start, user.quiet_end = start, end


async def signup_statuses(rt: Runtime, meetup_id: int) -> list[str]:
    async with rt.sessionmaker() as db:
        return list((await db.execute(select(Signup.status).where(Signup.meetup_id == meetup_id)
                                      .order_by(Signup.id))).scalars())


async def test_more_places_go_to_the_waiting_list(rt: Runtime) -> None:
    box = Outbox()
    rt.add_sender(box)
    org = await make_org(rt)
    mid = await add_meetup(rt, org, days=2, capacity=1)
    first, second, third = ChatDriver(rt.core), ChatDriver(rt.core), ChatDriver(rt.core)
    for her in (first, second, third):
        await her.onboard()
        await become_member(rt, her, org)
    await first.press(f"ev:join:{mid}", must_exist=False)
    await second.press(f"ev:wait:{mid}", must_exist=False)
    await third.press(f"ev:wait:{mid}", must_exist=False)
    assert await signup_statuses(rt, mid) == ["confirmed", "waiting", "waiting"]
    mod = await staff(rt, "moderator", org)
    await mod.press(f"mev:ed:{mid}", must_exist=False)
    await mod.press(f"mev:ef:{mid}:capacity")
    await mod.say("2")
    # The new place goes to the first woman waiting, and the screen counts her.
    assert "Signed up: 2 of 2. Waiting: 1." in mod.text
    assert await signup_statuses(rt, mid) == ["confirmed", "confirmed", "waiting"]
    await rt.core.drain()
    told = box.take(second.address)
    assert len(told) == 1 and told[0].has_action(f"ev:show:{mid}")
    assert "Room 2" not in told[0].text  # discreet: no place on the lock screen
    assert box.take(third.address) == [] and box.take(first.address) == []
    await second.press(f"ev:where:{mid}", must_exist=False)
    assert "Room 2, Via Roma 1" in second.text
    # Lowering below the confirmed count is still refused and promotes nobody.
    await mod.press(f"mev:ef:{mid}:capacity", must_exist=False)
    await mod.say("1")
    assert "2 women have already signed up" in mod.text
    assert await signup_statuses(rt, mid) == ["confirmed", "confirmed", "waiting"]


async def test_capacity_edit_with_nobody_waiting_sends_nothing(rt: Runtime) -> None:
    box = Outbox()
    rt.add_sender(box)
    org = await make_org(rt)
    mid = await add_meetup(rt, org, days=2, capacity=1)
    her = ChatDriver(rt.core)
    await her.onboard()
    await become_member(rt, her, org)
    await her.press(f"ev:join:{mid}", must_exist=False)
    mod = await staff(rt, "moderator", org)
    await mod.press(f"mev:ef:{mid}:capacity", must_exist=False)
    await mod.say("5")
    assert "Signed up: 1 of 5. Waiting: 0." in mod.text
    await rt.core.drain()
    assert box.sent == {}


async def test_cancelled_meetup_message_is_silent_in_her_quiet_hours(rt: Runtime) -> None:
    box = NotingOutbox()
    rt.add_sender(box)
    org = await make_org(rt)
    mid = await add_meetup(rt, org, days=2)
    # It is 10:00 in Milan: one woman's quiet hours are 09-12, the other's 21-08.
    sleeping, awake = ChatDriver(rt.core), ChatDriver(rt.core)
    for her in (sleeping, awake):
        await her.onboard()
        await become_member(rt, her, org)
        await her.press(f"ev:join:{mid}", must_exist=False)
    await set_quiet_hours(rt, sleeping, 9, 12)
    await set_quiet_hours(rt, awake, 21, 8)
    mod = await staff(rt, "moderator", org)
    await mod.press(f"mev:closeok:{mid}", must_exist=False)
    assert "The meetup is cancelled." in mod.text
    await rt.core.drain()
    assert box.sound == {sleeping.address: [False], awake.address: [True]}
    for her in (sleeping, awake):
        told = box.take(her.address)
        assert len(told) == 1 and "was cancelled" in told[0].text
        assert "Room 2" not in told[0].text
