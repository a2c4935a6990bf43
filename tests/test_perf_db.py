"""The database hot path stays correct while it is made cheaper (bot/core.py, db/engine.py)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.runtime import Runtime
from db.models import User
from tests.chat import ChatDriver

# Depends on the database itself: runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_databases

SORRY = "something went wrong"


async def _kill_pooled_connections(rt: Runtime, backend: str) -> None:
    """What a database restart does to the connections waiting in the pool."""
    if backend == "postgresql":
        import asyncpg

        name = rt.engine.url.database
        admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
        finally:
            await admin.close()
        assert killed >= 1
        return
    async with rt.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.close()  # type: ignore[union-attr]


async def test_a_dead_pooled_connection_costs_her_nothing(rt: Runtime, chat: ChatDriver,
                                                          backend: str) -> None:
    await chat.onboard()
    assert SORRY not in chat.text.lower()
    await _kill_pooled_connections(rt, backend)
    await chat.say("/start")
    # Retried once on a fresh connection: she sees her screen, not an error, and is still herself.
    assert SORRY not in chat.text.lower()
    assert chat.buttons()
    async with rt.sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(User)) == 1


async def test_statements_report_rows_counts_and_transactions(rt: Runtime, chat: ChatDriver
                                                              ) -> None:
    """The one-trip SQLite cursor (db/engine.py) keeps what SQLAlchemy relies on."""
    from sqlalchemy import text, update

    await chat.onboard()
    async with rt.sessionmaker() as db, db.begin():
        result = await db.execute(update(User).values(active=False))
        assert result.rowcount == 1
        rows = (await db.execute(text("SELECT 1 UNION ALL SELECT 2"))).scalars().all()
        assert rows == [1, 2]
    async with rt.sessionmaker() as db:
        assert await db.scalar(select(func.count()).where(User.active.is_(False))) == 1
    # A read-only transaction ends cleanly; a written one that fails is rolled back.
    try:
        async with rt.sessionmaker() as db, db.begin():
            await db.execute(update(User).values(active=True))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    async with rt.sessionmaker() as db, db.begin():
        assert await db.scalar(select(func.count()).where(User.active.is_(False))) == 1


async def test_many_new_people_at_once_are_all_stored(rt: Runtime, caplog_all) -> None:  # noqa: ANN001
    """Writers wait for SQLite's one write lock (busy_timeout, on aiosqlite's own thread:
    db/engine.py) instead of failing; a transaction that fails gives the lock back."""
    import asyncio

    from sqlalchemy import update

    chats = [ChatDriver(rt.core) for _ in range(60)]
    await asyncio.gather(*(c.onboard() for c in chats))
    assert all(SORRY not in c.text.lower() and c.buttons() for c in chats)
    for _ in range(3):
        try:
            async with rt.sessionmaker() as db, db.begin():
                await db.execute(update(User).values(active=False))
                raise RuntimeError("boom")
        except RuntimeError:
            pass
    await asyncio.gather(*(c.say("/start") for c in chats))
    async with rt.sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(User)) == 60
        assert await db.scalar(select(func.count()).where(User.active.is_(False))) == 0
    assert "database is locked" not in caplog_all.text


async def test_repeated_reads_see_their_own_transaction(rt: Runtime, chat: ChatDriver) -> None:
    """Quick reads may run on the loop's thread (db/engine.py): same answers as on the worker."""
    from sqlalchemy import update

    await chat.onboard()
    for flag in (False, True, False, True):
        async with rt.sessionmaker() as db, db.begin():
            before = await db.scalar(select(func.count()).where(User.active.is_(flag)))
            await db.execute(update(User).values(active=flag))
            after = await db.scalar(select(func.count()).where(User.active.is_(flag)))
            assert (before, after) == (0, 1)
        async with rt.sessionmaker() as db:  # a new transaction sees the commit
            assert await db.scalar(select(func.count()).where(User.active.is_(flag))) == 1


async def test_locking_reads_and_writes_still_run_in_one_transaction(rt: Runtime,
                                                                     chat: ChatDriver) -> None:
    """PostgreSQL begins lazily (db/engine.py): a FOR UPDATE read and the writes after it are
    one transaction, rolled back together."""
    from sqlalchemy import update

    await chat.onboard()
    try:
        async with rt.sessionmaker() as db, db.begin():
            user = (await db.execute(select(User).with_for_update())).scalar_one()
            user.active = False
            await db.flush()
            await db.execute(update(User).values(vanish_minutes=60))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    async with rt.sessionmaker() as db:
        row = (await db.execute(select(User.active, User.vanish_minutes))).one()
        assert row.active is True and row.vanish_minutes != 60


async def test_the_core_commits_a_handler_and_rolls_back_a_failing_one(rt: Runtime) -> None:
    """One transaction per update, owned by the core (bot/core.py): a handler's writes are
    committed; a handler that fails leaves nothing behind and she gets the apology."""
    from bot.core.context import Ctx, Route
    from bot.core.core import Core
    from bot.core.sessions import MemorySessionStore
    from bot.core.types import Channel, Inbound
    from bot.core.ui import screen

    async def write_ok(ctx: Ctx) -> list:
        """Writes and succeeds."""
        ctx.user.vanish_minutes = 60
        return [screen("ok")]

    async def write_then_fail(ctx: Ctx) -> list:
        """Writes, flushes, then fails."""
        ctx.user.vanish_minutes = 1440
        await ctx.db.flush()
        raise RuntimeError("boom")

    ok, fail = Route(write_ok, command="/ok"), Route(write_then_fail, command="/fail")
    # Both admit a visitor (write her row first), as /redeem does, so there is a row to change.
    core = Core(sessionmaker=rt.sessionmaker, store=MemorySessionStore(60),
                services=rt.services, routes=[ok, fail],
                fallback=Route(write_ok, command="/fallback"),
                exit_route=Route(write_ok, command="/exit"), admitting_routes=[ok, fail])
    first = await core.handle(Inbound(Channel.WEBCHAT, "addr-1", text="/ok"))
    assert first.replies[0].text == "ok"
    failed = await core.handle(Inbound(Channel.WEBCHAT, "addr-1", text="/fail"))
    assert SORRY in failed.replies[0].text.lower()
    async with rt.sessionmaker() as db:
        assert await db.scalar(select(User.vanish_minutes)) == 60
