"""Behind a neutral notice (discreet notifications, DESIGN.md 2.5): what the lock screen must
not show, opened only when she presses "Show"."""
from __future__ import annotations

import re

from bot.core.context import Ctx, Route
from bot.core.i18n import _
from bot.core.types import Button, Reply
from bot.core.ui import screen
from handlers.mod_handoffs import caseworker_words, ended_notice

TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,40}")


async def show_message(ctx: Ctx) -> list[Reply]:
    """msg:show:<token> — a caseworker's answer, once, to the woman it was written to."""
    token = ctx.args[1] if len(ctx.args) == 2 else ""
    texts: list[str] = []
    handoff_id: int | None = None
    if TOKEN_RE.fullmatch(token):
        texts, handoff_id = await ctx.services.held.take_for(ctx.user.id, token)
    if not texts or handoff_id is None:
        return [screen(_("This message is not available any more. Messages wait for one day "
                         "and can be opened once."), [Button(_("Main menu"), "menu")],
                       menu=False)]
    words = caseworker_words(handoff_id, texts)
    return [screen(words.text, *[list(row) for row in words.buttons])]


async def show_ended(ctx: Ctx) -> list[Reply]:
    """msg:ended — the notice that her conversation with a caseworker ended."""
    notice = ended_notice()
    return [screen(notice.text, *[list(row) for row in notice.buttons], menu=False)]


# A caseworker's words (and the news that her conversation ended) are behind the shared-phone
# lock when she has a code word: the token waits, unspent, until she typed it.
ROUTES = [
    Route(show_message, prefix="msg", verb="show", locked=True),
    Route(show_ended, prefix="msg", verb="ended", locked=True),
]
