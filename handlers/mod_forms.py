"""Step-by-step forms for staff (employers, vacancies, meetups): one field at a time, with
validation, a way back and a preview. The draft lives only in ctx.session (memory or Redis with a
TTL, docs/ARCHITECTURE.md 2.1); nothing reaches the database before "Publish"."""
from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any

from bot.core.context import Ctx, Field, Form, Route
from bot.core.i18n import _, data_text, format_day
from bot.core.parsing import (  # noqa: F401 - the forms' parsers, also used by the CSV import
    NO_WORDS,
    YES_WORDS,
    clean_text,
    parse_bool,
    parse_clock,
    parse_day,
    parse_int,
)
from bot.core.types import Button, Reply
from bot.core.ui import screen
from db.models import STAFF_ROLES


class FormState(StrEnum):
    INPUT = "mod_forms.input"




def parse_value(field: Field, raw: str, today: date) -> tuple[Any, str | None]:
    """(value, None) or (None, error message already translated)."""
    if field.kind == "text":
        text = clean_text(raw)
        if not text:
            return None, _("Please write some text.")
        if len(text) > field.max_len:
            return None, _("That is too long. Please write at most {limit} characters.",
                           limit=field.max_len)
        return text, None
    if field.kind == "day":
        day = parse_day(raw)
        if day is None:
            return None, _("Please write a date like 31.12.2026 or 2026-12-31.")
        if day < today:
            return None, _("That date is in the past. Please write a date from today on.")
        if (day - today).days > 730:
            return None, _("That date is too far ahead. Please write a date within two years.")
        return day.isoformat(), None
    if field.kind == "pastday":
        day = parse_day(raw)
        if day is None:
            return None, _("Please write a date like 31.12.2026 or 2026-12-31.")
        if day > today or day.year < 2000:
            return None, _("Please write a date that is not in the future.")
        return day.isoformat(), None
    if field.kind == "clock":
        clock = parse_clock(raw)
        if clock is None:
            return None, _("Please write a time like 17:30.")
        return clock.strftime("%H:%M"), None
    if field.kind == "int":
        n = parse_int(raw)
        if n is None:
            return None, _("Please write a whole number, like 12.")
        if not field.min_val <= n <= field.max_val:
            return None, _("Please write a number from {low} to {high}.", low=field.min_val,
                           high=field.max_val)
        return n, None
    return None, _("Please use the buttons.")


def show_value(field: Field, value: Any, labels: dict[str, str] | None = None) -> str:
    if value is None:
        return "—"
    if field.kind == "bool":
        return _("Yes") if value else _("No")
    if field.kind in ("day", "pastday"):
        return format_day(date.fromisoformat(value))
    if labels and str(value) in labels:
        return labels[str(value)]
    return data_text(str(value)) if field.kind == "text" else str(value)


# -- the engine ----------------------------------------------------------------------------------

async def start_form(ctx: Ctx, kind: str, initial: dict[str, Any] | None = None) -> list[Reply]:
    """Begin a new draft in the session."""
    ctx.session.reset(FormState.INPUT)
    ctx.session.data.update({"form": kind, "step": 0, "draft": dict(initial or {})})
    return [await ask(ctx)]


def _current(ctx: Ctx) -> tuple[Form, int, dict[str, Any]] | None:
    data = ctx.session.data
    form = ctx.forms.get(str(data.get("form")))
    step = data.get("step")
    draft = data.get("draft")
    if form is None or not isinstance(step, int) or not isinstance(draft, dict):
        return None
    return form, max(0, min(step, len(form.fields))), draft


async def ask(ctx: Ctx, error: str | None = None) -> Reply:
    current = _current(ctx)
    assert current is not None
    form, step, draft = current
    if step >= len(form.fields):
        return await preview_screen(ctx, form, draft, error)
    field = form.fields[step]
    lines = [_("{title} — step {step} of {total}", title=_(form.title), step=step + 1,
               total=len(form.fields))]
    if error:
        lines.append("⚠ " + error)
    lines.append(_(field.prompt))
    rows: list[list[Button]] = []
    value = draft.get(field.key)
    if field.kind == "choice" and field.choices is not None:
        options = await field.choices(ctx, draft)
        if not options:
            lines.append(_("There is nothing to choose from yet."))
        rows += [[Button(("✓ " if str(value) == v else "") + label, f"form:pick:{v}")]
                 for v, label in options]
    elif field.kind == "bool":
        rows.append([Button(("✓ " if value is True else "") + _("Yes"), "form:yes"),
                     Button(("✓ " if value is False else "") + _("No"), "form:no")])
    elif field.kind == "pastday":
        rows.append([Button(_("Today"), "form:today")])
    if value is not None and field.kind not in ("choice", "bool"):
        lines.append(_("Now: {value}", value=show_value(field, value)))
        rows.append([Button(_("Keep this"), "form:keep")])
    if not field.required:
        rows.append([Button(_("Skip"), "form:skip")])
    rows.append([Button(_("Cancel the draft"), "form:cancel")])
    return screen("\n\n".join(lines), *rows, back="form:back" if step > 0 else None, menu=False)


async def preview_screen(ctx: Ctx, form: Form, draft: dict[str, Any],
                         error: str | None = None) -> Reply:
    head = _("Preview: this is how participants will see it.")
    body = await form.preview(ctx, draft)
    text = "\n\n".join(([("⚠ " + error)] if error else []) + [head, body])
    return screen(text, [Button(_("Publish"), "form:pub")],
                  [Button(_("Cancel the draft"), "form:cancel")], back="form:back", menu=False)


async def _advance(ctx: Ctx, form: Form, step: int, draft: dict[str, Any], value: Any
                   ) -> list[Reply]:
    field = form.fields[step]
    if field.check is not None and value is not None:
        problem = field.check(draft, value)
        if problem:
            return [await ask(ctx, _(problem))]
    draft[field.key] = value
    ctx.session.data["draft"] = draft
    ctx.session.data["step"] = step + 1
    return [await ask(ctx)]


async def form_input(ctx: Ctx) -> list[Reply]:
    """Typed text while a draft is open: the value of the field asked."""
    current = _current(ctx)
    if current is None:
        ctx.session.reset()
        return [Reply(_("This draft has expired. Nothing was saved."))]
    form, step, draft = current
    if step >= len(form.fields):
        return [await ask(ctx, _("Please use the buttons."))]
    field = form.fields[step]
    if field.kind in ("choice", "bool"):
        return [await ask(ctx, _("Please use the buttons."))]
    value, error = parse_value(field, ctx.text, ctx.now().date())
    if error:
        return [await ask(ctx, error)]
    return await _advance(ctx, form, step, draft, value)


async def form_action(ctx: Ctx) -> list[Reply]:
    """form:<verb>[:value] — buttons of an open draft."""
    current = _current(ctx) if ctx.session.state == FormState.INPUT else None
    if current is None:
        ctx.session.reset()
        return [screen(_("This draft has expired. Nothing was saved."),
                       [Button(_("Caseworker tools"), "mod")])]
    form, step, draft = current
    verb = ctx.args[0] if ctx.args else ""
    if verb == "cancel":
        ctx.session.reset()
        return [screen(_("The draft was discarded. Nothing was saved."),
                       [Button(_("Back"), form.home)])]
    if verb == "back":
        ctx.session.data["step"] = max(0, step - 1)
        return [await ask(ctx)]
    if verb == "pub" and step >= len(form.fields):
        return await form.publish(ctx, draft)
    if step >= len(form.fields):
        return [await ask(ctx)]
    field = form.fields[step]
    if verb == "keep" and draft.get(field.key) is not None:
        return await _advance(ctx, form, step, draft, draft[field.key])
    if verb == "skip" and not field.required:
        return await _advance(ctx, form, step, draft, None)
    if verb in ("yes", "no") and field.kind == "bool":
        return await _advance(ctx, form, step, draft, verb == "yes")
    if verb == "today" and field.kind == "pastday":
        return await _advance(ctx, form, step, draft, ctx.now().date().isoformat())
    if verb == "pick" and field.kind == "choice" and field.choices is not None and \
            len(ctx.args) >= 2:
        allowed = {v for v, _label in await field.choices(ctx, draft)}
        if ctx.args[1] in allowed:
            return await _advance(ctx, form, step, draft, ctx.args[1])
    return [await ask(ctx, _("That button is not valid any more."))]


ROUTES = [
    Route(form_action, prefix="form", roles=STAFF_ROLES),
    *[Route(form_action, prefix="form", verb=verb, roles=STAFF_ROLES)
      for verb in ("back", "cancel", "keep", "skip", "pub", "yes", "no", "today", "pick")],
    Route(form_input, state=FormState.INPUT, roles=STAFF_ROLES),
]
