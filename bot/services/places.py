"""A meetup's places: when one becomes free it goes to the first woman on the waiting list, who is
told discreetly. Shared by her cancelling (handlers.meetups) and by forgetting someone
(bot.services.retention)."""
from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.i18n import _, data_text, format_when
from bot.core.notify import discreet, in_quiet_hours
from bot.core.types import Button, Outgoing, Reply
from db import queries
from db.models import Meetup, SignupStatus, User
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
