"""Roles and the staff boundary: invites, /redeem, the team screen, audit, and that nobody but
staff of the right organisation reaches any staff action (forged payloads included)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from bot.core.types import Channel
from bot.runtime import Runtime
from db.models import (
    AuditEntry,
    CommitmentStatus,
    Employer,
    Handoff,
    Invite,
    Meetup,
    Organisation,
    OrganisationRegion,
    User,
    Vacancy,
)
from handlers.mod_team import create_invite, hash_code
from tests.chat import ChatDriver

# -- helpers shared by the moderation test files -------------------------------------------------

async def make_org(rt: Runtime, slug: str = "north", regions: tuple[str, ...] = ("milan",)
                   ) -> int:
    async with rt.sessionmaker() as db, db.begin():
        org = Organisation(slug=slug, name=f"Centre {slug}")
        db.add(org)
        await db.flush()
        for code in regions:
            db.add(OrganisationRegion(org_id=org.id, region_code=code))
        return org.id


async def invite_code(rt: Runtime, role: str, org_id: int | None, *, hours: int = 72) -> str:
    async with rt.sessionmaker() as db, db.begin():
        code, _invite = await create_invite(db, role=role, org_id=org_id,
                                            now=rt.services.clock(), ttl_hours=hours)
        return code


async def staff(rt: Runtime, role: str, org_id: int | None, region: str = "milan"
                ) -> ChatDriver:
    chat = ChatDriver(rt.core)
    await chat.onboard(region=region)
    await chat.say("/redeem " + await invite_code(rt, role, org_id))
    assert "You are now" in chat.text, chat.text
    return chat


async def become_member(rt: Runtime, chat: ChatDriver, org_id: int) -> None:
    """She redeems a member code of the organisation: only members sign up for its meetups."""
    await chat.say("/redeem " + await invite_code(rt, "member", org_id))
    assert "You now have access" in chat.text, chat.text


async def add_employer(rt: Runtime, org_id: int, name: str = "Basket Ltd",
                       status: str = CommitmentStatus.ACTIVE) -> int:
    async with rt.sessionmaker() as db, db.begin():
        emp = Employer(org_id=org_id, name=name, sector="retail", committed_on=date(2026, 1, 5),
                       policy_against_violence=True, supported_hiring=True, status=status)
        db.add(emp)
        await db.flush()
        return emp.id


async def add_vacancy(rt: Runtime, employer_id: int, org_id: int, region: str = "milan",
                      title: str = "Shop helper") -> int:
    async with rt.sessionmaker() as db, db.begin():
        v = Vacancy(employer_id=employer_id, org_id=org_id, region_code=region, title=title,
                    description="Shelves", hours="part_time",
                    expires_on=rt.services.clock().date() + timedelta(days=20))
        db.add(v)
        await db.flush()
        return v.id


async def add_meetup(rt: Runtime, org_id: int, region: str = "milan", *, days: float = 2,
                     capacity: int = 10) -> int:
    async with rt.sessionmaker() as db, db.begin():
        m = Meetup(org_id=org_id, region_code=region, title="Coffee", description="Chat",
                   place="Room 2, Via Roma 1",
                   starts_at=rt.services.clock() + timedelta(days=days), capacity=capacity)
        db.add(m)
        await db.flush()
        return m.id


async def add_handoff(rt: Runtime, user_id: str, org_id: int | None, region: str = "milan",
                      **extra: object) -> int:
    async with rt.sessionmaker() as db, db.begin():
        h = Handoff(kind=extra.pop("kind", "talk"), user_id=user_id, org_id=org_id,
                    region_code=region, pseudonym="Iris-1234", **extra)
        db.add(h)
        await db.flush()
        return h.id


async def user_row(rt: Runtime, chat: ChatDriver) -> User:
    async with rt.sessionmaker() as db:
        return (await db.execute(select(User).where(
            User.lookup_hash == rt.vault.lookup_hash(chat.channel, chat.address)))).scalar_one()


async def audit_actions(rt: Runtime) -> list[str]:
    async with rt.sessionmaker() as db:
        return list((await db.execute(select(AuditEntry.action).order_by(AuditEntry.id)))
                    .scalars())


# -- /redeem ------------------------------------------------------------------------------------

async def test_redeem_gives_role_and_org_once(rt: Runtime) -> None:
    org = await make_org(rt)
    code = await invite_code(rt, "moderator", org)
    chat = ChatDriver(rt.core)
    await chat.onboard()
    assert "mod" not in chat.actions()
    # Case, spaces and dashes do not matter.
    await chat.say("/redeem " + code.lower().replace("-", " "))
    assert "You are now a moderator" in chat.text and "Centre north" in chat.text
    me = await user_row(rt, chat)
    assert me.role == "moderator" and me.org_id == org
    await chat.press("menu", must_exist=False)
    assert "mod" in chat.actions()
    async with rt.sessionmaker() as db:
        inv = (await db.execute(select(Invite))).scalar_one()
        assert inv.used_by == me.id and inv.used_at is not None
        assert inv.code_hash == hash_code(code) and code not in inv.code_hash
    # The same code a second time, by somebody else: refused, nothing changes.
    other = ChatDriver(rt.core)
    await other.onboard()
    await other.say("/redeem " + code)
    assert "already used" in other.text
    assert (await user_row(rt, other)).role == "participant"
    assert "invite_redeem" in await audit_actions(rt)


@pytest.mark.parametrize("typed", ["", "nonsense", "ABCD-EFGH-JKMN", "x" * 1900, "🙂🙂",
                                   "\u200fABCD-EFGH-JKMN", "' OR 1=1; --", "<b>ABCD</b>"])
async def test_redeem_refuses_bad_codes_and_changes_nothing(rt: Runtime, typed: str) -> None:
    await make_org(rt)
    chat = ChatDriver(rt.core)
    await chat.onboard()
    await chat.say(f"/redeem {typed}".strip())
    assert "not valid" in chat.text or "followed by your invite code" in chat.text
    me = await user_row(rt, chat)
    assert me.role == "participant" and me.org_id is None


async def test_expired_code_is_refused(rt: Runtime, clock) -> None:  # noqa: ANN001
    org = await make_org(rt)
    code = await invite_code(rt, "moderator", org, hours=1)
    clock.advance(hours=2)
    chat = ChatDriver(rt.core)
    await chat.onboard()
    await chat.say("/redeem " + code)
    assert "expired" in chat.text
    assert (await user_row(rt, chat)).role == "participant"


async def test_guessing_is_limited(rt: Runtime) -> None:
    org = await make_org(rt)
    code = await invite_code(rt, "moderator", org)
    chat = ChatDriver(rt.core)
    await chat.onboard()
    for _i in range(5):
        await chat.say("/redeem AAAA-AAAA-AAAA")
        assert "not valid" in chat.text
    await chat.press("menu", must_exist=False)  # leaving the screen does not reset the count
    await chat.say("/redeem " + code)
    assert "Too many wrong codes" in chat.text
    assert (await user_row(rt, chat)).role == "participant"
    assert (await audit_actions(rt)).count("redeem_failed") == 5


async def test_new_sessions_from_one_client_do_not_get_new_tries(rt: Runtime) -> None:
    """A fresh web chat session is a fresh person; the client behind them is limited too."""
    from bot.core.types import Channel, Inbound

    org = await make_org(rt)
    code = await invite_code(rt, "moderator", org)
    answers = []
    for _i in range(11):  # two wrong codes per new session, from one client address
        chat = ChatDriver(rt.core)
        await chat.onboard()
        for _j in range(2):
            out = await chat.send(Inbound(Channel.WEBCHAT, chat.address,
                                          text="/redeem AAAA-AAAA-AAAA", client="203.0.113.7"))
            answers.append(out.replies[0].text)
    assert "Too many wrong codes" in answers[-1]
    assert (await audit_actions(rt)).count("redeem_failed") == 10
    late = ChatDriver(rt.core)
    await late.onboard()
    await late.send(Inbound(Channel.WEBCHAT, late.address, text="/redeem " + code,
                            client="203.0.113.7"))
    assert "Too many wrong codes" in late.text
    other = ChatDriver(rt.core)  # another client is not affected
    await other.onboard()
    await other.send(Inbound(Channel.WEBCHAT, other.address, text="/redeem " + code,
                             client="198.51.100.9"))
    assert "You are now" in other.text


async def test_wrong_codes_from_everybody_pause_redeeming_for_an_hour(rt: Runtime,
                                                                       clock) -> None:  # noqa: ANN001
    org = await make_org(rt)
    code = await invite_code(rt, "moderator", org)
    for _i in range(10):  # many people (Telegram: no client address), three tries each
        chat = ChatDriver(rt.core, channel=Channel.TELEGRAM)
        await chat.onboard()
        for _j in range(3):
            await chat.say("/redeem AAAA-AAAA-AAAA")
    chat = ChatDriver(rt.core)
    await chat.onboard()
    await chat.say("/redeem " + code)
    assert "in the last hour" in chat.text
    clock.advance(hours=1, minutes=1)
    await chat.say("/redeem " + code)
    assert "You are now" in chat.text


# -- the team screen ----------------------------------------------------------------------------

async def test_coordinator_invites_and_revokes_a_moderator(rt: Runtime) -> None:
    org = await make_org(rt)
    boss = await staff(rt, "coordinator", org)
    await boss.press("menu", must_exist=False)
    await boss.press("mod")
    await boss.press("team")
    await boss.press("team:inv:moderator")
    code = boss.replies[0].text.split("\n\n")[1]
    assert "/redeem " + code in boss.text
    newcomer = ChatDriver(rt.core)
    await newcomer.onboard()
    await newcomer.say("/redeem " + code)
    assert "You are now a moderator" in newcomer.text
    member = await user_row(rt, newcomer)
    await boss.press("team", must_exist=False)
    await boss.press(f"team:show:{member.id}")
    await boss.press(f"team:rv:{member.id}")
    await boss.press(f"team:rvok:{member.id}")
    assert "revoked" in boss.text
    member = await user_row(rt, newcomer)
    assert member.role == "participant" and member.org_id is None
    # At once: the next tap of the former moderator is refused.
    await newcomer.press("mod", must_exist=False)
    assert "not available to you" in newcomer.text
    actions = await audit_actions(rt)
    assert {"invite_create", "invite_redeem", "role_revoke"} <= set(actions)


async def test_moderator_cannot_invite_or_revoke(rt: Runtime) -> None:
    org = await make_org(rt)
    boss = await staff(rt, "coordinator", org)
    mod = await staff(rt, "moderator", org)
    boss_row = await user_row(rt, boss)
    for action in ("team", "team:inv:moderator", f"team:rvok:{boss_row.id}", "mod:rep"):
        await mod.press(action, must_exist=False)
        assert "not available to you" in mod.text
    assert (await user_row(rt, boss)).role == "coordinator"
    # A coordinator cannot revoke another coordinator nor hand out the coordinator role.
    other_boss = await staff(rt, "coordinator", org)
    await boss.press(f"team:rvok:{(await user_row(rt, other_boss)).id}", must_exist=False)
    await boss.press("team:inv:coordinator", must_exist=False)
    assert (await user_row(rt, other_boss)).role == "coordinator"
    async with rt.sessionmaker() as db:
        assert (await db.execute(select(func.count(Invite.id)))).scalar_one() == 3


# -- nobody else reaches a staff action ---------------------------------------------------------

def staff_payloads(ids: dict[str, object]) -> list[str]:
    e, v, m, h, u = ids["emp"], ids["vac"], ids["mev"], ids["ho"], ids["user"]
    return ["mod", "mod:ho", f"mod:ho:{h}", "mod:rep", "mod:rep:2026q2",
            "emp", "emp:new", f"emp:show:{e}", f"emp:sus:{e}", f"emp:end:{e}", f"emp:act:{e}",
            "vac", "vac:new", f"vac:show:{v}", f"vac:close:{v}", f"vac:ed:{v}",
            f"vac:ef:{v}:title", "mev", "mev:new", f"mev:show:{m}", f"mev:close:{m}",
            f"mev:closeok:{m}", f"mev:dup:{m}", f"mev:att:{m}", f"mev:atall:{m}",
            f"mev:ef:{m}:capacity", f"ho:take:{h}", f"ho:write:{h}", f"ho:writeok:{h}",
            f"ho:close:{h}", f"ho:closeok:{h}", "ho:list:0",
            "team", "team:inv:moderator", f"team:rvok:{u}", "form:pub", "form:pick:1",
            "form:cancel"]


async def _targets(rt: Runtime, org: int, victim: str) -> dict[str, object]:
    emp = await add_employer(rt, org)
    return {"emp": emp, "vac": await add_vacancy(rt, emp, org),
            "mev": await add_meetup(rt, org, days=-1), "ho": await add_handoff(rt, victim, org),
            "user": victim}


async def _snapshot(rt: Runtime) -> tuple[object, ...]:
    async with rt.sessionmaker() as db:
        emp = (await db.execute(select(Employer.status))).scalars().all()
        vac = (await db.execute(select(Vacancy.status, Vacancy.title))).all()
        mev = (await db.execute(select(func.count(Meetup.id), func.min(Meetup.status)))).one()
        ho = (await db.execute(select(Handoff.status, Handoff.taken_by))).all()
        roles = (await db.execute(select(User.role, User.org_id).order_by(User.id))).all()
        inv = (await db.execute(select(func.count(Invite.id)))).scalar_one()
    return (tuple(emp), tuple(vac), tuple(mev), tuple(ho), tuple(roles), inv)


async def test_participant_reaches_no_staff_action(rt: Runtime) -> None:
    org = await make_org(rt)
    mod = await staff(rt, "moderator", org)
    ids = await _targets(rt, org, (await user_row(rt, mod)).id)
    her = ChatDriver(rt.core)
    await her.onboard()
    before = await _snapshot(rt)
    for action in staff_payloads(ids):
        await her.press(action, must_exist=False)
        assert "not available to you" in her.text, action
    await her.say("Hello caseworker")  # typed text is never routed to a staff state
    assert before == await _snapshot(rt)
    assert "refused" not in "".join(await audit_actions(rt))


async def test_staff_of_another_organisation_reaches_nothing(rt: Runtime) -> None:
    org = await make_org(rt)
    other_org = await make_org(rt, "south", ("catalonia",))
    mod = await staff(rt, "moderator", org)
    ids = await _targets(rt, org, (await user_row(rt, mod)).id)
    outsider = await staff(rt, "coordinator", other_org, region="catalonia")
    before = await _snapshot(rt)
    for action in staff_payloads(ids):
        if action in ("mod", "mod:ho", "mod:rep", "mod:rep:2026q2", "emp", "vac", "mev",
                      "ho:list:0", "team", "emp:new", "vac:new", "mev:new",
                      "team:inv:moderator"):
            continue  # her own organisation's screens
        await outsider.press(action, must_exist=False)
        text = outsider.text
        assert ("not yours" in text or "expired" in text or "not available" in text), (
            action, text)
        assert "Iris-1234" not in text and "Shop helper" not in text and "Room 2" not in text
    assert before == await _snapshot(rt)
    # Her own lists do not show the other organisation's rows either.
    for action in ("mod:ho", "vac", "mev", "emp"):
        await outsider.press(action, must_exist=False)
        assert "Iris-1234" not in outsider.text and "Shop helper" not in outsider.text
        assert "Basket" not in outsider.text


async def test_privileged_actions_are_audited_without_text(rt: Runtime) -> None:
    org = await make_org(rt)
    mod = await staff(rt, "moderator", org)
    emp = await add_employer(rt, org)
    await mod.press(f"emp:sus:{emp}", must_exist=False)
    await mod.press(f"emp:act:{emp}", must_exist=False)
    async with rt.sessionmaker() as db:
        rows = list((await db.execute(select(AuditEntry).where(
            AuditEntry.action.like("employer_%")).order_by(AuditEntry.id))).scalars())
    assert [r.action for r in rows] == ["employer_suspend", "employer_reactivate"]
    me = await user_row(rt, mod)
    assert all(r.actor_id == me.id and r.org_id == org and r.target_id == str(emp)
               and r.actor_role == "moderator" for r in rows)
