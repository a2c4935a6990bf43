"""Sending to a person who did not just write to us (relays, reminders, broadcasts), and deleting
tracked messages (quick exit, vanishing chat). The core never touches a channel SDK: it goes
through the ChannelSender of the person's channel."""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.crypto import AddressVault
from bot.i18n import use_language
from bot.types import Outgoing, Reply
from db.models import MessageRef, User, utcnow
from handlers.ui import with_exit

log = logging.getLogger(__name__)

# Telegram lets a bot delete messages for 48 hours; we never plan a deletion later than this.
DELETE_WINDOW = timedelta(hours=47)


class RecipientGone(Exception):
    """She blocked the bot or unsubscribed: stop sending to her."""


class DeliveryFailed(Exception):
    """The platform refused or failed; `retry` says whether trying later makes sense."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.retry = retry


class RateLimited(DeliveryFailed):
    """The platform asked us to slow down: nothing was sent. Bulk sends postpone the message;
    nobody retries it within seconds while holding a person's lock."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, retry=True)


class ChannelPaused(DeliveryFailed):
    """The platform refused the whole bot account (a bad token, a blocked account, no balance):
    nothing was sent, and nothing will be on this channel before `until`. Not the person's
    fault and not an attempt: a broadcast keeps her row pending and resumes later."""

    def __init__(self, reason: str, *, until: datetime) -> None:
        super().__init__(reason, retry=True)
        self.until = until


@dataclass
class BatchResult:
    """What a channel's bulk call did. Addresses not listed in any set were delivered."""

    failed: set[str] = field(default_factory=set)  # refused for her alone: not sent, not retried
    gone: set[str] = field(default_factory=set)  # not subscribed any more: mark her inactive
    postponed: set[str] = field(default_factory=set)  # refused for now (rate): try later
    paid: int = 0  # messages the platform billed, from its own answer where it gives one


class BatchSender(Protocol):
    """A channel that can send the same message to many people in one call (Viber's
    broadcast_message). `batch_limit` is the most addresses one call takes."""

    name: str
    batch_limit: int

    async def send_batch(self, addresses: Sequence[str], replies: Sequence[Reply]
                         ) -> BatchResult:
        """Send once to all; raise DeliveryFailed when the call as a whole failed."""
        ...


class ChannelSender(Protocol):
    name: str

    async def send(self, address: str, replies: Sequence[Reply], *,
                   notification: bool) -> list[str]:
        """Send and return the platform message refs (for later deletion)."""
        ...

    async def delete(self, address: str, refs: Sequence[str]) -> None:
        """Delete what the platform allows; raise nothing for refs already gone."""
        ...


@dataclass
class _Due:
    """One person's refs to delete, read in a short read so no transaction spans network I/O."""

    user_id: str
    channel: str
    address_enc: bytes
    ids: list[int] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)


@dataclass
class Delivery:
    sessionmaker: async_sessionmaker[AsyncSession]
    vault: AddressVault
    senders: dict[str, ChannelSender]
    # The bot's clock (Services.clock), so refs are stamped in the same time as the handlers see.
    clock: Callable[[], datetime] = utcnow

    async def deliver(self, item: Outgoing) -> None:
        await self.send_to_user(item.user_id, item.build, notification=item.notification)

    async def send_to_user(self, user_id: str,
                           replies: Sequence[Reply] | Callable[[], Sequence[Reply]], *,
                           notification: bool = True) -> bool:
        """Send to one person, building the replies in her language. False if she is gone."""
        async with self.sessionmaker() as db, db.begin():
            user = await db.get(User, user_id)
            if user is None or not user.active:
                return False
            sender = self.senders.get(user.channel)
            if sender is None:
                log.warning("no sender for channel %s", user.channel)
                return False
            address = self.vault.decrypt(user.channel, user.address_enc)
            with use_language(user.language):
                built = list(replies() if callable(replies) else replies)
                if built:
                    built[-1] = with_exit(built[-1])
            try:
                refs = await sender.send(address, built, notification=notification)
            except RecipientGone:
                user.active = False
                log.info("recipient gone on %s; marked inactive", user.channel)
                return False
            await record_refs(db, user, refs, self.clock())
            return True

    async def erase_now(self, user_id: str) -> int:
        """Quick exit: delete every tracked message of her chat that the platform still allows."""
        due = await self._read_due(MessageRef.user_id == user_id, limit=None)
        return await self._delete_due(due, clutter_before=None)

    async def run_due_deletions(self, now: datetime | None = None, limit: int = 2000) -> int:
        """Vanishing chat and retries of quick exits: delete what is due, forget the refs."""
        now = now or self.clock()
        due = await self._read_due(MessageRef.delete_at <= now, limit=limit)
        # Refs too old to delete on any platform are only clutter: forget them too.
        return await self._delete_due(due, clutter_before=now - 2 * DELETE_WINDOW)

    async def _read_due(self, where: ColumnElement[bool], limit: int | None) -> list[_Due]:
        """What to delete and where, in one short read (no writer lock is taken)."""
        query = (select(MessageRef.id, MessageRef.ref, User.id, User.channel, User.address_enc)
                 .join(User, User.id == MessageRef.user_id).where(where)
                 .order_by(MessageRef.user_id, MessageRef.id))
        if limit is not None:
            query = query.limit(limit)
        async with self.sessionmaker() as db:
            rows = (await db.execute(query)).all()
        by_user: dict[str, _Due] = {}
        for ref_id, ref, user_id, channel, address_enc in rows:
            item = by_user.setdefault(user_id, _Due(user_id, channel, address_enc))
            item.ids.append(ref_id)
            item.refs.append(ref)
        return list(by_user.values())

    async def _delete_due(self, due: list[_Due], clutter_before: datetime | None) -> int:
        """The platform deletions run outside any transaction (they wait on the network); the
        refs handled are forgotten afterwards in one short write."""
        handled: list[int] = []
        gone: list[str] = []
        for item in due:
            outcome = await self._delete_on_platform(item)
            if outcome == "retry":
                continue  # keep the refs: the next run tries again
            if outcome == "gone":
                gone.append(item.user_id)
            handled.extend(item.ids)
        if not handled and not gone and clutter_before is None:
            return 0
        async with self.sessionmaker() as db, db.begin():
            for start in range(0, len(handled), 500):  # keep each IN list small
                await db.execute(delete(MessageRef)
                                 .where(MessageRef.id.in_(handled[start:start + 500]))
                                 .execution_options(synchronize_session=False))
            if gone:
                await db.execute(update(User).where(User.id.in_(gone)).values(active=False)
                                 .execution_options(synchronize_session=False))
            if clutter_before is not None:
                await db.execute(delete(MessageRef).where(MessageRef.sent_at < clutter_before)
                                 .execution_options(synchronize_session=False))
        return len(handled)

    async def _delete_on_platform(self, item: _Due) -> str:
        sender = self.senders.get(item.channel)
        if sender is None:
            return "done"  # nothing can delete them: only forget the refs
        address = self.vault.decrypt(item.channel, item.address_enc)
        try:
            await sender.delete(address, item.refs)
        except RecipientGone:
            log.info("recipient gone on %s; marked inactive", item.channel)
            return "gone"
        except DeliveryFailed as exc:
            if exc.retry:
                log.info("deletion on %s failed, will retry", item.channel)
                return "retry"
        return "done"


async def record_refs(db: AsyncSession, user: User, refs: Sequence[str], now: datetime) -> None:
    """Keep the ids (never the text) so that quick exit and vanishing survive a restart."""
    if not refs:
        return
    delete_at = None
    if user.vanish_minutes > 0:
        delete_at = now + min(timedelta(minutes=user.vanish_minutes), DELETE_WINDOW)
    for ref in refs:
        db.add(MessageRef(user_id=user.id, channel=user.channel, ref=str(ref), sent_at=now,
                          delete_at=delete_at))
