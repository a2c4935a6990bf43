"""Job vacancies from committed employers: the vacancies of her region (only while the employer's
commitment is active, never expired ones), filters that matter to survivors, a vacancy page with
what the employer committed to, and "I'm interested": a discreet hand-off to a caseworker under a
pseudonym, at the safe hours she picks, which she can withdraw."""
from __future__ import annotations

import logging
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.core.context import Ctx, Handler, Route
from bot.core.i18n import LANGUAGE_NAMES, _, data_text, format_day, format_number, language_name
from bot.core.types import Button, Reply
from bot.core.ui import PAGE_SIZE, check, leave_prompt, pager, screen
from bot.services.impact import count_started
from db import queries
from db.models import SURVIVOR_JOURNEY_ROLES, Handoff, HandoffKind, HandoffStatus, User, Vacancy
from db.queries import jobs as jq
from db.queries.jobs import JobFilters
from db.reference import HOURS, SECTORS

log = logging.getLogger(__name__)

FILTERS_KEY = "jobf"
SAFE_HOURS = ("morning", "afternoon", "evening")
CONTACT_MODES = ("chat", *SAFE_HOURS)


# -- helpers -----------------------------------------------------------------------------------
async def region_today(ctx: Ctx, region_code: str | None) -> date:
    tz = await queries.region_timezone(ctx.db, region_code)
    return ctx.now().astimezone(ZoneInfo(tz)).date()


def region_now(now: datetime, tz: str) -> date:
    return now.astimezone(ZoneInfo(tz)).date()


def load_filters(ctx: Ctx) -> JobFilters:
    """Her filters, from the session only; anything unexpected there is ignored."""
    raw = ctx.session.data.get(FILTERS_KEY)
    if not isinstance(raw, dict):
        return JobFilters()
    sector, hours, lang = raw.get("sector"), raw.get("hours"), raw.get("lang")
    return JobFilters(sector=sector if sector in SECTORS else None,
                      hours=hours if hours in HOURS else None,
                      childcare=raw.get("child") is True, remote=raw.get("remote") is True,
                      language=lang if lang in LANGUAGE_NAMES else None)


def save_filters(ctx: Ctx, f: JobFilters) -> None:
    if not f.any:
        ctx.session.data.pop(FILTERS_KEY, None)
        return
    ctx.session.data[FILTERS_KEY] = {"sector": f.sector, "hours": f.hours, "child": f.childcare,
                                     "remote": f.remote, "lang": f.language}


def filters_summary(f: JobFilters) -> str:
    if not f.any:
        return _("Filters: none (all jobs in your region).")
    parts: list[str] = []
    if f.sector:
        parts.append(_(SECTORS[f.sector]))
    if f.hours:
        parts.append(_(HOURS[f.hours]))
    if f.childcare:
        parts.append(_("Childcare-friendly"))
    if f.remote:
        parts.append(_("Remote work possible"))
    if f.language:
        parts.append(_("Work in {language}", language=language_name(f.language)))
    return _("Filters: {filters}", filters=", ".join(parts))


def pay_text(vacancy: Vacancy) -> str | None:
    """The pay range in euros a month, numbers in her language's format."""
    low, high = vacancy.pay_min, vacancy.pay_max
    if low and high and low != high:
        return _("Pay: {low}–{high} € a month", low=format_number(low), high=format_number(high))
    if low and high:
        return _("Pay: {amount} € a month", amount=format_number(low))
    if low:
        return _("Pay: from {amount} € a month", amount=format_number(low))
    if high:
        return _("Pay: up to {amount} € a month", amount=format_number(high))
    return None


def yes_no(value: bool) -> str:
    return _("yes") if value else _("no")


def safe_hours_label(value: str | None) -> str:
    return {"morning": _("in the morning"), "afternoon": _("in the afternoon"),
            "evening": _("in the evening")}.get(value or "", "")


def contact_text(handoff: Handoff) -> str:
    if handoff.contact_mode == "safe_hours" and handoff.safe_hours:
        return _("A caseworker will write to you here, only {when}.",
                 when=safe_hours_label(handoff.safe_hours))
    return _("A caseworker will write to you only through this chat.")


def refusal(ctx: Ctx, note: str) -> list[Reply]:
    """A missing, forged or expired target: say so, change nothing, offer the way on."""
    leave_prompt(ctx.session)
    return [screen(note, [Button(_("Jobs near you"), "job:list:0"),
                          Button(_("My requests"), "job:req")])]


def gone(ctx: Ctx) -> list[Reply]:
    return refusal(ctx, _("Sorry, this job is no longer available."))


# -- list and filters --------------------------------------------------------------------------
async def list_jobs(ctx: Ctx, page: int) -> list[Reply]:
    leave_prompt(ctx.session)
    filters = load_filters(ctx)
    today = await region_today(ctx, ctx.user.region_code)
    found, has_more = await jq.listing(ctx.db, ctx.user.region_code, today, filters,
                                       page=page, size=PAGE_SIZE)
    tools = [Button(_("Filters"), "job:f"), Button(_("My requests"), "job:req")]
    if not found:
        if page > 0:
            note = _("There are no more jobs on this list.")
        elif filters.any:
            note = _("No job matches your filters right now. Try fewer filters.")
        else:
            note = _("There are no jobs in your region right now. Please look again soon.")
        extra = [Button(_("Clear filters"), "job:fx")] if filters.any else []
        first = [Button(_("First page"), "job:list:0")] if page > 0 else []
        return [screen(note + "\n\n" + filters_summary(filters), first, extra, tools)]
    lines = [_("Jobs from employers who committed to support women."), filters_summary(filters)]
    buttons: list[list[Button]] = []
    for number, vacancy in enumerate(found, start=page * PAGE_SIZE + 1):
        entry = [f"{number}. {data_text(vacancy.title)}", data_text(vacancy.employer.name)]
        if vacancy.hours in HOURS:
            entry.append(_(HOURS[vacancy.hours]))
        lines.append("\n".join(entry))
        buttons.append([Button(f"{number}. {data_text(vacancy.title)}"[:60],
                               f"job:show:{vacancy.id}")])
    return [screen("\n\n".join(lines), *buttons, pager("job:list", page, has_more), tools)]


def filters_screen(ctx: Ctx, note: str | None = None) -> Reply:
    leave_prompt(ctx.session)
    f = load_filters(ctx)
    any_ = _("any")
    rows = [
        [Button(_("Type of work: {value}", value=_(SECTORS[f.sector]) if f.sector else any_),
                "job:fp:sector")],
        [Button(_("Hours: {value}", value=_(HOURS[f.hours]) if f.hours else any_),
                "job:fp:hours")],
        [Button(check(f.childcare) + _("Childcare-friendly"), "job:ft:child")],
        [Button(check(f.remote) + _("Remote work possible"), "job:ft:remote")],
        [Button(_("Language of work: {value}",
                  value=language_name(f.language) if f.language else any_), "job:fp:lang")],
        [Button(_("Show jobs"), "job:list:0"), Button(_("Clear filters"), "job:fx")],
    ]
    text = "\n\n".join(([note] if note else []) + [
        _("Choose what matters to you. Your filters are kept only for this conversation."),
        filters_summary(f)])
    return screen(text, *rows, back="job:list:0")


def picker_screen(ctx: Ctx, kind: str) -> Reply:
    f = load_filters(ctx)
    if kind == "sector":
        options = [(code, _(name), code == f.sector) for code, name in SECTORS.items()]
        title = _("Which type of work?")
    elif kind == "hours":
        options = [(code, _(name), code == f.hours) for code, name in HOURS.items()]
        title = _("Which hours?")
    else:
        options = [(code, language_name(code), code == f.language) for code in LANGUAGE_NAMES]
        title = _("In which language do you want to work?")
    buttons = [[Button(check(selected) + label, f"job:fs:{kind}:{code}")]
               for code, label, selected in options]
    buttons.append([Button(check(not any(s for _c, _l, s in options)) + _("Any"),
                           f"job:fs:{kind}:any")])
    return screen(title, *buttons, back="job:f")


async def show_filters(ctx: Ctx) -> list[Reply]:
    """job:f — the filter screen."""
    return [filters_screen(ctx)]


async def pick_filter(ctx: Ctx) -> list[Reply]:
    """job:fp:<sector|hours|lang> — the choices of one filter."""
    kind = ctx.args[1] if len(ctx.args) > 1 else ""
    if kind not in ("sector", "hours", "lang"):
        return [filters_screen(ctx, _("That button is not valid any more."))]
    leave_prompt(ctx.session)
    return [picker_screen(ctx, kind)]


async def set_filter(ctx: Ctx) -> list[Reply]:
    """job:fs:<kind>:<value|any> — choose one value of a filter."""
    kind = ctx.args[1] if len(ctx.args) > 1 else ""
    value = ctx.args[2] if len(ctx.args) > 2 else ""
    allowed = {"sector": SECTORS, "hours": HOURS, "lang": LANGUAGE_NAMES}.get(kind)
    if allowed is None or (value != "any" and value not in allowed):
        return [filters_screen(ctx, _("That button is not valid any more."))]
    f = load_filters(ctx)
    chosen = None if value == "any" else value
    field = {"sector": "sector", "hours": "hours", "lang": "language"}[kind]
    save_filters(ctx, JobFilters(**{**f.__dict__, field: chosen}))
    return [filters_screen(ctx)]


async def toggle_filter(ctx: Ctx) -> list[Reply]:
    """job:ft:<child|remote> — switch a yes/no filter."""
    which = ctx.args[1] if len(ctx.args) > 1 else ""
    f = load_filters(ctx)
    if which == "child":
        f = JobFilters(**{**f.__dict__, "childcare": not f.childcare})
    elif which == "remote":
        f = JobFilters(**{**f.__dict__, "remote": not f.remote})
    else:
        return [filters_screen(ctx, _("That button is not valid any more."))]
    save_filters(ctx, f)
    return [filters_screen(ctx)]


async def clear_filters(ctx: Ctx) -> list[Reply]:
    """job:fx — forget every filter."""
    save_filters(ctx, JobFilters())
    return [filters_screen(ctx, _("Filters cleared."))]


# -- one vacancy -------------------------------------------------------------------------------
async def vacancy_text(ctx: Ctx, vacancy: Vacancy) -> str:
    employer = vacancy.employer
    lines = [data_text(vacancy.title), _("Employer: {name}", name=data_text(employer.name))]
    if vacancy.description:
        lines.append(data_text(vacancy.description))
    facts = []
    if vacancy.place:
        facts.append(_("Where: {place}", place=data_text(vacancy.place)))
    if vacancy.hours in HOURS:
        facts.append(_("Hours: {hours}", hours=_(HOURS[vacancy.hours])))
    if vacancy.contract:
        facts.append(_("Contract: {contract}", contract=data_text(vacancy.contract)))
    pay = pay_text(vacancy)
    if pay:
        facts.append(pay)
    facts.append(_("Childcare-friendly: {answer}", answer=yes_no(vacancy.childcare_friendly)))
    facts.append(_("Remote work possible: {answer}", answer=yes_no(vacancy.remote_possible)))
    facts.append(_("Language of work: {language}",
                   language=language_name(vacancy.work_language)))
    facts.append(_("Open until: {date}", date=format_day(vacancy.expires_on)))
    lines.append("\n".join(facts))
    promises = [_("What the employer committed to:")]
    if employer.policy_against_violence:
        promises.append("• " + _("A written policy against violence at work"))
    if employer.supported_hiring:
        promises.append("• " + _("Supported hiring: help and a contact person when you start"))
    if employer.commitment_note:
        promises.append("• " + data_text(employer.commitment_note))
    if len(promises) > 1:
        lines.append("\n".join(promises))
    return "\n\n".join(lines)


async def vacancy_page(ctx: Ctx, vacancy: Vacancy, note: str | None = None) -> Reply:
    leave_prompt(ctx.session)
    text = await vacancy_text(ctx, vacancy)
    asked = await jq.open_request(ctx.db, ctx.user.id, vacancy.id)
    if asked is not None:
        text += "\n\n" + _("You asked about this job.") + " " + contact_text(asked)
        action = [Button(_("My requests"), "job:req")]
    else:
        action = [Button(_("I'm interested"), f"job:int:{vacancy.id}")]
    if note:
        text = note + "\n\n" + text
    return screen(text, action, back="job:list:0")


async def load_vacancy(ctx: Ctx) -> Vacancy | None:
    vacancy_id = ctx.arg_int(1)
    if vacancy_id is None:
        return None
    found = await ctx.db.get(Vacancy, vacancy_id)
    if found is None:
        return None
    today = await region_today(ctx, found.region_code)
    return await jq.visible_vacancy(ctx.db, vacancy_id, today)


async def show_vacancy(ctx: Ctx) -> list[Reply]:
    """job:show:<id> — one vacancy, if its employer's commitment is active and it is open."""
    vacancy = await load_vacancy(ctx)
    if vacancy is None:
        return gone(ctx)
    return [await vacancy_page(ctx, vacancy)]


async def ask_contact(ctx: Ctx) -> list[Reply]:
    """job:int:<id> — how and when may a caseworker contact her?"""
    vacancy = await load_vacancy(ctx)
    if vacancy is None:
        return gone(ctx)
    if await jq.open_request(ctx.db, ctx.user.id, vacancy.id) is not None:
        return [await vacancy_page(ctx, vacancy, _("You already asked about this job."))]
    leave_prompt(ctx.session)
    text = "\n\n".join([
        _("A caseworker of the centre will help you apply for “{title}”.",
          title=data_text(vacancy.title)),
        _("She will see only a code name, never your name or number. How may she contact you?"),
    ])
    vid = vacancy.id
    return [screen(text,
                   [Button(_("Only through this chat, any time"), f"job:ic:{vid}:chat")],
                   [Button(_("Only in the morning"), f"job:ic:{vid}:morning")],
                   [Button(_("Only in the afternoon"), f"job:ic:{vid}:afternoon")],
                   [Button(_("Only in the evening"), f"job:ic:{vid}:evening")],
                   back=f"job:show:{vid}")]


async def send_interest(ctx: Ctx) -> list[Reply]:
    """job:ic:<id>:<chat|morning|afternoon|evening> — start the discreet hand-off."""
    vacancy = await load_vacancy(ctx)
    if vacancy is None:
        return gone(ctx)
    mode = ctx.args[2] if len(ctx.args) > 2 else ""
    if mode not in CONTACT_MODES:
        return [await vacancy_page(ctx, vacancy, _("That button is not valid any more."))]
    if await jq.open_request(ctx.db, ctx.user.id, vacancy.id) is not None:
        return [await vacancy_page(ctx, vacancy, _("You already asked about this job."))]
    now = ctx.now()
    handoff = Handoff(kind=HandoffKind.JOB, user_id=ctx.user.id, vacancy_id=vacancy.id,
                      org_id=vacancy.org_id, region_code=vacancy.region_code,
                      pseudonym=queries.new_pseudonym(),
                      contact_mode="chat" if mode == "chat" else "safe_hours",
                      safe_hours=None if mode == "chat" else mode,
                      status=HandoffStatus.OPEN, created_at=now, updated_at=now)
    ctx.db.add(handoff)
    await ctx.db.flush()
    tz = await queries.region_timezone(ctx.db, vacancy.region_code)
    await queries.bump(ctx.db, "job_interests", day=region_now(now, tz), org_id=vacancy.org_id,
                       region_code=vacancy.region_code)
    await count_started(ctx.db, ctx.user, now.date(), at_setup=False)
    tell_caseworkers(ctx, handoff, vacancy.title,
                     await queries.caseworkers_for(ctx.db, org_id=vacancy.org_id,
                                                   region_code=None))
    log.info("job request %s opened for vacancy %s", handoff.id, vacancy.id)
    return [screen("\n\n".join([
        _("Thank you. Your request was sent."),
        contact_text(handoff),
        _("You can withdraw it at any time under “My requests”."),
    ]), [Button(_("My requests"), "job:req")], [Button(_("Jobs near you"), "job:list:0")])]


def tell_caseworkers(ctx: Ctx, handoff: Handoff, title: str, caseworkers: list[User]) -> None:
    """Only the pseudonym and the vacancy title; built in each caseworker's language."""
    pseudonym, hid = handoff.pseudonym, handoff.id

    def build() -> list[Reply]:
        return [Reply(_("New job request from {pseudonym}: “{title}”.", pseudonym=pseudonym,
                        title=data_text(title)),
                      buttons=((Button(_("Open"), f"mod:ho:{hid}"),),))]

    for caseworker in caseworkers:
        ctx.send_to(caseworker.id, build)


# -- her requests ------------------------------------------------------------------------------
async def my_requests(ctx: Ctx, note: str | None = None) -> list[Reply]:
    """job:req — her open job requests, each of which she can withdraw."""
    leave_prompt(ctx.session)
    found = await jq.my_requests(ctx.db, ctx.user.id)
    head = [note] if note else []
    browse = [Button(_("Jobs near you"), "job:list:0")]
    if not found:
        return [screen("\n\n".join(head + [_("You have no open requests.")]), browse)]
    lines = head + [_("Your requests")]
    buttons: list[list[Button]] = []
    for number, (handoff, vacancy) in enumerate(found, start=1):
        title = data_text(vacancy.title) if vacancy else _("A job that is no longer listed")
        state = (_("A caseworker is looking at it.") if handoff.status == HandoffStatus.TAKEN
                 else _("Waiting for a caseworker."))
        lines.append(f"{number}. {title}\n{state}\n{contact_text(handoff)}")
        buttons.append([Button(_("Withdraw {number}", number=number), f"job:wd:{handoff.id}")])
    return [screen("\n\n".join(lines), *buttons, browse, back="job:list:0")]


async def ask_withdraw(ctx: Ctx) -> list[Reply]:
    """job:wd:<handoff id> — ask before withdrawing."""
    handoff = await jq.her_request(ctx.db, ctx.user.id, ctx.arg_int(1))
    if handoff is None or handoff.status not in jq.OPEN_STATUSES:
        return await my_requests(ctx, _("This request does not exist or is already closed."))
    leave_prompt(ctx.session)
    return [screen(_("Do you want to withdraw this request? The caseworker will be told."),
                   [Button(_("Yes, withdraw"), f"job:wdok:{handoff.id}")],
                   [Button(_("No, keep it"), "job:req")], back="job:req")]


async def withdraw(ctx: Ctx) -> list[Reply]:
    """job:wdok:<handoff id> — withdraw; the caseworker who took it is told."""
    handoff = await jq.her_request(ctx.db, ctx.user.id, ctx.arg_int(1))
    if handoff is None or handoff.status not in jq.OPEN_STATUSES:
        return await my_requests(ctx, _("This request does not exist or is already closed."))
    handoff.status = HandoffStatus.WITHDRAWN
    handoff.updated_at = ctx.now()
    await ctx.db.flush()
    if handoff.taken_by:
        vacancy = await ctx.db.get(Vacancy, handoff.vacancy_id) if handoff.vacancy_id else None
        title = vacancy.title if vacancy else ""
        pseudonym, hid = handoff.pseudonym, handoff.id

        def build() -> list[Reply]:
            return [Reply(_("{pseudonym} withdrew her request about “{title}”.",
                            pseudonym=pseudonym, title=data_text(title) or "—"),
                          buttons=((Button(_("Open"), f"mod:ho:{hid}"),),))]

        ctx.send_to(handoff.taken_by, build)
    log.info("job request %s withdrawn", handoff.id)
    return await my_requests(ctx, _("Your request was withdrawn."))


# -- entry points ------------------------------------------------------------------------------
async def jobs_home(ctx: Ctx) -> list[Reply]:
    """job — the first page; a job:<verb> that no row of the table claims gets a calm answer."""
    if ctx.args:
        return refusal(ctx, _("That button is not valid any more."))
    return await list_jobs(ctx, 0)


async def list_page(ctx: Ctx) -> list[Reply]:
    """job:list:<page> — one page of the vacancies of her region."""
    page = ctx.arg_int(1) if len(ctx.args) > 1 else 0
    if page is None or page > 10_000:
        return refusal(ctx, _("That button is not valid any more."))
    return await list_jobs(ctx, page)


async def requests_screen(ctx: Ctx) -> list[Reply]:
    """job:req — her requests about vacancies."""
    return await my_requests(ctx)


async def open_jobs(ctx: Ctx) -> list[Reply]:
    """/jobs — the vacancies of her region."""
    return await list_jobs(ctx, 0)


def _row(handler: Handler, verb: str | None = None) -> Route:
    return Route(handler, prefix="job", verb=verb, roles=SURVIVOR_JOURNEY_ROLES,
                 onboarded_only=True)


ROUTES = [
    _row(jobs_home),
    _row(list_page, "list"),
    _row(show_vacancy, "show"),
    _row(show_filters, "f"),
    _row(pick_filter, "fp"),
    _row(set_filter, "fs"),
    _row(toggle_filter, "ft"),
    _row(clear_filters, "fx"),
    _row(ask_contact, "int"),
    _row(send_interest, "ic"),
    _row(requests_screen, "req"),
    _row(ask_withdraw, "wd"),
    _row(withdraw, "wdok"),
    Route(open_jobs, command="/jobs", roles=SURVIVOR_JOURNEY_ROLES, onboarded_only=True),
]
