"""Quick exit (docs/ARCHITECTURE.md 2.3): end the session, erase what the platform allows, leave one neutral
cover message. The channel adapter does the erasing; here we make the deletions due at once, so
that a crash half-way still ends with them deleted by the scheduler."""
from __future__ import annotations

from sqlalchemy import update

from bot.core.context import Ctx, Route
from bot.core.types import Reply
from bot.core.ui import cover_message
from db.models import MessageRef


async def quick_exit(ctx: Ctx) -> list[Reply]:
    """/exit, the exit word, or ✖ — from anywhere."""
    if not ctx.visitor:  # a visitor has no row: her message ids are in her session (bot/core.py)
        await ctx.db.execute(update(MessageRef).where(MessageRef.user_id == ctx.user.id)
                             .values(delete_at=ctx.now()))
    ctx.session.reset()
    ctx.request_exit()
    return [cover_message()]


ROUTE = Route(quick_exit, command="/exit")
