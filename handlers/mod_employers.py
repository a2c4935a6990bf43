"""Committed employers: register what an employer committed to, suspend, end, reactivate.
A suspended or ended employer's vacancies disappear from participants' lists at once (the jobs
journey lists only employers whose status is active)."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select

from bot.core.context import Ctx, Field, Form, Route
from bot.core.i18n import N_, _, data_text, format_day
from bot.core.types import Button, Reply
from bot.core.ui import pager, screen
from db import queries
from db.models import STAFF_ROLES, CommitmentStatus, Employer
from db.reference import SECTORS
from handlers.mod_forms import start_form
from handlers.mod_scope import PAGE, in_scope, no_org, not_found, scope_filter

STATUS_NAMES: dict[str, str] = {
    CommitmentStatus.ACTIVE: N_("Active"),
    CommitmentStatus.SUSPENDED: N_("Suspended"),
    CommitmentStatus.ENDED: N_("Ended"),
}


async def sector_choices(ctx: Ctx, draft: dict[str, Any]) -> list[tuple[str, str]]:
    return [(key, _(label)) for key, label in SECTORS.items()]


def employer_text(emp: Employer) -> str:
    lines = [data_text(emp.name),
             _("Sector: {sector}", sector=_(SECTORS.get(emp.sector, SECTORS["other"])))]
    lines.append(_("Policy against violence: {answer}",
                   answer=_("Yes") if emp.policy_against_violence else _("No")))
    lines.append(_("Supported hiring: {answer}",
                   answer=_("Yes") if emp.supported_hiring else _("No")))
    if emp.commitment_note:
        lines.append(_("Commitment: {note}", note=data_text(emp.commitment_note)))
    lines.append(_("Committed on: {date}", date=format_day(emp.committed_on)))
    if emp.contact_person:
        lines.append(_("Contact person: {name}", name=data_text(emp.contact_person)))
    lines.append(_("Status: {status}", status=_(STATUS_NAMES.get(emp.status, N_("Ended")))))
    return "\n".join(lines)


def _from_draft(draft: dict[str, Any], org_id: int) -> Employer:
    return Employer(org_id=org_id, name=draft["name"], sector=draft["sector"],
                    policy_against_violence=bool(draft["policy"]),
                    supported_hiring=bool(draft["hiring"]),
                    commitment_note=draft.get("note") or "",
                    committed_on=date.fromisoformat(draft["committed_on"]),
                    contact_person=draft["contact"], status=CommitmentStatus.ACTIVE)


async def preview_employer(ctx: Ctx, draft: dict[str, Any]) -> str:
    return employer_text(_from_draft(draft, ctx.user.org_id or 0))


async def publish_employer(ctx: Ctx, draft: dict[str, Any]) -> list[Reply]:
    """form:pub for an employer draft: the first moment it reaches the database."""
    if ctx.user.org_id is None:
        ctx.session.reset()
        return [no_org()]
    emp = _from_draft(draft, ctx.user.org_id)
    ctx.db.add(emp)
    await ctx.db.flush()
    await queries.audit(ctx.db, ctx.user, "employer_register", "employer", emp.id)
    ctx.session.reset()
    return [Reply(_("The employer is registered.")), employer_screen(emp)]


EMPLOYER_FORM = Form(
    kind="emp", title=N_("New committed employer"), home="emp",
    fields=(
        Field("name", N_("What is the employer's name?")),
        Field("sector", N_("Which sector?"), kind="choice", choices=sector_choices),
        Field("policy", N_("Does it have a policy against violence at work?"), kind="bool"),
        Field("hiring", N_("Does it commit to supported hiring (a mentor, a trial period)?"),
              kind="bool"),
        Field("note", N_("In a few words: what did it commit to?"), required=False,
              max_len=500),
        Field("committed_on", N_("On which date did it commit? (like 31.12.2026)"), kind="pastday"),
        Field("contact", N_("Who is the contact person there?")),
    ),
    preview=preview_employer, publish=publish_employer,
)


def employer_screen(emp: Employer) -> Reply:
    actions: list[Button] = []
    if emp.status == CommitmentStatus.ACTIVE:
        actions = [Button(_("Suspend"), f"emp:sus:{emp.id}"), Button(_("End"), f"emp:end:{emp.id}")]
    else:
        actions = [Button(_("Reactivate"), f"emp:act:{emp.id}")]
        if emp.status == CommitmentStatus.SUSPENDED:
            actions.append(Button(_("End"), f"emp:end:{emp.id}"))
    return screen(employer_text(emp), actions, back="emp", menu=False)


async def list_employers(ctx: Ctx, page: int) -> list[Reply]:
    query = select(Employer).where(scope_filter(ctx.user, Employer.org_id))
    total = (await ctx.db.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    found = list((await ctx.db.execute(query.order_by(Employer.status, Employer.name)
                                       .offset(page * PAGE).limit(PAGE))).scalars())
    rows = [[Button(("" if e.status == CommitmentStatus.ACTIVE else "⏸ ")
                    + data_text(e.name)[:50], f"emp:show:{e.id}")] for e in found]
    text = _("Committed employers") if found else _("No committed employers yet.")
    return [screen(text, *rows, pager("emp:list", page, (page + 1) * PAGE < total),
                   [Button(_("Register an employer"), "emp:new")], back="mod", menu=False)]


_TRANSITIONS = {
    "sus": ({CommitmentStatus.ACTIVE}, CommitmentStatus.SUSPENDED, "employer_suspend",
            N_("The commitment is suspended. Its vacancies are hidden from now on.")),
    "end": ({CommitmentStatus.ACTIVE, CommitmentStatus.SUSPENDED}, CommitmentStatus.ENDED,
            "employer_end", N_("The commitment has ended. Its vacancies are hidden from now on.")),
    "act": ({CommitmentStatus.SUSPENDED, CommitmentStatus.ENDED}, CommitmentStatus.ACTIVE,
            "employer_reactivate",
            N_("The commitment is active again. Its vacancies that have not expired are shown.")),
}


async def manage_employers(ctx: Ctx) -> list[Reply]:
    """emp — the committed employers; an emp:<verb> no row claims finds nothing."""
    ctx.session.reset()
    if ctx.args:
        return [not_found()]
    return await list_employers(ctx, 0)


async def employers_page(ctx: Ctx) -> list[Reply]:
    """emp:list:<page>."""
    ctx.session.reset()
    return await list_employers(ctx, ctx.arg_int(1) or 0)


async def new_employer(ctx: Ctx) -> list[Reply]:
    """emp:new — the employer form."""
    ctx.session.reset()
    if ctx.user.org_id is None:
        return [no_org()]
    return await start_form(ctx, "emp", {"committed_on": ctx.now().date().isoformat()})


async def _employer(ctx: Ctx) -> Employer | None:
    """The employer of the payload, if it is of her organisation (a forged id finds nothing)."""
    ctx.session.reset()
    emp_id = ctx.arg_int(1)
    emp = await ctx.db.get(Employer, emp_id) if emp_id is not None else None
    return emp if emp is not None and in_scope(ctx.user, emp.org_id) else None


async def show_employer(ctx: Ctx) -> list[Reply]:
    """emp:show:<id>."""
    emp = await _employer(ctx)
    return [employer_screen(emp)] if emp is not None else [not_found()]


async def change_commitment(ctx: Ctx) -> list[Reply]:
    """emp:sus|end|act:<id> — suspend, end or reactivate a commitment (audited)."""
    emp = await _employer(ctx)
    if emp is None:
        return [not_found()]
    allowed, new_status, action, done = _TRANSITIONS[ctx.args[0]]
    if emp.status not in allowed:
        return [Reply(_("Nothing to change: the commitment is already in that state.")),
                employer_screen(emp)]
    emp.status = new_status
    emp.status_changed_on = ctx.now().date()
    await queries.audit(ctx.db, ctx.user, action, "employer", emp.id)
    return [Reply(_(done)), employer_screen(emp)]


ROUTES = [
    Route(manage_employers, prefix="emp", roles=STAFF_ROLES),
    Route(employers_page, prefix="emp", verb="list", roles=STAFF_ROLES),
    Route(new_employer, prefix="emp", verb="new", roles=STAFF_ROLES),
    Route(show_employer, prefix="emp", verb="show", roles=STAFF_ROLES),
    *[Route(change_commitment, prefix="emp", verb=verb, roles=STAFF_ROLES)
      for verb in _TRANSITIONS],
]
FORMS = [EMPLOYER_FORM]
