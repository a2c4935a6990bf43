"""Roles: one-time invite codes (stored only as a SHA-256 hash, expiring), /redeem, and the
coordinator's team screen (invite a moderator from the bot, revoke one)."""
from __future__ import annotations

import hashlib
import logging
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.context import Ctx, Route
from bot.core.i18n import N_, _, format_day, format_when
from bot.core.sessions import SessionData
from bot.core.types import Button, Reply
from bot.core.ui import screen
from db import queries
from db.models import COORDINATOR_ROLES, AuditEntry, Invite, Organisation, Role, User
from db.queries import members, rows_affected
from handlers.mod_scope import no_org, not_found

log = logging.getLogger(__name__)

# No 0/O, 1/I/L: the code is read out over the phone.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12  # about 59 bits: guessing is hopeless, and tries are limited anyway
MAX_FAILED_REDEEMS = 5
FAILED_WINDOW = timedelta(hours=24)
_USER_ID = re.compile(r"^[0-9a-f]{32}$")

ROLE_NAMES = {Role.MODERATOR: N_("moderator"), Role.COORDINATOR: N_("coordinator"),
              Role.ADMIN: N_("administrator"), Role.PROFESSIONAL: N_("professional"),
              Role.PARTICIPANT: N_("participant")}
# A member code is an invite of this "role": redeeming it makes her a member of the
# organisation (docs/ARCHITECTURE.md 2.6) and never changes her role.
MEMBER_CODE = "member"
INVITABLE = frozenset({Role.MODERATOR, Role.COORDINATOR, Role.ADMIN, Role.PROFESSIONAL,
                       MEMBER_CODE})
# What a coordinator may hand out from the bot; coordinators and admins come from the CLI.
BOT_INVITABLE = (Role.MODERATOR, Role.PROFESSIONAL)


def normalise_code(raw: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", raw.upper())


def hash_code(raw: str) -> str:
    return hashlib.sha256(normalise_code(raw).encode("ascii")).hexdigest()


def new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _i in range(CODE_LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, CODE_LENGTH, 4))


async def create_invite(db: AsyncSession, *, role: str, org_id: int | None, now: datetime,
                        ttl_hours: int, created_by: str | None = None) -> tuple[str, Invite]:
    """A new one-time code; only its hash is stored. Returns (code to pass on, row)."""
    if role not in INVITABLE:
        raise ValueError("role cannot be invited")
    code = new_code()
    invite = Invite(code_hash=hash_code(code), role=role, org_id=org_id, created_by=created_by,
                    expires_at=now + timedelta(hours=ttl_hours))
    db.add(invite)
    await db.flush()
    return code, invite


# -- /redeem ------------------------------------------------------------------------------------

# A new web chat session is a new person: per person alone, each page reload gave five more
# tries. So also per client (the web chat's connecting address: a count in the session store
# under a keyed hash of it, never the address) and for everybody together per hour.
MAX_FAILED_PER_CLIENT = 10
MAX_FAILED_PER_HOUR = 30


def _client_key(ctx: Ctx) -> str | None:
    client = ctx.inbound.client
    if not client:
        return None  # Telegram and Viber: the person is the client (her channel address)
    return "redeem-client:" + ctx.services.vault.lookup_hash("client", client)


async def _client_failures(ctx: Ctx) -> int:
    key = _client_key(ctx)
    if key is None:
        return 0
    held = await ctx.services.held.store.load(key)
    count = held.data.get("failed")
    return count if isinstance(count, int) else 0


async def _failed_overall(ctx: Ctx) -> int:
    since = ctx.now() - timedelta(hours=1)
    return (await ctx.db.execute(select(func.count(AuditEntry.id)).where(
        AuditEntry.action == "redeem_failed", AuditEntry.at >= since))).scalar_one()


async def _failed_recently(ctx: Ctx) -> int:
    since = ctx.now() - FAILED_WINDOW
    return (await ctx.db.execute(select(func.count(AuditEntry.id)).where(
        AuditEntry.actor_id == ctx.user.id, AuditEntry.action == "redeem_failed",
        AuditEntry.at >= since))).scalar_one()


async def _refuse(ctx: Ctx, message: str) -> list[Reply]:
    # Only that a try failed is kept (never the code she typed), to limit guessing.
    ctx.db.add(AuditEntry(at=ctx.now(), actor_id=ctx.user.id, actor_role=ctx.user.role,
                          org_id=ctx.user.org_id, action="redeem_failed"))
    ctx.session.data["redeem_tries"] = int(ctx.session.data.get("redeem_tries", 0)) + 1
    key = _client_key(ctx)
    if key is not None:
        await ctx.services.held.store.save(key, SessionData(
            "redeem", {"failed": await _client_failures(ctx) + 1}))
    log.info("invite redeem refused")
    return [screen(message)]


async def redeem_invite(ctx: Ctx) -> list[Reply]:
    """/redeem <code> — take the role and organisation of a valid, unused, unexpired invite."""
    ctx.erase_inbound()  # the code must not stay on her screen (deleted on Telegram at once)
    if int(ctx.session.data.get("redeem_tries", 0)) >= MAX_FAILED_REDEEMS or \
            await _failed_recently(ctx) >= MAX_FAILED_REDEEMS or \
            await _client_failures(ctx) >= MAX_FAILED_PER_CLIENT:
        return [screen(_("Too many wrong codes. Please try again tomorrow, or ask for a new "
                         "code."))]
    if await _failed_overall(ctx) >= MAX_FAILED_PER_HOUR:
        log.warning("invite redeem paused: too many wrong codes in the last hour")
        return [screen(_("Too many wrong codes were tried in the last hour. Please try again "
                         "in an hour."))]
    raw = " ".join(ctx.args)
    if not raw:
        return [screen(_("Please send /redeem followed by your invite code, like this: "
                         "/redeem ABCD-EFGH-JKMN"))]
    code = normalise_code(raw)
    if len(code) != CODE_LENGTH:
        return await _refuse(ctx, _("This invite code is not valid. Please check it and try "
                                    "again."))
    # The lookup is by hash: comparing hashes leaks nothing useful about the code itself.
    invite = (await ctx.db.execute(select(Invite).where(Invite.code_hash == hash_code(code)))
              ).scalar_one_or_none()
    if invite is None:
        return await _refuse(ctx, _("This invite code is not valid. Please check it and try "
                                    "again."))
    if invite.used_at is not None:
        return await _refuse(ctx, _("This invite code was already used. Please ask for a new "
                                    "one."))
    if invite.expires_at <= ctx.now():
        return await _refuse(ctx, _("This invite code has expired. Please ask for a new one."))
    if invite.role == MEMBER_CODE and (invite.org_id is None or await members.is_member(
            ctx.db, ctx.user.id, invite.org_id)):
        # Already a member: the code stays unused, for someone else (nothing changes).
        ctx.session.reset()
        return [screen(_("You already have access to the groups of this centre. Nothing was "
                         "changed."), [Button(_("Upcoming meetups"), "ev:list:0")])]
    claimed = await ctx.db.execute(
        update(Invite).where(Invite.id == invite.id, Invite.used_at.is_(None))
        .values(used_at=ctx.now(), used_by=ctx.user.id)
        .execution_options(synchronize_session=False))
    if rows_affected(claimed) != 1:
        return await _refuse(ctx, _("This invite code was already used. Please ask for a new "
                                    "one."))
    if invite.role == MEMBER_CODE and invite.org_id is not None:
        return await _become_member(ctx, invite.org_id)
    ctx.user.role = invite.role
    ctx.user.org_id = invite.org_id
    await queries.audit(ctx.db, ctx.user, "invite_redeem", "invite", invite.id)
    ctx.session.reset()
    org = await ctx.db.get(Organisation, invite.org_id) if invite.org_id else None
    text = _("Welcome. You are now a {role}.", role=_(ROLE_NAMES[Role(invite.role)]))
    if org is not None:
        text += "\n" + _("Organisation: {name}", name=org.name)
    if not ctx.user.onboarded:
        return [Reply(text)] + (await ctx.goto("menu") if ctx.goto else [])
    if ctx.user.is_staff:
        return [screen(text, [Button(_("Caseworker tools"), "mod")])]
    return [screen(text, [Button(_("Main menu"), "menu")], menu=False)]


async def _become_member(ctx: Ctx, org_id: int) -> list[Reply]:
    """A member code: her membership of the organisation; her role stays what it was."""
    membership = await members.add_membership(ctx.db, ctx.user.id, org_id, ctx.now().date())
    if membership is not None:
        # Not her id as the actor: the audit log names staff, never the woman.
        ctx.db.add(AuditEntry(at=ctx.now(), actor_id=None, actor_role=ctx.user.role,
                              org_id=org_id, action="member.add", target_type="membership",
                              target_id=str(membership.id)))
    log.info("member code redeemed")
    ctx.session.reset()
    org = await ctx.db.get(Organisation, org_id)
    text = _("Welcome. You now have access to the closed groups of {name}. Open a meetup to "
             "sign up; its place is shown once you have a place.",
             name=org.name if org else "")
    if not ctx.user.onboarded:
        return [Reply(text)] + (await ctx.goto("menu") if ctx.goto else [])
    return [screen(text, [Button(_("Upcoming meetups"), "ev:list:0")])]


# -- the coordinator's team screen --------------------------------------------------------------

async def team_screen(ctx: Ctx) -> Reply:
    members = list((await ctx.db.execute(
        select(User).where(User.org_id == ctx.user.org_id,
                           User.role.in_([Role.MODERATOR, Role.COORDINATOR, Role.PROFESSIONAL]))
        .order_by(User.role, User.created_on, User.id).limit(40))).scalars())
    lines = [_("Your team. Nobody's name or address is stored: each person is shown by role, "
               "a short number and the last day they used the bot.")]
    rows = []
    for m in members:
        label = _("{role} #{number} · {day}", role=_(ROLE_NAMES[Role(m.role)]),
                  number=m.id[:4], day=format_day(m.last_active_on))
        if m.id == ctx.user.id:
            lines.append(label + " " + _("(you)"))
            continue
        rows.append([Button(label[:60], f"team:show:{m.id}")])
    rows.append([Button(_("Invite a moderator"), "team:inv:moderator")])
    rows.append([Button(_("Invite a professional"), "team:inv:professional")])
    return screen("\n".join(lines), *rows, back="mod", menu=False)


async def _member(ctx: Ctx) -> User | None:
    raw = ctx.args[1] if len(ctx.args) >= 2 else ""
    member = await ctx.db.get(User, raw) if _USER_ID.match(raw) else None
    if member is None or member.id == ctx.user.id or member.org_id != ctx.user.org_id:
        return None
    # A coordinator revokes moderators and professionals; an admin also coordinators.
    allowed = {Role.MODERATOR, Role.PROFESSIONAL}
    if ctx.user.role == Role.ADMIN:
        allowed.add(Role.COORDINATOR)
    return member if member.role in allowed else None


async def manage_team(ctx: Ctx) -> list[Reply]:
    """team — the coordinator's team; a team:<verb> no row claims finds nothing."""
    ctx.session.reset()
    if ctx.user.org_id is None:
        return [no_org()]
    if ctx.args:
        return [not_found()]
    return [await team_screen(ctx)]


async def invite_member(ctx: Ctx) -> list[Reply]:
    """team:inv:<role> — a one-time invite code for a moderator or a professional."""
    ctx.session.reset()
    if ctx.user.org_id is None:
        return [no_org()]
    role = ctx.args[1] if len(ctx.args) == 2 else ""
    if role not in BOT_INVITABLE:
        return [not_found()]
    ttl = ctx.services.settings.invite_ttl_hours
    code, invite = await create_invite(ctx.db, role=role, org_id=ctx.user.org_id,
                                       now=ctx.now(), ttl_hours=ttl, created_by=ctx.user.id)
    await queries.audit(ctx.db, ctx.user, "invite_create", "invite", invite.id)
    tz = await queries.region_timezone(ctx.db, ctx.user.region_code)
    return [screen("\n\n".join([
        _("Invite code for a {role}:", role=_(ROLE_NAMES[Role(role)])), code,
        _("It works once, until {when}. Pass it on in person or by phone. The person sends "
          "this to the bot: /redeem {code}", when=format_when(invite.expires_at, tz),
          code=code)]), back="team", menu=False)]


async def _member_and_label(ctx: Ctx) -> tuple[User, str] | None:
    ctx.session.reset()
    if ctx.user.org_id is None:
        return None
    member = await _member(ctx)
    if member is None:
        return None
    return member, _("{role} #{number}", role=_(ROLE_NAMES[Role(member.role)]),
                     number=member.id[:4])


async def show_member(ctx: Ctx) -> list[Reply]:
    """team:show:<user id> — one member of the team."""
    found = await _member_and_label(ctx)
    if found is None:
        return [not_found()]
    member, label = found
    return [screen(label + "\n" + _("Last used the bot on {day}.",
                                    day=format_day(member.last_active_on)),
                   [Button(_("Revoke the role"), f"team:rv:{member.id}")], back="team",
                   menu=False)]


async def ask_revoke(ctx: Ctx) -> list[Reply]:
    """team:rv:<user id> — ask before revoking a role."""
    found = await _member_and_label(ctx)
    if found is None:
        return [not_found()]
    member, label = found
    return [screen(_("Revoke the role of {name}? They become a participant at once.",
                     name=label), [Button(_("Yes, revoke"), f"team:rvok:{member.id}")],
                   back="team", menu=False)]


async def revoke_role(ctx: Ctx) -> list[Reply]:
    """team:rvok:<user id> — she becomes a participant at once."""
    found = await _member_and_label(ctx)
    if found is None:
        return [not_found()]
    member, label = found
    member.role = Role.PARTICIPANT
    member.org_id = None
    await queries.audit(ctx.db, ctx.user, "role_revoke", "user", member.id)
    return [Reply(_("The role of {name} is revoked.", name=label)), await team_screen(ctx)]


ROUTES = [
    Route(redeem_invite, command="/redeem"),
    Route(manage_team, prefix="team", roles=COORDINATOR_ROLES),
    Route(invite_member, prefix="team", verb="inv", roles=COORDINATOR_ROLES),
    Route(show_member, prefix="team", verb="show", roles=COORDINATOR_ROLES),
    Route(ask_revoke, prefix="team", verb="rv", roles=COORDINATOR_ROLES),
    Route(revoke_role, prefix="team", verb="rvok", roles=COORDINATOR_ROLES),
]
