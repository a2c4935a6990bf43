"""Changes to national help lines (rows of no organisation) need a second coordinator.

Every woman of a country sees a national line, so one coordinator alone must not be able to
change it: her change becomes a proposal (help_contact_changes) that a coordinator of ANOTHER
organisation serving that country approves or refuses; an admin may also change it from the CLI
(`python -m bot help-contact edit`). Every step is audited. "Last checked" moves only with a date
the editor states she checked the source on."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.context import Ctx, Route
from bot.core.i18n import N_, _, data_text, format_day
from bot.core.types import Button, Reply
from bot.core.ui import screen
from db import queries
from db.models import COORDINATOR_ROLES, ChangeStatus, HelpContact, HelpContactChange, Role, User
from db.queries import org_region_codes
from handlers.mod_scope import not_found

FIELD_NAMES = {"number": N_("Phone number"), "hours": N_("Opening hours"), "notes": N_("Note"),
               "source": N_("Source")}
APPLICABLE = ("number", "hours", "notes", "source", "active", "checked_on")


def is_national(contact: HelpContact) -> bool:
    return contact.org_id is None


def needs_second_coordinator(user: User, contact: HelpContact) -> bool:
    return is_national(contact) and user.role != Role.ADMIN


def apply_fields(contact: HelpContact, fields: dict[str, Any]) -> None:
    """Set the proposed values; checked_on only when a date was stated (ISO text)."""
    for key, value in fields.items():
        if key not in APPLICABLE:
            continue
        if key == "checked_on":
            contact.checked_on = date.fromisoformat(str(value))
        elif key == "active":
            contact.active = bool(value)
        else:
            setattr(contact, key, str(value))


async def propose(ctx: Ctx, contact: HelpContact, fields: dict[str, Any]) -> list[Reply]:
    change = HelpContactChange(contact_id=contact.id, org_id=ctx.user.org_id,
                               proposed_by=ctx.user.id, fields=fields,
                               status=ChangeStatus.PENDING, created_at=ctx.now())
    ctx.db.add(change)
    await ctx.db.flush()
    await queries.audit(ctx.db, ctx.user, "help_contact_change_propose", "help_contact_change",
                        change.id)
    ctx.session.reset()
    return [screen(_("This is a national line: every woman in the country sees it. Your change "
                     "waits until a coordinator of another organisation serving the country "
                     "approves it. Nothing has changed for participants yet."),
                   [Button(_("Help contacts"), "hc")], menu=False)]


async def _countries(db: AsyncSession, user: User) -> set[str]:
    from db.models import Region

    codes = await org_region_codes(db, user.org_id)
    found = (await db.execute(select(Region.country).where(Region.code.in_(codes)))).scalars()
    return {c for c in found if c}


async def reviewable(ctx: Ctx) -> list[tuple[HelpContactChange, HelpContact]]:
    """Pending changes she may decide: national lines of her countries, proposed by ANOTHER
    organisation (an admin may decide any)."""
    rows = (await ctx.db.execute(
        select(HelpContactChange, HelpContact)
        .join(HelpContact, HelpContact.id == HelpContactChange.contact_id)
        .where(HelpContactChange.status == ChangeStatus.PENDING)
        .order_by(HelpContactChange.id))).all()
    if ctx.user.role == Role.ADMIN:
        return [(c, h) for c, h in rows]
    if ctx.user.org_id is None:
        return []
    countries = await _countries(ctx.db, ctx.user)
    return [(c, h) for c, h in rows
            if c.org_id != ctx.user.org_id and h.country in countries and is_national(h)]


def describe(change: HelpContactChange, contact: HelpContact) -> str:
    lines = [data_text(contact.name)]
    for key, value in (change.fields or {}).items():
        if key in FIELD_NAMES:
            lines.append(_("{field}: {old} → {new}", field=_(FIELD_NAMES[key]),
                           old=data_text(getattr(contact, key)) or "—",
                           new=data_text(str(value)) or "—"))
        elif key == "active":
            lines.append(_("Show to participants again") if value
                         else _("Hide from participants"))
        elif key == "checked_on":
            lines.append(_("Source checked on: {date}",
                           date=format_day(date.fromisoformat(str(value)))))
    return "\n".join(lines)


async def list_changes(ctx: Ctx) -> list[Reply]:
    """hc:rv — proposed changes to national lines that she may approve or refuse."""
    ctx.session.reset()
    found = await reviewable(ctx)
    if not found:
        return [screen(_("No change to a national line is waiting for you."), back="hc",
                       menu=False)]
    rows = [[Button(data_text(contact.name)[:40], f"hc:rv:{change.id}")]
            for change, contact in found[:20]]
    return [screen(_("Changes to national lines proposed by another organisation. Check each "
                     "against its source before you approve it."), *rows, back="hc",
                   menu=False)]


async def _load(ctx: Ctx) -> tuple[HelpContactChange, HelpContact] | None:
    change_id = ctx.arg_int(1)
    if len(ctx.args) != 2 or change_id is None:
        return None
    for change, contact in await reviewable(ctx):
        if change.id == change_id:
            return change, contact
    return None


async def show_change(ctx: Ctx) -> list[Reply]:
    """hc:rv:<id> — one proposal, with approve and refuse."""
    if not ctx.args[1:]:
        return await list_changes(ctx)
    found = await _load(ctx)
    if found is None:
        return [not_found()]
    change, contact = found
    return [screen(describe(change, contact) + "\n\n" + _("Source: {source}",
                   source=data_text(contact.source) or "—"),
                   [Button(_("Approve"), f"hc:ok:{change.id}"),
                    Button(_("Refuse"), f"hc:no:{change.id}")], back="hc:rv", menu=False)]


async def _decide(ctx: Ctx, approve: bool) -> list[Reply]:
    found = await _load(ctx)
    if found is None:
        return [not_found()]
    change, contact = found
    change.status = ChangeStatus.APPROVED if approve else ChangeStatus.REFUSED
    change.decided_by, change.decided_at = ctx.user.id, ctx.now()
    if approve:
        apply_fields(contact, change.fields or {})
    await queries.audit(ctx.db, ctx.user, "help_contact_change_approve" if approve
                        else "help_contact_change_refuse", "help_contact_change", change.id)
    note = (_("Approved. Participants see the change now.") if approve
            else _("Refused. The line stays as it was."))
    return [Reply(note), *(await list_changes(ctx))]


async def approve_change(ctx: Ctx) -> list[Reply]:
    """hc:ok:<id> — apply a proposal of another organisation."""
    return await _decide(ctx, True)


async def refuse_change(ctx: Ctx) -> list[Reply]:
    """hc:no:<id> — refuse a proposal of another organisation."""
    return await _decide(ctx, False)


ROUTES = [
    Route(show_change, prefix="hc", verb="rv", roles=COORDINATOR_ROLES),
    Route(approve_change, prefix="hc", verb="ok", roles=COORDINATOR_ROLES),
    Route(refuse_change, prefix="hc", verb="no", roles=COORDINATOR_ROLES),
]
