"""Sending to a person who did not just write to us (relays, reminders, broadcasts), and deleting
tracked messages (quick exit, vanishing chat). The core never touches a channel SDK: it goes
through the ChannelSender of the person's channel."""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, select
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
class Delivery:
    sessionmaker: async_sessionmaker[AsyncSession]
    vault: AddressVault
    senders: dict[str, ChannelSender]

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
            await record_refs(db, user, refs, utcnow())
            return True

    async def erase_now(self, user_id: str) -> int:
        """Quick exit: delete every tracked message of her chat that the platform still allows."""
        async with self.sessionmaker() as db, db.begin():
            user = await db.get(User, user_id)
            if user is None:
                return 0
            refs = list((await db.execute(select(MessageRef).where(MessageRef.user_id == user_id)))
                        .scalars())
            return await self._delete(db, user, refs)

    async def run_due_deletions(self, now: datetime | None = None, limit: int = 2000) -> int:
        """Vanishing chat and retries of quick exits: delete what is due, forget the refs."""
        now = now or utcnow()
        async with self.sessionmaker() as db, db.begin():
            due = list((await db.execute(
                select(MessageRef).where(MessageRef.delete_at <= now)
                .order_by(MessageRef.user_id, MessageRef.id).limit(limit))).scalars())
            # Refs too old to delete on any platform are only clutter: forget them.
            await db.execute(delete(MessageRef).where(MessageRef.sent_at < now - 2 * DELETE_WINDOW)
                             .execution_options(synchronize_session=False))
            by_user: dict[str, list[MessageRef]] = {}
            for ref in due:
                by_user.setdefault(ref.user_id, []).append(ref)
            done = 0
            for user_id, refs in by_user.items():
                user = await db.get(User, user_id)
                if user is not None:
                    done += await self._delete(db, user, refs)
            return done

    async def _delete(self, db: AsyncSession, user: User, refs: list[MessageRef]) -> int:
        if not refs:
            return 0
        sender = self.senders.get(user.channel)
        if sender is not None:
            address = self.vault.decrypt(user.channel, user.address_enc)
            try:
                await sender.delete(address, [r.ref for r in refs])
            except RecipientGone:
                user.active = False
            except DeliveryFailed as exc:
                if exc.retry:
                    log.info("deletion on %s failed, will retry", user.channel)
                    return 0
        await db.execute(delete(MessageRef).where(MessageRef.id.in_([r.id for r in refs])))
        return len(refs)


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
