"""The retention purge, driven by the clock: inactive participants go with everything tied to
them, web chat visitors after two days, expired invites too; staff rows never."""
from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlalchemy import func, select

import bot.services.retention as retention
from bot.core.types import Channel
from bot.runtime import Runtime
from bot.scheduler import default_jobs
from bot.services.jobs import all_jobs
from db.models import Handoff, Invite, Role, Signup, SignupStatus, User
from tests.chat import ChatDriver
from tests.test_forget import make_meetup, rows_naming, sign_up
from tests.test_talk import add_caseworker, her
from tests.test_vanishing import FakeSender

# Depends on the database itself: runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_databases


async def run_job(rt: Runtime) -> None:
    (job,) = [j for j in all_jobs() if j.name == "retention"]
    await job.run(rt)


async def person(rt: Runtime, channel: Channel = Channel.TELEGRAM) -> tuple[ChatDriver, str]:
    chat = ChatDriver(rt.core, channel=channel)
    await chat.onboard()
    return chat, (await her(rt, chat)).id


async def exists(rt: Runtime, user_id: str) -> bool:
    async with rt.sessionmaker() as db:
        return await db.get(User, user_id) is not None


def test_jobs_are_registered_with_the_scheduler() -> None:
    names = {job.name for job in default_jobs()}
    assert {"retention", "forgotten", "deletions"} <= names


async def test_inactive_participant_goes_with_everything(rt: Runtime, clock) -> None:  # noqa: ANN001
    days = rt.settings.retention_days
    _chat, old = await person(rt)
    meetup = await make_meetup(rt, capacity=2, days=days + 30)
    await sign_up(rt, meetup, old, SignupStatus.CONFIRMED)
    async with rt.sessionmaker() as db, db.begin():
        db.add(Handoff(kind="talk", user_id=old, pseudonym="Rose-1234", region_code="milan"))
    clock.advance(days=days)
    _chat2, recent = await person(rt)
    await run_job(rt)
    assert await exists(rt, old), "exactly retention_days inactive is kept"
    clock.advance(days=1)
    await run_job(rt)
    assert await rows_naming(rt, old) == {}
    assert await exists(rt, recent)


async def test_activity_keeps_her(rt: Runtime, clock) -> None:  # noqa: ANN001
    chat, uid = await person(rt)
    clock.advance(days=rt.settings.retention_days - 1)
    await chat.press("menu", must_exist=False)  # she came back
    clock.advance(days=rt.settings.retention_days - 1)
    await run_job(rt)
    assert await exists(rt, uid)


async def test_web_chat_visitors_go_after_two_days(rt: Runtime, clock) -> None:  # noqa: ANN001
    _w, web = await person(rt, Channel.WEBCHAT)
    _t, tg = await person(rt, Channel.TELEGRAM)
    clock.advance(days=1)
    await run_job(rt)
    assert await exists(rt, web)
    clock.advance(days=1)
    await run_job(rt)
    assert not await exists(rt, web)
    assert await rows_naming(rt, web) == {}
    assert await exists(rt, tg)


@pytest.mark.parametrize("role", [Role.MODERATOR, Role.COORDINATOR, Role.ADMIN])
async def test_staff_are_never_purged(rt: Runtime, clock, role: Role) -> None:  # noqa: ANN001
    cw, _addr = await add_caseworker(rt, role=role)
    async with rt.sessionmaker() as db, db.begin():
        web_staff = User(channel=Channel.WEBCHAT, address_enc=b"x" * 40,
                         lookup_hash=secrets.token_hex(32), role=role,
                         last_active_on=clock.now.date(), created_on=clock.now.date(), topics=[])
        db.add(web_staff)
    clock.advance(days=rt.settings.retention_days * 3)
    await run_job(rt)
    assert await exists(rt, cw) and await exists(rt, web_staff.id)


async def test_professionals_are_purged_like_participants(rt: Runtime, clock) -> None:  # noqa: ANN001
    _chat, uid = await person(rt)
    async with rt.sessionmaker() as db, db.begin():
        (await db.get(User, uid)).role = Role.PROFESSIONAL
    clock.advance(days=rt.settings.retention_days + 1)
    await run_job(rt)
    assert not await exists(rt, uid)


async def test_a_purged_place_goes_to_the_next_woman(rt: Runtime, clock) -> None:  # noqa: ANN001
    sender = FakeSender()
    rt.add_sender(sender)
    _old_chat, old = await person(rt)
    meetup = await make_meetup(rt, capacity=1, days=rt.settings.retention_days + 30)
    await sign_up(rt, meetup, old, SignupStatus.CONFIRMED)
    clock.advance(days=rt.settings.retention_days)
    next_chat, nxt = await person(rt)
    await sign_up(rt, meetup, nxt, SignupStatus.WAITING, minutes=1)
    clock.advance(days=2)
    await rt.core.drain()
    sender.sent.clear()
    await run_job(rt)
    assert not await exists(rt, old)
    async with rt.sessionmaker() as db:
        signup = (await db.execute(select(Signup).where(Signup.user_id == nxt))).scalar_one()
        assert signup.status == SignupStatus.CONFIRMED
    assert sender.texts_to(next_chat.address)


async def test_expired_invites_go(rt: Runtime, clock) -> None:  # noqa: ANN001
    now = clock.now
    async with rt.sessionmaker() as db, db.begin():
        db.add_all([
            Invite(code_hash="a" * 64, role="moderator", expires_at=now - timedelta(hours=1)),
            Invite(code_hash="b" * 64, role="moderator", expires_at=now + timedelta(hours=1)),
            Invite(code_hash="c" * 64, role="moderator", expires_at=now - timedelta(hours=1),
                   used_at=now - timedelta(hours=2)),
        ])
    await run_job(rt)
    async with rt.sessionmaker() as db:
        left = set((await db.execute(select(Invite.code_hash))).scalars())
    assert left == {"b" * 64, "c" * 64}


async def test_purge_works_in_batches(rt: Runtime, clock, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(retention, "PURGE_BATCH", 2)
    for _ in range(5):
        await person(rt, Channel.WEBCHAT)
    clock.advance(days=3)
    await run_job(rt)
    async with rt.sessionmaker() as db:
        assert (await db.execute(select(func.count()).select_from(User))).scalar_one() == 0


async def test_purge_is_idempotent(rt: Runtime, clock) -> None:  # noqa: ANN001
    _chat, uid = await person(rt)
    clock.advance(days=rt.settings.retention_days + 1)
    await run_job(rt)
    await run_job(rt)
    assert not await exists(rt, uid)


async def test_a_purge_leaves_nothing_of_her_in_the_sqlite_wal(tmp_path, clock) -> None:  # noqa: ANN001
    from bot.runtime import open_runtime
    from tests.conftest import make_settings

    db_file = tmp_path / "wego.db"
    async with open_runtime(make_settings(f"sqlite+aiosqlite:///{db_file}"),
                            clock=clock) as rt:
        chat, _uid = await person(rt, Channel.WEBCHAT)
        me = await her(rt, chat)
        needles = [me.id.encode(), me.lookup_hash.encode(), bytes(me.address_enc)]
        clock.advance(days=3)
        await run_job(rt)
        assert not await exists(rt, me.id)
        wal = tmp_path / "wego.db-wal"
        data = db_file.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
        assert [n for n in needles if n in data] == []
