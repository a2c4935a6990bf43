"""Telling the coordinators something about the bot itself (a channel that stopped sending), in
their own language and on their own channels, through the normal delivery."""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.channels import DeliveryFailed
from bot.core.types import Reply
from bot.services.delivery import Delivery
from db.models import COORDINATOR_ROLES, User

log = logging.getLogger(__name__)


async def tell_coordinators(sessionmaker: async_sessionmaker[AsyncSession], delivery: Delivery,
                            build: Callable[[], Sequence[Reply]], *,
                            not_on_channel: str | None = None) -> int:
    """Send `build()` (called in each reader's language) to every active coordinator, except
    those on `not_on_channel` (the channel that cannot send). How many got it."""
    query = select(User.id).where(User.role.in_(list(COORDINATOR_ROLES)),
                                  User.active.is_(True))
    if not_on_channel is not None:
        query = query.where(User.channel != not_on_channel)
    async with sessionmaker() as db:
        ids = list((await db.execute(query.order_by(User.id))).scalars())
    told = 0
    for user_id in ids:
        try:
            told += bool(await delivery.send_to_user(user_id, build))
        except DeliveryFailed as exc:
            log.warning("a coordinator alert was not delivered (%s)", exc)
    log.info("coordinator alert delivered to %d of %d coordinators", told, len(ids))
    return told
