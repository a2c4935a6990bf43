"""Forget me through the core: a plain confirmation, then nothing tied to her remains in any
table, her place goes to the next woman waiting, her messages are deleted on the channel, and
the session ends with a neutral goodbye."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import String, Text, func, select

from bot.core.types import Channel, Reply
from bot.runtime import Runtime, open_runtime
from bot.services.jobs import all_jobs
from db.models import (
    AuditEntry,
    Base,
    Broadcast,
    BroadcastDelivery,
    Handoff,
    HandoffStatus,
    Meetup,
    Membership,
    MessageRef,
    Organisation,
    Role,
    Signup,
    SignupStatus,
    User,
)
from tests.chat import ChatDriver
from tests.conftest import make_settings
from tests.test_talk import add_caseworker, her, open_talk
from tests.test_vanishing import FakeSender

# Depends on the database itself: runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_databases


async def rows_naming(rt: Runtime, user_id: str) -> dict[str, int]:
    """Every text column of every table in the schema, searched for her id."""
    found: dict[str, int] = {}
    async with rt.sessionmaker() as db:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, String | Text):
                    continue
                n = (await db.execute(select(func.count()).select_from(table)
                                      .where(column == user_id))).scalar_one()
                if n:
                    found[f"{table.name}.{column.name}"] = n
    return found


async def make_meetup(rt: Runtime, capacity: int, days: int = 3) -> int:
    async with rt.sessionmaker() as db, db.begin():
        org = Organisation(slug=f"m{capacity}{days}", name="Centre")
        db.add(org)
        await db.flush()
        meetup = Meetup(org_id=org.id, region_code="milan", title="Circle", place="Room 2",
                        starts_at=rt.services.clock() + timedelta(days=days), capacity=capacity)
        db.add(meetup)
        await db.flush()
        return meetup.id


async def sign_up(rt: Runtime, meetup_id: int, user_id: str, status: SignupStatus,
                  minutes: int = 0) -> None:
    """Her sign-up, as a member of the organiser (only members' places count)."""
    async with rt.sessionmaker() as db, db.begin():
        meetup = await db.get(Meetup, meetup_id)
        assert meetup is not None
        if (await db.execute(select(Membership).where(
                Membership.user_id == user_id, Membership.org_id == meetup.org_id))).first() is None:
            db.add(Membership(user_id=user_id, org_id=meetup.org_id, since=date(2026, 1, 1)))
        db.add(Signup(meetup_id=meetup_id, user_id=user_id, status=status,
                      created_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)))


async def give_her_everything(rt: Runtime, uid: str) -> None:
    """Rows of every kind that can be tied to a participant."""
    async with rt.sessionmaker() as db, db.begin():
        org = Organisation(slug="b", name="B")
        db.add(org)
        await db.flush()
        broadcast = Broadcast(org_id=org.id, audience="participants", texts={"en": "x"},
                              status="done")
        db.add(broadcast)
        await db.flush()
        db.add(BroadcastDelivery(broadcast_id=broadcast.id, user_id=uid, status="sent"))
        db.add(Handoff(kind="job", user_id=uid, pseudonym="Iris-1000", region_code="milan"))
        staff = (await db.execute(select(User).where(User.role == Role.MODERATOR))).scalars()
        actor = next(iter(staff))
        db.add(AuditEntry(actor_id=actor.id, actor_role=actor.role, action="handoff.take",
                          target_type="user", target_id=uid))


@pytest.fixture
def sender(rt: Runtime) -> FakeSender:
    fake = FakeSender()
    rt.add_sender(fake)
    return fake


async def test_confirmation_says_what_goes_and_that_it_cannot_be_undone(chat: ChatDriver,
                                                                       rt: Runtime) -> None:
    await chat.onboard()
    await chat.press("set")
    await chat.press("forget")
    assert "cannot be undone" in chat.text and "code word" in chat.text
    assert "meetup" in chat.text and "list of chats" in chat.text
    assert {"forget:yes", "set", "exit"} <= set(chat.actions())
    await chat.press("set")  # no, keep my data
    assert "Settings" in chat.text
    await chat.press("forget:yes", must_exist=False)  # confirmation no longer on screen
    assert "cannot be undone" in chat.text
    assert (await her(rt, chat)).onboarded


async def test_forged_yes_without_the_confirmation_erases_nothing(chat: ChatDriver,
                                                                  rt: Runtime) -> None:
    await chat.onboard()
    out = await chat.press("forget:yes", must_exist=False)
    assert not out.exit and "cannot be undone" in chat.text
    assert (await her(rt, chat)).onboarded


@pytest.mark.parametrize("payload", ["forget:yes:1", "forget:no", "forget:yes:x"])
async def test_odd_payloads_erase_nothing(chat: ChatDriver, rt: Runtime, payload: str) -> None:
    await chat.onboard()
    await chat.press("forget", must_exist=False)
    out = await chat.press(payload, must_exist=False)
    assert not out.exit
    assert (await her(rt, chat)).onboarded


async def test_forget_me_leaves_nothing_and_promotes_the_next_woman(
        chat: ChatDriver, rt: Runtime, sender: FakeSender) -> None:
    cw, cw_addr = await add_caseworker(rt)
    await chat.onboard()
    uid = (await her(rt, chat)).id
    hid = await open_talk(chat)
    async with rt.sessionmaker() as db, db.begin():
        handoff = await db.get(Handoff, hid)
        handoff.status, handoff.taken_by = HandoffStatus.TAKEN, cw
    await give_her_everything(rt, uid)
    full = await make_meetup(rt, capacity=1)
    other_meetup = await make_meetup(rt, capacity=1, days=4)
    await sign_up(rt, full, uid, SignupStatus.CONFIRMED)
    await sign_up(rt, other_meetup, uid, SignupStatus.WAITING)
    # The next woman waits on Telegram, so that we see her being told.
    other = ChatDriver(rt.core, channel=Channel.TELEGRAM)
    await other.onboard()
    other_id = (await her(rt, other)).id
    await sign_up(rt, full, other_id, SignupStatus.WAITING, minutes=5)
    await sign_up(rt, other_meetup, other_id, SignupStatus.CONFIRMED)
    assert set(await rows_naming(rt, uid)) >= {
        "users.id", "signups.user_id", "handoffs.user_id", "broadcast_deliveries.user_id",
        "audit_log.target_id"}
    await rt.core.drain()
    sender.sent.clear()

    await chat.say("/forget")
    out = await chat.press("forget:yes")
    assert out.exit is True
    assert [r.text for r in out.replies] == ["Done. Goodbye."]
    assert await rows_naming(rt, uid) == {}
    async with rt.sessionmaker() as db:
        signups = {(s.meetup_id, s.status) for s in (await db.execute(
            select(Signup).where(Signup.user_id == other_id))).scalars()}
        assert signups == {(full, SignupStatus.CONFIRMED), (other_meetup, SignupStatus.CONFIRMED)}
        assert (await db.execute(select(func.count()).select_from(Handoff))).scalar_one() == 0
        assert await db.get(User, cw) is not None
    await rt.core.drain()
    assert sender.texts_to(other.address), "the next woman was told"
    assert any("has left" in t for t in sender.texts_to(cw_addr))
    # Coming back from the same address starts from the beginning.
    await chat.say("/start")
    assert any(a.startswith("lang:") for a in chat.actions())
    key = rt.vault.lookup_hash(chat.channel, chat.address)
    async with rt.sessionmaker() as db:  # a visitor again: no row until she is set up
        assert (await db.execute(select(User).where(User.lookup_hash == key))).first() is None


async def test_telegram_messages_are_deleted_then_nothing_remains(rt: Runtime, clock,  # noqa: ANN001
                                                                  sender: FakeSender) -> None:
    clock.now = datetime.now(UTC)  # Delivery stamps refs with the real time
    chat = ChatDriver(rt.core, channel=Channel.TELEGRAM)
    await chat.onboard()
    uid = (await her(rt, chat)).id
    for i in range(3):
        assert await rt.delivery.send_to_user(uid, [Reply(f"m{i}")])
    async with rt.sessionmaker() as db:
        refs = {r.ref for r in (await db.execute(select(MessageRef))).scalars()}
    await chat.press("forget", must_exist=False)
    out = await chat.press("forget:yes")
    assert out.exit
    # Nobody can find her any more; only the ids of messages to delete wait, and they are due.
    key = rt.vault.lookup_hash(chat.channel, chat.address)
    async with rt.sessionmaker() as db:
        assert (await db.execute(select(User).where(User.lookup_hash == key))).first() is None
        tomb = await db.get(User, uid)
        assert tomb is not None and not tomb.active and tomb.codeword_hash is None
        assert tomb.region_code is None and tomb.topics == []
        due = list((await db.execute(select(MessageRef))).scalars())
        assert len(due) == 3 and all(r.delete_at is not None for r in due)
    assert set(await rows_naming(rt, uid)) == {"users.id", "message_refs.user_id"}
    (job,) = [j for j in all_jobs() if j.name == "forgotten"]
    await job.run(rt)
    assert sender.deleted_refs(chat.address) == refs
    assert await rows_naming(rt, uid) == {}


async def test_tombstone_goes_even_if_the_channel_keeps_failing(rt: Runtime, clock,  # noqa: ANN001
                                                                sender: FakeSender) -> None:
    from bot.services.delivery import DeliveryFailed

    async def refuse(address: str, refs: object) -> None:
        raise DeliveryFailed("busy", retry=True)

    clock.now = datetime.now(UTC)
    chat = ChatDriver(rt.core, channel=Channel.TELEGRAM)
    await chat.onboard()
    uid = (await her(rt, chat)).id
    assert await rt.delivery.send_to_user(uid, [Reply("m")])
    await chat.press("forget", must_exist=False)
    await chat.press("forget:yes")
    sender.delete = refuse  # type: ignore[method-assign]
    (job,) = [j for j in all_jobs() if j.name == "forgotten"]
    await job.run(rt)
    assert "users.id" in await rows_naming(rt, uid)
    clock.advance(days=6)
    await job.run(rt)
    assert await rows_naming(rt, uid) == {}


async def test_staff_cannot_erase_themselves_here(rt: Runtime) -> None:
    _cw, addr = await add_caseworker(rt)
    chat = ChatDriver(rt.core, channel=Channel.TELEGRAM, address=addr)
    await chat.say("/forget")
    assert "coordinator" in chat.text and "forget:yes" not in chat.actions()
    out = await chat.press("forget:yes", must_exist=False)
    assert not out.exit
    async with rt.sessionmaker() as db:
        assert (await db.execute(select(func.count()).select_from(User)
                                 .where(User.role == Role.MODERATOR))).scalar_one() == 1


async def test_forget_before_setup(chat: ChatDriver, rt: Runtime) -> None:
    # Before she finishes the start screens nothing of hers is stored (bot/core.py: a visitor):
    # there is nothing to forget, and a forged yes erases nothing and shows the start.
    await chat.say("/forget")
    assert any(a.startswith("lang:") for a in chat.actions())
    out = await chat.press("forget:yes", must_exist=False)
    assert not out.exit and any(a.startswith("lang:") for a in chat.actions())
    async with rt.sessionmaker() as db:
        assert (await db.execute(select(func.count()).select_from(User))).scalar_one() == 0


async def test_a_stale_yes_after_other_screens_erases_nothing(rt) -> None:  # noqa: ANN001
    """The confirmation counts only on the very next step: forget -> help -> forget:yes
    must not erase her."""
    from sqlalchemy import func, select

    from db.models import User
    from tests.chat import ChatDriver

    chat = ChatDriver(rt.core)
    await chat.onboard()
    await chat.press("set")
    await chat.press("forget")
    for detour in ("help", "job:list:0", "ev:list:0"):
        await chat.press(detour, must_exist=False)
        await chat.press("forget:yes", must_exist=False)
        async with rt.sessionmaker() as db:
            assert (await db.execute(select(func.count()).select_from(User))).scalar_one() == 1
        await chat.press("forget", must_exist=False)
    out = await chat.press("forget:yes")
    assert out.exit is True


async def test_forget_me_leaves_nothing_of_her_in_the_sqlite_file_or_its_wal(
        tmp_path: Path, clock) -> None:  # noqa: ANN001
    """Deleting rows is not enough: SQLite keeps the old pages in the -wal until a checkpoint.
    After forget:yes neither file holds her id, her lookup hash or her encrypted address."""
    db_file = tmp_path / "wego.db"
    wal = tmp_path / "wego.db-wal"
    settings = make_settings(f"sqlite+aiosqlite:///{db_file}")
    async with open_runtime(settings, clock=clock) as rt:
        chat = ChatDriver(rt.core)
        await chat.onboard()
        me = await her(rt, chat)
        needles = {"id": me.id.encode(), "lookup hash": me.lookup_hash.encode(),
                   "address": bytes(me.address_enc)}

        def holding() -> list[str]:
            data = db_file.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
            return [name for name, needle in needles.items() if needle in data]

        assert holding(), "the test must see her bytes before she is forgotten"
        await chat.press("forget", must_exist=False)
        out = await chat.press("forget:yes")
        assert out.exit is True
        assert holding() == []
        assert not wal.exists() or wal.stat().st_size == 0
