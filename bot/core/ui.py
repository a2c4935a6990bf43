"""Small builders for screens. Labels are translated here, at render time; payloads are stable."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace as copy_with

from bot.core.i18n import _
from bot.core.sessions import SessionData
from bot.core.types import Button, Reply, Rows

EXIT_ACTION = "exit"
MENU_ACTION = "menu"
PAGE_SIZE = 5


def exit_button() -> Button:
    return Button("✖ " + _("Quick exit"), EXIT_ACTION)


def menu_button() -> Button:
    return Button("☰ " + _("Main menu"), MENU_ACTION)


def back_button(action: str) -> Button:
    return Button("‹ " + _("Back"), action)


# Telegram cuts a button's label to one line: on a phone about 40 characters fit across the
# screen, and half of that where two buttons share a row.
WHOLE_ROW_CHARS = 40
SHARED_ROW_CHARS = 20
ELLIPSIS = "…"


def shorten(text: str, limit: int = WHOLE_ROW_CHARS) -> str:
    """A title or name cut to `limit` characters at a word where it can, ending with "…"."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:·–-(") + ELLIPSIS


def _row_fits(row: Sequence[Button]) -> bool:
    """Whether a row fits a phone as it is: no label wider than the screen, and a shared row's
    labels no wider than half of it."""
    widest = max((len(b.label) for b in row), default=0)
    return widest <= WHOLE_ROW_CHARS and (len(row) < 2 or widest <= SHARED_ROW_CHARS)


def fit_row(row: Sequence[Button]) -> list[tuple[Button, ...]]:
    """One row as it fits a phone: buttons too wide to share a row get a row each, and a label
    wider than the screen is shortened (the action, not the label, says what it does)."""
    if _row_fits(row):
        return [tuple(row)]
    fitted = tuple(b if len(b.label) <= WHOLE_ROW_CHARS else Button(shorten(b.label), b.action)
                   for b in row)
    if len(fitted) > 1 and any(len(b.label) > SHARED_ROW_CHARS for b in fitted):
        return [(b,) for b in fitted]
    return [fitted]


def rows(*groups: Iterable[Button]) -> Rows:
    return tuple(fitted for g in groups if g for fitted in fit_row(tuple(g)))


def screen(text: str, *button_rows: Sequence[Button], back: str | None = None,
           menu: bool = True, replace: bool = True) -> Reply:
    """A participant screen: its buttons, then a row with back / main menu / quick exit."""
    nav: list[Button] = []
    if back:
        nav.append(back_button(back))
    if menu:
        nav.append(menu_button())
    nav.append(exit_button())
    return Reply(text=text, buttons=rows(*button_rows, nav), replace=replace)


def _fits(button_rows: Rows) -> bool:
    """Whether rows() would leave the rows as they are (asked before building anything): none
    empty (rows() drops it), each fitting."""
    return all(row and _row_fits(row) for row in button_rows)


def with_exit(reply: Reply) -> Reply:
    """Make sure a screen carries the quick exit (docs/ARCHITECTURE.md 2.3) and its buttons fit a phone;
    the core applies this to every last reply."""
    has_exit = reply.has_action(EXIT_ACTION)
    if has_exit and _fits(reply.buttons):
        return reply  # a screen() already is: every update's last reply passes here
    extra = () if has_exit else ((exit_button(),),)
    fitted = rows(*reply.buttons, *extra)
    return reply if fitted == reply.buttons else copy_with(reply, buttons=fitted)


def pager(prefix: str, page: int, has_more: bool) -> list[Button]:
    """Previous / next buttons; `prefix` gets ':<page>' appended."""
    out: list[Button] = []
    if page > 0:
        out.append(Button("« " + _("Previous"), f"{prefix}:{page - 1}"))
    if has_more:
        out.append(Button(_("Next") + " »", f"{prefix}:{page + 1}"))
    return out


def leave_prompt(session: SessionData) -> None:
    """A screen with no text prompt: a half-answered question elsewhere is abandoned, and
    whatever she types next gets the calm general answer (nothing of it is kept)."""
    session.state = None


def check(selected: bool) -> str:
    return "✓ " if selected else ""


def cover_message() -> Reply:
    # Translators: neutral words that may stay on screen after a quick exit. Nothing about help.
    return Reply(_("Thanks, talk soon."), silent=True)
