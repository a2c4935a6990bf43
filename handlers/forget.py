"""Forget me: after a plain confirmation, every row tied to her is removed, the chat's messages
are deleted where the platform allows, and the session ends with a neutral goodbye (the erasing
itself is bot/services/retention.py)."""
from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.context import Ctx, Route
from bot.core.i18n import _
from bot.core.types import Button, Reply
from bot.core.ui import screen
from bot.services.retention import erase_user
from db.engine import checkpoint_wal

log = logging.getLogger(__name__)



async def forget_me(ctx: Ctx) -> list[Reply]:
    """forget / /forget shows the confirmation; forget:yes (after it) erases her."""
    if ctx.user.is_staff:
        return [screen(_("Staff accounts are removed by a coordinator of your organisation."),
                       back="set")]
    verb = ctx.args[0] if ctx.args and ctx.inbound.action is not None else ""
    if verb == "yes" and len(ctx.args) == 1 and ctx.confirming == "forget":
        return await erase_me(ctx)
    if verb not in ("", "yes"):
        return [Reply(_("That button is not valid any more.")), confirm_screen(ctx)]
    return [confirm_screen(ctx)]


def confirm_screen(ctx: Ctx) -> Reply:
    # Only a "yes" pressed right after this screen counts: a forged payload, or a stale one
    # after other screens, erases nothing.
    ctx.session.reset()
    ctx.expect_next("forget")
    text = "\n\n".join([
        _("Forget me"),
        _("This deletes everything the bot keeps about you: your settings, your places and "
          "waiting-list places at meetups, your requests to caseworkers and your code word. "
          "If you have a place at a meetup, it goes to the next person waiting."),
        _("The bot also deletes the messages of this chat where it can (on Telegram, those of "
          "the last 48 hours). The chat itself stays in your list of chats: delete it there."),
        _("This cannot be undone. If you come back later, you start again from the beginning."),
    ])
    return screen(text, [Button(_("Yes, delete everything"), "forget:yes")],
                  [Button(_("No, keep my data"), "set")], back="set")


async def erase_me(ctx: Ctx) -> list[Reply]:
    notices = await erase_user(ctx.db, ctx.user, ctx.now(), keep_refs_to_delete=True)
    engine = ctx.db.bind
    if isinstance(engine, AsyncEngine):
        # Once committed: out of the SQLite WAL too, not only out of the tables.
        ctx.after_commit.append(lambda: checkpoint_wal(engine))
    for notice in notices:
        ctx.send_to(notice.user_id, notice.build, notification=notice.notification)
    log.info("a person asked to be forgotten; %d notices", len(notices))
    ctx.session.reset()
    ctx.request_exit()
    # Translators: neutral words that may stay on screen after "forget me". Nothing about help.
    return [Reply(_("Done. Goodbye."), silent=True)]


ROUTES = [
    Route(forget_me, prefix="forget"),
    Route(forget_me, prefix="forget", verb="yes"),  # counts only right after the confirmation
    Route(forget_me, command="/forget"),
]
