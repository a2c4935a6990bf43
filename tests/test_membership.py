"""Issue 8: peer groups an abuser cannot find. Member codes, requests to join answered by the
organiser's caseworkers, capacity that counts only members, her region only, the place only
behind "Where is it?", the end of a membership; through the core (web chat), over the web chat
protocol (HTTP) and on Telegram against the fake Bot API."""
from __future__ import annotations

import secrets
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.app import RUNTIME
from bot.core.types import Channel
from bot.demo import OPEN_EVENT_PLACE, demo_codes
from bot.runtime import Runtime
from db.models import (
    AuditEntry,
    Handoff,
    HandoffKind,
    HandoffStatus,
    Invite,
    Meetup,
    MeetupKind,
    Membership,
    Signup,
    SignupStatus,
    User,
)
from db.queries import meetups as mq
from tests.chat import ChatDriver
from tests.conftest import FakeClock, make_settings
from tests.fakes import Outbox
from tests.http import WebChatClient, serve
from tests.test_moderation import audit_actions, invite_code, make_org, staff, user_row
from tests.test_staff_cli import cli

PLACE = "Via Nascosta 7, room 4"
GONE = "Sorry, this meetup does not exist or is no longer available."


@pytest.fixture
def outbox(rt: Runtime) -> Outbox:
    box = Outbox()
    rt.add_sender(box)
    return box


async def add_meetup(rt: Runtime, org_id: int, *, region: str = "milan", days: float = 3,
                     capacity: int = 5, kind: str = MeetupKind.CLOSED,
                     title: str = "Circle of trust") -> int:
    async with rt.sessionmaker() as db, db.begin():
        m = Meetup(org_id=org_id, region_code=region, title=title, place=PLACE,
                   description="Tea.", starts_at=rt.services.clock() + timedelta(days=days),
                   capacity=capacity, kind=kind)
        db.add(m)
        await db.flush()
        return m.id


async def woman(rt: Runtime, region: str = "milan", **kwargs: object) -> ChatDriver:
    chat = ChatDriver(rt.core, **kwargs)  # type: ignore[arg-type]
    await chat.onboard(region=region)
    return chat


async def redeem_member_code(rt: Runtime, chat: ChatDriver, org_id: int) -> None:
    await chat.say("/redeem " + await invite_code(rt, "member", org_id))
    assert "You now have access" in chat.text, chat.text


async def memberships(rt: Runtime) -> list[tuple[str, int]]:
    async with rt.sessionmaker() as db:
        return [(m.user_id, m.org_id) for m in (await db.execute(
            select(Membership).order_by(Membership.id))).scalars()]


async def requests(rt: Runtime) -> list[Handoff]:
    async with rt.sessionmaker() as db:
        return list((await db.execute(select(Handoff).where(
            Handoff.kind == HandoffKind.JOIN).order_by(Handoff.id))).scalars())


async def signups(rt: Runtime) -> list[tuple[int, str, str]]:
    async with rt.sessionmaker() as db:
        return [(s.meetup_id, s.user_id, s.status) for s in (await db.execute(
            select(Signup).order_by(Signup.id))).scalars()]


async def places_left(rt: Runtime) -> dict[int, int]:
    async with rt.sessionmaker() as db:
        found = list((await db.execute(select(Meetup))).scalars())
        counts = await mq.confirmed_counts(db, [m.id for m in found])
    return {m.id: m.capacity - counts.get(m.id, 0) for m in found}


# -- member codes -------------------------------------------------------------------------------

async def test_a_caseworker_gives_a_code_she_redeems_it_once(rt: Runtime, clock: FakeClock
                                                             ) -> None:
    org = await make_org(rt)
    mod = await staff(rt, "moderator", org)
    await mod.press("mod")
    await mod.press("mem:code")
    assert "works once, until" in mod.text and "in person" in mod.text
    code = mod.text.split("\n\n")[1].strip()
    assert len(code) == 14 and code.count("-") == 2
    her = await woman(rt)
    await her.press("ev")
    await her.press("ev:code")
    assert "type the code" in her.text
    await her.say(code.lower().replace("-", " "))  # forgiving about capitals and spaces
    assert "You now have access to the closed groups of Centre north" in her.text
    assert "exit" in her.actions()
    row = await user_row(rt, her)
    assert row.role == "participant" and row.org_id is None  # her role never changes
    async with rt.sessionmaker() as db:
        m = (await db.execute(select(Membership))).scalar_one()
        assert (m.user_id, m.org_id, m.since) == (row.id, org, clock.now.date())
    # The same code again, by somebody else: calm, and nothing changes.
    other = await woman(rt)
    await other.say(f"/redeem {code}")
    assert "already used" in other.text
    assert await memberships(rt) == [(row.id, org)]
    # A second code of the same centre for her: she already has access; the code stays unused.
    second = await invite_code(rt, "member", org)
    await her.say(f"/redeem {second}")
    assert "already have access" in her.text
    async with rt.sessionmaker() as db:
        unused = (await db.execute(select(func.count(Invite.id)).where(
            Invite.used_at.is_(None)))).scalar_one()
    assert unused == 1
    actions = await audit_actions(rt)
    assert "member.code" in actions and actions.count("member.add") == 1
    # Staff see her only as a pseudonym, never her id or address.
    await mod.press("mem", must_exist=False)
    assert "since" in mod.text or any("since" in b.label for b in mod.buttons())
    assert row.id not in str([mod.text, mod.actions()]) and her.address not in mod.text


async def test_an_expired_or_wrong_code_changes_nothing(rt: Runtime, clock: FakeClock) -> None:
    org = await make_org(rt)
    code = await invite_code(rt, "member", org, hours=72)
    her = await woman(rt)
    clock.advance(hours=73)
    await her.say(f"/redeem {code}")
    assert "expired" in her.text and "exit" in her.actions()
    await her.say("/redeem ABCD-EFGH-JKMN")
    assert "not valid" in her.text
    await her.press("ev:code", must_exist=False)
    await her.say("not a code at all")
    assert "not valid" in her.text
    assert await memberships(rt) == []
    # Guessing is limited as for the staff invites: after five wrong codes even a right one
    # waits until tomorrow.
    for _ in range(3):
        await her.say("/redeem ZZZZ-ZZZZ-ZZZZ")
    good = await invite_code(rt, "member", org)
    await her.say(f"/redeem {good}")
    assert "Too many wrong codes" in her.text
    assert await memberships(rt) == []
    async with rt.sessionmaker() as db:
        texts = list((await db.execute(select(AuditEntry.target_id))).scalars())
    assert all("ZZZZ" not in t and code not in t for t in texts)


async def test_the_cli_makes_a_member_code(rt: Runtime, settings) -> None:  # noqa: ANN001
    code, out, _err = await cli(settings, "add-org", "--slug", "north", "--name",
                                "Centre North", "--regions", "milan")
    assert code == 0
    status, out, err = await cli(settings, "invite", "--role", "member", "--org", "north")
    assert status == 0, err
    assert "Member code" in out and "in person" in out
    member_code = out.splitlines()[1].strip()
    status, _out, err = await cli(settings, "invite", "--role", "member")
    assert status == 1 and "--org is required" in err
    her = await woman(rt)
    await her.say(f"/redeem {member_code}")
    assert "access to the closed groups of Centre North" in her.text
    assert len(await memberships(rt)) == 1
    assert (await user_row(rt, her)).role == "participant"
    async with rt.sessionmaker() as db:
        cli_audit = (await db.execute(select(AuditEntry).where(
            AuditEntry.action == "member.code"))).scalar_one()
    assert cli_audit.actor_role == "cli"


async def test_a_member_code_never_changes_a_caseworkers_role(rt: Runtime) -> None:
    org = await make_org(rt)
    mod = await staff(rt, "moderator", org)
    await mod.say("/redeem " + await invite_code(rt, "member", org))
    row = await user_row(rt, mod)
    assert row.role == "moderator" and row.org_id == org
    assert await memberships(rt) == [(row.id, org)]


# -- requests to join -----------------------------------------------------------------------------

async def ask_to_join(her: ChatDriver, mid: int) -> None:
    await her.press(f"ev:show:{mid}", must_exist=False)
    await her.press(f"ev:ask:{mid}")
    assert "under a nickname" in her.text
    await her.press(f"ev:askok:{mid}")


async def test_a_request_confirmed_by_a_caseworker_of_the_organiser(
        rt: Runtime, outbox: Outbox, clock: FakeClock) -> None:
    org = await make_org(rt)
    mod = await staff(rt, "moderator", org)
    mid = await add_meetup(rt, org, days=3)
    her = await woman(rt)
    await her.press(f"ev:show:{mid}", must_exist=False)
    assert f"ev:join:{mid}" not in her.actions() and f"ev:where:{mid}" not in her.actions()
    assert PLACE not in her.text
    await ask_to_join(her, mid)
    assert "request is sent" in her.text
    (request,) = await requests(rt)
    assert request.status == HandoffStatus.OPEN and request.meetup_id == mid
    assert request.org_id == org and request.region_code == "milan"
    assert mq.aware(request.expires_at) == clock.now + timedelta(days=3)  # the start, sooner
    # Pending requests take no place.
    assert (await places_left(rt))[mid] == 5
    await rt.core.drain()
    told = outbox.take(mod.address)
    assert len(told) == 1 and told[0].has_action(f"mod:ho:{request.id}")
    assert "join" not in told[0].text  # discreet by default: a neutral line
    await mod.press(f"mod:ho:{request.id}", must_exist=False)
    assert "Circle of trust" in mod.text and request.pseudonym in mod.text
    assert {f"ho:admit:{request.id}", f"ho:refuse:{request.id}"} <= set(mod.actions())
    assert PLACE not in mod.text
    # The caseworker takes it and writes to her through the bot first.
    await mod.press(f"ho:take:{request.id}")
    await mod.press(f"ho:write:{request.id}")
    await mod.say("Hello, can we talk on Tuesday?")
    await rt.core.drain()
    assert outbox.take(her.address)
    await mod.press(f"mod:ho:{request.id}", must_exist=False)
    await mod.press(f"ho:admit:{request.id}")
    assert "Confirmed" in mod.text and "place at this meetup" in mod.text
    row = await user_row(rt, her)
    assert await memberships(rt) == [(row.id, org)]
    assert await signups(rt) == [(mid, row.id, SignupStatus.CONFIRMED)]
    assert (await requests(rt))[0].status == HandoffStatus.ADMITTED
    assert "member.admit" in await audit_actions(rt)
    await rt.core.drain()
    notice = outbox.take(her.address)
    assert len(notice) == 1 and notice[0].has_action("ev:reqs")
    assert "Circle of trust" not in notice[0].text and PLACE not in notice[0].text
    await her.press("ev:reqs", must_exist=False)
    assert "Confirmed" in her.text and PLACE not in her.text
    await her.press(f"ev:show:{mid}")
    assert "You have a place" in her.text and PLACE not in her.text
    await her.press(f"ev:where:{mid}")
    assert PLACE in her.text and "exit" in her.actions()
    # Answering twice changes nothing.
    await mod.press(f"ho:admit:{request.id}", must_exist=False)
    assert "not possible" in mod.text
    assert len(await signups(rt)) == 1


async def test_confirmed_when_full_goes_to_the_waiting_list(rt: Runtime, outbox: Outbox) -> None:
    org = await make_org(rt)
    mod = await staff(rt, "moderator", org)
    mid = await add_meetup(rt, org, capacity=1)
    first = await woman(rt)
    await redeem_member_code(rt, first, org)
    await first.press(f"ev:join:{mid}", must_exist=False)
    her = await woman(rt)
    async with rt.sessionmaker() as db, db.begin():
        row = await db.get(User, (await user_row(rt, her)).id)
        assert row is not None
        row.discreet = False
    await ask_to_join(her, mid)
    (request,) = await requests(rt)
    await mod.press(f"ho:admit:{request.id}", must_exist=False)
    assert "waiting list" in mod.text
    await rt.core.drain()
    told = outbox.take(her.address)
    assert "confirmed" in told[0].text and "waiting list" in told[0].text
    assert PLACE not in told[0].text
    statuses = [s for _m, _u, s in await signups(rt)]
    assert statuses == [SignupStatus.CONFIRMED, SignupStatus.WAITING]


async def test_a_request_declined_kindly(rt: Runtime, outbox: Outbox) -> None:
    org = await make_org(rt)
    mod = await staff(rt, "moderator", org)
    mid = await add_meetup(rt, org)
    her = await woman(rt)
    await ask_to_join(her, mid)
    (request,) = await requests(rt)
    await mod.press(f"mod:ho:{request.id}", must_exist=False)
    await mod.press(f"ho:refuse:{request.id}")
    assert "never why" in mod.text
    assert (await requests(rt))[0].status == HandoffStatus.OPEN  # only asked so far
    await mod.press(f"ho:refuseok:{request.id}")
    assert "Declined" in mod.text
    assert (await requests(rt))[0].status == HandoffStatus.REFUSED
    assert await memberships(rt) == [] and await signups(rt) == []
    assert "member.refuse" in await audit_actions(rt)
    await rt.core.drain()
    assert outbox.take(her.address)[0].has_action("ev:reqs")
    await her.press("ev:reqs", must_exist=False)
    assert "Not accepted this time" in her.text
    await her.press(f"ev:join:{mid}", must_exist=False)
    assert await signups(rt) == []


async def test_a_caseworker_of_another_organisation_is_refused(rt: Runtime, outbox: Outbox
                                                               ) -> None:
    org = await make_org(rt)
    other_org = await make_org(rt, "south", ("milan",))
    await staff(rt, "moderator", org)
    stranger = await staff(rt, "moderator", other_org)
    mid = await add_meetup(rt, org)
    her = await woman(rt)
    await ask_to_join(her, mid)
    (request,) = await requests(rt)
    await rt.core.drain()
    assert outbox.take(stranger.address) == []  # only the organiser's caseworkers hear of it
    await stranger.press("mod:ho", must_exist=False)
    assert f"mod:ho:{request.id}" not in stranger.actions()
    for action in (f"mod:ho:{request.id}", f"ho:admit:{request.id}", f"ho:refuseok:{request.id}",
                   f"ho:take:{request.id}"):
        await stranger.press(action, must_exist=False)
        assert "not available" in stranger.text and "Circle of trust" not in stranger.text
    assert (await requests(rt))[0].status == HandoffStatus.OPEN
    assert await memberships(rt) == [] and await signups(rt) == []
    # A woman cannot answer her own request either: the hand-off screens are for staff.
    await her.press(f"ho:admit:{request.id}", must_exist=False)
    assert "not available to you" in her.text and await memberships(rt) == []


async def test_three_pending_requests_at_most_and_no_duplicates(rt: Runtime) -> None:
    org = await make_org(rt)
    await staff(rt, "moderator", org)
    ids = [await add_meetup(rt, org, days=d, title=f"Group {d}") for d in (2, 3, 4, 5)]
    her = await woman(rt)
    for mid in ids[:3]:
        await ask_to_join(her, mid)
    await her.press(f"ev:askok:{ids[0]}", must_exist=False)
    assert "already asked" in her.text
    await her.press(f"ev:askok:{ids[3]}", must_exist=False)
    assert "already have 3 requests" in her.text and "exit" in her.actions()
    assert [r.meetup_id for r in await requests(rt)] == ids[:3]
    # She withdraws one; then the fourth can go.
    first = (await requests(rt))[0]
    await her.press("ev:reqs", must_exist=False)
    await her.press(f"ev:withdraw:{first.id}")
    await her.press(f"ev:withdrawok:{first.id}")
    assert "withdrawn" in her.text
    await ask_to_join(her, ids[3])
    assert [r.status for r in await requests(rt)] == [
        HandoffStatus.WITHDRAWN, HandoffStatus.OPEN, HandoffStatus.OPEN, HandoffStatus.OPEN]


async def test_requests_lapse_after_seven_days_and_at_the_start(rt: Runtime, clock: FakeClock
                                                                ) -> None:
    org = await make_org(rt)
    mod = await staff(rt, "moderator", org)
    later = await add_meetup(rt, org, days=20, title="Later group")
    soon = await add_meetup(rt, org, days=2, title="Soon group")
    her = await woman(rt)
    await ask_to_join(her, later)
    await ask_to_join(her, soon)
    first, second = await requests(rt)
    assert mq.aware(first.expires_at) == clock.now + timedelta(days=7)
    assert mq.aware(second.expires_at) == clock.now + timedelta(days=2)
    clock.advance(days=2, minutes=1)  # the soon group started: its request lapsed
    await mod.press("mod:ho", must_exist=False)
    assert f"mod:ho:{second.id}" not in mod.actions() and f"mod:ho:{first.id}" in mod.actions()
    clock.advance(days=5)  # seven days: the other lapsed too
    await mod.press("mod:ho", must_exist=False)
    assert "no open requests" in mod.text
    await mod.press(f"mod:ho:{first.id}", must_exist=False)
    assert "expired" in mod.text and f"ho:admit:{first.id}" not in mod.actions()
    await mod.press(f"ho:admit:{first.id}", must_exist=False)
    await mod.press(f"ho:take:{first.id}", must_exist=False)
    assert await memberships(rt) == []
    await her.press("ev:reqs", must_exist=False)
    assert "Expired" in her.text and f"ev:withdraw:{first.id}" not in her.actions()
    # A lapsed request counts no more: she may ask again.
    await ask_to_join(her, later)
    assert len(await requests(rt)) == 3


# -- capacity, open events, the place --------------------------------------------------------------

async def test_capacity_and_waiting_list_count_members_only(rt: Runtime, outbox: Outbox) -> None:
    org = await make_org(rt)
    await staff(rt, "moderator", org)
    mid = await add_meetup(rt, org, capacity=2)
    visitors = [await woman(rt) for _ in range(3)]
    for v in visitors:
        await v.press(f"ev:join:{mid}", must_exist=False)
        assert "only for women who have access" in v.text
        await v.press(f"ev:wait:{mid}", must_exist=False)
        await ask_to_join(v, mid)
    assert await signups(rt) == [] and (await places_left(rt))[mid] == 2
    a, b, c = [await woman(rt) for _ in range(3)]
    for m in (a, b, c):
        await redeem_member_code(rt, m, org)
    await a.press(f"ev:join:{mid}", must_exist=False)
    await b.press(f"ev:join:{mid}", must_exist=False)
    await c.press(f"ev:show:{mid}", must_exist=False)
    assert "Full" in c.text and f"ev:wait:{mid}" in c.actions()
    await c.press(f"ev:wait:{mid}")
    assert "(number 1)" in c.text
    await a.press(f"ev:cancelok:{mid}", must_exist=False)
    assert [s for _m, _u, s in await signups(rt)] == [SignupStatus.CONFIRMED,
                                                      SignupStatus.CONFIRMED]
    await rt.core.drain()
    assert outbox.take(c.address)


async def test_an_open_event_shows_its_place_to_anyone_but_places_are_for_members(
        rt: Runtime) -> None:
    org = await make_org(rt)
    mid = await add_meetup(rt, org, kind=MeetupKind.OPEN, capacity=3, title="Job fair")
    her = await woman(rt)
    await her.press("ev", must_exist=False)
    assert "Job fair" in her.text and PLACE not in her.text  # never on a list
    await her.press(f"ev:show:{mid}")
    assert "anyone may come" in her.text and PLACE not in her.text
    await her.press(f"ev:where:{mid}")
    assert PLACE in her.text
    await her.press(f"ev:join:{mid}", must_exist=False)
    await her.press(f"ev:ask:{mid}", must_exist=False)
    assert "open event" in her.text
    assert await signups(rt) == [] and await requests(rt) == []
    member = await woman(rt)
    await redeem_member_code(rt, member, org)
    await member.press(f"ev:join:{mid}", must_exist=False)
    assert (await places_left(rt))[mid] == 2


async def test_forged_payloads_for_another_region_reveal_nothing(rt: Runtime) -> None:
    org = await make_org(rt, regions=("milan", "bulgaria"))
    mid = await add_meetup(rt, org, region="milan", kind=MeetupKind.OPEN, title="Milan circle")
    closed = await add_meetup(rt, org, region="milan", title="Milan closed")
    her = await woman(rt, region="bulgaria")
    await redeem_member_code(rt, her, org)  # even a member sees only her region
    missing: list[str] = []
    for verb in ("show", "join", "wait", "ask", "askok", "where", "cancel", "cancelok"):
        await her.press(f"ev:{verb}:999999", must_exist=False)
        missing.append(her.text)
        for target in (mid, closed):
            await her.press(f"ev:{verb}:{target}", must_exist=False)
            assert her.text == GONE, (verb, her.text)
            assert PLACE not in her.text and "Milan" not in her.text
            assert her.actions() == missing_actions(her)
    assert set(missing) == {GONE}
    assert await signups(rt) == [] and await requests(rt) == []
    await her.say(f"/start ev-{mid}")
    assert "Milan" not in her.text and PLACE not in her.text


def missing_actions(chat: ChatDriver) -> list[str]:
    return ["ev:list:0", "ev:mine", "menu", "exit"] if "menu" in chat.actions() else \
        ["ev:list:0", "ev:mine", "exit"]


async def test_her_own_place_stays_reachable_after_she_moves_region(rt: Runtime) -> None:
    org = await make_org(rt)
    mid = await add_meetup(rt, org)
    her = await woman(rt)
    await redeem_member_code(rt, her, org)
    await her.press(f"ev:join:{mid}", must_exist=False)
    await her.say("/start")
    await her.press("lang:en", must_exist=False)
    await her.press("safe:ok", must_exist=False)
    await her.press("region:bulgaria", must_exist=False)
    await her.press(f"ev:where:{mid}", must_exist=False)
    assert PLACE in her.text


# -- the end of a membership ---------------------------------------------------------------------

async def test_ending_access_frees_her_places_and_tells_her_neutrally(
        rt: Runtime, outbox: Outbox) -> None:
    org = await make_org(rt)
    mod = await staff(rt, "moderator", org)
    mid = await add_meetup(rt, org, capacity=1)
    her, nxt = await woman(rt), await woman(rt)
    for w in (her, nxt):
        await redeem_member_code(rt, w, org)
    await her.press(f"ev:join:{mid}", must_exist=False)
    await nxt.press(f"ev:wait:{mid}", must_exist=False)
    row = await user_row(rt, her)
    async with rt.sessionmaker() as db, db.begin():
        user = await db.get(User, row.id)
        assert user is not None
        user.discreet = False
        membership = (await db.execute(select(Membership).where(
            Membership.user_id == row.id))).scalar_one()
    await mod.press("mod", must_exist=False)
    await mod.press("mem")
    await mod.press(f"mem:show:{membership.id}")
    assert row.id not in mod.text and her.address not in mod.text
    await mod.press(f"mem:end:{membership.id}")
    assert "never why" in mod.text
    await mod.press(f"mem:endok:{membership.id}")
    assert "has ended" in mod.text
    nxt_row = await user_row(rt, nxt)
    assert await memberships(rt) == [(nxt_row.id, org)]
    assert await signups(rt) == [(mid, nxt_row.id, SignupStatus.CONFIRMED)]
    assert "member.end" in await audit_actions(rt)
    await rt.core.drain()
    told = outbox.take(her.address)
    assert told[0].text == ("Your access to the groups of Centre north has ended. You can still "
                            "use the rest of the bot.")
    assert outbox.take(nxt.address)  # the place that became free is hers now
    await her.press(f"ev:where:{mid}", must_exist=False)
    assert PLACE not in her.text
    await her.press(f"ev:join:{mid}", must_exist=False)
    assert len(await signups(rt)) == 1
    # A caseworker of another organisation cannot end it, nor see it.
    stranger = await staff(rt, "moderator", await make_org(rt, "south"))
    async with rt.sessionmaker() as db:
        other = (await db.execute(select(Membership))).scalar_one()
    for action in (f"mem:show:{other.id}", f"mem:endok:{other.id}"):
        await stranger.press(action, must_exist=False)
        assert "not available" in stranger.text
    assert len(await memberships(rt)) == 1


async def test_a_discreet_woman_is_told_only_a_neutral_line(rt: Runtime, outbox: Outbox) -> None:
    org = await make_org(rt)
    mod = await staff(rt, "moderator", org)
    her = await woman(rt)
    await redeem_member_code(rt, her, org)
    async with rt.sessionmaker() as db:
        membership = (await db.execute(select(Membership))).scalar_one()
    await mod.press(f"mem:endok:{membership.id}", must_exist=False)
    await rt.core.drain()
    (notice,) = outbox.take(her.address)
    assert "Centre north" not in notice.text and notice.has_action("ev:access")
    await her.press("ev:access", must_exist=False)
    assert "no access to closed groups" in her.text


# -- over the web chat protocol --------------------------------------------------------------------

async def test_fifty_throwaway_sessions_change_no_places_left(database_url: str,
                                                              clock: FakeClock) -> None:
    settings = make_settings(database_url, demo_data="on")
    async with serve(settings, clock=clock) as (base, app), aiohttp.ClientSession() as http:
        rt: Runtime = app[RUNTIME]
        async with rt.sessionmaker() as db, db.begin():
            staff_code, _member = await demo_codes(db, clock.now, 1)
        caseworker = WebChatClient(http, base, secrets.token_hex(16))
        await caseworker.say("/redeem " + staff_code)  # so that requests to join are stored
        before = await places_left(rt)
        regions = ["milan", "catalonia", "karditsa", "bulgaria"]
        for n in range(50):
            client = WebChatClient(http, base, secrets.token_hex(16))
            await client.say("/start")
            await client.press("lang:en")
            await client.press("safe:ok")
            await client.press(f"region:{regions[n % 4]}")
            target = (n % 30) + 1
            for verb in ("show", "join", "wait", "ask", "askok", "where"):
                await client.press(f"ev:{verb}:{target}")
                assert "DEMO address" not in client.text()
        assert await places_left(rt) == before
        async with rt.sessionmaker() as db:
            assert (await db.execute(select(func.count(Signup.id)).join(User).where(
                User.channel == "webchat"))).scalar_one() == 0
            assert (await db.execute(select(func.count(Handoff.id)))).scalar_one() > 0


async def test_the_issues_reproduction_reveals_no_place(database_url: str, clock: FakeClock
                                                        ) -> None:
    settings = make_settings(database_url, demo_data="on")
    async with serve(settings, clock=clock) as (base, app), aiohttp.ClientSession() as http:
        rt: Runtime = app[RUNTIME]
        async with rt.sessionmaker() as db:
            bulgarian = set((await db.execute(select(Meetup.id).where(
                Meetup.region_code == "bulgaria"))).scalars())
        before = await places_left(rt)
        client = WebChatClient(http, base, secrets.token_hex(16))
        seen: list[str] = []
        await client.say("/start")
        for action in ["lang:en", "safe:ok", "region:bulgaria",
                       *[f"ev:show:{n}" for n in range(1, 13)], "ev:join:1", "ev:cancelok:1"]:
            await client.press(action)
            seen.append(client.text())
            if action.startswith("ev:show:") and int(action.rsplit(":", 1)[1]) not in bulgarian:
                assert client.text() == GONE
        assert not any("DEMO address" in text for text in seen)
        assert not any("Milan" in text or "Catalonia" in text for text in seen)
        assert await places_left(rt) == before
        async with rt.sessionmaker() as db:
            assert (await db.execute(select(func.count(Signup.id)).join(User).where(
                User.channel == "webchat"))).scalar_one() == 0


# -- on Telegram --------------------------------------------------------------------------------

async def test_a_member_code_and_the_place_on_telegram(database_url: str,
                                                       clock: FakeClock) -> None:
    from tests.fake_bot_api import serve_fake
    from tests.test_telegram import CHAT, Tg, onboard, tg_settings

    async with serve_fake() as (fake, api), \
            serve(tg_settings(database_url, fake, api), clock=clock) as (url, app):
        tg = Tg(fake, app, url)
        org = await make_org(tg.rt)
        mid = await add_meetup(tg.rt, org)
        await onboard(tg)
        await tg.press(f"ev:show:{mid}", must_exist=False)
        assert f"ev:ask:{mid}" in fake.buttons(CHAT) and PLACE not in tg.screen()
        await tg.say("/redeem " + await invite_code(tg.rt, "member", org))
        assert "You now have access" in tg.screen()
        await tg.press(f"ev:join:{mid}", must_exist=False)
        assert "you have a place" in tg.screen().lower() and PLACE not in tg.screen()
        await tg.press(f"ev:where:{mid}")
        assert PLACE in tg.screen()
        async with tg.rt.sessionmaker() as db:
            (m,) = (await db.execute(select(Membership))).scalars()
            user = await db.get(User, m.user_id)
            assert user is not None and user.channel == Channel.TELEGRAM


def test_the_open_event_place_is_not_a_demo_address() -> None:
    assert not OPEN_EVENT_PLACE.startswith("DEMO address")
