"""Meetup reminders (the day before and two hours before, once each, never during her quiet
hours, never after the start) and the purge of sign-ups once a meetup is over (the aggregate
counters are kept first)."""
from __future__ import annotations

import logging
from functools import partial

from sqlalchemy import delete, update

from bot.core.channels import DeliveryFailed
from bot.core.i18n import _, data_text, format_when
from bot.core.notify import in_quiet_hours
from bot.core.types import Button, Reply
from bot.services.host import JobHost
from bot.services.places import region_day
from db import queries
from db.models import Meetup, Signup, User
from db.queries import meetups as mq
from db.queries import rows_affected

log = logging.getLogger(__name__)


def reminder_replies(user: User, meetup: Meetup, tz: str, kind: str) -> list[Reply]:
    return [reminder_reply(user, meetup, tz, kind)]


def reminder_reply(user: User, meetup: Meetup, tz: str, kind: str) -> Reply:
    """Built under her language when it is sent. Never the place (docs/ARCHITECTURE.md 2.6): a
    lock screen or someone holding her phone could read it; the meetup's page offers it behind
    "Where is it?" (and her lock, when she set one)."""
    show = f"ev:show:{meetup.id}"
    if user.discreet:
        return Reply(_("You have a reminder."), buttons=((Button(_("Show"), show),),))
    first = (_("Reminder: your meetup is tomorrow.") if kind == "day"
             else _("Reminder: your meetup starts soon."))
    return Reply("\n\n".join([
        first, data_text(meetup.title),
        _("When: {when}", when=format_when(mq.aware(meetup.starts_at), tz)),
        _("If you cannot come, please cancel so that someone else can have your place."),
    ]), buttons=((Button(_("Open"), show),),))


async def send_reminders(rt: JobHost) -> int:
    """Every few minutes: the day-before and two-hours-before reminders, once each; during her
    quiet hours they wait for the next run, and none is ever sent after the start."""
    now = rt.services.clock()
    async with rt.sessionmaker() as db:
        due = await mq.due_reminders(db, now)
        zones = {r.code: r.timezone for r in await queries.regions(db)}
    sent = 0
    for item in due:
        tz = zones.get(item.user.region_code or "", zones.get(item.meetup.region_code,
                                                              "Europe/Brussels"))
        if in_quiet_hours(item.user, now, tz):
            continue
        flag = Signup.reminded_day if item.kind == "day" else Signup.reminded_soon
        values = {"reminded_day": True, "reminded_soon": True} if item.kind == "soon" \
            else {"reminded_day": True}
        # Claim first, then send: "once each" even when two runs overlap or a send fails.
        async with rt.sessionmaker() as db, db.begin():
            claimed = await db.execute(update(Signup)
                                       .where(Signup.id == item.signup_id, flag.is_(False))
                                       .values(**values))
        if rows_affected(claimed) != 1:
            continue
        meetup_tz = zones.get(item.meetup.region_code, "Europe/Brussels")
        user, meetup, kind = item.user, item.meetup, item.kind
        try:
            delivered = await rt.delivery.send_to_user(
                user.id,
                partial(reminder_replies, user, meetup, meetup_tz, kind))
        except DeliveryFailed as exc:
            # One woman's failed send must not stop the others. Nothing sent: try next run;
            # maybe sent (a time-out): keep it claimed, so she never gets it twice.
            if exc.retry:
                async with rt.sessionmaker() as db, db.begin():
                    await db.execute(update(Signup).where(Signup.id == item.signup_id)
                                     .values({flag.key: False}))
            continue
        if delivered:
            sent += 1
    if sent:
        log.info("meetup reminders sent: %d", sent)
    return sent


async def purge_past_signups(rt: JobHost) -> int:
    """After a meetup ends its sign-ups are deleted; first the aggregate counters are kept."""
    now = rt.services.clock()
    removed = 0
    async with rt.sessionmaker() as db, db.begin():
        zones = {r.code: r.timezone for r in await queries.regions(db)}
        for meetup in await mq.ended_with_signups(db, now):
            signups = await mq.signups_of(db, meetup.id)
            attended = sum(1 for s in signups if s.attended is True)
            if attended:
                day = region_day(mq.aware(meetup.starts_at),
                                 zones.get(meetup.region_code, "Europe/Brussels")).date()
                await queries.bump(db, "meetup_attended", day=day, org_id=meetup.org_id,
                                   region_code=meetup.region_code, n=attended)
            await db.execute(delete(Signup).where(Signup.meetup_id == meetup.id))
            removed += len(signups)
    if removed:
        log.info("past meetup sign-ups deleted: %d", removed)
    return removed
