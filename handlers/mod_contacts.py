"""Help contacts for coordinators (prefix "hc"): the lines and local centres participants of her
regions see, add a local centre, correct a number / hours / note / source, deactivate and
reactivate. NGO partners keep the facts right without a release: every change writes the audit
log, "Last checked" moves only when the editor says she checked the source, and a national line
changes only with a second coordinator (handlers/mod_contact_changes.py). Drafts live only in
ctx.session."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.context import Ctx, Field, Route
from bot.core.i18n import N_, _, data_text, format_day
from bot.core.types import Button, Reply
from bot.core.ui import pager, screen
from db import queries
from db.models import COORDINATOR_ROLES, HelpContact, Region, Role, User
from db.queries import org_region_codes
from db.reference import COUNTRY_NAMES, REGION_NAMES
from handlers.help import contact_block
from handlers.mod_contact_changes import ROUTES as CHANGE_ROUTES
from handlers.mod_contact_changes import (
    apply_fields,
    is_national,
    needs_second_coordinator,
    propose,
    reviewable,
)
from handlers.mod_forms import parse_value, show_value
from handlers.mod_scope import PAGE, no_org, not_found

_PHONE_CHARS = re.compile(r"^[0-9 +\-()]+$")
_MAX_INPUT = 2000  # anything longer is refused before it is even cleaned


class ContactState(StrEnum):
    INPUT = "mod_contacts.input"


NUMBER = Field("number", N_("What is the phone number? (like +39 02 1234 5678)"), max_len=40)
FIELDS: dict[str, Field] = {
    "name": Field("name", N_("What is the centre's name?"), max_len=120),
    "number": NUMBER,
    "hours": Field("hours", N_("When is it open? (like Mon–Fri 9:00–17:00)"), max_len=120),
    "notes": Field("notes", N_("A short note for women, if any (like: languages spoken, free)."),
                   required=False, max_len=500),
    "source": Field("source", N_("Where can this be checked? (like the centre's website)"),
                    required=False, max_len=200),
}
NEW_STEPS = ("name", "number", "hours", "notes", "source")
EDITABLE = ("number", "hours", "notes", "source")
FIELD_LABELS = {"number": N_("Phone number"), "hours": N_("Opening hours"), "notes": N_("Note"),
                "source": N_("Source")}


# -- scope ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scope:
    regions: tuple[str, ...]  # region codes she manages (with a country)
    countries: frozenset[str]


async def scope_of(db: AsyncSession, user: User) -> Scope:
    """An admin manages every region; a coordinator the regions of her organisation, and the
    national lines of their countries."""
    query = select(Region).where(Region.country.is_not(None)).order_by(Region.position)
    if user.role != Role.ADMIN:
        codes = await org_region_codes(db, user.org_id)
        query = query.where(Region.code.in_(codes))
    found = list((await db.execute(query)).scalars())
    return Scope(tuple(r.code for r in found), frozenset(r.country for r in found if r.country))


def visible_filter(scope: Scope) -> Any:
    """The contacts participants of her regions see (active or not)."""
    if not scope.regions:
        return false()
    return or_(and_(HelpContact.region_code.is_(None), HelpContact.country.in_(scope.countries)),
               HelpContact.region_code.in_(scope.regions))


def can_edit(user: User, scope: Scope, contact: HelpContact) -> bool:
    if user.role == Role.ADMIN:
        return True
    # Another organisation's centre is theirs to keep right, even in a region both serve.
    if contact.org_id is not None and contact.org_id != user.org_id:
        return False
    if contact.region_code is None:
        return contact.country in scope.countries
    return contact.region_code in scope.regions


async def load_editable(ctx: Ctx, contact_id: int | None) -> HelpContact | None:
    """The row behind a payload id, or None when it is missing or not hers (same answer)."""
    if contact_id is None:
        return None
    contact = await ctx.db.get(HelpContact, contact_id)
    if contact is None:
        return None
    return contact if can_edit(ctx.user, await scope_of(ctx.db, ctx.user), contact) else None


async def local_today(ctx: Ctx, contact: HelpContact) -> date:
    """Today in the contact's region (for a national line: a region of its country)."""
    tz = "Europe/Brussels"
    if contact.region_code:
        tz = await queries.region_timezone(ctx.db, contact.region_code)
    elif contact.country:
        region = (await ctx.db.execute(select(Region).where(Region.country == contact.country)
                                       .order_by(Region.position).limit(1))).scalar_one_or_none()
        tz = region.timezone if region else tz
    return ctx.now().astimezone(ZoneInfo(tz)).date()


# -- validation ----------------------------------------------------------------------------------

def parse_field(key: str, raw: str) -> tuple[Any, str | None]:
    """(value, None) or (None, a translated message). Nothing typed here is ever logged."""
    field = FIELDS[key]
    if len(raw) > _MAX_INPUT:
        return None, _("That is too long. Please write at most {limit} characters.",
                       limit=field.max_len)
    value, error = parse_value(field, raw, date.today())
    if error:
        return None, error
    text = " ".join(str(value).split()) if key != "notes" else str(value)
    if "<" in text or ">" in text:
        return None, _("Please do not use the signs < and >.")
    if key == "number":
        digits = sum(ch.isdigit() for ch in text)
        if not _PHONE_CHARS.match(text) or not 3 <= digits <= 20:
            return None, _("Please write a phone number with 3 to 20 digits. Only digits, "
                           "spaces, +, - and brackets are allowed.")
        return text, None
    if not any(ch.isalnum() for ch in text):
        return None, _("Please write it with letters or numbers, not only signs or emoji.")
    return text, None


# -- screens -------------------------------------------------------------------------------------

def status_line(contact: HelpContact) -> str:
    state = _("Active") if contact.active else _("Inactive: participants do not see it")
    return _("{state}. Source: {source}. Last checked: {date}.", state=state,
             source=data_text(contact.source) if contact.source else "—",
             date=format_day(contact.checked_on) if contact.checked_on else "—")


def where_text(contact: HelpContact) -> str:
    if contact.region_code:
        return _(REGION_NAMES.get(contact.region_code, contact.region_code))
    return _("{country}, the whole country",
             country=_(COUNTRY_NAMES.get(contact.country or "", "—")))


def contact_screen(contact: HelpContact) -> Reply:
    lines = [where_text(contact), contact_block(contact), status_line(contact)]
    rows = [[Button(_(FIELD_LABELS["number"]), f"hc:ed:{contact.id}:number"),
             Button(_(FIELD_LABELS["hours"]), f"hc:ed:{contact.id}:hours")],
            [Button(_(FIELD_LABELS["notes"]), f"hc:ed:{contact.id}:notes"),
             Button(_(FIELD_LABELS["source"]), f"hc:ed:{contact.id}:source")],
            [Button(_("Checked today, all correct"), f"hc:chk:{contact.id}")],
            [Button(_("Hide from participants"), f"hc:off:{contact.id}") if contact.active
             else Button(_("Show to participants again"), f"hc:on:{contact.id}")]]
    return screen("\n\n".join(lines), *rows, back="hc", menu=False)


async def list_contacts(ctx: Ctx, page: int) -> list[Reply]:
    scope = await scope_of(ctx.db, ctx.user)
    if not scope.regions:
        return [no_org()]
    query = select(HelpContact).where(visible_filter(scope))
    total = (await ctx.db.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    found = list((await ctx.db.execute(
        query.order_by(HelpContact.country, HelpContact.position, HelpContact.id)
        .offset(page * PAGE).limit(PAGE))).scalars())
    lines = [_("Help contacts that participants of your regions see. Tap one to correct it.")]
    rows: list[list[Button]] = []
    for n, contact in enumerate(found, start=page * PAGE + 1):
        title = f"{n}. {data_text(contact.name)}" + (f": {contact.number}" if contact.number
                                                       else "")
        entry = [title, where_text(contact), status_line(contact)]
        if can_edit(ctx.user, scope, contact):
            rows.append([Button(("" if contact.active else "⏸ ") + f"{n}. "
                                + data_text(contact.name)[:40], f"hc:show:{contact.id}")])
        else:
            entry.append(_("Kept by another organisation."))
        lines.append("\n".join(entry))
    waiting = len(await reviewable(ctx))
    review = [[Button(_("Changes to approve ({count})", count=waiting), "hc:rv")]] \
        if waiting else []
    return [screen("\n\n".join(lines), *rows, pager("hc:list", page, (page + 1) * PAGE < total),
                   [Button(_("Add a local centre"), "hc:new")], *review, back="mod",
                   menu=False)]


# -- the new-centre draft (session only) ---------------------------------------------------------

def _draft(ctx: Ctx) -> dict[str, Any] | None:
    data = ctx.session.data
    if ctx.session.state != ContactState.INPUT or data.get("hc") != "new":
        return None
    draft = data.get("draft")
    return draft if isinstance(draft, dict) else None


def _step(ctx: Ctx) -> int:
    step = ctx.session.data.get("step")
    return max(0, min(step, len(NEW_STEPS))) if isinstance(step, int) else 0


def _centre_from(draft: dict[str, Any], org_id: int | None, country: str | None,
                 checked_on: date) -> HelpContact:
    return HelpContact(kind="centre", country=country, region_code=draft["region"], org_id=org_id,
                       name=draft["name"], number=draft["number"], hours=draft["hours"],
                       notes=draft.get("notes") or "", source=draft.get("source") or "",
                       checked_on=checked_on, position=1000, active=True)


async def _centre_preview(ctx: Ctx, draft: dict[str, Any]) -> HelpContact:
    region = await queries.region(ctx.db, draft["region"])
    contact = _centre_from(draft, ctx.user.org_id, region.country if region else None,
                           ctx.now().date())
    contact.checked_on = await local_today(ctx, contact)
    return contact


async def ask_new(ctx: Ctx, error: str | None = None) -> Reply:
    draft = _draft(ctx)
    assert draft is not None
    step = _step(ctx)
    if step >= len(NEW_STEPS):
        contact = await _centre_preview(ctx, draft)
        text = "\n\n".join(([("⚠ " + error)] if error else [])
                           + [_("Preview: this is how participants will see it."),
                              where_text(contact), contact_block(contact)])
        return screen(text, [Button(_("Save"), "hc:save")],
                      [Button(_("Cancel the draft"), "hc:cancel")], back="hc:back", menu=False)
    field = FIELDS[NEW_STEPS[step]]
    lines = [_("New local centre — step {step} of {total}", step=step + 1, total=len(NEW_STEPS))]
    if error:
        lines.append("⚠ " + error)
    lines.append(_(field.prompt))
    rows: list[list[Button]] = []
    value = draft.get(field.key)
    if value is not None:
        lines.append(_("Now: {value}", value=show_value(field, value)))
        rows.append([Button(_("Keep this"), "hc:keep")])
    if not field.required:
        rows.append([Button(_("Skip"), "hc:skip")])
    rows.append([Button(_("Cancel the draft"), "hc:cancel")])
    return screen("\n\n".join(lines), *rows, back="hc:back" if step > 0 else None, menu=False)


async def start_new(ctx: Ctx) -> list[Reply]:
    scope = await scope_of(ctx.db, ctx.user)
    if not scope.regions:
        return [no_org()]
    if len(scope.regions) == 1:
        _begin(ctx, scope.regions[0])
        return [await ask_new(ctx)]
    rows = [[Button(_(REGION_NAMES.get(code, code)), f"hc:reg:{code}")] for code in scope.regions]
    return [screen(_("In which region is the centre?"), *rows, back="hc", menu=False)]


def _begin(ctx: Ctx, region_code: str) -> None:
    ctx.session.reset(ContactState.INPUT)
    ctx.session.data.update({"hc": "new", "step": 0, "draft": {"region": region_code}})


async def save_new(ctx: Ctx, draft: dict[str, Any]) -> list[Reply]:
    """hc:save — the first moment the centre reaches the database."""
    scope = await scope_of(ctx.db, ctx.user)
    region_code = draft.get("region")
    if region_code not in scope.regions or any(draft.get(k) is None for k in NEW_STEPS[:3]):
        ctx.session.reset()
        return [not_found()]
    contact = await _centre_preview(ctx, draft)
    ctx.db.add(contact)
    await ctx.db.flush()
    await queries.audit(ctx.db, ctx.user, "help_contact_add", "help_contact", contact.id)
    ctx.session.reset()
    return [Reply(_("The centre is saved. Participants of this region see it from now on.")),
            contact_screen(contact)]


async def new_action(ctx: Ctx, verb: str) -> list[Reply]:
    """hc:back|keep|skip|cancel|save while a new-centre draft is open."""
    draft = _draft(ctx)
    if draft is None:
        ctx.session.reset()
        return [screen(_("This draft has expired. Nothing was saved."),
                       [Button(_("Help contacts"), "hc")])]
    step = _step(ctx)
    if verb == "cancel":
        ctx.session.reset()
        return [screen(_("The draft was discarded. Nothing was saved."),
                       [Button(_("Help contacts"), "hc")])]
    if verb == "back":
        ctx.session.data["step"] = max(0, step - 1)
        return [await ask_new(ctx)]
    if verb == "save" and step >= len(NEW_STEPS):
        return await save_new(ctx, draft)
    if step < len(NEW_STEPS):
        field = FIELDS[NEW_STEPS[step]]
        if verb == "keep" and draft.get(field.key) is not None:
            return await _advance(ctx, draft, step, draft[field.key])
        if verb == "skip" and not field.required:
            return await _advance(ctx, draft, step, None)
    return [await ask_new(ctx, _("That button is not valid any more."))]


async def _advance(ctx: Ctx, draft: dict[str, Any], step: int, value: Any) -> list[Reply]:
    draft[NEW_STEPS[step]] = value
    ctx.session.data["draft"] = draft
    ctx.session.data["step"] = step + 1
    return [await ask_new(ctx)]


# -- correcting one field ------------------------------------------------------------------------

async def ask_edit(ctx: Ctx, contact: HelpContact, key: str, error: str | None = None) -> Reply:
    field = FIELDS[key]
    lines = [data_text(contact.name)]
    if error:
        lines.append("⚠ " + error)
    lines.append(_(field.prompt))
    current = getattr(contact, key)
    lines.append(_("Now: {value}", value=data_text(current) if current else "—"))
    rows: list[list[Button]] = []
    if not field.required and current:
        rows.append([Button(_("Leave it empty"), f"hc:clr:{contact.id}:{key}")])
    return screen("\n\n".join(lines), *rows, back=f"hc:show:{contact.id}", menu=False)


async def apply_edit(ctx: Ctx, contact: HelpContact, key: str, value: str) -> list[Reply]:
    """The value is valid: ask whether she checked it against the source before saving, so that
    "Last checked" moves only when somebody did check (the draft stays in the session)."""
    if key == "source" and not value and is_national(contact):
        return [await ask_edit(ctx, contact, key, _("A national line keeps its source, so that "
                                                    "women and coordinators can check it."))]
    ctx.session.reset()
    ctx.session.data.update({"hc": "src", "id": contact.id, "field": key, "value": value})
    return [screen(_("Did you check this against the source today?") + "\n\n"
                   + _("Source: {source}", source=data_text(contact.source) or "—"),
                   [Button(_("Yes, I checked the source today"), f"hc:src:{contact.id}:yes")],
                   [Button(_("No, I did not check the source"), f"hc:src:{contact.id}:no")],
                   back=f"hc:show:{contact.id}", menu=False)]


async def save_value(ctx: Ctx) -> list[Reply]:
    """hc:src:<id>:yes|no — save the corrected value (a national line: propose it)."""
    data = ctx.session.data
    contact = await load_editable(ctx, ctx.arg_int(1))
    answer = ctx.args[2] if len(ctx.args) == 3 else ""
    if contact is None or data.get("hc") != "src" or data.get("id") != contact.id \
            or data.get("field") not in EDITABLE or answer not in ("yes", "no"):
        ctx.session.reset()
        return [not_found()]
    key, value = str(data["field"]), str(data.get("value") or "")
    fields: dict[str, Any] = {key: value}
    if answer == "yes":
        fields["checked_on"] = (await local_today(ctx, contact)).isoformat()
    if needs_second_coordinator(ctx.user, contact):
        return await propose(ctx, contact, fields)
    apply_fields(contact, fields)
    await queries.audit(ctx.db, ctx.user, f"help_contact_edit_{key}", "help_contact", contact.id)
    ctx.session.reset()
    return [Reply(_("Saved. Participants see the change now.")), contact_screen(contact)]


async def contact_input(ctx: Ctx) -> list[Reply]:
    """Typed text while a draft or a correction is open: the value asked for."""
    data = ctx.session.data
    if data.get("hc") == "new" and _draft(ctx) is not None:
        step = _step(ctx)
        if step >= len(NEW_STEPS):
            return [await ask_new(ctx, _("Please use the buttons."))]
        value, error = parse_field(NEW_STEPS[step], ctx.text)
        if error:
            return [await ask_new(ctx, error)]
        return await _advance(ctx, _draft(ctx) or {}, step, value)
    key = data.get("field")
    contact_id = data.get("id")
    contact = await load_editable(ctx, contact_id if isinstance(contact_id, int) else None)
    if data.get("hc") != "edit" or key not in EDITABLE or contact is None:
        ctx.session.reset()
        return [screen(_("This draft has expired. Nothing was saved."),
                       [Button(_("Help contacts"), "hc")])]
    value, error = parse_field(str(key), ctx.text)
    if error:
        return [await ask_edit(ctx, contact, str(key), error)]
    return await apply_edit(ctx, contact, str(key), value)


_TOGGLES = {"off": (False, "help_contact_deactivate",
                    N_("Hidden. Participants do not see this contact any more.")),
            "on": (True, "help_contact_reactivate",
                   N_("Shown again. Participants see this contact from now on."))}


async def change_contact(ctx: Ctx, verb: str) -> list[Reply]:
    """hc:show|ed|clr|chk|on|off:<id>[:<field>] on a contact in her scope."""
    contact = await load_editable(ctx, ctx.arg_int(1))
    if contact is None:
        return [not_found()]
    key = ctx.args[2] if len(ctx.args) >= 3 else ""
    if verb == "show" and len(ctx.args) == 2:
        return [contact_screen(contact)]
    if verb == "ed" and key in EDITABLE:
        ctx.session.reset(ContactState.INPUT)
        ctx.session.data.update({"hc": "edit", "id": contact.id, "field": key})
        return [await ask_edit(ctx, contact, key)]
    if verb == "clr" and key in EDITABLE and not FIELDS[key].required:
        return await apply_edit(ctx, contact, key, "")
    if verb == "chk" and len(ctx.args) == 2 and needs_second_coordinator(ctx.user, contact):
        return await propose(ctx, contact,
                             {"checked_on": (await local_today(ctx, contact)).isoformat()})
    if verb == "chk" and len(ctx.args) == 2:
        contact.checked_on = await local_today(ctx, contact)
        await queries.audit(ctx.db, ctx.user, "help_contact_checked", "help_contact", contact.id)
        return [Reply(_("Noted: checked today.")), contact_screen(contact)]
    if verb in _TOGGLES and len(ctx.args) == 2:
        active, action, done = _TOGGLES[verb]
        if contact.active == active:
            return [Reply(_("Nothing to change: it is already so.")), contact_screen(contact)]
        if needs_second_coordinator(ctx.user, contact):
            return await propose(ctx, contact, {"active": active})
        contact.active = active
        await queries.audit(ctx.db, ctx.user, action, "help_contact", contact.id)
        return [Reply(_(done)), contact_screen(contact)]
    return [not_found()]


async def manage_contacts(ctx: Ctx) -> list[Reply]:
    """hc, hc:list:<page>, hc:new, hc:reg:<region>, hc:<draft verb>, hc:<verb>:<id> — help
    contacts of her organisation's regions (coordinators and admins)."""
    verb = ctx.args[0] if ctx.args else "list"
    if verb in ("back", "keep", "skip", "cancel", "save") and len(ctx.args) == 1:
        return await new_action(ctx, verb)
    ctx.session.reset()
    if verb == "list" and len(ctx.args) <= 2:
        return await list_contacts(ctx, ctx.arg_int(1) or 0)
    if verb == "new" and len(ctx.args) == 1:
        return await start_new(ctx)
    if verb == "reg" and len(ctx.args) == 2:
        if ctx.args[1] not in (await scope_of(ctx.db, ctx.user)).regions:
            return [not_found()]
        _begin(ctx, ctx.args[1])
        return [await ask_new(ctx)]
    return await change_contact(ctx, verb)


ROUTES = [
    Route(manage_contacts, prefix="hc", roles=COORDINATOR_ROLES),
    # Each button is a row; the drafts' and a contact's verbs share their screen's checks.
    *[Route(manage_contacts, prefix="hc", verb=verb, roles=COORDINATOR_ROLES)
      for verb in ("back", "keep", "skip", "cancel", "save", "list", "new", "reg", "show", "ed",
                   "clr", "chk", "on", "off")],
    Route(save_value, prefix="hc", verb="src", roles=COORDINATOR_ROLES),
    *CHANGE_ROUTES,
    Route(contact_input, state=ContactState.INPUT, roles=COORDINATOR_ROLES),
]
