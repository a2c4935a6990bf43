"""Who counts as a woman who started using the bot ("new_users" in the impact report).

She is counted once. On Telegram and Viber her address stays the same, so she counts when she
finishes the start screens. A web chat visitor is a new anonymous session on every reload (the
session id lives only in the page): counting her at the start screens counted 19 women after 19
test pages. So a web chat visitor counts only once she did something: signed up for a meetup,
asked a caseworker for contact, asked about a job (and, when memberships come, became a
member). `users.counted` remembers that she was counted, never when or why."""
from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from db import queries
from db.models import User


async def count_started(db: AsyncSession, user: User, day: date, *, at_setup: bool,
                        address_lasts: bool = True) -> None:
    """Count her in "women who started using the bot" if she was not counted yet: at the end of
    the start screens (at_setup) on a channel whose address outlives a session, or at her first
    sign-up or request (where an address lives only as long as a page, a reload is a new
    person to us: the web chat)."""
    if user.counted or not user.onboarded:
        return
    if at_setup and not address_lasts:
        return
    user.counted = True
    await queries.bump(db, "new_users", day=day, region_code=user.region_code or "",
                       role=user.role)
