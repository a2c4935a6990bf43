"""The broadcast delivery engine: audience, materialised deliveries, paced sending, restart safety.

A broadcast must never reach anyone twice. The rule that guarantees it:

- A pass claims a batch of rows ("claimed", committed). Just before one message goes out, its row
  alone becomes "sending" in a COMMITTED transaction; after, "sent" / "failed" / "skipped".
- When a dispatcher pass starts, rows still "claimed" or "sending" belong to a pass that died (a
  crash, a kill, a restart): only the scheduler leader runs the dispatcher and APScheduler runs
  one pass at a time. A "claimed" row was never tried: it goes back to pending and is sent. A
  "sending" row may or may not have reached her: we mark it "unknown" and NEVER re-send.

The trade-off, chosen on purpose: after a crash, the one message per channel that was in flight
may be missed; nobody gets it twice. A woman whose phone lights up twice with a message from "the
bot" is more exposed than one who misses a training date. The progress screen counts "unknown"
so the coordinator can see it. For the same reason a DeliveryFailed(retry=False) -- the sender
cannot tell whether the message arrived, e.g. a time-out -- is "unknown", not retried.

Bulk calls. A channel whose sender offers `send_batch` (Viber's broadcast_message, up to 300
people a call) gets its rows in batches: the rows of one call become "sending" together, in one
committed transaction, before the call. A call that may have arrived is never made again (all
its rows "unknown"); the answer's list of who did not get it marks those rows apart.

Pauses. A ChannelPaused (the platform refused the whole bot account: bad token, blocked, no
balance) or a RateLimited answer means nothing was sent: the rows go back to pending, to be
tried after the pause, with no attempt counted. The broadcast stays "sending" and resumes by
itself; nobody is marked sent who was not.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.channels import (
    BatchResult,
    BatchSender,
    ChannelPaused,
    DeliveryFailed,
    RateLimited,
)
from bot.core.i18n import _, current_language, data_text, use_language
from bot.core.notify import discreet, quiet_hours_end
from bot.core.types import Reply
from bot.core.ui import screen, with_exit
from db import queries
from db.models import (
    Broadcast,
    BroadcastDelivery,
    BroadcastStatus,
    DeliveryStatus,
    Organisation,
    Role,
    User,
)
from db.queries import dialect_name, rows_affected
from db.reference import TOPICS

if TYPE_CHECKING:
    from bot.services.delivery import Delivery
    from bot.services.host import JobHost

log = logging.getLogger(__name__)

BATCH_SIZE = 20  # rows claimed at once (one message per channel is ever in doubt after a crash)
MATERIALISE_CHUNK = 1000
MAX_ATTEMPTS = 3
RETRY_DELAY = timedelta(minutes=1)
# Messages per second per channel, below the platforms' bulk limits (Telegram ~30/s, Viber is
# stricter). A channel not listed (the web chat) is not paced.
CHANNEL_RATES: dict[str, float] = {"telegram": 25.0, "viber": 10.0}
# Calls per second for a channel's bulk call (Viber: 500 broadcast_message calls per 10 s).
BATCH_RATES: dict[str, float] = {"viber": 25.0}
# A rate refusal (Viber's status 12) postpones the rows by this much, without counting a try.
RATE_POSTPONE = timedelta(minutes=1)
AUDIENCE_ROLES = {"participants": Role.PARTICIPANT, "professionals": Role.PROFESSIONAL}
RETRY = "retry"  # outcome: not sent, try again later (counts an attempt)
LATER = "later"  # outcome: not sent because of the platform's pause (counts no attempt)
LEFT_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED, DeliveryStatus.SENDING)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class RateLimiter:
    """Spaces calls at least 1/rate seconds apart (per channel). rate <= 0 means no pacing."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self._interval:
            return
        async with self._lock:
            now = self._clock()
            delay = self._next - now
            self._next = max(now, self._next) + self._interval
            if delay > 0:
                await self._sleep(delay)


# -- what the recipient sees ---------------------------------------------------------------------
@dataclass(frozen=True)
class Content:
    """What a broadcast says, detached from the database (built again in each reader's language)."""

    id: int
    topic: str
    texts: dict[str, str]
    base_language: str
    org_name: str

    def text_for(self, lang: str) -> str:
        return self.texts.get(lang) or self.texts.get(self.base_language) or ""


def details_reply(content: Content) -> Reply:
    """The broadcast itself, in the current language (hers, or the base language)."""
    topic = TOPICS.get(content.topic)
    heading = _(topic) if topic else ""
    body = "\n\n".join(part for part in (
        heading, data_text(content.text_for(current_language())),
        _("From: {name}", name=data_text(content.org_name))) if part)
    return screen(body)


def show_action(broadcast_id: int) -> str:
    return f"bc:show:{broadcast_id}"


def notification_replies(content: Content, *, discreet_on: bool) -> list[Reply]:
    """What reaches her phone: with discreet notifications only a neutral line and a button."""
    reader = User(discreet=discreet_on)  # transient: discreet() reads only this setting
    return [discreet(reader, details_reply(content), show_action(content.id))]


async def load_content(db: AsyncSession, broadcast: Broadcast) -> Content:
    org = await db.get(Organisation, broadcast.org_id)
    return Content(id=broadcast.id, topic=broadcast.topic,
                   texts={str(k): str(v) for k, v in (broadcast.texts or {}).items()},
                   base_language=broadcast.base_language, org_name=org.name if org else "")


# -- audience ------------------------------------------------------------------------------------
async def target_regions(db: AsyncSession, broadcast: Broadcast) -> list[str]:
    codes = await queries.org_region_codes(db, broadcast.org_id)
    if broadcast.region_code is None:
        return codes
    return [broadcast.region_code] if broadcast.region_code in codes else []


def eligible(user: User, broadcast: Broadcast, regions: Sequence[str]) -> bool:
    """Checked again just before sending: she may have unsubscribed or moved meanwhile."""
    return (user.role == AUDIENCE_ROLES.get(broadcast.audience) and user.active
            and user.onboarded and user.region_code in regions
            and broadcast.topic in (user.topics or []))


def _audience_query(broadcast: Broadcast, regions: Sequence[str],
                    after: str) -> Select[str, list[str]]:
    role = AUDIENCE_ROLES.get(broadcast.audience, Role.PARTICIPANT)
    return (select(User.id, User.topics)
            .where(User.role == role, User.active.is_(True), User.onboarded.is_(True),
                   User.region_code.in_(list(regions)), User.id > after)
            .order_by(User.id).limit(MATERIALISE_CHUNK))


async def count_audience(db: AsyncSession, broadcast: Broadcast) -> int:
    """How many people would get it now (for the preview)."""
    regions = await target_regions(db, broadcast)
    total, after = 0, ""
    while regions:
        rows = list(await db.execute(_audience_query(broadcast, regions, after)))
        if not rows:
            break
        total += sum(1 for _id, topics in rows if broadcast.topic in (topics or []))
        after = rows[-1][0]
    return total


async def count_audience_by_channel(db: AsyncSession, broadcast: Broadcast) -> dict[str, int]:
    """How many people would get it now, per channel (the preview's cost line)."""
    regions = await target_regions(db, broadcast)
    counts: dict[str, int] = {}
    after = ""
    role = AUDIENCE_ROLES.get(broadcast.audience, Role.PARTICIPANT)
    while regions:
        rows = list(await db.execute(
            select(User.id, User.topics, User.channel)
            .where(User.role == role, User.active.is_(True), User.onboarded.is_(True),
                   User.region_code.in_(list(regions)), User.id > after)
            .order_by(User.id).limit(MATERIALISE_CHUNK)))
        if not rows:
            break
        for _id, topics, channel in rows:
            if broadcast.topic in (topics or []):
                counts[channel] = counts.get(channel, 0) + 1
        after = rows[-1][0]
    return counts


async def paid_sent(db: AsyncSession, broadcast_id: int) -> int:
    """Paid messages the broadcast actually sent (the platform's billing answer)."""
    value = (await db.execute(select(Broadcast.paid_messages)
                              .where(Broadcast.id == broadcast_id))).scalar()
    return int(value or 0)


async def progress(db: AsyncSession, broadcast_id: int) -> dict[str, int]:
    """Deliveries by status, every status present (zero when none)."""
    counts = {status.value: 0 for status in DeliveryStatus}
    query = (select(BroadcastDelivery.status, func.count())
             .where(BroadcastDelivery.broadcast_id == broadcast_id)
             .group_by(BroadcastDelivery.status))
    for status, n in await db.execute(query):
        counts[str(status)] = int(n)
    return counts


# -- the engine ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Claimed:
    row_id: int
    user_id: str
    channel: str
    region_code: str
    discreet: bool
    language: str = "en"


@dataclass
class Broadcaster:
    """One dispatcher pass at a time (the scheduler leader's job). See the module docstring."""

    sessionmaker: async_sessionmaker[AsyncSession]
    delivery: Delivery
    clock: Callable[[], datetime]
    rates: dict[str, float] | None = None
    batch_size: int = BATCH_SIZE

    def __post_init__(self) -> None:
        rates = CHANNEL_RATES if self.rates is None else self.rates
        self._limiters = {name: RateLimiter(rate) for name, rate in rates.items()}
        self._batch_limiters = {name: RateLimiter(rate if self.rates is None else 0)
                                for name, rate in BATCH_RATES.items()}

    def _batch_sender(self, channel: str) -> BatchSender | None:
        sender = self.delivery.senders.get(channel)
        if sender is not None and callable(getattr(sender, "send_batch", None)):
            return sender  # type: ignore[return-value]
        return None

    def _claim_size(self) -> int:
        """Enough rows for one full bulk call of any channel that has one."""
        limits = [int(getattr(s, "batch_limit", 0)) for s in self.delivery.senders.values()
                  if callable(getattr(s, "send_batch", None))]
        return max([self.batch_size, *limits])

    @classmethod
    def for_runtime(cls, rt: JobHost, **kwargs: object) -> Broadcaster:
        return cls(sessionmaker=rt.sessionmaker, delivery=rt.delivery, clock=rt.services.clock,
                   **kwargs)  # type: ignore[arg-type]

    def _limiter(self, channel: str) -> RateLimiter:
        if channel not in self._limiters:
            self._limiters[channel] = RateLimiter(0)
        return self._limiters[channel]

    def now(self) -> datetime:
        return as_utc(self.clock())

    async def run_due(self) -> int:
        """One dispatcher pass: settle what a dead pass left, start due broadcasts, send."""
        await self.recover()
        async with self.sessionmaker() as db:
            due = list((await db.execute(
                select(Broadcast.id).where(Broadcast.status == BroadcastStatus.SCHEDULED,
                                           Broadcast.scheduled_at <= self.now())
                .order_by(Broadcast.scheduled_at, Broadcast.id))).scalars())
        for broadcast_id in due:
            await self.materialise(broadcast_id)
        async with self.sessionmaker() as db:
            sending = list((await db.execute(
                select(Broadcast.id).where(Broadcast.status == BroadcastStatus.SENDING)
                .order_by(Broadcast.id))).scalars())
        sent = 0
        for broadcast_id in sending:
            sent += await self.send_broadcast(broadcast_id)
        return sent

    async def recover(self) -> int:
        """Rows a dead pass left behind: "claimed" ones were never tried and go back to pending;
        "sending" ones were in flight: outcome unknown, never sent again."""
        async with self.sessionmaker() as db, db.begin():
            await db.execute(
                update(BroadcastDelivery).where(BroadcastDelivery.status == DeliveryStatus.CLAIMED)
                .values(status=DeliveryStatus.PENDING, updated_at=self.now()))
            result = await db.execute(
                update(BroadcastDelivery).where(BroadcastDelivery.status == DeliveryStatus.SENDING)
                .values(status=DeliveryStatus.UNKNOWN, updated_at=self.now()))
        in_doubt = rows_affected(result)
        if in_doubt:
            log.warning("%d broadcast deliveries were in flight at a crash: marked unknown",
                        in_doubt)
        return in_doubt

    async def materialise(self, broadcast_id: int) -> int:
        """Create one delivery row per eligible person, in committed chunks by user id, so that
        a crash half-way resumes after the last committed id. Then scheduled -> sending."""
        added = 0
        async with self.sessionmaker() as db:
            # Resume after the last row committed before a crash; from then on the scan moves by
            # the last user READ (not the last one added: a chunk may add nobody).
            after = (await db.execute(
                select(func.max(BroadcastDelivery.user_id))
                .where(BroadcastDelivery.broadcast_id == broadcast_id))).scalar() or ""
        while True:
            async with self.sessionmaker() as db, db.begin():
                broadcast = await db.get(Broadcast, broadcast_id)
                if broadcast is None or broadcast.status != BroadcastStatus.SCHEDULED:
                    return added  # cancelled meanwhile
                regions = await target_regions(db, broadcast)
                rows = list(await db.execute(_audience_query(broadcast, regions, after))) \
                    if regions else []
                now = self.now()
                values = [{"broadcast_id": broadcast_id, "user_id": user_id,
                           "status": DeliveryStatus.PENDING, "attempts": 0, "updated_at": now}
                          for user_id, topics in rows if broadcast.topic in (topics or [])]
                if values:
                    await db.execute(insert(BroadcastDelivery), values)
                    added += len(values)
                if rows:
                    after = rows[-1][0]
                if len(rows) < MATERIALISE_CHUNK:
                    await db.execute(
                        update(Broadcast).where(Broadcast.id == broadcast_id,
                                                Broadcast.status == BroadcastStatus.SCHEDULED)
                        .values(status=BroadcastStatus.SENDING))
                    log.info("broadcast %s: %d recipients", broadcast_id, added)
                    return added

    async def send_broadcast(self, broadcast_id: int) -> int:
        """Send every due row of one broadcast, batch by batch; mark it done when none is left."""
        sent = 0
        while True:
            batch, content = await self._claim(broadcast_id)
            if content is None:
                return sent
            if not batch:
                break
            sent += await self._send_batch(broadcast_id, content, batch)
        await self._finish_if_done(broadcast_id)
        return sent

    async def _claim(self, broadcast_id: int) -> tuple[list[Claimed], Content | None]:
        """Mark the next due rows "claimed" and COMMIT before anything is sent. Rows of women in
        their quiet hours wait (not_before); rows of people no longer eligible are skipped."""
        claimed: list[Claimed] = []
        async with self.sessionmaker() as db, db.begin():
            broadcast = await db.get(Broadcast, broadcast_id)
            if broadcast is None or broadcast.status != BroadcastStatus.SENDING:
                return [], None
            content = await load_content(db, broadcast)
            regions = await target_regions(db, broadcast)
            zones = {r.code: r.timezone for r in await queries.regions(db)}
            now = self.now()
            while not claimed:
                query = (select(BroadcastDelivery, User)
                         .join(User, User.id == BroadcastDelivery.user_id)
                         .where(BroadcastDelivery.broadcast_id == broadcast_id,
                                BroadcastDelivery.status == DeliveryStatus.PENDING,
                                (BroadcastDelivery.not_before.is_(None))
                                | (BroadcastDelivery.not_before <= now))
                         .order_by(BroadcastDelivery.id).limit(self._claim_size()))
                if dialect_name(db) == "postgresql":
                    query = query.with_for_update(skip_locked=True, of=BroadcastDelivery)
                rows = list(await db.execute(query))
                if not rows:
                    break
                for row, user in rows:
                    row.updated_at = now
                    if not eligible(user, broadcast, regions):
                        row.status = DeliveryStatus.SKIPPED
                        continue
                    tz = zones.get(user.region_code or "", "Europe/Brussels")
                    wake = quiet_hours_end(user, now, tz)
                    if wake > now:
                        row.not_before = wake.astimezone(UTC)
                        continue
                    row.status = DeliveryStatus.CLAIMED
                    claimed.append(Claimed(row.id, user.id, user.channel, user.region_code or "",
                                           user.discreet, user.language))
                await db.flush()
        return claimed, content

    async def _send_batch(self, broadcast_id: int, content: Content, batch: list[Claimed]) -> int:
        by_channel: dict[str, list[Claimed]] = {}
        for item in batch:
            by_channel.setdefault(item.channel, []).append(item)
        outcomes: dict[int, str] = {}
        # Channels are paced independently: a slow Viber queue must not hold Telegram back. A
        # TaskGroup, not gather: if one fails or the pass is cancelled, the others stop too.
        async with asyncio.TaskGroup() as group:
            for items in by_channel.values():
                group.create_task(self._send_channel(broadcast_id, content, items, outcomes))
        await self._record(broadcast_id, batch, outcomes)
        return sum(1 for status in outcomes.values() if status == DeliveryStatus.SENT)

    async def _send_channel(self, broadcast_id: int, content: Content, items: list[Claimed],
                            outcomes: dict[int, str]) -> None:
        batch_sender = self._batch_sender(items[0].channel)
        if batch_sender is not None:
            await self._send_channel_in_batches(broadcast_id, content, items, outcomes,
                                                batch_sender)
            return
        limiter = self._limiter(items[0].channel)
        for item in items:
            if not await self._still_sending(broadcast_id):
                return  # cancelled: the rest go back to pending and are never sent
            await limiter.wait()
            later: dict[int, datetime] = {}
            outcome = await self._send_one(content, item, later)
            outcomes[item.row_id] = outcome
            # Settled at once, not at the end of the batch: a crash now leaves no sent message
            # looking "in flight".
            await self._record(broadcast_id, [item], {item.row_id: outcome}, later=later)

    async def _send_one(self, content: Content, item: Claimed,
                        later: dict[int, datetime]) -> str:
        if not await self._mark_in_flight([item.row_id]):
            return DeliveryStatus.UNKNOWN  # another pass settled it meanwhile: leave it alone
        try:
            delivered = await self.delivery.send_to_user(
                item.user_id, lambda: notification_replies(content, discreet_on=item.discreet))
        except ChannelPaused as exc:
            later[item.row_id] = as_utc(exc.until)
            return LATER
        except RateLimited:
            later[item.row_id] = self.now() + RATE_POSTPONE
            return LATER
        except DeliveryFailed as exc:
            return RETRY if exc.retry else DeliveryStatus.UNKNOWN
        except Exception as exc:  # noqa: BLE001 - the outcome is unknown: never send it again
            log.error("broadcast send failed: %s", type(exc).__name__)
            return DeliveryStatus.UNKNOWN
        return DeliveryStatus.SENT if delivered else DeliveryStatus.SKIPPED

    async def _mark_in_flight(self, row_ids: list[int]) -> bool:
        """These rows become "sending", committed before their message leaves: a crash from here
        on leaves exactly these rows in doubt. False if any was settled by another pass."""
        async with self.sessionmaker() as db:
            result = await db.execute(
                update(BroadcastDelivery)
                .where(BroadcastDelivery.id.in_(row_ids),
                       BroadcastDelivery.status == DeliveryStatus.CLAIMED)
                .values(status=DeliveryStatus.SENDING, updated_at=self.now()))
            if rows_affected(result) != len(row_ids):
                # Only a pass of our own may hold them: leave all of them as they were.
                await db.rollback()
                return False
            await db.commit()
        return True

    async def _send_channel_in_batches(self, broadcast_id: int, content: Content,
                                       items: list[Claimed], outcomes: dict[int, str],
                                       sender: BatchSender) -> None:
        """One bulk call per group of people who read the same message (same language, same
        notification setting), at most `batch_limit` a call."""
        groups: dict[tuple[str, bool], list[Claimed]] = {}
        for item in items:
            groups.setdefault((item.language, item.discreet), []).append(item)
        limiter = self._batch_limiters.get(items[0].channel) or RateLimiter(0)
        for (language, discreet_on), group in groups.items():
            for start in range(0, len(group), sender.batch_limit):
                if not await self._still_sending(broadcast_id):
                    return  # cancelled: the rest go back to pending and are never sent
                chunk = group[start:start + sender.batch_limit]
                await limiter.wait()
                later: dict[int, datetime] = {}
                chunk_outcomes, paid, gone = await self._send_chunk(
                    content, chunk, language, discreet_on, sender, later)
                outcomes.update(chunk_outcomes)
                await self._record(broadcast_id, chunk, chunk_outcomes, later=later, paid=paid,
                                   gone=gone)

    async def _send_chunk(self, content: Content, chunk: list[Claimed], language: str,
                          discreet_on: bool, sender: BatchSender, later: dict[int, datetime]
                          ) -> tuple[dict[int, str], int, list[str]]:
        """One bulk call: (outcome per row, paid messages, users who left the channel)."""
        outcomes: dict[int, str] = {}
        async with self.sessionmaker() as db:
            users = {u.id: u for u in (await db.execute(
                select(User).where(User.id.in_([i.user_id for i in chunk])))).scalars()}
        addresses: dict[str, Claimed] = {}
        for item in chunk:
            user = users.get(item.user_id)
            if user is None or not user.active or user.channel != item.channel:
                outcomes[item.row_id] = DeliveryStatus.SKIPPED
                continue
            addresses[self.delivery.vault.decrypt(user.channel, user.address_enc)] = item
        if not addresses:
            return outcomes, 0, []
        if not await self._mark_in_flight([i.row_id for i in addresses.values()]):
            outcomes.update({i.row_id: DeliveryStatus.UNKNOWN for i in addresses.values()})
            return outcomes, 0, []
        with use_language(language):
            replies = notification_replies(content, discreet_on=discreet_on)
            replies[-1] = with_exit(replies[-1])
        try:
            result = await sender.send_batch(list(addresses), replies)
        except ChannelPaused as exc:
            return self._all(outcomes, addresses, LATER, later, as_utc(exc.until)), 0, []
        except RateLimited:
            return self._all(outcomes, addresses, LATER, later,
                             self.now() + RATE_POSTPONE), 0, []
        except DeliveryFailed as exc:
            # retry=True: the call never reached the platform. Otherwise it may have arrived:
            # never again, for any of them.
            return self._all(outcomes, addresses, RETRY if exc.retry else DeliveryStatus.UNKNOWN,
                             later, None), 0, []
        except Exception as exc:  # noqa: BLE001 - the outcome is unknown: never send it again
            log.error("broadcast bulk send failed: %s", type(exc).__name__)
            return self._all(outcomes, addresses, DeliveryStatus.UNKNOWN, later, None), 0, []
        return self._settle(outcomes, addresses, result, later), result.paid, [
            addresses[a].user_id for a in result.gone if a in addresses]

    @staticmethod
    def _all(outcomes: dict[int, str], addresses: dict[str, Claimed], outcome: str,
             later: dict[int, datetime], until: datetime | None) -> dict[int, str]:
        for item in addresses.values():
            outcomes[item.row_id] = outcome
            if until is not None:
                later[item.row_id] = until
        return outcomes

    def _settle(self, outcomes: dict[int, str], addresses: dict[str, Claimed],
                result: BatchResult, later: dict[int, datetime]) -> dict[int, str]:
        for address, item in addresses.items():
            if address in result.gone:
                outcomes[item.row_id] = DeliveryStatus.SKIPPED
            elif address in result.failed:
                outcomes[item.row_id] = DeliveryStatus.FAILED
            elif address in result.postponed:
                outcomes[item.row_id] = LATER
                later[item.row_id] = self.now() + RATE_POSTPONE
            else:
                outcomes[item.row_id] = DeliveryStatus.SENT
        return outcomes

    async def _still_sending(self, broadcast_id: int) -> bool:
        async with self.sessionmaker() as db:
            status = (await db.execute(select(Broadcast.status)
                                       .where(Broadcast.id == broadcast_id))).scalar()
        return status == BroadcastStatus.SENDING

    async def _record(self, broadcast_id: int, batch: list[Claimed], outcomes: dict[int, str],
                      *, later: dict[int, datetime] | None = None, paid: int = 0,
                      gone: Sequence[str] = ()) -> None:
        """Write what happened. Only rows this pass still holds ("claimed", or "sending" once
        tried) change: a row a later pass already settled keeps its status."""
        now = self.now()
        later = later or {}
        sent_by_region: dict[str, int] = {}
        async with self.sessionmaker() as db, db.begin():
            if gone:
                await db.execute(update(User).where(User.id.in_(list(gone)))
                                 .values(active=False).execution_options(
                                     synchronize_session=False))
                log.info("%d broadcast recipients left the channel; marked inactive", len(gone))
            if paid:
                await db.execute(update(Broadcast).where(Broadcast.id == broadcast_id)
                                 .values(paid_messages=Broadcast.paid_messages + paid))
            broadcast = await db.get(Broadcast, broadcast_id)
            for item in batch:
                outcome = outcomes.get(item.row_id)
                row = await db.get(BroadcastDelivery, item.row_id)
                if row is None or row.status not in (DeliveryStatus.CLAIMED,
                                                     DeliveryStatus.SENDING):
                    continue
                row.updated_at = now
                if outcome is None:
                    row.status = DeliveryStatus.PENDING  # never tried: the broadcast was cancelled
                elif outcome == LATER:
                    # The platform paused: not her fault and not a try.
                    row.status = DeliveryStatus.PENDING
                    row.not_before = later.get(item.row_id, now + RATE_POSTPONE)
                elif outcome == RETRY:
                    row.attempts += 1
                    if row.attempts >= MAX_ATTEMPTS:
                        row.status = DeliveryStatus.FAILED
                    else:
                        row.status = DeliveryStatus.PENDING
                        row.not_before = now + RETRY_DELAY * row.attempts
                else:
                    row.status = outcome
                    if outcome == DeliveryStatus.SENT:
                        sent_by_region[item.region_code] = sent_by_region.get(
                            item.region_code, 0) + 1
            if broadcast is not None:
                # Sends to professionals count apart ("broadcast_sent:professional"): the report
                # shows the professionals reached separately from the women.
                role = "professional" if broadcast.audience == "professionals" else None
                for region_code, n in sent_by_region.items():
                    await queries.bump(db, "broadcast_sent", day=now.date(),
                                       org_id=broadcast.org_id, region_code=region_code, n=n,
                                       role=role)

    async def _finish_if_done(self, broadcast_id: int) -> None:
        async with self.sessionmaker() as db, db.begin():
            left = (await db.execute(
                select(func.count()).select_from(BroadcastDelivery)
                .where(BroadcastDelivery.broadcast_id == broadcast_id,
                       BroadcastDelivery.status.in_(LEFT_STATUSES)))).scalar() or 0
            if left:
                return  # some wait for the end of quiet hours, or a retry
            await db.execute(update(Broadcast).where(Broadcast.id == broadcast_id,
                                                     Broadcast.status == BroadcastStatus.SENDING)
                             .values(status=BroadcastStatus.DONE, finished_at=self.now()))
        log.info("broadcast %s done", broadcast_id)


async def dispatch(rt: JobHost) -> int:
    """The scheduler job: one pass over due broadcasts."""
    return await Broadcaster.for_runtime(rt).run_due()
