"""Sending to a person who did not just write to us (relays, reminders, broadcasts), and deleting
tracked messages (quick exit, vanishing chat). The core never touches a channel SDK: it goes
through the ChannelSender of the person's channel. The one writer of message refs is here too."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.channels import (  # noqa: F401 - re-exported for the services and journeys
    BatchResult,
    BatchSender,
    ChannelPaused,
    ChannelSender,
    DeliveryFailed,
    RateLimited,
    RecipientGone,
)
from bot.core.crypto import AddressVault
from bot.core.i18n import use_language
from bot.core.types import Outgoing, Reply
from bot.core.ui import with_exit
from db.models import MessageRef, User, utcnow

log = logging.getLogger(__name__)

# Telegram lets a bot delete messages for 48 hours; we never plan a deletion later than this.
DELETE_WINDOW = timedelta(hours=47)


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
            await insert_refs(db, ref_rows(user.id, user.channel, user.vanish_minutes, refs,
                                           self.clock()))
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


def ref_rows(user_id: str, channel: str, vanish_minutes: int, refs: Sequence[str],
             now: datetime) -> list[dict[str, Any]]:
    """The message_refs rows for ids just sent or received: due when her vanishing setting says,
    never later than the platform's delete window."""
    delete_at = (now + min(timedelta(minutes=vanish_minutes), DELETE_WINDOW)
                 if vanish_minutes > 0 else None)
    return [{"user_id": user_id, "channel": channel, "ref": str(ref), "sent_at": now,
             "delete_at": delete_at} for ref in refs]


async def insert_refs(db: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Keep the ids (never the text) so that quick exit and vanishing survive a restart. One
    multi-row INSERT, no ORM object per id."""
    if rows:
        await db.execute(insert(MessageRef), rows)


class RefRecorder:
    """The one writer of message ids for the channels (ChannelHost.record_refs): many updates per
    transaction, since one commit per update would double the database work of the bot. Ids wait
    here at most `interval` seconds; quick exit flushes before it erases, and close() flushes
    last."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], vault: AddressVault,
                 clock: Callable[[], datetime], interval: float = 0.05) -> None:
        self.sessionmaker = sessionmaker
        self.vault = vault
        self.clock = clock
        self.interval = interval
        self._pending: list[tuple[str, str | None, str, list[str]]] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def add(self, channel: str, user_id: str | None, address: str, refs: Sequence[str]) -> None:
        if not refs:
            return
        self._pending.append((channel, user_id, address, list(refs)))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._soon())

    async def _soon(self) -> None:
        while self._pending:
            await asyncio.sleep(self.interval)
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                try:
                    await self._write(batch)
                except DBAPIError as exc:
                    if not exc.connection_invalidated:
                        raise
                    # The pool does not ping (db/engine.py): a dead pooled connection fails its
                    # first statement and nothing was written; once more on a fresh one.
                    await self._write(batch)
            except Exception as exc:  # noqa: BLE001 - never take a channel down
                log.error("could not record %d message ids: %s", len(batch), type(exc).__name__)

    async def _write(self, batch: list[tuple[str, str | None, str, list[str]]]) -> None:
        now = self.clock()
        async with self.sessionmaker() as db, db.begin():
            ids = {user_id for _, user_id, _, _ in batch if user_id}
            users: dict[str, tuple[str, str, int]] = {}
            if ids:
                found = await db.execute(
                    select(User.id, User.channel, User.vanish_minutes).where(User.id.in_(ids)))
                users = {row[0]: (row[0], row[1], row[2]) for row in found}
            by_address: dict[tuple[str, str], tuple[str, str, int] | None] = {}
            rows: list[dict[str, Any]] = []
            for channel, user_id, address, refs in batch:
                user = users.get(user_id) if user_id else None
                if user is None:
                    if (channel, address) not in by_address:
                        key = self.vault.lookup_hash(channel, address)
                        found_row = (await db.execute(
                            select(User.id, User.channel, User.vanish_minutes)
                            .where(User.lookup_hash == key))).first()
                        by_address[(channel, address)] = (
                            (found_row[0], found_row[1], found_row[2]) if found_row else None)
                    user = by_address[(channel, address)]
                if user is None:
                    continue  # nobody to tie them to (a row that is gone)
                rows += ref_rows(user[0], user[1], user[2], refs, now)
            await insert_refs(db, rows)

    async def close(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()
