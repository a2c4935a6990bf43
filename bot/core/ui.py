"""Small builders for screens. Labels are translated here, at render time; payloads are stable."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

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


def rows(*groups: Iterable[Button]) -> Rows:
    return tuple(tuple(g) for g in groups if g)


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


def with_exit(reply: Reply) -> Reply:
    """Make sure a screen carries the quick exit (DESIGN.md 2.3); the core applies this to all."""
    if reply.has_action(EXIT_ACTION):
        return reply
    return Reply(text=reply.text, buttons=reply.buttons + ((exit_button(),),), silent=reply.silent,
                 protected=reply.protected, replace=reply.replace)


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
