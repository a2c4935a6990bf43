"""First contact costs no write (bot/core.py): a visitor lives in her session until she finishes
the start screens; the in-memory session store is bounded, least recently used out."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from bot.core.sessions import MemorySessionStore, SessionData
from bot.core.types import Channel, Inbound
from bot.runtime import Runtime, open_runtime
from db.models import MessageRef, User
from tests.chat import ChatDriver
from tests.conftest import FakeClock, make_settings


async def _count(rt: Runtime, model: type) -> int:
    async with rt.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
async def small_rt(database_url: str, clock: FakeClock) -> AsyncIterator[Runtime]:
    store = MemorySessionStore(ttl_seconds=1800, max_items=500)
    async with open_runtime(make_settings(database_url), clock=clock, store=store) as runtime:
        yield runtime


async def test_a_flood_of_first_contacts_grows_no_table_and_no_memory(small_rt: Runtime
                                                                      ) -> None:
    core = small_rt.core
    for batch in range(100):  # 20,000 /start from addresses never seen, 200 at a time
        await asyncio.gather(*(core.handle(Inbound(Channel.WEBCHAT, f"flood-{batch}-{i}",
                                                   text="/start")) for i in range(200)))
    assert await _count(small_rt, User) == 0
    assert len(small_rt.store) == 500  # type: ignore[arg-type] - the bound, oldest out
    # The last of them is still in her start screens; one of the first starts again (dropped).
    last = await small_rt.store.load(small_rt.vault.lookup_hash(Channel.WEBCHAT, "flood-99-199"))
    first = await small_rt.store.load(small_rt.vault.lookup_hash(Channel.WEBCHAT, "flood-0-0"))
    assert last.visitor is not None and last.state == "start.language"
    assert first.visitor is None and first.state is None


async def test_her_row_is_written_when_she_finishes_the_start_screens(rt: Runtime) -> None:
    chat = ChatDriver(rt.core, language_hint="it")
    await chat.say("/start")
    await chat.press("lang:es")
    assert await _count(rt, User) == 0
    await chat.press("safe:ok")
    assert await _count(rt, User) == 0
    # The ids a channel kept for her while she was a visitor go into the table with her row.
    await rt.core.keep_visitor_refs(Inbound(chat.channel, chat.address), ["11", "12"])
    await chat.press("region:milan")
    assert chat.last is not None and chat.last.user_id is not None
    async with rt.sessionmaker() as db:
        user = (await db.execute(select(User))).scalar_one()
        assert (user.language, user.region_code, user.onboarded) == ("es", "milan", True)
        # What a row holds from the start, as a new row would (the visitor's object is filled
        # without its constructor, bot/core/core.py).
        assert (user.role, user.discreet, user.vanish_minutes, user.active, user.topics,
                user.lock_failures, user.codeword_hash, user.org_id) == (
            "participant", True, 1440, True, [], 0, None, None)
        assert user.last_active_on == user.created_on == rt.services.clock().date()
        assert user.id == chat.last.user_id
        assert rt.vault.decrypt(user.channel, user.address_enc) == chat.address
        refs = (await db.execute(select(MessageRef.ref).where(MessageRef.user_id == user.id))
                ).scalars().all()
        assert sorted(refs) == ["11", "12"]
    session = await rt.store.load(rt.vault.lookup_hash(chat.channel, chat.address))
    assert session.visitor is None
    await chat.say("/menu")  # she is herself from now on
    assert "set" in chat.actions() and await _count(rt, User) == 1


async def test_a_visitor_reaches_nothing_beyond_the_start_screens(rt: Runtime) -> None:
    chat = ChatDriver(rt.core)
    await chat.say("/start")
    for forged in ("forget:yes", "ev", "job", "talk", "set", "mod", "ev:rsvp:1"):
        await chat.press(forged, must_exist=False)
        assert any(a.startswith("lang:") for a in chat.actions()), forged
    await chat.say("/forget")
    assert any(a.startswith("lang:") for a in chat.actions())
    assert await _count(rt, User) == 0 and await _count(rt, MessageRef) == 0


async def test_a_visitors_quick_exit_hands_back_her_message_ids(rt: Runtime) -> None:
    chat = ChatDriver(rt.core)
    await chat.say("/start")
    await rt.core.keep_visitor_refs(Inbound(chat.channel, chat.address), ["5", "6"])
    await chat.press("lang:en")
    out = await chat.say("exit")
    assert out.exit and out.user_id is None and out.visitor_refs == ["5", "6"]
    assert await _count(rt, User) == 0 and await _count(rt, MessageRef) == 0
    assert (await rt.store.load(rt.vault.lookup_hash(chat.channel, chat.address))).empty


async def test_a_deep_link_lands_after_the_start_screens_with_her_row(demo_rt: Runtime) -> None:
    from db.models import Meetup

    async with demo_rt.sessionmaker() as db:
        event_id = (await db.execute(select(Meetup.id).order_by(Meetup.id))).scalars().first()
    assert event_id is not None
    chat = ChatDriver(demo_rt.core)
    await chat.say(f"/start ev-{event_id}")
    await chat.press("lang:en")
    await chat.press("safe:ok")
    before = await _count(demo_rt, User)
    await chat.press("region:milan")
    assert await _count(demo_rt, User) == before + 1
    assert any(a.startswith("ev:") for a in chat.actions())


async def test_session_store_drops_the_least_recently_used() -> None:
    store = MemorySessionStore(ttl_seconds=60, max_items=2)
    await store.save("a", SessionData(state="x"))
    await store.save("b", SessionData(state="y"))
    await store.load("a")  # a was used last: b goes
    await store.save("c", SessionData(state="z"))
    assert (await store.load("a")).state == "x"
    assert (await store.load("b")).state is None
    assert (await store.load("c")).state == "z"
    visitor = SessionData(visitor={"id": "u1", "language": "bg"})
    assert SessionData.from_json(visitor.to_json()).visitor == {"id": "u1", "language": "bg"}
