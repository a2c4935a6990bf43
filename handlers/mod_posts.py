"""Vacancies and meetups from a phone: new ones step by step (handlers.mod_forms), then edit,
close, duplicate a meetup one week later, and mark who came."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.core.context import Ctx, Field, Form, Route
from bot.core.i18n import (
    LANGUAGES,
    N_,
    _,
    data_text,
    format_day,
    format_when,
    language_name,
    ngettext,
)
from bot.core.notify import in_quiet_hours
from bot.core.types import Button, Reply
from bot.core.ui import pager, screen, shorten
from bot.services.places import promote_waiting
from db import queries
from db.models import (
    STAFF_ROLES,
    AuditEntry,
    CommitmentStatus,
    Employer,
    Meetup,
    MeetupKind,
    PostStatus,
    Signup,
    SignupStatus,
    User,
    Vacancy,
)
from db.queries import meetups as mq
from db.queries import org_region_codes
from db.reference import HOURS, REGION_NAMES
from handlers.meetups import places_left_text
from handlers.mod_employers import sector_choices
from handlers.mod_forms import parse_value, start_form
from handlers.mod_scope import PAGE, in_scope, no_org, not_found, scope_filter


class EditState(StrEnum):
    VALUE = "mod_posts.edit"
    ATTENDANCE = "mod_posts.attendance"


# -- choices ------------------------------------------------------------------------------------

async def employer_choices(ctx: Ctx, draft: dict[str, Any]) -> list[tuple[str, str]]:
    found = (await ctx.db.execute(
        select(Employer).where(Employer.org_id == ctx.user.org_id,
                               Employer.status == CommitmentStatus.ACTIVE)
        .order_by(Employer.name).limit(30))).scalars()
    return [(str(e.id), data_text(e.name)[:50]) for e in found]


async def region_choices(ctx: Ctx, draft: dict[str, Any]) -> list[tuple[str, str]]:
    codes = await org_region_codes(ctx.db, ctx.user.org_id)
    return [(c, _(REGION_NAMES.get(c, c))) for c in codes]


async def hours_choices(ctx: Ctx, draft: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, _(v)) for k, v in HOURS.items()]


async def language_choices(ctx: Ctx, draft: dict[str, Any]) -> list[tuple[str, str]]:
    return [(code, language_name(code)) for code in LANGUAGES]


def _pay_order(draft: dict[str, Any], value: Any) -> str | None:
    low = draft.get("pay_min")
    if isinstance(low, int) and value < low:
        return N_("The highest pay cannot be lower than the lowest pay.")
    return None


# -- what participants see ----------------------------------------------------------------------
# The preview reuses the participants' own renderers (handlers.jobs / handlers.meetups), so that
# a caseworker sees exactly what a woman will read.

async def participant_vacancy_text(ctx: Ctx, v: Vacancy, employer: Employer) -> str:
    from handlers.jobs import vacancy_text

    v.employer = employer
    return await vacancy_text(ctx, v)


async def participant_meetup_text(ctx: Ctx, m: Meetup) -> str:
    from handlers.meetups import meetup_page

    # meetup_page ends any typed prompt; the draft's state must survive the preview.
    state = ctx.session.state
    reply = await meetup_page(ctx, m, None, member=True)
    ctx.session.state = state
    return reply.text


def meetup_text(m: Meetup, tz: str, confirmed: int, *, show_place: bool) -> str:
    left = max(0, m.capacity - confirmed)
    lines = [data_text(m.title), format_when(m.starts_at, tz),
             ngettext("{n} minute", "{n} minutes", m.duration_minutes)]
    if m.description:
        lines.append(data_text(m.description))
    lines.append(places_left_text(left))
    if show_place:
        lines.append(_("Where: {place}", place=data_text(m.place)))
    return "\n".join(lines)


def _starts_at(draft: dict[str, Any], tz: str) -> datetime:
    local = datetime.combine(date.fromisoformat(draft["day"]),
                             time.fromisoformat(draft["clock"]), ZoneInfo(tz))
    return local.astimezone(UTC)


# -- vacancies ----------------------------------------------------------------------------------

def _vacancy_from(draft: dict[str, Any], employer: Employer) -> Vacancy:
    return Vacancy(employer_id=employer.id, org_id=employer.org_id, region_code=draft["region"],
                   title=draft["title"], description=draft["description"],
                   sector=draft["sector"], place=draft.get("place") or "",
                   hours=draft["hours"], contract=draft.get("contract") or "",
                   pay_min=draft.get("pay_min"), pay_max=draft.get("pay_max"),
                   childcare_friendly=bool(draft["childcare"]),
                   remote_possible=bool(draft["remote"]), work_language=draft["language"],
                   expires_on=date.fromisoformat(draft["expires_on"]),
                   status=PostStatus.PUBLISHED)


async def _draft_employer(ctx: Ctx, draft: dict[str, Any]) -> Employer | None:
    """The draft's employer, if it is still active and of her organisation."""
    raw = str(draft.get("employer", ""))
    emp = await ctx.db.get(Employer, int(raw)) if raw.isdigit() else None
    if emp is None or emp.status != CommitmentStatus.ACTIVE or emp.org_id != ctx.user.org_id:
        return None
    return emp


async def preview_vacancy(ctx: Ctx, draft: dict[str, Any]) -> str:
    emp = await _draft_employer(ctx, draft)
    if emp is None:
        return _("The employer of this draft is no longer active.")
    return await participant_vacancy_text(ctx, _vacancy_from(draft, emp), emp)


async def publish_vacancy(ctx: Ctx, draft: dict[str, Any]) -> list[Reply]:
    """form:pub for a vacancy: check the employer and region again, then save."""
    emp = await _draft_employer(ctx, draft)
    regions = await org_region_codes(ctx.db, ctx.user.org_id)
    if emp is None or draft.get("region") not in regions:
        ctx.session.reset()
        return [screen(_("This draft cannot be published: the employer is no longer active or "
                         "the region is not yours. Nothing was saved."),
                       [Button(_("Vacancies"), "vac")])]
    if date.fromisoformat(draft["expires_on"]) < ctx.now().date():
        ctx.session.data["step"] = len(VACANCY_FORM.fields) - 1
        from handlers.mod_forms import ask

        return [await ask(ctx, _("That date is in the past. Please write a date from today on."))]
    vacancy = _vacancy_from(draft, emp)
    vacancy.created_by = ctx.user.id
    ctx.db.add(vacancy)
    await ctx.db.flush()
    await queries.audit(ctx.db, ctx.user, "vacancy_publish", "vacancy", vacancy.id)
    ctx.session.reset()
    return [Reply(_("The vacancy is published.")), await vacancy_screen(ctx, vacancy)]


VACANCY_FORM = Form(
    kind="vac", title=N_("New vacancy"), home="vac",
    fields=(
        Field("employer", N_("Which committed employer?"), kind="choice",
              choices=employer_choices),
        Field("region", N_("In which region?"), kind="choice", choices=region_choices),
        Field("title", N_("The job title, in a few words:")),
        Field("description", N_("What is the work? Describe it in plain words:"),
              max_len=1500),
        Field("sector", N_("Which sector?"), kind="choice", choices=sector_choices),
        Field("place", N_("Where is the work (town or area)?"), required=False),
        Field("hours", N_("Which hours?"), kind="choice", choices=hours_choices),
        Field("contract", N_("What contract (for example: 6 months, 20 hours a week)?"),
              required=False, max_len=80),
        Field("pay_min", N_("Lowest pay in euros a month (a number):"), kind="int",
              required=False, max_val=100_000),
        Field("pay_max", N_("Highest pay in euros a month (a number):"), kind="int",
              required=False, max_val=100_000, check=_pay_order),
        Field("childcare", N_("Do the hours fit with childcare?"), kind="bool"),
        Field("remote", N_("Is work from home possible?"), kind="bool"),
        Field("language", N_("Which language is needed at work?"), kind="choice",
              choices=language_choices),
        Field("expires_on", N_("Until which date can people apply? (like 31.12.2026)"),
              kind="day"),
    ),
    preview=preview_vacancy, publish=publish_vacancy,
)

VACANCY_EDITABLE = ("title", "description", "expires_on")
MEETUP_EDITABLE = ("title", "description", "place", "capacity")
FIELD_NAMES = {"title": N_("Title"), "description": N_("Description"),
               "expires_on": N_("Apply-by date"), "place": N_("Place"),
               "capacity": N_("Places")}


async def vacancy_screen(ctx: Ctx, v: Vacancy) -> Reply:
    state = _vacancy_state(ctx, v)
    text = "\n\n".join([_("Status: {status}", status=state),
                         await participant_vacancy_text(ctx, v, v.employer)])
    buttons: list[list[Button]] = []
    if v.status == PostStatus.PUBLISHED:
        buttons.append([Button(_("Edit"), f"vac:ed:{v.id}"),
                        Button(_("Close"), f"vac:close:{v.id}")])
    return screen(text, *buttons, back="vac", menu=False)


def _vacancy_state(ctx: Ctx, v: Vacancy) -> str:
    if v.status != PostStatus.PUBLISHED:
        return _("Closed")
    if v.expires_on < ctx.now().date():
        return _("Expired")
    if v.employer is not None and v.employer.status != CommitmentStatus.ACTIVE:
        return _("Hidden: the employer's commitment is not active")
    return _("Published")


async def _load_vacancy(ctx: Ctx) -> Vacancy | None:
    vid = ctx.arg_int(1)
    v = await ctx.db.get(Vacancy, vid) if vid is not None else None
    return v if v is not None and in_scope(ctx.user, v.org_id) else None


async def manage_vacancies(ctx: Ctx) -> list[Reply]:
    """vac, vac:list:<page>, vac:new, vac:show|ed|close:<id>, vac:ef:<id>:<field>."""
    ctx.session.reset()
    verb = ctx.args[0] if ctx.args else "list"
    if verb == "list":
        return await _list_vacancies(ctx, ctx.arg_int(1) or 0)
    if verb == "new":
        if ctx.user.org_id is None:
            return [no_org()]
        if not await employer_choices(ctx, {}):
            return [screen(_("Please register a committed employer first."),
                           [Button(_("Register an employer"), "emp:new")], back="vac",
                           menu=False)]
        return await start_form(ctx, "vac")
    v = await _load_vacancy(ctx)
    if v is None:
        return [not_found()]
    if verb == "show":
        return [await vacancy_screen(ctx, v)]
    if v.status != PostStatus.PUBLISHED:
        return [Reply(_("This vacancy is closed.")), await vacancy_screen(ctx, v)]
    if verb == "close":
        v.status = PostStatus.CLOSED
        await queries.audit(ctx.db, ctx.user, "vacancy_close", "vacancy", v.id)
        return [Reply(_("The vacancy is closed. Participants no longer see it.")),
                await vacancy_screen(ctx, v)]
    if verb == "ed":
        return [_edit_menu("vac", v.id, VACANCY_EDITABLE)]
    if verb == "ef" and len(ctx.args) >= 3 and ctx.args[2] in VACANCY_EDITABLE:
        return [_begin_edit(ctx, "vac", v.id, ctx.args[2])]
    return [not_found()]


def _list_entry(number: int, title: str, facts: list[str]) -> tuple[str, str]:
    """A numbered line of a staff list (title, region, date, status: four vacancies with the
    same title stay apart) and its button label, the title cut with "…" to fit a phone."""
    line = f"{number}. {data_text(title)}\n   " + " · ".join(facts)
    return line, shorten(f"{number}. {data_text(title)}")


async def _list_vacancies(ctx: Ctx, page: int) -> list[Reply]:
    """Newest first: the vacancy posted last is at the top of the first page."""
    query = select(Vacancy).where(scope_filter(ctx.user, Vacancy.org_id))
    total = (await ctx.db.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    found = list((await ctx.db.execute(
        query.order_by(Vacancy.created_at.desc(), Vacancy.id.desc())
        .offset(page * PAGE).limit(PAGE))).scalars())
    lines, rows = [], []
    for number, v in enumerate(found, start=page * PAGE + 1):
        line, label = _list_entry(number, v.title, [
            _(REGION_NAMES.get(v.region_code, v.region_code)),
            _("open until {date}", date=format_day(v.expires_on)), _vacancy_state(ctx, v)])
        lines.append(line)
        rows.append([Button(label, f"vac:show:{v.id}")])
    text = "\n\n".join([_("Vacancies of your organisation"), *lines]) if found \
        else _("No vacancies yet.")
    return [screen(text, *rows, pager("vac:list", page, (page + 1) * PAGE < total),
                   [Button(_("New vacancy"), "vac:new")], back="mod", menu=False)]


# -- meetups ------------------------------------------------------------------------------------

async def kind_choices(ctx: Ctx, draft: dict[str, Any]) -> list[tuple[str, str]]:
    return [(MeetupKind.CLOSED.value, _("Closed peer group (the place only for women you "
                                        "know)")),
            (MeetupKind.OPEN.value, _("Open event (anyone may see the place)"))]


async def preview_meetup(ctx: Ctx, draft: dict[str, Any]) -> str:
    tz = await queries.region_timezone(ctx.db, draft.get("region"))
    m = _meetup_from(draft, tz, ctx.user.org_id or 0)
    who = (_("Anyone may see the place: {place}", place=data_text(m.place))
           if m.kind == MeetupKind.OPEN else
           _("Only women with access to your groups and a confirmed place see the place: "
             "{place}", place=data_text(m.place)))
    return "\n\n".join([await participant_meetup_text(ctx, m), who])


def _meetup_from(draft: dict[str, Any], tz: str, org_id: int) -> Meetup:
    return Meetup(org_id=org_id, region_code=draft["region"], title=draft["title"],
                  description=draft.get("description") or "", place=draft["place"],
                  starts_at=_starts_at(draft, tz),
                  duration_minutes=draft.get("duration") or 90, capacity=draft["capacity"],
                  kind=MeetupKind.OPEN if draft.get("kind") == MeetupKind.OPEN
                  else MeetupKind.CLOSED, status=PostStatus.PUBLISHED)


async def publish_meetup(ctx: Ctx, draft: dict[str, Any]) -> list[Reply]:
    """form:pub for a meetup: check the region and that it is still ahead, then save."""
    regions = await org_region_codes(ctx.db, ctx.user.org_id)
    if ctx.user.org_id is None or draft.get("region") not in regions:
        ctx.session.reset()
        return [screen(_("This draft cannot be published: the region is not yours. Nothing "
                         "was saved."), [Button(_("Meetups"), "mev")])]
    tz = await queries.region_timezone(ctx.db, draft["region"])
    meetup = _meetup_from(draft, tz, ctx.user.org_id)
    if meetup.starts_at <= ctx.now():
        from handlers.mod_forms import ask

        ctx.session.data["step"] = _field_index(MEETUP_FORM, "day")
        return [await ask(ctx, _("That time has already passed. Please choose a later day."))]
    meetup.created_by = ctx.user.id
    ctx.db.add(meetup)
    await ctx.db.flush()
    await queries.audit(ctx.db, ctx.user, "meetup_publish", "meetup", meetup.id)
    ctx.session.reset()
    return [Reply(_("The meetup is published.")), await meetup_screen(ctx, meetup)]


def _field_index(form: Form, key: str) -> int:
    return next(i for i, f in enumerate(form.fields) if f.key == key)


MEETUP_FORM = Form(
    kind="mev", title=N_("New meetup"), home="mev",
    fields=(
        Field("region", N_("In which region?"), kind="choice", choices=region_choices),
        Field("title", N_("The meetup's name, in a few words:")),
        Field("description", N_("What happens there? A few plain words:"), required=False,
              max_len=1000),
        Field("place", N_("Where is it? It is never shown in a list."), max_len=200),
        Field("kind", N_("Who may see the place?"), kind="choice", choices=kind_choices),
        Field("day", N_("On which day? (like 31.12.2026)"), kind="day"),
        Field("clock", N_("At what time does it start? (like 17:30, local time)"), kind="clock"),
        Field("duration", N_("How many minutes does it last? (for example 90)"), kind="int",
              required=False, min_val=15, max_val=600),
        Field("capacity", N_("How many places are there?"), kind="int", min_val=1,
              max_val=500),
    ),
    preview=preview_meetup, publish=publish_meetup,
)


async def meetup_screen(ctx: Ctx, m: Meetup) -> Reply:
    tz = await queries.region_timezone(ctx.db, m.region_code)
    confirmed = await mq.confirmed_count(ctx.db, m.id)
    waiting = (await ctx.db.execute(select(func.count(Signup.id)).where(
        Signup.meetup_id == m.id, Signup.status == SignupStatus.WAITING))).scalar_one()
    labels: dict[str, str] = {PostStatus.PUBLISHED: _("Published"),
                              PostStatus.CANCELLED: _("Meetup cancelled")}
    status = labels.get(m.status, _("Closed"))
    head = "\n".join([_("Status: {status}", status=status),
                      _("Signed up: {count} of {capacity}. Waiting: {waiting}.",
                        count=confirmed, capacity=m.capacity, waiting=waiting)])
    kind = (_("Open event: anyone may see the place.") if m.kind == MeetupKind.OPEN
            else _("Closed peer group: the place only for women with access and a place."))
    text = "\n\n".join([head, kind, meetup_text(m, tz, confirmed, show_place=True)])
    rows: list[list[Button]] = []
    if m.status == PostStatus.PUBLISHED:
        rows.append([Button(_("Edit"), f"mev:ed:{m.id}"),
                     Button(_("Cancel the meetup"), f"mev:close:{m.id}")])
        if m.starts_at <= ctx.now():
            rows.append([Button(_("Who came?"), f"mev:att:{m.id}")])
    rows.append([Button(_("Repeat one week later"), f"mev:dup:{m.id}")])
    return screen(text, *rows, back="mev", menu=False)


async def _load_meetup(ctx: Ctx) -> Meetup | None:
    mid = ctx.arg_int(1)
    m = await ctx.db.get(Meetup, mid) if mid is not None else None
    return m if m is not None and in_scope(ctx.user, m.org_id) else None


async def manage_meetups(ctx: Ctx) -> list[Reply]:
    """mev, mev:list:<page>, mev:new, mev:show|ed|close|closeok|dup|att|atall|atn:<id>,
    mev:ef:<id>:<field>, mev:at:<id>:<signup id>."""
    ctx.session.reset()
    verb = ctx.args[0] if ctx.args else "list"
    if verb == "list":
        return await _list_meetups(ctx, ctx.arg_int(1) or 0)
    if verb == "new":
        if ctx.user.org_id is None or not await org_region_codes(ctx.db, ctx.user.org_id):
            return [no_org()]
        return await start_form(ctx, "mev")
    m = await _load_meetup(ctx)
    if m is None:
        return [not_found()]
    if verb == "show":
        return [await meetup_screen(ctx, m)]
    if verb == "dup":
        return await _duplicate(ctx, m)
    if m.status != PostStatus.PUBLISHED:
        return [Reply(_("This meetup is cancelled.")), await meetup_screen(ctx, m)]
    if verb == "close":
        return [screen(_("Cancel this meetup? Women who signed up get a short message."),
                       [Button(_("Yes, cancel it"), f"mev:closeok:{m.id}")],
                       back=f"mev:show:{m.id}", menu=False)]
    if verb == "closeok":
        return await _cancel(ctx, m)
    if verb == "ed":
        return [_edit_menu("mev", m.id, MEETUP_EDITABLE)]
    if verb == "ef" and len(ctx.args) >= 3 and ctx.args[2] in MEETUP_EDITABLE:
        return [_begin_edit(ctx, "mev", m.id, ctx.args[2])]
    if verb in ("att", "at", "atall", "atn"):
        if m.starts_at > ctx.now():
            return [Reply(_("You can mark who came once the meetup has started.")),
                    await meetup_screen(ctx, m)]
        return await _attendance(ctx, m, verb)
    return [not_found()]


def _meetup_state(m: Meetup, now: datetime) -> str:
    if m.status != PostStatus.PUBLISHED:
        return _("Meetup cancelled")
    return _("Took place") if m.starts_at < now else _("Published")


async def _list_meetups(ctx: Ctx, page: int) -> list[Reply]:
    """Newest first: the latest date at the top of the first page."""
    query = select(Meetup).where(scope_filter(ctx.user, Meetup.org_id))
    total = (await ctx.db.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    now = ctx.now()
    found = list((await ctx.db.execute(
        query.order_by(Meetup.starts_at.desc(), Meetup.id.desc())
        .offset(page * PAGE).limit(PAGE))).scalars())
    lines, rows = [], []
    for number, m in enumerate(found, start=page * PAGE + 1):
        tz = await queries.region_timezone(ctx.db, m.region_code)
        line, label = _list_entry(number, m.title, [
            _(REGION_NAMES.get(m.region_code, m.region_code)),
            format_when(mq.aware(m.starts_at), tz), _meetup_state(m, now)])
        lines.append(line)
        rows.append([Button(label, f"mev:show:{m.id}")])
    text = "\n\n".join([_("Meetups of your organisation"), *lines]) if found \
        else _("No meetups yet.")
    return [screen(text, *rows, pager("mev:list", page, (page + 1) * PAGE < total),
                   [Button(_("New meetup"), "mev:new")], back="mod", menu=False)]


async def _cancel(ctx: Ctx, m: Meetup) -> list[Reply]:
    m.status = PostStatus.CANCELLED
    await queries.audit(ctx.db, ctx.user, "meetup_cancel", "meetup", m.id)
    tz = await queries.region_timezone(ctx.db, m.region_code)
    signed = (await ctx.db.execute(select(User).join(Signup, Signup.user_id == User.id)
                                   .where(Signup.meetup_id == m.id))).scalars()
    for user in signed:
        # Neutral words: a lock screen may show them (docs/ARCHITECTURE.md 2.5); during her quiet hours
        # the message arrives without a sound.
        ctx.send_to(user.id, lambda: [Reply(_("One of your meetups was cancelled. Sorry about "
                                              "that."), buttons=((Button(
                                                  _("Peer-group meetups"), "ev"),),))],
                    notification=not in_quiet_hours(user, ctx.now(), tz))
    return [Reply(_("The meetup is cancelled.")), await meetup_screen(ctx, m)]


async def _duplicate(ctx: Ctx, m: Meetup) -> list[Reply]:
    """The same meetup one week later, at the same local time (a weekly series)."""
    tz = ZoneInfo(await queries.region_timezone(ctx.db, m.region_code))
    local = m.starts_at.astimezone(tz)
    nxt = local + timedelta(days=7)
    while nxt.astimezone(UTC) <= ctx.now():
        nxt += timedelta(days=7)
    # Rebuild from the wall clock so a change of summer time keeps the same local hour.
    wall = datetime.combine(nxt.date(), local.timetz().replace(tzinfo=None), tz)
    copy = Meetup(org_id=m.org_id, region_code=m.region_code, title=m.title,
                  description=m.description, place=m.place, starts_at=wall.astimezone(UTC),
                  duration_minutes=m.duration_minutes, capacity=m.capacity, kind=m.kind,
                  status=PostStatus.PUBLISHED, created_by=ctx.user.id)
    ctx.db.add(copy)
    await ctx.db.flush()
    await queries.audit(ctx.db, ctx.user, "meetup_duplicate", "meetup", copy.id)
    return [Reply(_("A copy one week later is published.")), await meetup_screen(ctx, copy)]


async def _attendance(ctx: Ctx, m: Meetup, verb: str) -> list[Reply]:
    signups = list((await ctx.db.execute(
        select(Signup).where(Signup.meetup_id == m.id,
                             Signup.status == SignupStatus.CONFIRMED)
        .order_by(Signup.id))).scalars())
    if verb == "at":
        sid = ctx.arg_int(2)
        target = next((s for s in signups if s.id == sid), None)
        if target is None:
            return [not_found()]
        await _set_attendance(ctx, m, {s.id for s in signups if s.attended and s is not target}
                              | (set() if target.attended else {target.id}), signups)
    elif verb == "atall":
        await _set_attendance(ctx, m, {s.id for s in signups}, signups)
    elif verb == "atn" or not signups:
        if not signups and await _attendance_recorded(ctx, m.id):
            return [Reply(_("Attendance for this meetup is already saved.")),
                    await meetup_screen(ctx, m)]
        ctx.session.reset(EditState.ATTENDANCE)
        ctx.session.data["meetup"] = m.id
        question = (_("How many of the {count} women who signed up came? Write a number.",
                      count=len(signups)) if signups else
                    _("The list of sign-ups is deleted after a meetup. How many women came? "
                      "Write a number."))
        return [screen(question, back=f"mev:show:{m.id}", menu=False)]
    return [_attendance_screen(m, signups)]


def _attendance_screen(m: Meetup, signups: list[Signup]) -> Reply:
    came = sum(1 for s in signups if s.attended)
    text = "\n".join([data_text(m.title),
                      _("Came: {came} of {count} who signed up.", came=came, count=len(signups)),
                      _("Tap a sign-up to mark it. Nobody's name or address is shown.")])
    buttons = [Button(("✓ " if s.attended else "· ") + _("Sign-up {number}", number=i + 1),
                      f"mev:at:{m.id}:{s.id}") for i, s in enumerate(signups[:40])]
    rows = [buttons[i:i + 3] for i in range(0, len(buttons), 3)]
    rows.append([Button(_("Everyone came"), f"mev:atall:{m.id}"),
                 Button(_("Write how many came"), f"mev:atn:{m.id}")])
    return screen(text, *rows, back=f"mev:show:{m.id}", menu=False)


async def _set_attendance(ctx: Ctx, m: Meetup, came: set[int], signups: list[Signup]) -> None:
    """Mark who came. The impact counter is moved once, when the meetups journey deletes the
    sign-ups after the meetup (it counts those marked), so marking twice never counts twice."""
    for s in signups:
        s.attended = s.id in came
    await queries.audit(ctx.db, ctx.user, "meetup_attendance", "meetup", m.id)


async def _attendance_recorded(ctx: Ctx, meetup_id: int) -> bool:
    found = await ctx.db.execute(select(AuditEntry.id).where(
        AuditEntry.action.in_(("meetup_attendance", "meetup_attendance_count")),
        AuditEntry.target_type == "meetup", AuditEntry.target_id == str(meetup_id)).limit(1))
    return found.first() is not None


async def attendance_count(ctx: Ctx) -> list[Reply]:
    """Typed number of women who came (state mod_posts.attendance)."""
    mid = ctx.session.data.get("meetup")
    m = await ctx.db.get(Meetup, mid) if isinstance(mid, int) else None
    if m is None or not in_scope(ctx.user, m.org_id):
        ctx.session.reset()
        return [not_found()]
    signups = list((await ctx.db.execute(
        select(Signup).where(Signup.meetup_id == m.id,
                             Signup.status == SignupStatus.CONFIRMED)
        .order_by(Signup.id))).scalars())
    limit = len(signups) if signups else m.capacity
    value, error = parse_value(Field("n", "", kind="int", max_val=limit), ctx.text,
                               ctx.now().date())
    if error:
        return [screen(error, back=f"mev:show:{m.id}", menu=False)]
    ctx.session.reset()
    if signups:
        await _set_attendance(ctx, m, {s.id for s in signups[:value]}, signups)
        return [Reply(_("Thank you. Attendance is saved.")), _attendance_screen(m, signups)]
    # The sign-ups are already deleted (nothing is kept after a meetup): count the number once.
    if await _attendance_recorded(ctx, m.id):
        return [Reply(_("Attendance for this meetup is already saved.")),
                await meetup_screen(ctx, m)]
    if value:
        tz = ZoneInfo(await queries.region_timezone(ctx.db, m.region_code))
        await queries.bump(ctx.db, "meetup_attended", day=m.starts_at.astimezone(tz).date(),
                           org_id=m.org_id, region_code=m.region_code, n=value)
    await queries.audit(ctx.db, ctx.user, "meetup_attendance_count", "meetup", m.id)
    return [Reply(_("Thank you. Attendance is saved.")), await meetup_screen(ctx, m)]


# -- editing one field of a published post -------------------------------------------------------

def _edit_menu(kind: str, post_id: int, fields: tuple[str, ...]) -> Reply:
    buttons = [[Button(_(FIELD_NAMES[f]), f"{kind}:ef:{post_id}:{f}")] for f in fields]
    return screen(_("What do you want to change?"), *buttons, back=f"{kind}:show:{post_id}",
                  menu=False)


def _edit_field(kind: str, key: str) -> Field:
    form = VACANCY_FORM if kind == "vac" else MEETUP_FORM
    return form.fields[_field_index(form, key)]


def _begin_edit(ctx: Ctx, kind: str, post_id: int, key: str) -> Reply:
    ctx.session.reset(EditState.VALUE)
    ctx.session.data.update({"kind": kind, "id": post_id, "field": key})
    return screen(_(_edit_field(kind, key).prompt), back=f"{kind}:show:{post_id}", menu=False)


async def edit_value(ctx: Ctx) -> list[Reply]:
    """Typed new value of one field of a published vacancy or meetup."""
    data = ctx.session.data
    kind, post_id, key = data.get("kind"), data.get("id"), data.get("field")
    editable = VACANCY_EDITABLE if kind == "vac" else MEETUP_EDITABLE
    post: Vacancy | Meetup | None = None
    if isinstance(post_id, int):
        post = (await ctx.db.get(Vacancy, post_id) if kind == "vac"
                else await ctx.db.get(Meetup, post_id))
    if post is None or key not in editable or not in_scope(ctx.user, post.org_id) or \
            post.status != PostStatus.PUBLISHED:
        ctx.session.reset()
        return [not_found()]
    field = _edit_field(str(kind), str(key))
    value, error = parse_value(field, ctx.text, ctx.now().date())
    confirmed = await mq.confirmed_count(ctx.db, post.id) if key == "capacity" else 0
    if not error and key == "capacity" and value < confirmed:
        error = _("{count} women have already signed up. Please write at least {count}.",
                  count=confirmed)
    if error:
        return [screen(error + "\n\n" + _(field.prompt), back=f"{kind}:show:{post_id}",
                       menu=False)]
    setattr(post, str(key), date.fromisoformat(value) if key == "expires_on" else value)
    if isinstance(post, Meetup) and key == "capacity":
        # New places go to the waiting list first, in order; each promoted woman is told.
        ctx.outgoing.extend(await promote_waiting(ctx.db, post, ctx.now()))
    await queries.audit(ctx.db, ctx.user, f"{'vacancy' if kind == 'vac' else 'meetup'}_edit",
                        str(kind), post.id)
    ctx.session.reset()
    if isinstance(post, Vacancy):
        return [Reply(_("Saved.")), await vacancy_screen(ctx, post)]
    return [Reply(_("Saved.")), await meetup_screen(ctx, post)]


ROUTES = [
    Route(manage_vacancies, prefix="vac", roles=STAFF_ROLES),
    *[Route(manage_vacancies, prefix="vac", verb=verb, roles=STAFF_ROLES)
      for verb in ("list", "new", "show", "ed", "ef", "close")],
    Route(manage_meetups, prefix="mev", roles=STAFF_ROLES),
    *[Route(manage_meetups, prefix="mev", verb=verb, roles=STAFF_ROLES)
      for verb in ("list", "new", "show", "ed", "ef", "close", "closeok", "dup", "at", "atall", "atn",
                   "att")],
    Route(edit_value, state=EditState.VALUE, roles=STAFF_ROLES),
    Route(attendance_count, state=EditState.ATTENDANCE, roles=STAFF_ROLES),
]
FORMS = [VACANCY_FORM, MEETUP_FORM]
