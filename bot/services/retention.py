"""How long what we keep about a person lives: vanishing chat rescheduling, forget me, and the
retention purge (docs/ARCHITECTURE.md 2.2 and 2.4).

Forgetting a person removes every row tied to her. The one exception is short-lived: the ids of
messages still to delete on her channel (and, to reach that channel, her encrypted address) stay
in a "tombstone" user row that nobody can find any more (its lookup hash is no longer a hash of
her address) until the deletions have run; then the tombstone goes too. A handler cannot reach
the channel senders inside its transaction, and after the commit the row would be gone.
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Column, ColumnElement, and_, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.i18n import _
from bot.core.types import Outgoing, Reply
from bot.services.delivery import DELETE_WINDOW
from bot.services.host import JobHost
from bot.services.places import promote_waiting
from db.engine import checkpoint_wal
from db.models import (
    STAFF_ROLES,
    AuditEntry,
    Base,
    Handoff,
    HandoffKind,
    HandoffStatus,
    Invite,
    Meetup,
    Membership,
    MessageRef,
    Signup,
    SignupStatus,
    User,
)
from db.queries import meetups as mq
from db.queries import members, rows_affected

log = logging.getLogger(__name__)

# A real lookup hash is 64 hex digits; this prefix can never be one, so nobody finds the row.
TOMBSTONE_PREFIX = "forgotten-"
# Even if the channel keeps refusing the deletions, a tombstone lives no longer than this.
TOMBSTONE_MAX_AGE = timedelta(days=5)
WEBCHAT_INACTIVE_DAYS = 2
PURGE_BATCH = 200

# A message for another person, sent after the transaction commits.
Notice = Outgoing


# -- vanishing chat ----------------------------------------------------------------------------

async def reschedule_deletions(db: AsyncSession, user: User, now: datetime) -> int:
    """Apply her new vanishing setting to the messages already tracked.

    Refs already due (quick exit, or past their time) stay due: a later setting never rescues a
    message from deletion. Never later than DELETE_WINDOW after sending (Telegram's 48 hours)."""
    pending = or_(MessageRef.delete_at.is_(None), MessageRef.delete_at > now)
    mine = and_(MessageRef.user_id == user.id, pending)
    if user.vanish_minutes <= 0:
        result = await db.execute(update(MessageRef).where(mine).values(delete_at=None))
        return rows_affected(result)
    delay = min(timedelta(minutes=user.vanish_minutes), DELETE_WINDOW)
    refs = list((await db.execute(select(MessageRef).where(mine))).scalars())
    for ref in refs:
        ref.delete_at = ref.sent_at + delay
    await db.flush()
    return len(refs)


# -- meetup places -----------------------------------------------------------------------------

async def release_places(db: AsyncSession, user_id: str, now: datetime) -> list[Notice]:
    """Her confirmed places in upcoming meetups go to the next women on the waiting lists.

    The same promotion as when she cancels a place herself (bot.services.places.promote_waiting)."""
    held = [m for m in (await db.execute(
        select(Meetup).join(Signup, Signup.meetup_id == Meetup.id)
        .where(Signup.user_id == user_id, Signup.status == SignupStatus.CONFIRMED))).scalars()
        if mq.is_open(m, now)]
    await db.execute(delete(Signup).where(Signup.user_id == user_id))
    notices: list[Notice] = []
    for meetup in held:
        # Locked as when she cancels herself, so two frees at once cannot promote one woman twice.
        locked = await mq.get_meetup(db, meetup.id, lock=True)
        if locked is not None:
            notices += await promote_waiting(db, locked, now)
    await db.flush()
    return notices


# -- forgetting a person -----------------------------------------------------------------------

def _user_fk_columns() -> list[tuple[Column[str], bool]]:
    """Every column in the schema that points at a user, and whether its rows go with her."""
    users_id = User.__table__.c.id
    found: list[tuple[Column[str], bool]] = []
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column is users_id:
                found.append((fk.parent, (fk.ondelete or "").upper() == "CASCADE"))
    return found


async def erase_user(db: AsyncSession, user: User, now: datetime, *,
                     keep_refs_to_delete: bool) -> list[Notice]:
    """Remove every row tied to her. With keep_refs_to_delete, messages still on her channel are
    made due now and a tombstone (no way to find it, nothing but the refs) waits for them."""
    notices = await release_places(db, user.id, now)
    notices += await _close_conversations(db, user.id)
    # Audit entries never name a participant as actor, but a privileged action may target her.
    await db.execute(update(AuditEntry).where(AuditEntry.target_id == user.id)
                     .values(target_id=""))
    keep_refs = keep_refs_to_delete and await _has_refs(db, user.id)
    for column, cascade in _user_fk_columns():
        if keep_refs and column.table is MessageRef.__table__:
            continue
        if cascade:
            await db.execute(delete(column.table).where(column == user.id))
        else:
            await db.execute(update(column.table).where(column == user.id).values(
                {column.name: None}))
    if not keep_refs:
        await db.delete(user)
        await db.flush()
        return notices
    await db.execute(update(MessageRef).where(MessageRef.user_id == user.id)
                     .values(delete_at=now))
    # Keep only what deleting the messages needs: the channel and the encrypted address.
    user.lookup_hash = TOMBSTONE_PREFIX + secrets.token_hex(16)
    user.active = False
    user.onboarded = False
    user.region_code = None
    user.org_id = None
    user.topics = []
    user.codeword_hash = None
    user.quiet_start = user.quiet_end = None
    # The channel's goodbye is tracked too: let it vanish soon, so the tombstone goes soon.
    user.vanish_minutes = 60
    user.last_active_on = now.date()
    await db.flush()
    return notices


async def _has_refs(db: AsyncSession, user_id: str) -> bool:
    return (await db.execute(select(exists().where(MessageRef.user_id == user_id)))).scalar_one()


async def _close_conversations(db: AsyncSession, user_id: str) -> list[Notice]:
    """Tell the caseworker who took one of her requests that it has ended (by pseudonym)."""
    taken = list((await db.execute(
        select(Handoff).where(Handoff.user_id == user_id, Handoff.taken_by.is_not(None),
                              Handoff.status.in_([HandoffStatus.OPEN, HandoffStatus.TAKEN]))
    )).scalars())
    notices = []
    for handoff in taken:
        pseudonym = handoff.pseudonym

        def build(name: str = pseudonym) -> list[Reply]:
            return [Reply(_("{name} has left the service. The request is closed.", name=name))]

        notices.append(Notice(str(handoff.taken_by), build))
    return notices


async def purge_tombstones(db: AsyncSession, now: datetime) -> int:
    """Tombstones whose messages are deleted (or that waited too long) go for good."""
    old = now.date() - TOMBSTONE_MAX_AGE
    refs_left = exists().where(MessageRef.user_id == User.id)
    result = await db.execute(delete(User).where(
        User.lookup_hash.startswith(TOMBSTONE_PREFIX),
        or_(~refs_left, User.last_active_on < old)))
    return rows_affected(result)


# -- retention ---------------------------------------------------------------------------------

def _stale_condition(now: datetime, retention_days: int,
                     short_lived: Sequence[str]) -> ColumnElement[bool]:
    today = now.date()
    return and_(
        User.role.not_in(list(STAFF_ROLES)),
        ~User.lookup_hash.startswith(TOMBSTONE_PREFIX),
        or_(User.last_active_on < today - timedelta(days=retention_days),
            and_(User.channel.in_(list(short_lived)),
                 User.last_active_on <= today - timedelta(days=WEBCHAT_INACTIVE_DAYS))))


async def purge_inactive(db: AsyncSession, now: datetime, retention_days: int, *,
                         short_lived: Sequence[str] = (),
                         limit: int | None = None) -> tuple[int, list[Notice]]:
    """Participants (never staff) inactive too long, with everything tied to them. Their
    messages are long past any platform's delete window, so no tombstone is needed."""
    stale = list((await db.execute(
        select(User).where(_stale_condition(now, retention_days, short_lived))
        .limit(limit or PURGE_BATCH))).scalars())
    notices: list[Notice] = []
    for user in stale:
        notices += await erase_user(db, user, now, keep_refs_to_delete=False)
    return len(stale), notices


async def purge_expired_invites(db: AsyncSession, now: datetime) -> int:
    result = await db.execute(delete(Invite).where(Invite.expires_at < now,
                                                   Invite.used_at.is_(None)))
    return rows_affected(result)


async def purge_old_join_requests(db: AsyncSession, now: datetime) -> int:
    """Requests to join lapse after 7 days at most (db.queries.members: the expiry is applied in
    every query); answered, withdrawn and lapsed ones go after two weeks."""
    result = await db.execute(delete(Handoff).where(
        Handoff.kind == HandoffKind.JOIN, Handoff.created_at < now - members.REQUEST_KEPT))
    return rows_affected(result)


async def run_retention(rt: JobHost) -> int:
    """The daily-ish purge. Idempotent; works in batches so no transaction grows large."""
    now = rt.services.clock()
    # Channels whose address lives only as long as a session (the web chat's page secret):
    # a row there is of no use once the page is gone.
    short_lived = session_bound_channels(rt)
    total = 0
    while True:
        async with rt.sessionmaker() as db, db.begin():
            count, notices = await purge_inactive(db, now, rt.settings.retention_days,
                                                  short_lived=short_lived)
        await send_notices(rt, notices)
        total += count
        if count < PURGE_BATCH:
            break
    async with rt.sessionmaker() as db, db.begin():
        invites = await purge_expired_invites(db, now)
        await purge_old_join_requests(db, now)
        tombstones = await purge_tombstones(db, now)
    log.info("retention: %d people, %d invites, %d tombstones removed", total, invites,
             tombstones)
    if total or tombstones:
        await checkpoint_wal(rt.engine)
    return total


async def run_tombstones(rt: JobHost) -> int:
    """Soon after forget me: delete her remaining messages, then the tombstone."""
    now = rt.services.clock()
    await rt.delivery.run_due_deletions(now)
    async with rt.sessionmaker() as db, db.begin():
        removed = await purge_tombstones(db, now)
    if removed:
        await checkpoint_wal(rt.engine)
    return removed


# -- web chat sessions that ended --------------------------------------------------------------
# On a channel whose address lives only as long as a session (the web chat: the page's secret),
# a row whose session is gone can never be reached again. What it holds (a place, a waiting-list
# place, a request, a membership) is freed at once: at quick exit (bot/runtime.py), and by the
# job below for a page closed without it (its session expired, or the memory store evicted it).

def session_bound_channels(rt: JobHost) -> list[str]:
    """The channels whose addresses do not outlive sessions (asked of each channel's
    capabilities, never by its name)."""
    return [name for name, caps in rt.services.channels.items()
            if not caps.addresses_outlive_sessions]


def _holds_something() -> ColumnElement[bool]:
    pending = [HandoffStatus.OPEN, HandoffStatus.TAKEN]
    return or_(exists().where(Signup.user_id == User.id),
               exists().where(Handoff.user_id == User.id, Handoff.status.in_(pending)),
               exists().where(Membership.user_id == User.id))


def _erasable(channels: Sequence[str]) -> ColumnElement[bool]:
    """A participant (staff are never erased this way) of such a channel, not a tombstone."""
    return and_(User.channel.in_(list(channels)), User.role.not_in(list(STAFF_ROLES)),
                ~User.lookup_hash.startswith(TOMBSTONE_PREFIX))


async def erase_ended_session(rt: JobHost, user_id: str) -> bool:
    """Her session ended (quick exit): her row goes with everything tied to it, and the first
    woman on each waiting list gets the freed place and is told. False if there was nothing
    to erase (not such a channel, staff, already gone)."""
    channels = session_bound_channels(rt)
    now = rt.services.clock()
    async with rt.sessionmaker() as db, db.begin():
        user = (await db.execute(select(User).where(User.id == user_id, _erasable(channels)))
                ).scalar_one_or_none()
        if user is None:
            return False
        notices = await erase_user(db, user, now, keep_refs_to_delete=False)
    await send_notices(rt, notices)
    return True


async def free_ended_sessions(rt: JobHost) -> int:
    """The job: rows of such channels that hold something and whose session no longer exists
    are erased as at quick exit (also a retry of a quick exit whose erasing failed).

    Idempotent, in batches. Nothing is freed in the first session lifetime after this process
    started: a memory store starts empty, and a page still open gets its whole session lifetime
    to come back. Only the leader runs it (bot/scheduler.py); the sessions it asks about are in
    the one store every instance shares (Redis), or in the one process's memory."""
    channels = session_bound_channels(rt)
    now = rt.services.clock()
    if not channels or now - rt.started_at < timedelta(seconds=rt.settings.session_ttl_seconds):
        return 0
    erased = checked = 0
    after = ""
    while True:
        async with rt.sessionmaker() as db:
            batch = list((await db.execute(
                select(User.id, User.lookup_hash)
                .where(_erasable(channels), _holds_something(), User.id > after)
                .order_by(User.id).limit(PURGE_BATCH))).all())
        if not batch:
            break
        after = batch[-1][0]
        checked += len(batch)
        gone = [user_id for user_id, key in batch if not await rt.store.exists(key)]
        for user_id in gone:
            try:
                erased += await _erase_if_still_gone(rt, user_id, channels, now)
            except Exception as exc:  # noqa: BLE001 - one failure must not stop the rest
                log.warning("freeing an ended session failed: %s", type(exc).__name__)
        if len(batch) < PURGE_BATCH:
            break
    if erased:
        log.info("ended sessions: %d of %d rows holding something erased", erased, checked)
    return erased


async def _erase_if_still_gone(rt: JobHost, user_id: str, channels: Sequence[str],
                               now: datetime) -> int:
    async with rt.sessionmaker() as db, db.begin():
        user = (await db.execute(select(User).where(User.id == user_id, _erasable(channels)))
                ).scalar_one_or_none()
        # Asked again at the last moment: she may have come back since the batch was read.
        if user is None or await rt.store.exists(user.lookup_hash):
            return 0
        notices = await erase_user(db, user, now, keep_refs_to_delete=False)
    await send_notices(rt, notices)
    return 1


async def send_notices(rt: JobHost, notices: Sequence[Notice]) -> None:
    for notice in notices:
        try:
            await rt.delivery.send_to_user(notice.user_id, notice.build,
                                           notification=notice.notification)
        except Exception as exc:  # noqa: BLE001 - one failed notice must not stop the purge
            log.warning("notice failed: %s", type(exc).__name__)
