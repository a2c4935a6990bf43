"""Women with access (docs/ARCHITECTURE.md 2.6), the caseworker's side: a one-time member code
to hand over in person or on the phone, the organisation's members as pseudonyms (derived from
the membership's id with the server's key: nothing new is stored, never an address), and the
end of a membership (her places at the organisation's meetups go to the waiting lists; she is
told neutrally, never why). Every change is in the audit log."""
from __future__ import annotations

import logging

from bot.core.context import Ctx, Route
from bot.core.i18n import _, format_day, format_when
from bot.core.notify import in_quiet_hours, neutral_notice
from bot.core.types import Button, Reply
from bot.core.ui import pager, screen
from bot.services.places import release_org_places
from db import queries
from db.models import STAFF_ROLES, Membership, Organisation, User
from db.queries import members
from handlers.mod_scope import PAGE, in_scope, no_org, not_found
from handlers.mod_team import MEMBER_CODE, create_invite

log = logging.getLogger(__name__)


def member_name(ctx: Ctx, membership: Membership) -> str:
    return queries.pseudonym_from(ctx.services.vault.lookup_hash("membership",
                                                                 str(membership.id)))


async def give_access(ctx: Ctx) -> list[Reply]:
    """mem:code — a one-time member code of her organisation."""
    ctx.session.reset()
    if ctx.user.org_id is None:
        return [no_org()]
    ttl = ctx.services.settings.invite_ttl_hours
    code, invite = await create_invite(ctx.db, role=MEMBER_CODE, org_id=ctx.user.org_id,
                                       now=ctx.now(), ttl_hours=ttl, created_by=ctx.user.id)
    await queries.audit(ctx.db, ctx.user, "member.code", "invite", invite.id)
    tz = await queries.region_timezone(ctx.db, ctx.user.region_code)
    return [screen("\n\n".join([
        _("Member code for a woman you know:"), code,
        _("It works once, until {when}.", when=format_when(invite.expires_at, tz)),
        _("Give it to her in person or read it to her on the phone; never send it by text "
          "message or e-mail. In the bot she taps “I have a code from my centre” and types it, "
          "or sends /redeem {code}. She then has access to your closed groups.", code=code),
    ]), [Button(_("Women with access"), "mem")], back="mod", menu=False)]


async def members_screen(ctx: Ctx, page: int, note: str | None = None) -> Reply:
    assert ctx.user.org_id is not None
    found, more = await members.members_of(ctx.db, ctx.user.org_id, page=page, size=PAGE)
    lines = [note] if note else []
    lines.append(_("Women with access to your closed groups. Each is shown by a nickname and "
                   "the day she got access; nobody's name or address is stored.") if found or page
                 else _("No woman has access to your closed groups yet. Give one a member "
                        "code, or confirm a request to join."))
    rows = [[Button(_("{name} · since {day}", name=member_name(ctx, m),
                      day=format_day(m.since))[:60], f"mem:show:{m.id}")] for m in found]
    return screen("\n\n".join(lines), *rows, pager("mem:list", page, more),
                  [Button(_("Give a woman access"), "mem:code")], back="mod", menu=False)


async def list_members(ctx: Ctx) -> list[Reply]:
    """mem, mem:list:<page> — the organisation's members, as pseudonyms."""
    ctx.session.reset()
    if ctx.user.org_id is None:
        return [no_org()]
    if ctx.args and ctx.args[0] != "list":
        return [not_found()]
    page = ctx.arg_int(1) if len(ctx.args) > 1 else 0
    if page is None or page > 10_000:
        return [not_found()]
    return [await members_screen(ctx, page)]


async def _membership(ctx: Ctx) -> Membership | None:
    ctx.session.reset()
    membership_id = ctx.arg_int(1)
    found = await ctx.db.get(Membership, membership_id) if membership_id is not None else None
    if found is None or ctx.user.org_id is None or not in_scope(ctx.user, found.org_id) or \
            found.org_id != ctx.user.org_id:
        return None
    return found


async def show_member(ctx: Ctx) -> list[Reply]:
    """mem:show:<membership id> — one woman with access."""
    membership = await _membership(ctx)
    if membership is None:
        return [not_found()]
    return [screen(_("{name} has had access since {day}.", name=member_name(ctx, membership),
                     day=format_day(membership.since)),
                   [Button(_("End access"), f"mem:end:{membership.id}")], back="mem",
                   menu=False)]


async def ask_end(ctx: Ctx) -> list[Reply]:
    """mem:end:<membership id> — ask before ending a membership."""
    membership = await _membership(ctx)
    if membership is None:
        return [not_found()]
    return [screen(_("End the access of {name}? Her places and waiting-list places at your "
                     "meetups are given up. She is told that her access ended, never why.",
                     name=member_name(ctx, membership)),
                   [Button(_("Yes, end access"), f"mem:endok:{membership.id}")],
                   back=f"mem:show:{membership.id}", menu=False)]


async def end_access(ctx: Ctx) -> list[Reply]:
    """mem:endok:<membership id> — the membership ends; she is told neutrally."""
    membership = await _membership(ctx)
    if membership is None:
        return [not_found()]
    name, user_id, org_id = member_name(ctx, membership), membership.user_id, membership.org_id
    await ctx.db.delete(membership)
    await ctx.db.flush()
    ctx.outgoing.extend(await release_org_places(ctx.db, user_id, org_id, ctx.now()))
    await queries.audit(ctx.db, ctx.user, "member.end", "membership", membership.id)
    log.info("membership %s ended", membership.id)
    her = await ctx.db.get(User, user_id)
    org = await ctx.db.get(Organisation, org_id)
    if her is not None and her.active:
        org_name = org.name if org else ""
        tz = await queries.region_timezone(ctx.db, her.region_code)
        ring = not in_quiet_hours(her, ctx.now(), tz)
        if her.discreet:
            ctx.send_to(user_id, lambda: [neutral_notice("ev:access")], notification=ring)
        else:
            ctx.send_to(user_id, lambda: [access_ended_notice(org_name)], notification=ring)
    return [await members_screen(ctx, 0, _("The access of {name} has ended. She was told "
                                           "neutrally.", name=name))]


def access_ended_notice(org_name: str) -> Reply:
    return Reply(_("Your access to the groups of {name} has ended. You can still use the rest "
                   "of the bot.", name=org_name),
                 buttons=((Button(_("Main menu"), "menu"),),))


ROUTES = [
    Route(list_members, prefix="mem", roles=STAFF_ROLES),
    Route(list_members, prefix="mem", verb="list", roles=STAFF_ROLES),
    Route(give_access, prefix="mem", verb="code", roles=STAFF_ROLES),
    Route(show_member, prefix="mem", verb="show", roles=STAFF_ROLES),
    Route(ask_end, prefix="mem", verb="end", roles=STAFF_ROLES),
    Route(end_access, prefix="mem", verb="endok", roles=STAFF_ROLES),
]
