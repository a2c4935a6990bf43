"""Her row is read for many updates at once (bot/core/loader.py), and a visitor's session spares
the read: what each woman sees stays hers, and a row is never written twice."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select

from bot.core.sessions import SessionData
from bot.core.types import Channel, Inbound
from bot.runtime import Runtime
from db.models import User
from tests.chat import ChatDriver

pytestmark = pytest.mark.both_databases


@contextmanager
def statements(rt: Runtime) -> Iterator[list[str]]:
    """The SQL the app sends while the block runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    engine = rt.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _reads_of_users(seen: list[str]) -> list[str]:
    return [s for s in seen if "FROM users" in s and "lookup_hash" in s]


async def test_updates_at_the_same_moment_share_one_read_and_each_gets_her_own(
        rt: Runtime) -> None:
    members = [ChatDriver(rt.core) for _ in range(5)]
    for chat in members:
        await chat.onboard(language="it")
    newcomers = [f"new-{i}" for i in range(200)]
    with statements(rt) as seen:
        outcomes = await asyncio.gather(
            *(rt.core.handle(Inbound(Channel.WEBCHAT, address, text="/start"))
              for address in newcomers),
            *(rt.core.handle(Inbound(Channel.WEBCHAT, chat.address, text="/menu"))
              for chat in members))
    assert len(_reads_of_users(seen)) == 1
    first, known = outcomes[:200], outcomes[200:]
    for outcome in first:  # a first contact: the language question, and no row
        actions = [b.action for r in outcome.replies for row in r.buttons for b in row]
        assert outcome.user_id is None and any(a.startswith("lang:") for a in actions)
    async with rt.sessionmaker() as db:
        ids = dict((await db.execute(select(User.lookup_hash, User.id))).all())
        assert await db.scalar(select(func.count()).select_from(User)) == 5
    for chat, outcome in zip(members, known, strict=True):  # each her own row and menu
        assert outcome.user_id == ids[rt.vault.lookup_hash(chat.channel, chat.address)]
        actions = [b.action for r in outcome.replies for row in r.buttons for b in row]
        assert "set" in actions


async def test_a_visitor_on_the_start_screens_costs_no_read(rt: Runtime) -> None:
    chat = ChatDriver(rt.core)
    await chat.say("/start")
    with statements(rt) as seen:
        await chat.press("lang:es")
        await chat.press("help:safety")
        await chat.press("menu")
        await chat.press("help:safety")
        await chat.press("menu")
        await chat.press("safe:ok")
    assert _reads_of_users(seen) == []
    assert "region:milan" in chat.actions()


async def test_a_visitor_whose_row_was_written_meanwhile_is_herself_not_twice(
        rt: Runtime) -> None:
    """Her session says visitor, but her row is there (written by an update of hers on another
    worker, or her session was not saved after it): finishing the start screens again answers
    as the woman with a row, and writes no second one."""
    chat = ChatDriver(rt.core)
    await chat.onboard(language="it", region="milan")
    key = rt.vault.lookup_hash(chat.channel, chat.address)
    async with rt.sessionmaker() as db:
        row_id = await db.scalar(select(User.id).where(User.lookup_hash == key))
    await rt.store.save(key, SessionData(state="start.region", visitor={
        "id": "f" * 32, "language": "es"}))
    outcome = await chat.press("region:milan", must_exist=False)
    assert "wrong" not in chat.text
    assert outcome.user_id == row_id
    async with rt.sessionmaker() as db:
        rows = (await db.execute(select(User.id, User.language))).all()
    assert [r.id for r in rows] == [row_id]
    session = await rt.store.load(key)
    assert session.visitor is None


async def test_a_visitor_object_kept_between_updates_follows_her_session(rt: Runtime) -> None:
    """The core keeps a visitor's User between her taps (it costs twenty attribute events to
    build); it is used again only when it is exactly what her session gives, and quick exit
    leaves nothing of hers behind."""
    chat = ChatDriver(rt.core)
    await chat.say("/start")
    await chat.press("lang:es")
    key = rt.vault.lookup_hash(chat.channel, chat.address)
    # Another worker moved her on to Italian: her session says so, the kept object does not.
    session = await rt.store.load(key)
    assert session.visitor is not None
    session.visitor["language"] = "it"
    await rt.store.save(key, session)
    await chat.press("help:safety")
    await chat.press("menu")
    assert chat.actions()[:1] == ["safe:ok"] and "Prima di iniziare" in chat.text
    await chat.press("exit")
    assert key not in rt.core._visitor_objects  # noqa: SLF001 - what memory keeps of her
