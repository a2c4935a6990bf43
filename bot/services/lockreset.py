"""A forgotten code word (docs/ARCHITECTURE.md 2.11): it is replaced only by erasing what it
protects, never by a back door. Her places and waiting-list places go (the next women on the
waiting lists get them), her requests to join are withdrawn, her open conversations with
caseworkers end (the caseworker who took one is told, by pseudonym), her memberships end and her
settings go back to the defaults; then the code word and its wrong tries are cleared.

The audit log gets the ids of what ended and nothing else; no participant is named as actor."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.held import HeldMessages
from bot.core.i18n import _
from bot.core.types import Outgoing, Reply
from bot.services.retention import release_places, reschedule_deletions
from db.models import (
    AuditEntry,
    Handoff,
    HandoffKind,
    HandoffStatus,
    Membership,
    Signup,
    User,
)

log = logging.getLogger(__name__)

LIVE = (HandoffStatus.OPEN, HandoffStatus.TAKEN)
DEFAULT_VANISH_MINUTES = 1440


@dataclass
class Erased:
    places: int = 0  # confirmed and waiting-list places
    requests: int = 0  # requests to join a group
    conversations: int = 0  # open conversations with caseworkers (talk, job questions)
    memberships: int = 0
    notices: list[Outgoing] = field(default_factory=list)


async def erase_protected(db: AsyncSession, user: User, now: datetime,
                          held: HeldMessages) -> Erased:
    """Erase what her code word protects and clear the code word, in the caller's transaction."""
    erased = Erased()
    erased.places = len(list((await db.execute(
        select(Signup.id).where(Signup.user_id == user.id))).scalars()))
    # The same as cancelling: a confirmed place goes to the first woman on the waiting list.
    erased.notices += await release_places(db, user.id, now)
    handoffs = list((await db.execute(select(Handoff).where(
        Handoff.user_id == user.id, Handoff.status.in_(LIVE)))).scalars())
    for handoff in handoffs:
        join = handoff.kind == HandoffKind.JOIN
        handoff.status = HandoffStatus.WITHDRAWN if join else HandoffStatus.CLOSED
        handoff.updated_at = now
        await held.drop_thread(f"handoff:{handoff.id}")  # her words not yet read go too
        if join:
            erased.requests += 1
            db.add(AuditEntry(actor_id=None, actor_role=user.role, org_id=handoff.org_id,
                              action="join_request_erased", target_type="handoff",
                              target_id=str(handoff.id)))
        else:
            erased.conversations += 1
        if handoff.taken_by:
            erased.notices.append(_ended_notice(handoff.taken_by, handoff.pseudonym))
    memberships = list((await db.execute(
        select(Membership).where(Membership.user_id == user.id))).scalars())
    for membership in memberships:
        db.add(AuditEntry(actor_id=None, actor_role=user.role, org_id=membership.org_id,
                          action="membership_erased", target_type="membership",
                          target_id=str(membership.id)))
    erased.memberships = len(memberships)
    await db.execute(delete(Membership).where(Membership.user_id == user.id))
    # Her settings back to the defaults (her language and region stay: the bot needs them).
    user.topics = []
    user.discreet = True
    user.quiet_start = user.quiet_end = None
    if user.vanish_minutes != DEFAULT_VANISH_MINUTES:
        user.vanish_minutes = DEFAULT_VANISH_MINUTES
        await reschedule_deletions(db, user, now)
    user.codeword_hash = None
    user.lock_failures = 0
    user.lock_blocked_until = None
    await db.flush()
    log.info("forgotten code word: %d places, %d requests, %d conversations, %d memberships "
             "erased", erased.places, erased.requests, erased.conversations, erased.memberships)
    return erased


def _ended_notice(caseworker_id: str, pseudonym: str) -> Outgoing:
    def build() -> list[Reply]:
        return [Reply(_("{name} ended the conversation.", name=pseudonym))]

    return Outgoing(caseworker_id, build)
