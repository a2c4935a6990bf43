"""A person's row as the channels need it changed (blocked, unsubscribed, back again)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import User


async def set_active_by_address(sessionmaker: async_sessionmaker[AsyncSession], lookup_hash: str,
                                active: bool) -> bool:
    """Mark her (found by her lookup hash) active or inactive; False if nothing changed."""
    async with sessionmaker() as db, db.begin():
        user = (await db.execute(select(User).where(User.lookup_hash == lookup_hash))
                ).scalar_one_or_none()
        if user is None or user.active == active:
            return False
        user.active = active
    return True
