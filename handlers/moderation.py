"""Caseworker tools (prefix "mod"): the staff menu, requests for contact, the figures for
coordinators; and the routes of the staff modules (roles, employers, posts, hand-offs, forms).
Every route here refuses participants (the core checks the role in the database) and every
handler checks that the row belongs to the staff member's organisation."""
from __future__ import annotations

from sqlalchemy import func, select

from bot.core.context import Ctx, Route
from bot.core.i18n import _
from bot.core.types import Button, Reply
from bot.core.ui import screen
from bot.services.report import (
    EMPLOYERS,
    EXPLANATIONS,
    METRICS,
    Quarter,
    collect,
    completed_quarters,
    shown,
)
from db import queries
from db.models import COORDINATOR_ROLES, STAFF_ROLES, Handoff, HandoffStatus, Organisation
from db.queries.members import pending_condition
from db.reference import REGION_NAMES
from handlers import (
    mod_contacts,
    mod_employers,
    mod_forms,
    mod_handoffs,
    mod_members,
    mod_posts,
    mod_team,
)
from handlers.mod_scope import no_org, not_found


async def staff_menu(ctx: Ctx) -> Reply:
    open_count = (await ctx.db.execute(select(func.count(Handoff.id)).where(
        mod_handoffs.handoff_scope(ctx.user), Handoff.status == HandoffStatus.OPEN,
        pending_condition(ctx.now())))).scalar_one()
    org = await ctx.db.get(Organisation, ctx.user.org_id) if ctx.user.org_id else None
    lines = [_("Caseworker tools")]
    if org is not None:
        lines.append(_("Organisation: {name}", name=org.name))
    rows = [[Button(_("Requests for contact ({count} open)", count=open_count), "mod:ho")],
            [Button(_("Vacancies"), "vac"), Button(_("Meetups"), "mev")],
            [Button(_("Give a woman access"), "mem:code"),
             Button(_("Women with access"), "mem")],
            [Button(_("Committed employers"), "emp")]]
    if ctx.user.role in COORDINATOR_ROLES:
        rows.append([Button(_("Team and invites"), "team"), Button(_("Figures"), "mod:rep")])
        rows.append([Button(_("Broadcasts"), "bc"), Button(_("Help contacts"), "hc")])
    return screen("\n".join(lines), *rows)


async def figures(ctx: Ctx) -> list[Reply]:
    """mod:rep[:<year>q<n>] — the impact summary of her organisation for one completed calendar
    quarter (coordinators); fixed periods that never overlap (bot/report.py)."""
    if ctx.user.role not in COORDINATOR_ROLES:
        return [screen(_("Sorry, this is not available to you."))]
    if ctx.user.org_id is None:
        return [no_org()]
    offered = completed_quarters(ctx.now().date())
    asked = Quarter.parse(ctx.args[1]) if len(ctx.args) >= 2 else None
    quarter = asked if asked in offered else offered[0]
    reports = await collect(ctx.db, quarter.start, quarter.end, ctx.user.org_id)
    lines = [_("Figures for {quarter} ({start} to {end}). Counts from 1 to 4 are shown as “<5”, "
               "so that nobody can be recognised. Only whole quarters are shown, so that no "
               "hidden number can be worked out from others.", quarter=quarter.label,
               start=quarter.start.isoformat(), end=quarter.end.isoformat())]
    for report in reports:
        for code, counts in report.regions.items():
            lines.append("")
            lines.append(_(REGION_NAMES.get(code, code)))
            lines += [f"• {_(m.label)}: {shown(counts[m.key])}" for m in METRICS]
        lines.append("")
        lines.append(_("Employers committed: {count}", count=shown(report.employers)))
    await queries.audit(ctx.db, ctx.user, "report_view", "organisation", ctx.user.org_id)
    buttons = [Button(q.label, f"mod:rep:{q.code}") for q in offered]
    return [screen("\n".join(lines), buttons, [Button(_("What the figures count"), "mod:about")],
                   back="mod", menu=False)]


async def explain_figures(ctx: Ctx) -> list[Reply]:
    """mod:about — what each figure of the report counts (coordinators)."""
    lines = [_("What the figures count")]
    lines += [_(EXPLANATIONS[m.key]) for m in (*METRICS, EMPLOYERS)]
    return [screen("\n\n".join(lines), back="mod:rep", menu=False)]


async def caseworker_tools(ctx: Ctx) -> list[Reply]:
    """mod — the staff menu; a mod:<verb> no row claims gets the menu again."""
    ctx.session.reset()
    return [await staff_menu(ctx)]


async def requests_for_contact(ctx: Ctx) -> list[Reply]:
    """mod:ho[:<id>] — the requests for contact of her organisation, or one of them."""
    if len(ctx.args) > 2:
        return [not_found()]
    if len(ctx.args) == 2:
        return await mod_handoffs.show_handoff(ctx, ctx.arg_int(1))
    return await mod_handoffs.list_handoffs(ctx, 0)


async def show_figures(ctx: Ctx) -> list[Reply]:
    """mod:rep[:<period>] — the figures of her organisation (coordinators)."""
    ctx.session.reset()
    return await figures(ctx)


ROUTES = [
    Route(caseworker_tools, prefix="mod", roles=STAFF_ROLES),
    Route(requests_for_contact, prefix="mod", verb="ho", roles=STAFF_ROLES),
    Route(show_figures, prefix="mod", verb="rep", roles=STAFF_ROLES),
    Route(explain_figures, prefix="mod", verb="about", roles=COORDINATOR_ROLES),
    *mod_team.ROUTES,
    *mod_members.ROUTES,
    *mod_employers.ROUTES,
    *mod_posts.ROUTES,
    *mod_handoffs.ROUTES,
    *mod_forms.ROUTES,
    *mod_contacts.ROUTES,
]
FORMS = [*mod_employers.FORMS, *mod_posts.FORMS]
