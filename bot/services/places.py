"""A meetup's places: when one becomes free it goes to the first woman on the waiting list, who is
told discreetly. Shared by her cancelling (handlers.meetups) and by forgetting someone
(bot.services.retention)."""
from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.i18n import _, data_text, format_when
from bot.core.notify import discreet, in_quiet_hours
from bot.core.types import Button, Outgoing, Reply
from db import queries
from db.models import Meetup, Signup, SignupStatus, User
from db.queries import meetups as mq

log = logging.getLogger(__name__)


def region_day(now: datetime, tz: str) -> datetime:
    return now.astimezone(ZoneInfo(tz))


async def promote_waiting(db: AsyncSession, meetup: Meetup, now: datetime) -> list[Outgoing]:
    """Free places go to the first women on the waiting list; returns the notices to send."""
    notices: list[Outgoing] = []
    tz = await queries.region_timezone(db, meetup.region_code)
    while meetup.capacity - await mq.confirmed_count(db, meetup.id) > 0:
        nxt = await mq.first_waiting(db, meetup.id)
        if nxt is None:
            break
        nxt.status = SignupStatus.CONFIRMED
        nxt.reminded_day = nxt.reminded_soon = False  # she has not seen the address yet
        await db.flush()
        await queries.bump(db, "meetup_signups", day=region_day(now, tz).date(),
                           org_id=meetup.org_id, region_code=meetup.region_code)
        user = await db.get(User, nxt.user_id)
        if user is not None and user.active:
            notices.append(_promotion_notice(user, meetup, tz, now))
        log.info("meetup %s: first on the waiting list promoted", meetup.id)
    return notices


def mark_seen_reminders(signup: Signup, meetup: Meetup, now: datetime) -> None:
    """She has just read the details: a reminder within minutes would only be noise."""
    left = mq.aware(meetup.starts_at) - now
    signup.reminded_day = left <= mq.DAY_BEFORE
    signup.reminded_soon = left <= mq.SOON


async def take_place(db: AsyncSession, meetup: Meetup, user_id: str, now: datetime, *,
                     seen: bool = True) -> Signup:
    """A confirmed place if one is free, else a place on the waiting list. The caller checked
    that she is a member of the organiser and holds no sign-up yet, and locked the meetup.
    `seen`: she is reading the meetup's page now (no reminder within minutes)."""
    left = meetup.capacity - await mq.confirmed_count(db, meetup.id)
    status = SignupStatus.CONFIRMED if left > 0 else SignupStatus.WAITING
    signup = Signup(meetup_id=meetup.id, user_id=user_id, status=status, created_at=now)
    if status == SignupStatus.CONFIRMED:
        if seen:
            mark_seen_reminders(signup, meetup, now)
        tz = await queries.region_timezone(db, meetup.region_code)
        await queries.bump(db, "meetup_signups", day=region_day(now, tz).date(),
                           org_id=meetup.org_id, region_code=meetup.region_code)
    db.add(signup)
    await db.flush()
    log.info("meetup %s: sign-up %s", meetup.id, status)
    return signup


async def release_org_places(db: AsyncSession, user_id: str, org_id: int, now: datetime
                             ) -> list[Outgoing]:
    """Her membership of an organisation ended: her places and waiting-list places at its
    meetups go, and the first members on the waiting lists get the places she held."""
    held = list((await db.execute(
        select(Meetup, Signup.status).join(Signup, Signup.meetup_id == Meetup.id)
        .where(Signup.user_id == user_id, Meetup.org_id == org_id))).all())
    await db.execute(delete(Signup).where(
        Signup.user_id == user_id,
        Signup.meetup_id.in_(select(Meetup.id).where(Meetup.org_id == org_id))))
    await db.flush()
    notices: list[Outgoing] = []
    for meetup, status in held:
        if status == SignupStatus.CONFIRMED and mq.is_open(meetup, now):
            locked = await mq.get_meetup(db, meetup.id, lock=True)
            if locked is not None:
                notices += await promote_waiting(db, locked, now)
    return notices


def _promotion_notice(user: User, meetup: Meetup, tz: str, now: datetime) -> Outgoing:
    title, starts, meetup_id = meetup.title, mq.aware(meetup.starts_at), meetup.id

    def build() -> list[Reply]:
        details = Reply(
            _("Good news: a place became free and it is yours. “{title}”, {when}.",
              title=data_text(title), when=format_when(starts, tz)),
            buttons=((Button(_("Open"), f"ev:show:{meetup_id}"),),))
        return [discreet(user, details, f"ev:show:{meetup_id}")]

    # During her quiet hours the message arrives without a sound (she sees it when she looks).
    return Outgoing(user.id, build, notification=not in_quiet_hours(user, now, tz))
