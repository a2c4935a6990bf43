"""Journey 10, demo data: every territory has upcoming meetups (one full) and vacancies from
several invented committed employers; the employer whose commitment ended and the expired
vacancy never show; everything is plainly marked as invented."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.demo import demo_codes, seed_demo
from bot.runtime import Runtime
from db.models import (
    CommitmentStatus,
    Employer,
    Meetup,
    MeetupKind,
    Membership,
    Organisation,
    Signup,
    User,
    Vacancy,
)
from db.queries import jobs as jq
from db.queries import meetups as mq
from db.queries.jobs import JobFilters
from db.reference import REGIONS
from tests.chat import ChatDriver


async def test_each_region_has_upcoming_meetups_one_of_them_full(demo_rt: Runtime) -> None:
    now = demo_rt.services.clock()
    async with demo_rt.sessionmaker() as db:
        for region in REGIONS[:4]:
            listed, more = await mq.upcoming_with_places(db, region.code, now, page=0, size=50)
            found = [m for m, _taken in listed]
            assert len(found) >= 3 and not more, region.code
            counts = await mq.confirmed_counts(db, [m.id for m in found])
            full = [m for m in found if counts.get(m.id, 0) >= m.capacity]
            assert len(full) == 1, region.code
            closed = [m for m in found if m.kind == MeetupKind.CLOSED]
            opened = [m for m in found if m.kind == MeetupKind.OPEN]
            assert len(closed) >= 3 and all(m.place.startswith("DEMO address") for m in closed)
            # The open event (a job fair in a public library): anyone may see its place.
            assert len(opened) == 1 and not opened[0].place.startswith("DEMO address")
        found, _more = await mq.upcoming_with_places(db, "elsewhere", now, page=0, size=50)
        assert found == []
        # The invented sign-ups of the full meetup can receive nothing (nobody is behind them).
        ghosts = list((await db.execute(select(User).join(Signup, Signup.user_id == User.id)
                                        )).scalars())
        assert ghosts and all(u.channel == "demo" and not u.active for u in ghosts)
        # They are members of the demo centre: only members' places count (the meetup is full).
        members = set((await db.execute(select(Membership.user_id))).scalars())
        assert {u.id for u in ghosts} <= members


async def test_each_region_lists_vacancies_of_committed_employers_only(demo_rt: Runtime) -> None:
    now = demo_rt.services.clock()
    async with demo_rt.sessionmaker() as db:
        ended = (await db.execute(select(Employer).where(
            Employer.status == CommitmentStatus.ENDED))).scalars().all()
        assert len(ended) == 1
        for region in REGIONS[:4]:
            today = now.astimezone(ZoneInfo(region.timezone)).date()
            shown, more = await jq.listing(db, region.code, today, JobFilters(), page=0, size=50)
            assert len(shown) >= 5 and not more
            employers = {v.employer_id for v in shown}
            assert 2 <= len(employers) <= 3
            assert ended[0].id not in employers
            assert all(v.expires_on >= today for v in shown)
            hidden = (await db.execute(select(func.count()).select_from(Vacancy).where(
                Vacancy.region_code == region.code,
                Vacancy.id.not_in([v.id for v in shown])))).scalar_one()
            assert hidden == 2  # the expired one and the one of the ended commitment
            expired = (await db.execute(select(Vacancy).where(
                Vacancy.region_code == region.code, Vacancy.expires_on < today))).scalar_one()
            assert await jq.visible_vacancy(db, expired.id, today) is None
            of_ended = (await db.execute(select(Vacancy).where(
                Vacancy.region_code == region.code,
                Vacancy.employer_id == ended[0].id))).scalar_one()
            assert of_ended.expires_on >= today  # hidden only because the commitment ended
            assert await jq.visible_vacancy(db, of_ended.id, today) is None


async def test_everything_is_marked_demo_and_invented(demo_rt: Runtime) -> None:
    async with demo_rt.sessionmaker() as db:
        org = (await db.execute(select(Organisation).where(Organisation.slug == "demo"))
               ).scalar_one()
        assert org.is_demo
        employers = (await db.execute(select(Employer))).scalars().all()
        assert employers and all(e.is_demo and "DEMO" in e.name and "invented" in e.name
                                 for e in employers)
        assert all(v.is_demo for v in (await db.execute(select(Vacancy))).scalars())
        assert all(m.is_demo for m in (await db.execute(select(Meetup))).scalars())


async def test_seeding_twice_adds_nothing(demo_rt: Runtime) -> None:
    async with demo_rt.sessionmaker() as db, db.begin():
        before = (await db.execute(select(func.count()).select_from(Vacancy))).scalar_one()
        assert await seed_demo(db, demo_rt.vault, demo_rt.services.clock()) is False
        after = (await db.execute(select(func.count()).select_from(Vacancy))).scalar_one()
    assert before == after


async def test_a_tester_walks_both_journeys_in_every_region(demo_rt: Runtime) -> None:
    for region in REGIONS[:4]:
        chat = ChatDriver(demo_rt.core)
        await chat.onboard(region=region.code)
        await chat.press("ev")
        assert "Full" in chat.text and "places left" in chat.text
        await chat.press("menu")
        await chat.press("job")
        assert "DEMO" in chat.text and "Bakery helper" not in chat.text
        assert "Seasonal shop helper" not in chat.text


async def test_the_demo_codes_show_both_sides(demo_rt: Runtime) -> None:
    """seed-demo and `make run` print a caseworker invite and a member code of the demo
    centre: a tester redeems one in each web chat window and sees both sides."""
    async with demo_rt.sessionmaker() as db, db.begin():
        staff_code, member_code = await demo_codes(db, demo_rt.services.clock(), 72)
    caseworker = ChatDriver(demo_rt.core)
    await caseworker.onboard(region="milan")
    await caseworker.say(f"/redeem {staff_code}")
    assert "You are now a moderator" in caseworker.text and "WE GO! demo centre" in caseworker.text
    woman = ChatDriver(demo_rt.core)
    await woman.onboard(region="milan")
    await woman.press("ev")
    await woman.press(woman.action_starting("ev:show:"))
    assert "Ask to join" in [b.label for b in woman.buttons()]
    await woman.say(f"/redeem {member_code}")
    assert "access to the closed groups of WE GO! demo centre" in woman.text
    await woman.press("ev:list:0")
    first = woman.action_starting("ev:show:")
    await woman.press(first)
    await woman.press(first.replace("show", "join"))
    await woman.press(first.replace("show", "where"))
    assert "DEMO address" in woman.text
