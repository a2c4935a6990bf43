"""Hand-offs, the caseworker's side: open requests of her organisation as pseudonyms, take one
(atomically: two caseworkers never answer the same woman), reply through the bot, close it.
Nothing of the exchange is stored: each message lives only in the closure that delivers it."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, false, or_, select, update

from bot.core.context import Ctx, Route
from bot.core.i18n import _, data_text, format_clock, format_when
from bot.core.notify import in_quiet_hours, neutral_notice
from bot.core.types import Button, Reply
from bot.core.ui import pager, screen
from bot.services.places import take_place
from db import queries
from db.models import (
    COORDINATOR_ROLES,
    STAFF_ROLES,
    Handoff,
    HandoffKind,
    HandoffStatus,
    Meetup,
    OrganisationRegion,
    Role,
    SignupStatus,
    User,
    Vacancy,
)
from db.queries import meetups as mq
from db.queries import members, rows_affected
from db.reference import REGION_NAMES
from handlers.mod_scope import PAGE, in_scope, not_found

log = logging.getLogger(__name__)

# Her safe hours, in her region's time: [start, end) hours.
SAFE_HOURS = {"morning": (8, 12), "afternoon": (12, 17), "evening": (17, 21)}


class HandoffState(StrEnum):
    WRITE = "mod_handoffs.write"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def handoff_scope(user: User) -> ColumnElement[bool]:
    """Her organisation's requests, and talk requests of the regions it serves."""
    if user.role == Role.ADMIN and user.org_id is None:
        return Handoff.id.is_not(None)
    if user.org_id is None:
        return false()  # staff whose organisation is gone see no woman's request
    regions = select(OrganisationRegion.region_code).where(
        OrganisationRegion.org_id == user.org_id)
    return or_(Handoff.org_id == user.org_id,
               and_(Handoff.org_id.is_(None), Handoff.region_code.in_(regions)))


async def _visible(ctx: Ctx, handoff: Handoff) -> bool:
    if ctx.user.role == Role.ADMIN:
        return True
    if handoff.org_id is not None:
        return in_scope(ctx.user, handoff.org_id)
    regions = (await ctx.db.execute(select(OrganisationRegion.region_code).where(
        OrganisationRegion.org_id == ctx.user.org_id))).scalars()
    return ctx.user.org_id is not None and handoff.region_code in set(regions)


async def load_handoff(ctx: Ctx, handoff_id: int | None) -> Handoff | None:
    handoff = await ctx.db.get(Handoff, handoff_id) if handoff_id is not None else None
    if handoff is None or not await _visible(ctx, handoff):
        return None
    return handoff


def safe_hours_name(value: str | None) -> str:
    return {"morning": _("in the morning (8–12)"), "afternoon": _("in the afternoon (12–17)"),
            "evening": _("in the evening (17–21)")}.get(value or "", "")


async def outside_safe_hours(ctx: Ctx, handoff: Handoff) -> str | None:
    """Her local time as text when now is outside the hours she chose; None when it is fine."""
    if handoff.contact_mode != "safe_hours" or handoff.safe_hours not in SAFE_HOURS:
        return None
    tz = await queries.region_timezone(ctx.db, handoff.region_code)
    start, end = SAFE_HOURS[handoff.safe_hours or ""]
    local = ctx.now().astimezone(ZoneInfo(tz))
    if start <= local.hour < end:
        return None
    return format_clock(ctx.now(), tz)


async def handoff_text(ctx: Ctx, handoff: Handoff) -> str:
    lines = [_("Request from {name}", name=handoff.pseudonym)]
    if handoff.kind == HandoffKind.JOB:
        vacancy = await ctx.db.get(Vacancy, handoff.vacancy_id) if handoff.vacancy_id else None
        lines.append(_("About the job: {title}", title=data_text(vacancy.title))
                     if vacancy else _("About a job that is no longer listed."))
    elif handoff.kind == HandoffKind.JOIN:
        meetup = await ctx.db.get(Meetup, handoff.meetup_id) if handoff.meetup_id else None
        if meetup is not None:
            tz = await queries.region_timezone(ctx.db, meetup.region_code)
            lines.append(_("She asks to join the peer group “{title}” ({when}). Talk with "
                           "her first if you do not know her; then confirm or decline.",
                           title=data_text(meetup.title),
                           when=format_when(mq.aware(meetup.starts_at), tz)))
        else:
            lines.append(_("She asks to join a peer group of your organisation."))
    else:
        lines.append(_("She would like to talk with a caseworker."))
    if handoff.region_code:
        lines.append(_("Region: {region}",
                       region=_(REGION_NAMES.get(handoff.region_code, handoff.region_code))))
    tz = await queries.region_timezone(ctx.db, handoff.region_code)
    lines.append(_("Asked on: {when}", when=format_when(_aware(handoff.created_at), tz)))
    if handoff.contact_mode == "safe_hours" and handoff.safe_hours:
        lines.append(_("Contact: only through this bot, and only {when} her time.",
                       when=safe_hours_name(handoff.safe_hours)))
    else:
        lines.append(_("Contact: only through this bot."))
    lines.append(_status_line(ctx, handoff))
    return "\n".join(lines)


def _status_line(ctx: Ctx, handoff: Handoff) -> str:
    if members.lapsed(handoff, ctx.now()):
        return _("Status: expired. Nobody answered within 7 days or before the meetup.")
    if handoff.status == HandoffStatus.ADMITTED:
        return _("Status: confirmed. She has access to your closed groups.")
    if handoff.status == HandoffStatus.REFUSED:
        return _("Status: declined.")
    if handoff.status == HandoffStatus.OPEN:
        return _("Status: open. Nobody has taken it yet.")
    if handoff.status == HandoffStatus.TAKEN:
        return (_("Status: you took it.") if handoff.taken_by == ctx.user.id
                else _("Status: another caseworker took it."))
    if handoff.status == HandoffStatus.WITHDRAWN:
        return _("Status: she withdrew the request.")
    return _("Status: closed.")


def _may_answer(ctx: Ctx, handoff: Handoff) -> bool:
    """A request to join still waiting: any caseworker of the organiser may confirm or decline
    it (handoff_scope and load_handoff already refused everybody else)."""
    return handoff.kind == HandoffKind.JOIN and handoff.status in members.LIVE and \
        not members.lapsed(handoff, ctx.now()) and handoff.org_id is not None and \
        in_scope(ctx.user, handoff.org_id)


def _may_close(ctx: Ctx, handoff: Handoff) -> bool:
    if members.lapsed(handoff, ctx.now()):
        return False
    if handoff.status == HandoffStatus.TAKEN and handoff.taken_by == ctx.user.id:
        return True
    return ctx.user.role in COORDINATOR_ROLES and handoff.status in (HandoffStatus.OPEN,
                                                                       HandoffStatus.TAKEN)


async def handoff_screen(ctx: Ctx, handoff: Handoff, note: str | None = None) -> Reply:
    text = await handoff_text(ctx, handoff)
    if note:
        text = note + "\n\n" + text
    rows: list[list[Button]] = []
    lapsed = members.lapsed(handoff, ctx.now())
    if _may_answer(ctx, handoff):
        rows.append([Button(_("Confirm: she may join"), f"ho:admit:{handoff.id}")])
        rows.append([Button(_("Decline"), f"ho:refuse:{handoff.id}")])
    if handoff.status == HandoffStatus.OPEN and not lapsed:
        rows.append([Button(_("Take this request"), f"ho:take:{handoff.id}")])
    if handoff.status == HandoffStatus.TAKEN and handoff.taken_by == ctx.user.id and not lapsed:
        rows.append([Button(_("Write to her"), f"ho:write:{handoff.id}")])
    if _may_close(ctx, handoff):
        rows.append([Button(_("Close the request"), f"ho:close:{handoff.id}")])
    return screen(text, *rows, back="mod:ho", menu=False)


async def list_handoffs(ctx: Ctx, page: int) -> list[Reply]:
    """Open requests, and those she took, of her organisation: pseudonyms only."""
    ctx.session.reset()
    query = (select(Handoff).where(handoff_scope(ctx.user),
                                   members.pending_condition(ctx.now()), or_(
        Handoff.status == HandoffStatus.OPEN,
        and_(Handoff.status == HandoffStatus.TAKEN, Handoff.taken_by == ctx.user.id)))
        .order_by((Handoff.status == HandoffStatus.OPEN).desc(), Handoff.created_at,
                  Handoff.id).offset(page * PAGE).limit(PAGE + 1))
    found = list((await ctx.db.execute(query)).scalars())
    rows = []
    for h in found[:PAGE]:
        kind = {HandoffKind.JOB: _("job"), HandoffKind.JOIN: _("to join")}.get(
            HandoffKind(h.kind), _("talk"))
        mark = "🆕 " if h.status == HandoffStatus.OPEN else "✉ "
        rows.append([Button(f"{mark}{h.pseudonym} · {kind}", f"mod:ho:{h.id}")])
    text = (_("Requests for contact: open ones (🆕) and the ones you took (✉).") if found
            else _("There are no open requests right now."))
    return [screen(text, *rows, pager("ho:list", page, len(found) > PAGE), back="mod",
                   menu=False)]


async def show_handoff(ctx: Ctx, handoff_id: int | None) -> list[Reply]:
    """mod:ho:<id> — one request (the link in caseworkers' notifications)."""
    ctx.session.reset()
    handoff = await load_handoff(ctx, handoff_id)
    if handoff is None:
        return [not_found()]
    return [await handoff_screen(ctx, handoff)]


async def take_handoff(ctx: Ctx, handoff: Handoff) -> list[Reply]:
    # One statement decides: of two caseworkers pressing at once, exactly one changes the row.
    result = await ctx.db.execute(
        update(Handoff).where(Handoff.id == handoff.id, Handoff.status == HandoffStatus.OPEN,
                              members.pending_condition(ctx.now()))
        .values(status=HandoffStatus.TAKEN, taken_by=ctx.user.id, updated_at=ctx.now())
        .execution_options(synchronize_session=False))
    await ctx.db.refresh(handoff)
    if rows_affected(result) != 1:
        return [await handoff_screen(ctx, handoff, _("Sorry, this request was already taken "
                                                     "or is no longer open."))]
    await queries.bump(ctx.db, "handoffs_taken", day=ctx.now().date(),
                       org_id=handoff.org_id or ctx.user.org_id or 0,
                       region_code=handoff.region_code or "")
    await queries.audit(ctx.db, ctx.user, "handoff_take", "handoff", handoff.id)
    log.info("handoff %s taken", handoff.id)
    # What she wrote before anyone took it waited in memory for exactly this caseworker.
    held = await ctx.services.held.take_thread(f"handoff:{handoff.id}", handoff.user_id)
    if held:
        pseudonym = handoff.pseudonym
        ctx.send_to(ctx.user.id, lambda: [Reply(
            _("Message from {name}:", name=pseudonym) + "\n\n" + "\n\n".join(held),
            buttons=((Button(_("Open"), f"mod:ho:{handoff.id}"),),))])
    return [await handoff_screen(ctx, handoff, _("You took this request. Only you see it now."))]


async def begin_writing(ctx: Ctx, handoff: Handoff, *, anyway: bool) -> list[Reply]:
    late = await outside_safe_hours(ctx, handoff)
    if late and not anyway:
        return [screen(_("Careful: she asked to be contacted only {when}. It is {time} where "
                         "she lives now. A message now could put her at risk.",
                         when=safe_hours_name(handoff.safe_hours), time=late),
                       [Button(_("Write anyway"), f"ho:writeok:{handoff.id}")],
                       back=f"mod:ho:{handoff.id}", menu=False)]
    ctx.session.reset(HandoffState.WRITE)
    ctx.session.data["handoff"] = handoff.id
    return [screen(_("Write your message to {name}. The bot passes it on and keeps no copy. "
                     "Each message you send now goes to her.", name=handoff.pseudonym),
                   [Button(_("Stop writing"), f"mod:ho:{handoff.id}")], menu=False)]


async def close_handoff(ctx: Ctx, handoff: Handoff) -> list[Reply]:
    # Conditional, like taking it: she may have withdrawn the request at this very moment.
    closed = await ctx.db.execute(
        update(Handoff).where(Handoff.id == handoff.id,
                              Handoff.status.in_((HandoffStatus.OPEN, HandoffStatus.TAKEN)))
        .values(status=HandoffStatus.CLOSED, updated_at=ctx.now()))
    if not rows_affected(closed):
        await ctx.db.refresh(handoff)
        return [await handoff_screen(ctx, handoff,
                                     _("That is not possible for this request now."))]
    await ctx.db.refresh(handoff)
    await queries.audit(ctx.db, ctx.user, "handoff_close", "handoff", handoff.id)
    her = await ctx.db.get(User, handoff.user_id)
    if her is not None and her.discreet:
        ctx.send_to(handoff.user_id, lambda: [neutral_notice("msg:ended")],
                    notification=await _may_ring(ctx, handoff.user_id))
    else:
        ctx.send_to(handoff.user_id, lambda: [ended_notice()],
                    notification=await _may_ring(ctx, handoff.user_id))
    return [await handoff_screen(ctx, handoff, _("The request is closed. She was told neutrally."))]


async def _may_ring(ctx: Ctx, user_id: str) -> bool:
    """False during her quiet hours: the message then arrives without a sound (docs/ARCHITECTURE.md 2.5)."""
    her = await ctx.db.get(User, user_id)
    if her is None:
        return False
    tz = await queries.region_timezone(ctx.db, her.region_code)
    return not in_quiet_hours(her, ctx.now(), tz)


async def act_on_handoff(ctx: Ctx) -> list[Reply]:
    """ho:list:<page>, ho:take|write|writeok|close|closeok|admit|refuse|refuseok:<id> — act
    on one request."""
    verb = ctx.args[0] if ctx.args else "list"
    if verb == "list":
        return await list_handoffs(ctx, ctx.arg_int(1) or 0)
    ctx.session.reset()
    handoff = await load_handoff(ctx, ctx.arg_int(1))
    if handoff is None:
        return [not_found()]
    if verb == "take":
        return await take_handoff(ctx, handoff)
    mine = handoff.status == HandoffStatus.TAKEN and handoff.taken_by == ctx.user.id
    if verb in ("write", "writeok") and mine:
        return await begin_writing(ctx, handoff, anyway=verb == "writeok")
    if verb == "close" and _may_close(ctx, handoff):
        return [screen(_("Close this request? She will be told that the conversation ended."),
                       [Button(_("Yes, close it"), f"ho:closeok:{handoff.id}")],
                       back=f"mod:ho:{handoff.id}", menu=False)]
    if verb == "closeok" and _may_close(ctx, handoff):
        return await close_handoff(ctx, handoff)
    if verb == "admit" and _may_answer(ctx, handoff):
        return await admit_request(ctx, handoff)
    if verb == "refuse" and _may_answer(ctx, handoff):
        return [screen(_("Decline this request to join? She is told kindly that it was not "
                         "accepted this time, never why."),
                       [Button(_("Yes, decline"), f"ho:refuseok:{handoff.id}")],
                       back=f"mod:ho:{handoff.id}", menu=False)]
    if verb == "refuseok" and _may_answer(ctx, handoff):
        return await refuse_request(ctx, handoff)
    return [await handoff_screen(ctx, handoff, _("That is not possible for this request now."))]


# -- requests to join a closed group -----------------------------------------------------------

async def _answer(ctx: Ctx, handoff: Handoff, status: HandoffStatus) -> bool:
    """One statement decides, as for taking: of two caseworkers answering at once, or her
    withdrawing at that moment, exactly one wins."""
    done = await ctx.db.execute(
        update(Handoff).where(Handoff.id == handoff.id, Handoff.kind == HandoffKind.JOIN,
                              Handoff.status.in_(members.LIVE),
                              members.pending_condition(ctx.now()))
        .values(status=status, updated_at=ctx.now())
        .execution_options(synchronize_session=False))
    await ctx.db.refresh(handoff)
    if queries.rows_affected(done) != 1:
        return False
    # What she wrote before anyone took it is not needed any more.
    await ctx.services.held.drop_thread(f"handoff:{handoff.id}")
    return True


async def admit_request(ctx: Ctx, handoff: Handoff) -> list[Reply]:
    """ho:admit:<id> — she becomes a member of the organisation and gets a place (or the
    waiting list) at the meetup she asked for; she is told discreetly."""
    if handoff.org_id is None or not await _answer(ctx, handoff, HandoffStatus.ADMITTED):
        return [await handoff_screen(ctx, handoff,
                                     _("That is not possible for this request now."))]
    now = ctx.now()
    await members.add_membership(ctx.db, handoff.user_id, handoff.org_id, now.date())
    await queries.audit(ctx.db, ctx.user, "member.admit", "handoff", handoff.id)
    meetup = await mq.get_meetup(ctx.db, handoff.meetup_id, lock=True)
    outcome: str | None = None
    title: str | None = None
    if meetup is not None and mq.is_open(meetup, now):
        signup = await mq.signup_of(ctx.db, meetup.id, handoff.user_id)
        if signup is None:
            signup = await take_place(ctx.db, meetup, handoff.user_id, now, seen=False)
        outcome, title = signup.status, meetup.title
    her = await ctx.db.get(User, handoff.user_id)
    if her is not None and her.active:
        ring = await _may_ring(ctx, her.id)
        if her.discreet:
            ctx.send_to(her.id, lambda: [neutral_notice("ev:reqs")], notification=ring)
        else:
            meetup_id = meetup.id if meetup is not None else None
            ctx.send_to(her.id, lambda: [admitted_notice(title, outcome, meetup_id)],
                        notification=ring)
    if outcome == SignupStatus.CONFIRMED:
        note = _("Confirmed. She has access to your closed groups and a place at this meetup. "
                 "She was told discreetly.")
    elif outcome == SignupStatus.WAITING:
        note = _("Confirmed. She has access to your closed groups; the meetup is full, so she "
                 "is on its waiting list. She was told discreetly.")
    else:
        note = _("Confirmed. She has access to your closed groups. She was told discreetly.")
    return [await handoff_screen(ctx, handoff, note)]


def admitted_notice(title: str | None, outcome: str | None, meetup_id: int | None) -> Reply:
    """Built in HER language. Never the place: that is behind "Where is it?"."""
    if outcome == SignupStatus.CONFIRMED and title is not None:
        text = _("Good news: your request to join “{title}” is confirmed. You have a place.",
                 title=data_text(title))
    elif outcome == SignupStatus.WAITING and title is not None:
        text = _("Good news: your request to join “{title}” is confirmed. The group is full "
                 "for now, so you are on the waiting list. We will tell you if a place becomes "
                 "free.", title=data_text(title))
    else:
        text = _("Good news: your request to join is confirmed. You now have access to the "
                 "groups of this centre.")
    action = f"ev:show:{meetup_id}" if meetup_id is not None and outcome else "ev:reqs"
    return Reply(text, buttons=((Button(_("Open"), action),),))


async def refuse_request(ctx: Ctx, handoff: Handoff) -> list[Reply]:
    """ho:refuseok:<id> — the request ends; she is told kindly, never why."""
    if not await _answer(ctx, handoff, HandoffStatus.REFUSED):
        return [await handoff_screen(ctx, handoff,
                                     _("That is not possible for this request now."))]
    await queries.audit(ctx.db, ctx.user, "member.refuse", "handoff", handoff.id)
    meetup = await ctx.db.get(Meetup, handoff.meetup_id) if handoff.meetup_id else None
    title = meetup.title if meetup is not None else None
    her = await ctx.db.get(User, handoff.user_id)
    if her is not None and her.active:
        ring = await _may_ring(ctx, her.id)
        if her.discreet:
            ctx.send_to(her.id, lambda: [neutral_notice("ev:reqs")], notification=ring)
        else:
            ctx.send_to(her.id, lambda: [refused_notice(title)], notification=ring)
    return [await handoff_screen(ctx, handoff, _("Declined. She was told kindly, without a "
                                                 "reason."))]


def refused_notice(title: str | None) -> Reply:
    text = (_("Your request to join “{title}” was not accepted this time. We are sorry. You "
              "can still use everything else in this bot, and talk to a caseworker at any "
              "time.", title=data_text(title)) if title is not None
            else _("Your request to join a group was not accepted this time. We are sorry. You "
                   "can still use everything else in this bot, and talk to a caseworker at any "
                   "time."))
    return Reply(text, buttons=((Button(_("Main menu"), "menu"),),))


async def relay_to_her(ctx: Ctx) -> list[Reply]:
    """Typed text while writing to a woman: relayed in her language, stored nowhere."""
    handoff = await load_handoff(ctx, ctx.session.data.get("handoff")
                                 if isinstance(ctx.session.data.get("handoff"), int) else None)
    if handoff is None or handoff.status != HandoffStatus.TAKEN or \
            handoff.taken_by != ctx.user.id:
        ctx.session.reset()
        return [screen(_("This conversation has ended. Your message was not sent."),
                       [Button(_("Requests for contact"), "mod:ho")], menu=False)]
    text = ctx.text
    if not text:
        return [screen(_("Please write a message first."),
                       [Button(_("Stop writing"), f"mod:ho:{handoff.id}")], menu=False)]
    her = await ctx.db.get(User, handoff.user_id)
    if her is None or not her.active:
        ctx.session.reset()
        return [await handoff_screen(ctx, handoff, _("She cannot receive messages any more. "
                                                     "Your message was not sent."))]
    if her.discreet:
        # The lock screen shows the neutral line alone; the words wait in memory (or Redis),
        # never in the database, until she presses "Show" (handlers/messages.py).
        token = await ctx.services.held.hold_for(her.id, text, handoff.id)
        ctx.send_to(handoff.user_id, lambda: [neutral_notice(f"msg:show:{token}")],
                    notification=await _may_ring(ctx, her.id))
    else:
        ctx.send_to(handoff.user_id, relay_builder(handoff.id, text),
                    notification=await _may_ring(ctx, her.id))
    handoff.updated_at = ctx.now()
    late = await outside_safe_hours(ctx, handoff)
    note = _("Sent to {name}.", name=handoff.pseudonym)
    if late:
        note += "\n" + _("Reminder: it is {time} where she lives, outside the hours she chose.",
                         time=late)
    return [screen(note, [Button(_("Stop writing"), f"mod:ho:{handoff.id}")],
                   [Button(_("Close the request"), f"ho:close:{handoff.id}")], menu=False,
                   replace=False)]


def ended_notice() -> Reply:
    return Reply(_("Your conversation with the caseworker has ended. You can ask for contact "
                   "again at any time from the menu."),
                 buttons=((Button(_("Main menu"), "menu"),),))


def caseworker_words(handoff_id: int, texts: list[str]) -> Reply:
    """What she sees of a caseworker's answer: never on a lock screen when she chose discreet
    notifications (then only behind "Show")."""
    return Reply(_("A caseworker wrote to you:") + "\n\n" + "\n\n".join(texts),
                 buttons=((Button(_("Reply"), f"talk:chat:{handoff_id}"),),))


def relay_builder(handoff_id: int, text: str) -> Callable[[], list[Reply]]:
    """The caseworker's words live only in this closure, until her chat has them. Built later
    in HER language."""
    def build() -> list[Reply]:
        return [caseworker_words(handoff_id, [text])]

    return build


ROUTES = [
    Route(act_on_handoff, prefix="ho", roles=STAFF_ROLES),
    *[Route(act_on_handoff, prefix="ho", verb=verb, roles=STAFF_ROLES)
      for verb in ("list", "take", "write", "writeok", "close", "closeok", "admit", "refuse",
                   "refuseok")],
    Route(relay_to_her, state=HandoffState.WRITE, roles=STAFF_ROLES),
]
