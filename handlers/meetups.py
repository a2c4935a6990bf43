"""Peer-group meetups: the upcoming meetups of her region, one meetup's page, sign up, waiting
list, cancel, her own meetups; reminders the day before and two hours before; sign-ups deleted
once a meetup is over. The meeting place is shown only to a woman with a confirmed place
(docs/ARCHITECTURE.md 2.6): never in a list, never on the page of someone else."""
from __future__ import annotations

import logging
from datetime import datetime

from bot.core.context import Ctx, Route
from bot.core.i18n import _, data_text, format_when, ngettext
from bot.core.types import Button, Reply
from bot.core.ui import PAGE_SIZE, leave_prompt, pager, screen
from bot.services.impact import count_started
from bot.services.places import promote_waiting, region_day
from db import queries
from db.models import SURVIVOR_JOURNEY_ROLES, Meetup, PostStatus, Signup, SignupStatus
from db.queries import meetups as mq

log = logging.getLogger(__name__)


# -- small builders ----------------------------------------------------------------------------
def places_left_text(left: int) -> str:
    if left <= 0:
        return _("Full. You can join the waiting list.")
    return ngettext("{n} place left", "{n} places left", left)


def not_available(ctx: Ctx, note: str) -> list[Reply]:
    """A missing, forged, past or cancelled target: say so, change nothing, offer the list."""
    leave_prompt(ctx.session)
    return [screen(note, [Button(_("Upcoming meetups"), "ev:list:0"),
                          Button(_("My meetups"), "ev:mine")])]


async def needs_setup(ctx: Ctx) -> list[Reply] | None:
    """Someone who has not finished the start (a forged or early payload) goes back to it."""
    if ctx.user.onboarded:
        return None
    if ctx.goto is None:
        return [screen(_("Sorry, this is not available to you."))]
    return await ctx.goto("menu")


# -- list --------------------------------------------------------------------------------------
async def list_meetups(ctx: Ctx, page: int) -> list[Reply]:
    now = ctx.now()
    region = ctx.user.region_code
    tz = await queries.region_timezone(ctx.db, region)
    found, has_more = await mq.upcoming(ctx.db, region, now, page=page, size=PAGE_SIZE)
    leave_prompt(ctx.session)
    mine = [Button(_("My meetups"), "ev:mine")]
    if not found:
        note = (_("There are no more meetups on this list.") if page > 0
                else _("There are no upcoming meetups in your region yet. Please look again "
                       "in a few days."))
        first = [Button(_("First page"), "ev:list:0")] if page > 0 else []
        return [screen(note, first, mine)]
    counts = await mq.confirmed_counts(ctx.db, [m.id for m in found])
    lines = [_("Upcoming peer-group meetups near you. The address is shown after you sign up.")]
    buttons: list[list[Button]] = []
    for number, meetup in enumerate(found, start=page * PAGE_SIZE + 1):
        left = meetup.capacity - counts.get(meetup.id, 0)
        lines.append(f"{number}. {data_text(meetup.title)}\n"
                     f"{format_when(mq.aware(meetup.starts_at), tz)}\n"
                     f"{places_left_text(left)}")
        buttons.append([Button(f"{number}. {data_text(meetup.title)}"[:60],
                               f"ev:show:{meetup.id}")])
    return [screen("\n\n".join(lines), *buttons, pager("ev:list", page, has_more), mine)]


# -- one meetup --------------------------------------------------------------------------------
async def meetup_page(ctx: Ctx, meetup: Meetup, signup: Signup | None,
                      note: str | None = None) -> Reply:
    tz = await queries.region_timezone(ctx.db, meetup.region_code)
    left = meetup.capacity - await mq.confirmed_count(ctx.db, meetup.id)
    parts = [note] if note else []
    parts.append(data_text(meetup.title))
    parts.append(_("When: {when}", when=format_when(mq.aware(meetup.starts_at), tz)))
    parts.append(ngettext("It lasts about {n} minute.", "It lasts about {n} minutes.",
                          meetup.duration_minutes))
    if meetup.description:
        parts.append(data_text(meetup.description))
    buttons: list[list[Button]] = []
    if signup is not None and signup.status == SignupStatus.CONFIRMED:
        # The place, only for her: she has a confirmed place (docs/ARCHITECTURE.md 2.6).
        parts.append(_("You have a place."))
        parts.append(_("Where: {place}", place=data_text(meetup.place)))
        buttons.append([Button(_("Cancel my place"), f"ev:cancel:{meetup.id}")])
    elif signup is not None:
        position = await mq.waiting_position(ctx.db, signup)
        parts.append(_("You are on the waiting list (number {position}). We will tell you if a "
                       "place becomes free.", position=position))
        buttons.append([Button(_("Leave the waiting list"), f"ev:cancel:{meetup.id}")])
    else:
        parts.append(places_left_text(left))
        parts.append(_("The address is shown after you sign up."))
        if left > 0:
            buttons.append([Button(_("Sign up"), f"ev:join:{meetup.id}")])
        else:
            buttons.append([Button(_("Join the waiting list"), f"ev:wait:{meetup.id}")])
    buttons.append([Button(_("My meetups"), "ev:mine")])
    leave_prompt(ctx.session)
    return screen("\n\n".join(parts), *buttons, back="ev:list:0")


async def load_open(ctx: Ctx, *, lock: bool = False) -> tuple[Meetup | None, list[Reply]]:
    """The meetup named by the payload, if she may act on it; else the answer to give."""
    meetup = await mq.get_meetup(ctx.db, ctx.arg_int(1), lock=lock)
    if meetup is None or meetup.status in (PostStatus.DRAFT, PostStatus.CLOSED):
        return None, not_available(ctx, _("Sorry, this meetup does not exist or is no longer "
                                          "available."))
    if meetup.status == PostStatus.CANCELLED:
        return None, not_available(ctx, _("This meetup was cancelled. We are sorry."))
    if not mq.is_open(meetup, ctx.now()):
        return None, not_available(ctx, _("This meetup has already started or is over."))
    return meetup, []


async def show_meetup(ctx: Ctx) -> list[Reply]:
    """ev:show:<id> — one meetup; the address only if she has a confirmed place."""
    meetup, refusal = await load_open(ctx)
    if meetup is None:
        return refusal
    signup = await mq.signup_of(ctx.db, meetup.id, ctx.user.id)
    return [await meetup_page(ctx, meetup, signup)]


async def sign_up(ctx: Ctx, *, waiting: bool) -> list[Reply]:
    """ev:join:<id> / ev:wait:<id> — take a place, or a place on the waiting list if full."""
    meetup, refusal = await load_open(ctx, lock=True)
    if meetup is None:
        return refusal
    signup = await mq.signup_of(ctx.db, meetup.id, ctx.user.id)
    if signup is not None:
        return [await meetup_page(ctx, meetup, signup,
                                  note=_("You are already signed up for this meetup."))]
    now = ctx.now()
    left = meetup.capacity - await mq.confirmed_count(ctx.db, meetup.id)
    if left <= 0 and not waiting:
        # Somebody took the last place since she looked: nothing stored, offer the waiting list.
        return [await meetup_page(ctx, meetup, None,
                                  note=_("Sorry, this meetup just became full."))]
    if left > 0:
        signup = Signup(meetup_id=meetup.id, user_id=ctx.user.id,
                        status=SignupStatus.CONFIRMED, created_at=now)
        mark_seen_reminders(signup, meetup, now)
        note = _("Done: you have a place. We will remind you the day before and two hours "
                 "before.")
        await bump_signup(ctx, meetup)
    else:
        signup = Signup(meetup_id=meetup.id, user_id=ctx.user.id,
                        status=SignupStatus.WAITING, created_at=now)
        note = _("Done: you are on the waiting list.")
    ctx.db.add(signup)
    await ctx.db.flush()
    await count_started(ctx.db, ctx.user, now.date(), at_setup=False)
    log.info("meetup %s: sign-up %s", meetup.id, signup.status)
    return [await meetup_page(ctx, meetup, signup, note=note)]


def mark_seen_reminders(signup: Signup, meetup: Meetup, now: datetime) -> None:
    """She has just read the details: a reminder within minutes would only be noise."""
    left = mq.aware(meetup.starts_at) - now
    signup.reminded_day = left <= mq.DAY_BEFORE
    signup.reminded_soon = left <= mq.SOON


async def bump_signup(ctx: Ctx, meetup: Meetup) -> None:
    tz = await queries.region_timezone(ctx.db, meetup.region_code)
    await queries.bump(ctx.db, "meetup_signups", day=region_day(ctx.now(), tz).date(),
                       org_id=meetup.org_id, region_code=meetup.region_code)


async def join_meetup(ctx: Ctx) -> list[Reply]:
    """ev:join:<id> — take a free place."""
    return await sign_up(ctx, waiting=False)


async def wait_meetup(ctx: Ctx) -> list[Reply]:
    """ev:wait:<id> — join the waiting list (or take a place if one became free)."""
    return await sign_up(ctx, waiting=True)


async def ask_cancel(ctx: Ctx) -> list[Reply]:
    """ev:cancel:<id> — ask before giving up a place."""
    meetup, refusal = await load_open(ctx)
    if meetup is None:
        return refusal
    signup = await mq.signup_of(ctx.db, meetup.id, ctx.user.id)
    if signup is None:
        return [await meetup_page(ctx, meetup, None,
                                  note=_("You are not signed up for this meetup."))]
    leave_prompt(ctx.session)
    question = (_("Do you want to give up your place at “{title}”?",
                  title=data_text(meetup.title))
                if signup.status == SignupStatus.CONFIRMED
                else _("Do you want to leave the waiting list of “{title}”?",
                       title=data_text(meetup.title)))
    return [screen(question, [Button(_("Yes, cancel"), f"ev:cancelok:{meetup.id}")],
                   [Button(_("No, keep it"), f"ev:show:{meetup.id}")], back=f"ev:show:{meetup.id}")]


async def cancel_signup(ctx: Ctx) -> list[Reply]:
    """ev:cancelok:<id> — give up the place; the first on the waiting list gets it."""
    meetup, refusal = await load_open(ctx, lock=True)
    if meetup is None:
        return refusal
    signup = await mq.signup_of(ctx.db, meetup.id, ctx.user.id)
    if signup is None:
        return [await meetup_page(ctx, meetup, None,
                                  note=_("You are not signed up for this meetup."))]
    was_confirmed = signup.status == SignupStatus.CONFIRMED
    await ctx.db.delete(signup)
    await ctx.db.flush()
    log.info("meetup %s: sign-up cancelled", meetup.id)
    if was_confirmed:
        await promote_next(ctx, meetup)
    note = _("Your place is cancelled.") if was_confirmed else _("You left the waiting list.")
    return [await meetup_page(ctx, meetup, None, note=note)]


async def promote_next(ctx: Ctx, meetup: Meetup) -> None:
    """A place became free: give it to the first on the waiting list and tell her discreetly."""
    ctx.outgoing.extend(await promote_waiting(ctx.db, meetup, ctx.now()))


# -- her meetups ------------------------------------------------------------------------------
async def my_meetups(ctx: Ctx) -> list[Reply]:
    """ev:mine — the meetups she signed up for (or waits for)."""
    found = await mq.my_signups(ctx.db, ctx.user.id, ctx.now())
    leave_prompt(ctx.session)
    browse = [Button(_("Upcoming meetups"), "ev:list:0")]
    if not found:
        return [screen(_("You are not signed up for any meetup."), browse)]
    lines = [_("Your meetups")]
    buttons: list[list[Button]] = []
    for signup, meetup in found:
        tz = await queries.region_timezone(ctx.db, meetup.region_code)
        if meetup.status == PostStatus.CANCELLED:
            status = _("Cancelled by the organisers.")
        elif signup.status == SignupStatus.CONFIRMED:
            status = _("You have a place.")
        else:
            status = _("On the waiting list.")
        lines.append(f"• {data_text(meetup.title)}\n"
                     f"{format_when(mq.aware(meetup.starts_at), tz)}\n{status}")
        if meetup.status == PostStatus.PUBLISHED:
            buttons.append([Button(data_text(meetup.title)[:60], f"ev:show:{meetup.id}")])
    return [screen("\n\n".join(lines), *buttons, browse)]


# -- entry points ------------------------------------------------------------------------------
VERBS = {
    "show": show_meetup,
    "join": join_meetup,
    "wait": wait_meetup,
    "cancel": ask_cancel,
    "cancelok": cancel_signup,
}


async def route_meetups(ctx: Ctx) -> list[Reply]:
    """ev[:verb:id] — every meetup button; unknown verbs get a calm answer."""
    setup = await needs_setup(ctx)
    if setup is not None:
        return setup
    verb = ctx.args[0] if ctx.args else "list"
    if verb == "list":
        page = ctx.arg_int(1) if len(ctx.args) > 1 else 0
        if page is None or page > 10_000:
            return not_available(ctx, _("That button is not valid any more."))
        return await list_meetups(ctx, page)
    if verb == "mine":
        return await my_meetups(ctx)
    handler = VERBS.get(verb)
    if handler is None:
        return not_available(ctx, _("That button is not valid any more."))
    return await handler(ctx)


async def open_meetups(ctx: Ctx) -> list[Reply]:
    """/meetups — the list of upcoming meetups."""
    ctx.args = ("list", "0")
    return await route_meetups(ctx)


ROUTES = [
    Route(route_meetups, prefix="ev", roles=SURVIVOR_JOURNEY_ROLES),
    Route(open_meetups, command="/meetups", roles=SURVIVOR_JOURNEY_ROLES),
]
