"""Peer-group meetups: the upcoming meetups of her region, one meetup's page, sign up, waiting
list, cancel, her own meetups, requests to join a closed group, her access; reminders the day
before and two hours before; sign-ups deleted once a meetup is over.

Who sees what (docs/ARCHITECTURE.md 2.6): a closed peer group (the default) is for members of
the organising organisation: only a member signs up, and the place is shown only to a member
with a confirmed place. A non-member ("visitor" of that organisation) may ask to join, or
redeem a member code from her centre. An open event shows its place to anyone; booking a place
(which counts against capacity and brings reminders) is for members only, so throwaway sessions
never change the places left. The place is never on a list: only behind "Where is it?" (a
screen behind her lock). She sees the meetups of her own region, and those she holds a place in
or asked to join; any other id answers as a missing one does."""
from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum

from sqlalchemy import update

from bot.core.context import Ctx, Handler, Route
from bot.core.i18n import _, data_text, format_when, ngettext
from bot.core.notify import discreet
from bot.core.types import Button, Reply
from bot.core.ui import PAGE_SIZE, leave_prompt, pager, screen
from bot.services.impact import count_started
from bot.services.places import promote_waiting, take_place
from db import queries
from db.models import (
    SURVIVOR_JOURNEY_ROLES,
    Handoff,
    HandoffKind,
    HandoffStatus,
    Meetup,
    MeetupKind,
    PostStatus,
    Signup,
    SignupStatus,
    User,
)
from db.queries import meetups as mq
from db.queries import members
from handlers.mod_team import redeem_invite

log = logging.getLogger(__name__)


class MeetupState(StrEnum):
    CODE = "meetups.code"


def gone_text() -> str:
    # The same words for a missing id, a forged one and one of another region.
    return _("Sorry, this meetup does not exist or is no longer available.")


# -- small builders ----------------------------------------------------------------------------
def places_left_text(left: int) -> str:
    if left <= 0:
        return _("Full. You can join the waiting list.")
    return ngettext("{n} place left", "{n} places left", left)


def kind_text(meetup: Meetup) -> str:
    if meetup.kind == MeetupKind.OPEN:
        return _("Open event: anyone may come.")
    return _("Closed peer group: for women a centre knows.")


def code_button() -> Button:
    return Button(_("I have a code from my centre"), "ev:code")


def not_available(ctx: Ctx, note: str) -> list[Reply]:
    """A missing, forged, past or cancelled target: say so, change nothing, offer the list."""
    leave_prompt(ctx.session)
    return [screen(note, [Button(_("Upcoming meetups"), "ev:list:0"),
                          Button(_("My meetups"), "ev:mine")])]


def is_closed(meetup: Meetup) -> bool:
    return meetup.kind != MeetupKind.OPEN


# -- list --------------------------------------------------------------------------------------
async def list_meetups(ctx: Ctx, page: int) -> list[Reply]:
    now = ctx.now()
    region = ctx.user.region_code
    tz = await queries.region_timezone(ctx.db, region)
    listed, has_more = await mq.upcoming_with_places(ctx.db, region, now, page=page,
                                                     size=PAGE_SIZE)
    leave_prompt(ctx.session)
    mine = [Button(_("My meetups"), "ev:mine"), Button(_("My requests"), "ev:reqs")]
    if not listed:
        note = (_("There are no more meetups on this list.") if page > 0
                else _("There are no upcoming meetups in your region yet. Please look again "
                       "in a few days."))
        first = [Button(_("First page"), "ev:list:0")] if page > 0 else []
        return [screen(note, first, mine, [code_button()])]
    lines = [_("Upcoming meetups near you. The place is never shown in a list: open a meetup "
               "to see who may come.")]
    buttons: list[list[Button]] = []
    for number, (meetup, taken) in enumerate(listed, start=page * PAGE_SIZE + 1):
        left = meetup.capacity - taken
        lines.append(f"{number}. {data_text(meetup.title)}\n"
                     f"{format_when(mq.aware(meetup.starts_at), tz)}\n"
                     f"{kind_text(meetup)}\n{places_left_text(left)}")
        buttons.append([Button(f"{number}. {data_text(meetup.title)}"[:60],
                               f"ev:show:{meetup.id}")])
    return [screen("\n\n".join(lines), *buttons, pager("ev:list", page, has_more), mine,
                   [code_button()])]


# -- one meetup --------------------------------------------------------------------------------
async def may_see_place(ctx: Ctx, meetup: Meetup, signup: Signup | None) -> bool:
    """Open event: anyone who may see the meetup. Closed group: a member of the organiser with
    a confirmed place."""
    if not is_closed(meetup):
        return True
    return (signup is not None and signup.status == SignupStatus.CONFIRMED
            and await members.is_member(ctx.db, ctx.user.id, meetup.org_id))


async def meetup_page(ctx: Ctx, meetup: Meetup, signup: Signup | None,
                      note: str | None = None, *, member: bool | None = None) -> Reply:
    """Her view of one meetup. Never the place itself: that is behind "Where is it?"."""
    tz = await queries.region_timezone(ctx.db, meetup.region_code)
    left = meetup.capacity - await mq.confirmed_count(ctx.db, meetup.id)
    if member is None:
        member = await members.is_member(ctx.db, ctx.user.id, meetup.org_id)
    parts = [note] if note else []
    parts.append(data_text(meetup.title))
    parts.append(_("When: {when}", when=format_when(mq.aware(meetup.starts_at), tz)))
    parts.append(ngettext("It lasts about {n} minute.", "It lasts about {n} minutes.",
                          meetup.duration_minutes))
    if meetup.description:
        parts.append(data_text(meetup.description))
    parts.append(kind_text(meetup))
    buttons: list[list[Button]] = []
    where = [Button(_("Where is it?"), f"ev:where:{meetup.id}")]
    if signup is not None and signup.status == SignupStatus.CONFIRMED:
        parts.append(_("You have a place."))
        buttons.append(where)
        buttons.append([Button(_("Cancel my place"), f"ev:cancel:{meetup.id}")])
    elif signup is not None:
        position = await mq.waiting_position(ctx.db, signup)
        parts.append(_("You are on the waiting list (number {position}). We will tell you if a "
                       "place becomes free.", position=position))
        if not is_closed(meetup):
            buttons.append(where)
        buttons.append([Button(_("Leave the waiting list"), f"ev:cancel:{meetup.id}")])
    elif member:
        parts.append(places_left_text(left))
        if is_closed(meetup):
            parts.append(_("The place is shown after you sign up."))
        else:
            buttons.append(where)
        if left > 0:
            buttons.append([Button(_("Sign up"), f"ev:join:{meetup.id}")])
        else:
            buttons.append([Button(_("Join the waiting list"), f"ev:wait:{meetup.id}")])
    elif is_closed(meetup):
        parts.append(places_left_text(left))
        pending = (await members.pending_request_for(ctx.db, ctx.user.id, meetup.id, ctx.now())
                   if meetup.id is not None else None)
        if pending is not None:
            parts.append(_("You asked to join this group. A caseworker of the centre will "
                           "answer you here, in this chat."))
            buttons.append([Button(_("My requests"), "ev:reqs")])
        else:
            parts.append(_("This group is only for women a centre knows. You can ask to join: "
                           "a caseworker of the centre will answer you here, in this chat."))
            buttons.append([Button(_("Ask to join"), f"ev:ask:{meetup.id}")])
            buttons.append([code_button()])
    else:
        parts.append(_("You can simply come. Booking a place is for women who have access to "
                       "the groups of this centre."))
        buttons.append(where)
        buttons.append([code_button()])
    buttons.append([Button(_("My meetups"), "ev:mine")])
    leave_prompt(ctx.session)
    return screen("\n\n".join(parts), *buttons, back="ev:list:0")


async def load_meetup(ctx: Ctx, *, lock: bool = False, until_end: bool = False
                      ) -> tuple[Meetup | None, list[Reply]]:
    """The meetup named by the payload, if she may see it and act on it; else the answer to
    give. Another region's meetup answers exactly as a missing one."""
    meetup = await mq.get_meetup(ctx.db, ctx.arg_int(1), lock=lock)
    if meetup is None or meetup.status in (PostStatus.DRAFT, PostStatus.CLOSED) or \
            not await mq.visible_to(ctx.db, meetup, ctx.user):
        return None, not_available(ctx, gone_text())
    if meetup.status == PostStatus.CANCELLED:
        return None, not_available(ctx, _("This meetup was cancelled. We are sorry."))
    now = ctx.now()
    running = until_end and meetup.status == PostStatus.PUBLISHED and mq.ends_at(meetup) > now
    if not mq.is_open(meetup, now) and not running:
        return None, not_available(ctx, _("This meetup has already started or is over."))
    return meetup, []


async def load_open(ctx: Ctx, *, lock: bool = False) -> tuple[Meetup | None, list[Reply]]:
    return await load_meetup(ctx, lock=lock)


async def show_meetup(ctx: Ctx) -> list[Reply]:
    """ev:show:<id> — one meetup; never its place (that is behind "Where is it?")."""
    meetup, refusal = await load_open(ctx)
    if meetup is None:
        return refusal
    signup = await mq.signup_of(ctx.db, meetup.id, ctx.user.id)
    return [await meetup_page(ctx, meetup, signup)]


async def show_place(ctx: Ctx) -> list[Reply]:
    """ev:where:<id> — the place, only to whom it is allowed (behind her lock); until the end of
    the meetup, so that she can find it when she is late."""
    meetup, refusal = await load_meetup(ctx, until_end=True)
    if meetup is None:
        return refusal
    signup = await mq.signup_of(ctx.db, meetup.id, ctx.user.id)
    if not await may_see_place(ctx, meetup, signup):
        if not mq.is_open(meetup, ctx.now()):
            return not_available(ctx, _("This meetup has already started or is over."))
        return [await meetup_page(ctx, meetup, signup, note=_(
            "The place of a closed group is shown only to women of the group who have a "
            "confirmed place."))]
    tz = await queries.region_timezone(ctx.db, meetup.region_code)
    leave_prompt(ctx.session)
    return [screen("\n\n".join([
        data_text(meetup.title),
        _("When: {when}", when=format_when(mq.aware(meetup.starts_at), tz)),
        _("Where: {place}", place=data_text(meetup.place)),
        _("Please keep the place to yourself: it keeps the group safe."),
    ]), [Button(_("Back to the meetup"), f"ev:show:{meetup.id}")],
        [Button(_("My meetups"), "ev:mine")], back=f"ev:show:{meetup.id}")]


async def sign_up(ctx: Ctx, *, waiting: bool) -> list[Reply]:
    """ev:join:<id> / ev:wait:<id> — take a place, or a place on the waiting list if full. Only
    a member of the organiser: nobody else changes the places left."""
    meetup, refusal = await load_open(ctx, lock=True)
    if meetup is None:
        return refusal
    signup = await mq.signup_of(ctx.db, meetup.id, ctx.user.id)
    if signup is not None:
        return [await meetup_page(ctx, meetup, signup,
                                  note=_("You are already signed up for this meetup."))]
    if not await members.is_member(ctx.db, ctx.user.id, meetup.org_id):
        return [await meetup_page(ctx, meetup, None, member=False, note=_(
            "Sorry, signing up is only for women who have access to the groups of this "
            "centre. Nothing was changed."))]
    now = ctx.now()
    left = meetup.capacity - await mq.confirmed_count(ctx.db, meetup.id)
    if left <= 0 and not waiting:
        # Somebody took the last place since she looked: nothing stored, offer the waiting list.
        return [await meetup_page(ctx, meetup, None, member=True,
                                  note=_("Sorry, this meetup just became full."))]
    signup = await take_place(ctx.db, meetup, ctx.user.id, now)
    note = (_("Done: you have a place. We will remind you the day before and two hours "
              "before.") if signup.status == SignupStatus.CONFIRMED
            else _("Done: you are on the waiting list."))
    await count_started(ctx.db, ctx.user, now.date(), at_setup=False)
    return [await meetup_page(ctx, meetup, signup, note=note, member=True)]


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


# -- requests to join a closed group -----------------------------------------------------------
async def _askable(ctx: Ctx, meetup: Meetup) -> Reply | None:
    """None when she may ask to join this meetup now; else the page that says why not."""
    if not is_closed(meetup):
        return await meetup_page(ctx, meetup, None, note=_(
            "This is an open event: anyone may come, there is nothing to ask."))
    if await members.is_member(ctx.db, ctx.user.id, meetup.org_id):
        signup = await mq.signup_of(ctx.db, meetup.id, ctx.user.id)
        return await meetup_page(ctx, meetup, signup, member=True, note=_(
            "You already have access to the groups of this centre."))
    if await members.pending_request_for(ctx.db, ctx.user.id, meetup.id, ctx.now()):
        return await meetup_page(ctx, meetup, None, member=False,
                                 note=_("You already asked to join this group."))
    return None


async def ask_join(ctx: Ctx) -> list[Reply]:
    """ev:ask:<id> — what asking to join means, and a confirm."""
    meetup, refusal = await load_open(ctx)
    if meetup is None:
        return refusal
    why_not = await _askable(ctx, meetup)
    if why_not is not None:
        return [why_not]
    leave_prompt(ctx.session)
    return [screen("\n\n".join([
        _("Ask to join “{title}”?", title=data_text(meetup.title)),
        _("A caseworker of the centre that runs this group gets your request under a nickname, "
          "never your name or your phone number. They may write to you here, in this chat, to "
          "get to know you. If they confirm, you can join the group and see where it meets."),
        _("A request waits for an answer for up to 7 days, or until the meetup starts."),
    ]), [Button(_("Yes, ask to join"), f"ev:askok:{meetup.id}")],
        [Button(_("No, not now"), f"ev:show:{meetup.id}")], back=f"ev:show:{meetup.id}")]


async def send_join_request(ctx: Ctx) -> list[Reply]:
    """ev:askok:<id> — the request goes to the organiser's caseworkers (the hand-off relay)."""
    meetup, refusal = await load_open(ctx, lock=True)
    if meetup is None:
        return refusal
    why_not = await _askable(ctx, meetup)
    if why_not is not None:
        return [why_not]
    now = ctx.now()
    if await members.pending_requests(ctx.db, ctx.user.id, now) >= members.MAX_PENDING:
        leave_prompt(ctx.session)
        return [screen(ngettext(
            "You already have {n} request waiting for an answer. Please wait for an answer, "
            "or withdraw one under “My requests”. Nothing was sent.",
            "You already have {n} requests waiting for an answer. Please wait for an answer, "
            "or withdraw one under “My requests”. Nothing was sent.", members.MAX_PENDING),
            [Button(_("My requests"), "ev:reqs")], back=f"ev:show:{meetup.id}")]
    team = await queries.caseworkers_for(ctx.db, org_id=meetup.org_id, region_code=None)
    if not team:
        leave_prompt(ctx.session)
        return [screen(_("Sorry, no caseworker of this centre can answer requests right now. "
                         "Nothing was sent. Please try again in a few days."),
                       [Button(_("Help contacts"), "help")], back=f"ev:show:{meetup.id}")]
    handoff = Handoff(kind=HandoffKind.JOIN, user_id=ctx.user.id, meetup_id=meetup.id,
                      org_id=meetup.org_id, region_code=meetup.region_code,
                      pseudonym=queries.new_pseudonym(), contact_mode="chat",
                      status=HandoffStatus.OPEN, created_at=now, updated_at=now,
                      expires_at=members.request_expiry(now, mq.aware(meetup.starts_at)))
    ctx.db.add(handoff)
    await ctx.db.flush()
    await count_started(ctx.db, ctx.user, now.date(), at_setup=False)
    log.info("meetup %s: request to join %s", meetup.id, handoff.id)
    for caseworker in team:
        ctx.send_to(caseworker.id, join_request_notice(caseworker, handoff.pseudonym, handoff.id))
    leave_prompt(ctx.session)
    return [screen(_("Your request is sent. A caseworker of the centre will answer you here, "
                     "in this chat; this can take a few days. Your name in it is {name}.",
                     name=handoff.pseudonym),
                   [Button(_("My requests"), "ev:reqs")],
                   [Button(_("Back to the meetup"), f"ev:show:{meetup.id}")])]


def join_request_notice(caseworker: User, pseudonym: str, handoff_id: int
                        ) -> Callable[[], list[Reply]]:
    def build() -> list[Reply]:
        details = Reply(_("{name} asks to join a peer group of your organisation.",
                          name=pseudonym),
                        buttons=((Button(_("Open"), f"mod:ho:{handoff_id}"),),))
        return [discreet(caseworker, details, f"mod:ho:{handoff_id}")]

    return build


async def my_requests(ctx: Ctx, note: str | None = None) -> list[Reply]:
    """ev:reqs — her requests to join (behind her lock): waiting, answered, lapsed."""
    now = ctx.now()
    found = await members.my_requests(ctx.db, ctx.user.id, now)
    leave_prompt(ctx.session)
    lines = [note] if note else []
    buttons: list[list[Button]] = []
    if not found:
        lines.append(_("You have no requests to join a group."))
    else:
        lines.append(_("Your requests to join a group"))
    for number, (handoff, meetup) in enumerate(found, start=1):
        tz = await queries.region_timezone(ctx.db, meetup.region_code)
        pending = handoff.status in members.LIVE and not members.lapsed(handoff, now)
        if pending:
            status = _("Waiting for an answer.")
        elif members.lapsed(handoff, now):
            status = _("Expired: nobody answered in time. You can ask again.")
        elif handoff.status == HandoffStatus.ADMITTED:
            status = _("Confirmed: you have access to the groups of this centre.")
        elif handoff.status == HandoffStatus.REFUSED:
            status = _("Not accepted this time. You can still use everything else in this "
                       "bot.")
        elif handoff.status == HandoffStatus.WITHDRAWN:
            status = _("You withdrew it.")
        else:
            status = _("Closed.")
        lines.append(f"{number}. {data_text(meetup.title)}\n"
                     f"{format_when(mq.aware(meetup.starts_at), tz)}\n{status}")
        row: list[Button] = []
        if mq.is_open(meetup, now):
            row.append(Button(_("Open {number}", number=number), f"ev:show:{meetup.id}"))
        if pending:
            row.append(Button(_("Withdraw {number}", number=number),
                              f"ev:withdraw:{handoff.id}"))
        if row:
            buttons.append(row)
        if pending and handoff.status == HandoffStatus.TAKEN:
            buttons.append([Button(_("Write to the caseworker ({number})", number=number),
                                   f"talk:chat:{handoff.id}")])
    return [screen("\n\n".join(lines), *buttons, [Button(_("Upcoming meetups"), "ev:list:0")],
                   [code_button()])]


async def _her_pending(ctx: Ctx) -> Handoff | None:
    handoff_id = ctx.arg_int(1)
    handoff = await ctx.db.get(Handoff, handoff_id) if handoff_id is not None else None
    if handoff is None or handoff.user_id != ctx.user.id or handoff.kind != HandoffKind.JOIN \
            or handoff.status not in members.LIVE or members.lapsed(handoff, ctx.now()):
        return None
    return handoff


async def ask_withdraw(ctx: Ctx) -> list[Reply]:
    """ev:withdraw:<request id> — ask before withdrawing a request to join."""
    handoff = await _her_pending(ctx)
    if handoff is None:
        return await my_requests(ctx, _("This request is not waiting for an answer any more."))
    leave_prompt(ctx.session)
    return [screen(_("Withdraw this request to join? The caseworker is told."),
                   [Button(_("Yes, withdraw"), f"ev:withdrawok:{handoff.id}")],
                   [Button(_("No, keep it"), "ev:reqs")], back="ev:reqs")]


async def withdraw_request(ctx: Ctx) -> list[Reply]:
    """ev:withdrawok:<request id> — the request ends; whoever took it is told."""
    handoff = await _her_pending(ctx)
    if handoff is None:
        return await my_requests(ctx, _("This request is not waiting for an answer any more."))
    done = await ctx.db.execute(
        update(Handoff).where(Handoff.id == handoff.id, Handoff.status.in_(members.LIVE))
        .values(status=HandoffStatus.WITHDRAWN, updated_at=ctx.now())
        .execution_options(synchronize_session=False))
    await ctx.db.refresh(handoff)
    if queries.rows_affected(done) != 1:
        return await my_requests(ctx, _("This request is not waiting for an answer any more."))
    if handoff.taken_by:
        pseudonym = handoff.pseudonym
        ctx.send_to(handoff.taken_by, lambda: [
            Reply(_("{name} withdrew the request to join.", name=pseudonym))])
    return await my_requests(ctx, _("Your request is withdrawn."))


# -- a member code from her centre -------------------------------------------------------------
async def ask_code(ctx: Ctx) -> list[Reply]:
    """ev:code — she types the code her centre gave her."""
    ctx.session.reset(MeetupState.CODE)
    return [screen(_("Please type the code you got from your centre, like this: "
                     "ABCD-EFGH-JKMN. Capital letters and spaces do not matter."),
                   back="ev:list:0")]


async def take_code(ctx: Ctx) -> list[Reply]:
    """Typed text after "I have a code from my centre": the same as /redeem <code>."""
    ctx.session.reset()
    ctx.args = tuple(ctx.text.split())
    return await redeem_invite(ctx)


async def my_access(ctx: Ctx) -> list[Reply]:
    """ev:access — the centres whose closed groups she may join (behind her lock)."""
    orgs = await members.her_organisations(ctx.db, ctx.user.id)
    leave_prompt(ctx.session)
    if orgs:
        text = _("You have access to the closed groups of: {names}",
                 names=", ".join(o.name for o in orgs))
    else:
        text = _("You have no access to closed groups right now. You can still use the rest "
                 "of the bot: open events, jobs and help contacts.")
    return [screen(text, [Button(_("Upcoming meetups"), "ev:list:0")], [code_button()])]


# -- her meetups ------------------------------------------------------------------------------
async def my_meetups(ctx: Ctx) -> list[Reply]:
    """ev:mine — the meetups she signed up for (or waits for); behind her lock."""
    found = await mq.my_signups(ctx.db, ctx.user.id, ctx.now())
    leave_prompt(ctx.session)
    browse = [Button(_("Upcoming meetups"), "ev:list:0")]
    more = [Button(_("My requests"), "ev:reqs"), Button(_("My access"), "ev:access")]
    if not found:
        return [screen(_("You are not signed up for any meetup."), browse, more)]
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
    return [screen("\n\n".join(lines), *buttons, browse, more)]


# -- entry points ------------------------------------------------------------------------------
async def meetups_home(ctx: Ctx) -> list[Reply]:
    """ev — the list; an ev:<verb> no row claims gets a calm answer."""
    if ctx.args:
        return not_available(ctx, _("That button is not valid any more."))
    return await list_meetups(ctx, 0)


async def list_page(ctx: Ctx) -> list[Reply]:
    """ev:list:<page>."""
    page = ctx.arg_int(1) if len(ctx.args) > 1 else 0
    if page is None or page > 10_000 or len(ctx.args) > 2:
        return not_available(ctx, _("That button is not valid any more."))
    return await list_meetups(ctx, page)


async def requests_screen(ctx: Ctx) -> list[Reply]:
    """ev:reqs — her requests to join."""
    return await my_requests(ctx)


async def open_meetups(ctx: Ctx) -> list[Reply]:
    """/meetups — the list of upcoming meetups."""
    return await list_meetups(ctx, 0)


def _row(handler: Handler, verb: str | None = None, *, locked: bool = False) -> Route:
    return Route(handler, prefix="ev", verb=verb, roles=SURVIVOR_JOURNEY_ROLES,
                 onboarded_only=True, locked=locked)


ROUTES = [
    _row(meetups_home),
    _row(list_page, "list"),
    _row(show_meetup, "show"),
    _row(join_meetup, "join"),
    _row(wait_meetup, "wait"),
    _row(ask_cancel, "cancel"),
    _row(cancel_signup, "cancelok"),
    _row(ask_join, "ask"),
    _row(send_join_request, "askok"),
    _row(show_place, "where", locked=True),
    _row(my_meetups, "mine", locked=True),
    _row(requests_screen, "reqs", locked=True),
    _row(ask_withdraw, "withdraw", locked=True),
    _row(withdraw_request, "withdrawok", locked=True),
    _row(my_access, "access", locked=True),
    _row(ask_code, "code"),
    Route(take_code, state=MeetupState.CODE, roles=SURVIVOR_JOURNEY_ROLES, onboarded_only=True),
    Route(open_meetups, command="/meetups", roles=SURVIVOR_JOURNEY_ROLES, onboarded_only=True),
]
