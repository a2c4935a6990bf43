"""Journey 2, job vacancies from committed employers, through the core: list, filters, vacancy
page, "I'm interested" (a pseudonymous hand-off to the caseworkers), her requests, withdrawal;
expired vacancies and employers whose commitment ended never show; bad input changes nothing."""
from __future__ import annotations

import secrets

import pytest
from sqlalchemy import func, select

from bot.runtime import Runtime
from db.models import (
    CommitmentStatus,
    Employer,
    Handoff,
    HandoffStatus,
    ImpactCount,
    Organisation,
    Role,
    User,
    Vacancy,
)
from tests.chat import ChatDriver
from tests.conftest import FakeClock
from tests.fakes import Outbox


@pytest.fixture
def outbox(demo_rt: Runtime) -> Outbox:
    box = Outbox()
    demo_rt.add_sender(box)
    return box


async def vacancy_id(rt: Runtime, title: str, region: str = "milan") -> int:
    async with rt.sessionmaker() as db:
        return int((await db.execute(select(Vacancy.id).where(
            Vacancy.title == title, Vacancy.region_code == region))).scalar_one())


async def add_caseworker(rt: Runtime, *, org_slug: str = "demo", language: str = "en") -> str:
    """A caseworker of an organisation, reachable on the web chat; returns her address."""
    address = secrets.token_hex(16)
    async with rt.sessionmaker() as db, db.begin():
        org_id = (await db.execute(select(Organisation.id)
                                   .where(Organisation.slug == org_slug))).scalar_one()
        today = rt.services.clock().date()
        db.add(User(channel="webchat", lookup_hash=rt.vault.lookup_hash("webchat", address),
                    address_enc=rt.vault.encrypt("webchat", address), role=Role.MODERATOR,
                    org_id=org_id, language=language, region_code="milan", onboarded=True,
                    discreet=False, last_active_on=today, created_on=today, topics=[]))
    return address


async def handoffs(rt: Runtime) -> list[Handoff]:
    async with rt.sessionmaker() as db:
        return list((await db.execute(select(Handoff).order_by(Handoff.id))).scalars())


async def counter(rt: Runtime, metric: str) -> int:
    async with rt.sessionmaker() as db:
        return int((await db.execute(select(func.coalesce(func.sum(ImpactCount.value), 0))
                                     .where(ImpactCount.metric == metric))).scalar_one())


def listed_ids(chat: ChatDriver) -> list[int]:
    return [int(a.split(":")[2]) for a in chat.actions() if a.startswith("job:show:")]


async def all_listed(chat: ChatDriver) -> list[int]:
    """Walk every page of the list and collect the vacancy ids."""
    await chat.press("job:list:0", must_exist=False)
    found = listed_ids(chat)
    page = 1
    while f"job:list:{page}" in chat.actions():
        await chat.press(f"job:list:{page}")
        found += listed_ids(chat)
        page += 1
    return found


# -- list and filters ---------------------------------------------------------------------------
async def test_list_shows_only_active_commitments_and_open_vacancies(
        demo_chat: ChatDriver, demo_rt: Runtime) -> None:
    await demo_chat.onboard(region="milan")
    await demo_chat.press("job")
    assert "Shop assistant" in demo_chat.text or "job:list:1" in demo_chat.actions()
    assert len(listed_ids(demo_chat)) == 5
    ids = await all_listed(demo_chat)
    async with demo_rt.sessionmaker() as db:
        rows = list((await db.execute(select(Vacancy).where(Vacancy.id.in_(ids)))).scalars())
        today = demo_rt.services.clock().date()
        assert len(rows) == len(ids) == 7
        assert all(v.region_code == "milan" and v.expires_on >= today for v in rows)
        assert all(v.employer.status == CommitmentStatus.ACTIVE for v in rows)
        assert len({v.employer_id for v in rows}) == 3
    expired = await vacancy_id(demo_rt, "Seasonal shop helper")
    ended = await vacancy_id(demo_rt, "Bakery helper")
    assert expired not in ids and ended not in ids


async def test_filters_narrow_the_list_and_clear(demo_chat: ChatDriver, demo_rt: Runtime
                                                 ) -> None:
    await demo_chat.onboard(region="milan")
    await demo_chat.say("/jobs")
    await demo_chat.press("job:f")
    assert "Filters: none" in demo_chat.text
    await demo_chat.press("job:ft:remote")
    assert "✓ Remote work possible" in [b.label for b in demo_chat.buttons()]
    ids = await all_listed(demo_chat)
    assert ids == [await vacancy_id(demo_rt, "Customer service from home")]
    await demo_chat.press("job:f")
    await demo_chat.press("job:ft:remote")  # off again
    await demo_chat.press("job:fp:hours")
    await demo_chat.press("job:fs:hours:full_time")
    await demo_chat.press("job:ft:child")
    ids = await all_listed(demo_chat)
    assert ids == []
    assert "No job matches your filters" in demo_chat.text
    await demo_chat.press("job:fx")
    assert "Filters cleared" in demo_chat.text
    assert len(await all_listed(demo_chat)) == 7
    await demo_chat.press("job:f")
    await demo_chat.press("job:fp:lang")
    await demo_chat.press("job:fs:lang:en")
    ids = await all_listed(demo_chat)
    assert sorted(ids) == sorted([await vacancy_id(demo_rt, "Customer service from home"),
                                  await vacancy_id(demo_rt, "Receptionist at a health centre")])
    await demo_chat.press("job:f")
    await demo_chat.press("job:fp:lang")
    await demo_chat.press("job:fs:lang:any")
    await demo_chat.press("job:fp:sector")
    await demo_chat.press("job:fs:sector:care")
    assert "Type of work: Care and health" in [b.label for b in demo_chat.buttons()]
    assert len(await all_listed(demo_chat)) == 2


@pytest.mark.parametrize("payload", ["job:fs:sector:weapons", "job:fs:hours:", "job:fs:lang:xx",
                                     "job:fs:colour:red", "job:fp:salary", "job:ft:rich",
                                     "job:fs", "job:fp"])
async def test_forged_filter_payloads_change_no_filter(demo_chat: ChatDriver, payload: str
                                                       ) -> None:
    await demo_chat.onboard(region="milan")
    await demo_chat.press("job:f", must_exist=False)
    await demo_chat.press("job:ft:child")
    await demo_chat.press(payload, must_exist=False)
    assert "not valid" in demo_chat.text and "exit" in demo_chat.actions()
    assert "Filters: Childcare-friendly" in demo_chat.text


async def test_region_elsewhere_sees_no_jobs_calmly(demo_chat: ChatDriver) -> None:
    await demo_chat.onboard(region="elsewhere")
    await demo_chat.press("job")
    assert "no jobs in your region" in demo_chat.text and listed_ids(demo_chat) == []


# -- the vacancy page ---------------------------------------------------------------------------
async def test_vacancy_page_shows_everything_she_needs(demo_chat: ChatDriver, demo_rt: Runtime
                                                       ) -> None:
    vid = await vacancy_id(demo_rt, "Care assistant for older people")
    await demo_chat.onboard(region="milan")
    await demo_chat.press(f"job:show:{vid}", must_exist=False)
    text = demo_chat.text
    for expected in ("Care assistant for older people", "DEMO – Sunrise care cooperative",
                     "Flexible hours", "12-month contract", "Pay: 1,100–1,300 € a month",
                     "Childcare-friendly: yes", "Remote work possible: no",
                     "Language of work: Italian", "Open until: December 18, 2026",
                     "policy against violence", "Supported hiring", "trial week with a mentor"):
        assert expected in text, expected
    assert f"job:int:{vid}" in demo_chat.actions()


async def test_vacancy_page_in_italian_formats_numbers_and_dates(demo_rt: Runtime) -> None:
    chat = ChatDriver(demo_rt.core, language_hint="it")
    await chat.onboard(language="it", region="milan")
    vid = await vacancy_id(demo_rt, "Care assistant for older people")
    await chat.press(f"job:show:{vid}", must_exist=False)
    assert "1.100–1.300 €" in chat.text and "18 dicembre 2026" in chat.text
    assert "exit" in chat.actions()


@pytest.mark.parametrize("title", ["Seasonal shop helper", "Bakery helper"])
async def test_expired_or_ended_commitment_vacancy_is_refused(
        demo_chat: ChatDriver, demo_rt: Runtime, outbox: Outbox, title: str) -> None:
    vid = await vacancy_id(demo_rt, title)
    await demo_chat.onboard(region="milan")
    for verb in (f"job:show:{vid}", f"job:int:{vid}", f"job:ic:{vid}:chat"):
        await demo_chat.press(verb, must_exist=False)
        assert "no longer available" in demo_chat.text and title not in demo_chat.text
    await demo_rt.core.drain()
    assert await handoffs(demo_rt) == [] and outbox.sent == {}


async def test_vacancy_expires_while_she_looks(demo_chat: ChatDriver, demo_rt: Runtime,
                                               clock: FakeClock) -> None:
    vid = await vacancy_id(demo_rt, "Office cleaner, early shift")  # 14 days left
    await demo_chat.onboard(region="milan")
    await demo_chat.press(f"job:show:{vid}", must_exist=False)
    await demo_chat.press(f"job:int:{vid}")
    clock.advance(days=15)
    await demo_chat.press(f"job:ic:{vid}:morning")
    assert "no longer available" in demo_chat.text
    assert await handoffs(demo_rt) == []


async def test_commitment_ends_while_she_looks(demo_chat: ChatDriver, demo_rt: Runtime) -> None:
    vid = await vacancy_id(demo_rt, "Shop assistant, mornings")
    await demo_chat.onboard(region="milan")
    await demo_chat.press(f"job:int:{vid}", must_exist=False)
    async with demo_rt.sessionmaker() as db, db.begin():
        vacancy = await db.get(Vacancy, vid)
        assert vacancy is not None
        employer = await db.get(Employer, vacancy.employer_id)
        assert employer is not None
        employer.status = CommitmentStatus.SUSPENDED
    await demo_chat.press(f"job:ic:{vid}:chat")
    assert "no longer available" in demo_chat.text
    assert await handoffs(demo_rt) == []
    assert vid not in await all_listed(demo_chat)


# -- I'm interested, my requests, withdraw --------------------------------------------------------
async def test_interest_hands_off_under_a_pseudonym_and_can_be_withdrawn(
        demo_chat: ChatDriver, demo_rt: Runtime, outbox: Outbox) -> None:
    worker = await add_caseworker(demo_rt)
    outsider = await add_caseworker(demo_rt, org_slug="demo")
    async with demo_rt.sessionmaker() as db, db.begin():
        other_org = Organisation(slug="other", name="Another centre")
        db.add(other_org)
    stranger = await add_caseworker(demo_rt, org_slug="other")
    await demo_chat.onboard(region="milan")
    vid = await vacancy_id(demo_rt, "Customer service from home")
    await demo_chat.press(f"job:show:{vid}", must_exist=False)
    await demo_chat.press(f"job:int:{vid}")
    assert "code name" in demo_chat.text
    assert {f"job:ic:{vid}:{m}" for m in ("chat", "morning", "afternoon", "evening")} <= set(
        demo_chat.actions())
    await demo_chat.press(f"job:ic:{vid}:evening")
    assert "request was sent" in demo_chat.text and "only in the evening" in demo_chat.text
    await demo_rt.core.drain()

    stored = await handoffs(demo_rt)
    assert len(stored) == 1
    handoff = stored[0]
    assert (handoff.kind, handoff.vacancy_id, handoff.contact_mode, handoff.safe_hours,
            handoff.status, handoff.region_code) == ("job", vid, "safe_hours", "evening",
                                                     HandoffStatus.OPEN, "milan")
    assert handoff.user_id == demo_chat.last.user_id  # type: ignore[union-attr]
    async with demo_rt.sessionmaker() as db:
        vacancy = await db.get(Vacancy, vid)
        assert vacancy is not None and handoff.org_id == vacancy.org_id
    assert await counter(demo_rt, "job_interests") == 1

    for address in (worker, outsider):
        told = outbox.take(address)
        assert len(told) == 1
        assert handoff.pseudonym in told[0].text and "Customer service from home" in told[0].text
        assert told[0].has_action(f"mod:ho:{handoff.id}")
        assert demo_chat.address not in told[0].text
    assert outbox.take(stranger) == []
    assert outbox.take(demo_chat.address) == []

    # One open request per vacancy.
    await demo_chat.press(f"job:show:{vid}", must_exist=False)
    assert "You asked about this job" in demo_chat.text
    assert f"job:int:{vid}" not in demo_chat.actions()
    await demo_chat.press(f"job:ic:{vid}:chat", must_exist=False)
    assert "already asked" in demo_chat.text
    assert len(await handoffs(demo_rt)) == 1 and await counter(demo_rt, "job_interests") == 1

    # A caseworker takes it (the moderators' journey does this); then she withdraws.
    async with demo_rt.sessionmaker() as db, db.begin():
        worker_id = (await db.execute(select(User.id).where(
            User.lookup_hash == demo_rt.vault.lookup_hash("webchat", worker)))).scalar_one()
        row = await db.get(Handoff, handoff.id)
        assert row is not None
        row.status, row.taken_by = HandoffStatus.TAKEN, worker_id
    await demo_chat.press("job:req")
    assert "Customer service from home" in demo_chat.text and "looking at it" in demo_chat.text
    await demo_chat.press(f"job:wd:{handoff.id}")
    assert "withdraw" in demo_chat.text
    await demo_chat.press(f"job:wdok:{handoff.id}")
    assert "withdrawn" in demo_chat.text and "no open requests" in demo_chat.text
    await demo_rt.core.drain()
    assert (await handoffs(demo_rt))[0].status == HandoffStatus.WITHDRAWN
    told = outbox.take(worker)
    assert len(told) == 1 and handoff.pseudonym in told[0].text and "withdrew" in told[0].text
    assert outbox.take(outsider) == []

    # After withdrawing she may ask again.
    await demo_chat.press(f"job:show:{vid}", must_exist=False)
    await demo_chat.press(f"job:int:{vid}")
    await demo_chat.press(f"job:ic:{vid}:chat")
    rows = await handoffs(demo_rt)
    assert [r.status for r in rows] == [HandoffStatus.WITHDRAWN, HandoffStatus.OPEN]
    assert rows[1].contact_mode == "chat" and rows[1].safe_hours is None
    assert rows[1].pseudonym  # a fresh pseudonym row, no address in it
    assert demo_chat.address not in rows[1].pseudonym


async def test_caseworker_reads_the_request_in_her_own_language(
        demo_rt: Runtime, outbox: Outbox) -> None:
    worker = await add_caseworker(demo_rt, language="es")
    chat = ChatDriver(demo_rt.core, language_hint="bg")
    await chat.onboard(language="bg", region="milan")
    vid = await vacancy_id(demo_rt, "Shop assistant, mornings")
    await chat.press(f"job:ic:{vid}:chat", must_exist=False)
    await demo_rt.core.drain()
    told = outbox.take(worker)
    assert len(told) == 1 and told[0].has_action(f"mod:ho:{(await handoffs(demo_rt))[0].id}")


async def test_withdrawing_an_untaken_request_tells_nobody(
        demo_chat: ChatDriver, demo_rt: Runtime, outbox: Outbox) -> None:
    worker = await add_caseworker(demo_rt)
    await demo_chat.onboard(region="milan")
    vid = await vacancy_id(demo_rt, "Shop assistant, mornings")
    await demo_chat.press(f"job:ic:{vid}:chat", must_exist=False)
    await demo_rt.core.drain()
    outbox.take(worker)
    hid = (await handoffs(demo_rt))[0].id
    await demo_chat.press(f"job:wdok:{hid}", must_exist=False)
    await demo_rt.core.drain()
    assert outbox.sent == {}
    assert (await handoffs(demo_rt))[0].status == HandoffStatus.WITHDRAWN
    await demo_chat.press(f"job:wdok:{hid}", must_exist=False)
    assert "already closed" in demo_chat.text


async def test_she_cannot_touch_another_womans_request(demo_rt: Runtime) -> None:
    first, second = ChatDriver(demo_rt.core), ChatDriver(demo_rt.core)
    await first.onboard(region="milan")
    await second.onboard(region="milan")
    vid = await vacancy_id(demo_rt, "Shop assistant, mornings")
    await first.press(f"job:ic:{vid}:chat", must_exist=False)
    hid = (await handoffs(demo_rt))[0].id
    for payload in (f"job:wd:{hid}", f"job:wdok:{hid}"):
        await second.press(payload, must_exist=False)
        assert "does not exist" in second.text
    await second.press("job:req", must_exist=False)
    assert "no open requests" in second.text
    assert (await handoffs(demo_rt))[0].status == HandoffStatus.OPEN


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize("payload", [
    "job:show:999999", "job:show:abc", "job:show:", "job:show:-3", "job:int:0",
    "job:ic:999999:chat", "job:ic:1:phone", "job:ic:1", "job:ic:1:chat:extra:bits",
    "job:wd:999999", "job:wdok:abc", "job:wdok", "job:nope", "job:list:-1", "job:list:x",
    "job:list:99999999999",
])
async def test_forged_payloads_get_an_answer_and_change_nothing(
        demo_chat: ChatDriver, demo_rt: Runtime, outbox: Outbox, payload: str) -> None:
    await add_caseworker(demo_rt)
    await demo_chat.onboard(region="milan")
    out = await demo_chat.press(payload, must_exist=False)
    await demo_rt.core.drain()
    assert out.replies and not out.exit and "exit" in demo_chat.actions()
    if payload == "job:ic:1:chat:extra:bits":
        # Extra parts are ignored: the valid part is an ordinary request.
        assert len(await handoffs(demo_rt)) == 1
        return
    assert any(w in demo_chat.text for w in ("not valid", "no longer available",
                                             "does not exist", "no more jobs"))
    assert await handoffs(demo_rt) == [] and outbox.sent == {}
    assert await counter(demo_rt, "job_interests") == 0


@pytest.mark.parametrize("text", ["", "morning", "🙂🙂", "\u200f\u202eمساء",
                                  "1; DELETE FROM handoffs", "<img src=x onerror=alert(1)>",
                                  "x" * 10_000])
async def test_typing_on_the_contact_choice_stores_nothing(
        demo_chat: ChatDriver, demo_rt: Runtime, text: str) -> None:
    await demo_chat.onboard(region="milan")
    vid = await vacancy_id(demo_rt, "Shop assistant, mornings")
    await demo_chat.press(f"job:int:{vid}", must_exist=False)
    out = await demo_chat.say(text)
    assert out.replies and not out.exit and "exit" in demo_chat.actions()
    assert any(w in demo_chat.text for w in ("use the buttons", "too long", "Main menu"))
    assert await handoffs(demo_rt) == []


async def test_deep_link_opens_the_vacancy_after_the_safety_notice(
        demo_chat: ChatDriver, demo_rt: Runtime) -> None:
    vid = await vacancy_id(demo_rt, "Customer service from home", region="karditsa")
    await demo_chat.say(f"/start job-{vid}")
    await demo_chat.press("lang:en")
    assert "safe moment" in demo_chat.text
    await demo_chat.press("safe:ok")
    await demo_chat.press("region:karditsa")
    assert "Customer service from home" in demo_chat.text
    assert f"job:int:{vid}" in demo_chat.actions()


async def test_deep_link_to_an_expired_vacancy_lands_calmly(
        demo_chat: ChatDriver, demo_rt: Runtime) -> None:
    vid = await vacancy_id(demo_rt, "Seasonal shop helper")
    await demo_chat.say(f"/start job-{vid}")
    await demo_chat.press("lang:en")
    await demo_chat.press("safe:ok")
    await demo_chat.press("region:milan")
    assert "no longer available" in demo_chat.text and "job:list:0" in demo_chat.actions()


async def test_list_is_ordered_newest_first_and_pages_hold_five(demo_chat: ChatDriver,
                                                                demo_rt: Runtime) -> None:
    await demo_chat.onboard(region="bulgaria")
    ids = await all_listed(demo_chat)
    assert len(ids) == len(set(ids)) == 7
    async with demo_rt.sessionmaker() as db:
        regions = set((await db.execute(select(Vacancy.region_code)
                                        .where(Vacancy.id.in_(ids)))).scalars())
    assert regions == {"bulgaria"}
    assert ids == sorted(ids, reverse=True)
