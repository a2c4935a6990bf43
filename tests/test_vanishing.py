"""Vanishing chat made real: her setting decides when tracked messages are deleted on the
channel, a change applies to messages already sent, and nothing is lost across a restart."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.core.settings import Settings
from bot.core.types import Channel, Reply
from bot.runtime import Runtime, open_runtime
from bot.services.delivery import DELETE_WINDOW
from db.models import MessageRef, User
from tests.chat import ChatDriver


class FakeSender:
    """A channel at the HTTP boundary's place: records what was sent and deleted, in memory."""

    def __init__(self, name: str = Channel.TELEGRAM.value) -> None:
        self.name = name
        self.sent: list[tuple[str, list[Reply]]] = []
        self.deleted: list[tuple[str, list[str]]] = []
        self._next = 100

    async def send(self, address: str, replies: Sequence[Reply], *,
                   notification: bool) -> list[str]:
        self.sent.append((address, list(replies)))
        refs = []
        for _reply in replies:
            self._next += 1
            refs.append(str(self._next))
        return refs

    async def delete(self, address: str, refs: Sequence[str]) -> None:
        self.deleted.append((address, list(refs)))

    def texts_to(self, address: str) -> list[str]:
        return [r.text for a, replies in self.sent if a == address for r in replies]

    def deleted_refs(self, address: str) -> set[str]:
        return {ref for a, refs in self.deleted if a == address for ref in refs}


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def user_of(rt: Runtime, chat: ChatDriver) -> User:
    key = rt.vault.lookup_hash(chat.channel, chat.address)
    async with rt.sessionmaker() as db:
        return (await db.execute(select(User).where(User.lookup_hash == key))).scalar_one()


async def refs_of(rt: Runtime, user_id: str) -> list[MessageRef]:
    async with rt.sessionmaker() as db:
        return list((await db.execute(select(MessageRef).where(MessageRef.user_id == user_id)
                                      .order_by(MessageRef.id))).scalars())


async def setup(rt: Runtime, clock, n: int = 3) -> tuple[ChatDriver, FakeSender, str]:  # noqa: ANN001
    """A Telegram user with n bot messages tracked (sent through the real Delivery)."""
    # Delivery stamps refs with the real time; the bot's clock starts there too.
    clock.now = datetime.now(UTC)
    sender = FakeSender()
    rt.add_sender(sender)
    chat = ChatDriver(rt.core, channel=Channel.TELEGRAM)
    await chat.onboard()
    user = await user_of(rt, chat)
    for i in range(n):
        assert await rt.delivery.send_to_user(user.id, [Reply(f"message {i}")])
    return chat, sender, user.id


async def test_default_is_24_hours(rt: Runtime, clock) -> None:  # noqa: ANN001
    chat, sender, uid = await setup(rt, clock)
    refs = await refs_of(rt, uid)
    assert len(refs) == 3
    for ref in refs:
        assert aware(ref.delete_at) - aware(ref.sent_at) == timedelta(hours=24)
    clock.advance(hours=23, minutes=59)
    assert await rt.delivery.run_due_deletions(clock.now) == 0
    clock.advance(minutes=2)
    assert await rt.delivery.run_due_deletions(clock.now) == 3
    assert sender.deleted_refs(chat.address) == {r.ref for r in refs}
    assert await refs_of(rt, uid) == []


async def test_changing_to_one_hour_reschedules_existing_messages(rt: Runtime,
                                                                   clock) -> None:  # noqa: ANN001
    chat, sender, uid = await setup(rt, clock)
    clock.advance(minutes=10)
    await chat.press("set", must_exist=False)
    await chat.press("set:vanish")
    await chat.press("set:vanish:60")
    assert "1 hour" in chat.text
    refs = await refs_of(rt, uid)
    assert len(refs) == 3
    for ref in refs:
        assert aware(ref.delete_at) - aware(ref.sent_at) == timedelta(hours=1)
        assert aware(ref.delete_at) - aware(ref.sent_at) <= DELETE_WINDOW
    clock.advance(minutes=45)
    assert await rt.delivery.run_due_deletions(clock.now) == 0
    assert sender.deleted == []
    clock.advance(minutes=10)
    assert await rt.delivery.run_due_deletions(clock.now) == 3
    assert sender.deleted_refs(chat.address) == {r.ref for r in refs}
    assert await refs_of(rt, uid) == []


async def test_new_messages_follow_the_new_setting(rt: Runtime, clock) -> None:  # noqa: ANN001
    chat, _sender, uid = await setup(rt, clock, n=0)
    await chat.press("set:vanish:60", must_exist=False)
    assert await rt.delivery.send_to_user(uid, [Reply("later")])
    (ref,) = await refs_of(rt, uid)
    assert aware(ref.delete_at) - aware(ref.sent_at) == timedelta(hours=1)


async def test_off_keeps_messages_but_quick_exit_still_deletes(rt: Runtime,
                                                               clock) -> None:  # noqa: ANN001
    chat, sender, uid = await setup(rt, clock)
    await chat.press("set:vanish:0", must_exist=False)
    assert all(r.delete_at is None for r in await refs_of(rt, uid))
    clock.advance(hours=46)
    assert await rt.delivery.run_due_deletions(clock.now) == 0
    out = await chat.say("exit")
    assert out.exit
    assert await rt.delivery.run_due_deletions(clock.now) == 3
    assert len(sender.deleted_refs(chat.address)) == 3
    assert await refs_of(rt, uid) == []


async def test_turning_it_back_on_applies_to_older_messages(rt: Runtime,
                                                            clock) -> None:  # noqa: ANN001
    chat, sender, uid = await setup(rt, clock)
    await chat.press("set:vanish:0", must_exist=False)
    clock.advance(hours=2)
    await chat.press("set:vanish:60", must_exist=False)
    # Sent two hours ago with a one-hour setting: due at once.
    assert await rt.delivery.run_due_deletions(clock.now) == 3
    assert await refs_of(rt, uid) == []
    assert len(sender.deleted_refs(chat.address)) == 3


async def test_a_later_setting_never_rescues_a_message_already_due(rt: Runtime,
                                                                   clock) -> None:  # noqa: ANN001
    chat, sender, uid = await setup(rt, clock)
    await chat.say("exit")  # the scheduler has not run yet
    await chat.say("/start")
    await chat.press("set:vanish:0", must_exist=False)
    await chat.press("set:vanish:1440", must_exist=False)
    assert await rt.delivery.run_due_deletions(clock.now) == 3
    assert len(sender.deleted_refs(chat.address)) == 3


async def test_other_women_s_messages_are_untouched(rt: Runtime, clock) -> None:  # noqa: ANN001
    chat, _sender, uid = await setup(rt, clock)
    other = ChatDriver(rt.core, channel=Channel.TELEGRAM)
    await other.onboard()
    other_id = (await user_of(rt, other)).id
    assert await rt.delivery.send_to_user(other_id, [Reply("hers")])
    await chat.press("set:vanish:60", must_exist=False)
    (ref,) = await refs_of(rt, other_id)
    assert aware(ref.delete_at) - aware(ref.sent_at) == timedelta(hours=24)
    assert len(await refs_of(rt, uid)) == 3


async def test_forged_vanish_value_keeps_the_schedule(rt: Runtime, clock) -> None:  # noqa: ANN001
    chat, _sender, uid = await setup(rt, clock)
    before = [(r.id, r.delete_at) for r in await refs_of(rt, uid)]
    await chat.press("set:vanish:999", must_exist=False)
    assert "not available" in chat.text
    assert [(r.id, r.delete_at) for r in await refs_of(rt, uid)] == before
    assert (await user_of(rt, chat)).vanish_minutes == 1440


async def test_deletions_survive_a_restart(settings: Settings, clock) -> None:  # noqa: ANN001
    clock.now = datetime.now(UTC)
    address = "tg-restart-1"
    async with open_runtime(settings, clock=clock) as rt:
        sender = FakeSender()
        rt.add_sender(sender)
        chat = ChatDriver(rt.core, channel=Channel.TELEGRAM, address=address)
        await chat.onboard()
        uid = (await user_of(rt, chat)).id
        for i in range(4):
            assert await rt.delivery.send_to_user(uid, [Reply(f"m{i}")])
        await chat.press("set:vanish:60", must_exist=False)
        expected = {r.ref for r in await refs_of(rt, uid)}
        assert len(expected) == 4 and sender.deleted == []
    clock.advance(hours=1, minutes=1)
    async with open_runtime(settings, clock=clock) as rt:
        sender = FakeSender()
        rt.add_sender(sender)
        assert await rt.delivery.run_due_deletions(clock.now) == 4
        assert sender.deleted_refs(address) == expected
        assert await refs_of(rt, uid) == []


async def test_refs_are_stamped_with_the_delivery_clock(rt: Runtime, clock) -> None:  # noqa: ANN001
    """Delivery uses the bot's clock (Services.clock), not the wall clock, when one is given."""
    from bot.services.delivery import Delivery
    from db.models import utcnow

    assert Delivery(rt.sessionmaker, rt.vault, {}).clock is utcnow  # today's default
    clock.now = datetime(2031, 3, 4, 5, 6, tzinfo=UTC)
    sender = FakeSender()
    rt.add_sender(sender)
    chat = ChatDriver(rt.core, channel=Channel.TELEGRAM)
    await chat.onboard()
    uid = (await user_of(rt, chat)).id
    delivery = Delivery(rt.sessionmaker, rt.vault, rt.senders, clock=clock)
    assert await delivery.send_to_user(uid, [Reply("m")])
    (ref,) = await refs_of(rt, uid)
    assert aware(ref.sent_at) == clock.now
    assert aware(ref.delete_at) == clock.now + timedelta(hours=24)
    clock.advance(hours=23)
    assert await delivery.run_due_deletions() == 0  # "now" is the delivery's clock
    clock.advance(hours=2)
    assert await delivery.run_due_deletions() == 1
    assert sender.deleted_refs(chat.address) == {ref.ref}


class WritingSender(FakeSender):
    """Writes to the database while the platform call is in flight, as another update would. If
    the deletion held a transaction over the network call, this write would wait on it (SQLite's
    writer lock, PostgreSQL's row lock on the clutter row) and never finish."""

    def __init__(self, rt: Runtime, clutter_id: int) -> None:
        super().__init__()
        self.rt, self.clutter_id = rt, clutter_id

    async def delete(self, address: str, refs: Sequence[str]) -> None:
        import asyncio

        from sqlalchemy import delete

        async def write() -> None:
            async with self.rt.sessionmaker() as db, db.begin():
                await db.execute(delete(MessageRef).where(MessageRef.id == self.clutter_id))

        await asyncio.wait_for(write(), timeout=4)  # a deadlock detector, not a speed limit
        await super().delete(address, refs)


async def add_clutter(rt: Runtime, uid: str, now: datetime) -> int:
    async with rt.sessionmaker() as db, db.begin():
        ref = MessageRef(user_id=uid, channel=Channel.TELEGRAM.value, ref="old",
                         sent_at=now - 3 * DELETE_WINDOW, delete_at=None)
        db.add(ref)
        await db.flush()
        return ref.id


async def test_platform_deletions_run_outside_any_transaction(rt: Runtime,
                                                              clock) -> None:  # noqa: ANN001
    chat, _sender, uid = await setup(rt, clock)
    clutter = await add_clutter(rt, uid, clock.now)
    sender = WritingSender(rt, clutter)
    rt.add_sender(sender)
    clock.advance(hours=25)
    assert await rt.delivery.run_due_deletions(clock.now) == 3
    assert len(sender.deleted_refs(chat.address)) == 3
    assert await refs_of(rt, uid) == []
    # The same for a quick exit.
    for i in range(2):
        assert await rt.delivery.send_to_user(uid, [Reply(f"again {i}")])
    clutter = await add_clutter(rt, uid, clock.now)
    sender.clutter_id = clutter
    assert await rt.delivery.erase_now(uid) == 3  # two new refs and the clutter row
    assert await refs_of(rt, uid) == []


async def test_a_failed_deletion_is_retried_and_a_gone_recipient_is_marked(
        rt: Runtime, clock) -> None:  # noqa: ANN001
    from bot.services.delivery import DeliveryFailed, RecipientGone

    chat, sender, uid = await setup(rt, clock)
    other = ChatDriver(rt.core, channel=Channel.TELEGRAM)
    await other.onboard()
    other_id = (await user_of(rt, other)).id
    assert await rt.delivery.send_to_user(other_id, [Reply("hers")])
    failures: dict[str, Exception] = {chat.address: DeliveryFailed("5xx", retry=True),
                                      other.address: RecipientGone()}
    real_delete = sender.delete

    async def failing(address: str, refs: Sequence[str]) -> None:
        if address in failures:
            raise failures[address]
        await real_delete(address, refs)

    sender.delete = failing  # type: ignore[method-assign]
    clock.advance(hours=25)
    assert await rt.delivery.run_due_deletions(clock.now) == 1  # only hers counted as done
    assert len(await refs_of(rt, uid)) == 3  # kept for the next run
    assert await refs_of(rt, other_id) == []  # nothing more can be done there
    assert (await user_of(rt, other)).active is False
    assert (await user_of(rt, chat)).active is True
    del failures[chat.address]
    assert await rt.delivery.run_due_deletions(clock.now) == 3
    assert await refs_of(rt, uid) == []
    assert len(sender.deleted_refs(chat.address)) == 3
    # A retryable failure of a quick exit keeps the refs too.
    assert await rt.delivery.send_to_user(uid, [Reply("late")])
    failures[chat.address] = DeliveryFailed("5xx", retry=True)
    assert await rt.delivery.erase_now(uid) == 0
    assert len(await refs_of(rt, uid)) == 1
