"""Queries of membership (docs/ARCHITECTURE.md 2.6): who an organisation vouches for, and her
requests to join its closed peer groups. A *visitor* here is a participant with no membership
row of the meetup's organiser (not the person who has not finished the start screens)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Handoff, HandoffKind, HandoffStatus, Meetup, Membership, Organisation

LIVE = (HandoffStatus.OPEN, HandoffStatus.TAKEN)
MAX_PENDING = 3
REQUEST_LIFETIME = timedelta(days=7)
# Her list of requests shows answered and lapsed ones this long; the retention job then
# deletes them (bot/services/retention.py).
REQUEST_KEPT = timedelta(days=14)


async def is_member(db: AsyncSession, user_id: str, org_id: int) -> bool:
    return (await db.execute(select(Membership.id).where(
        Membership.user_id == user_id, Membership.org_id == org_id))).first() is not None


async def membership_of(db: AsyncSession, user_id: str, org_id: int) -> Membership | None:
    return (await db.execute(select(Membership).where(
        Membership.user_id == user_id, Membership.org_id == org_id))).scalar_one_or_none()


async def add_membership(db: AsyncSession, user_id: str, org_id: int, today: date
                         ) -> Membership | None:
    """Her membership of the organisation; None when she already had one (nothing changes)."""
    if await is_member(db, user_id, org_id):
        return None
    membership = Membership(user_id=user_id, org_id=org_id, since=today)
    db.add(membership)
    await db.flush()
    return membership


async def her_organisations(db: AsyncSession, user_id: str) -> list[Organisation]:
    query = (select(Organisation).join(Membership, Membership.org_id == Organisation.id)
             .where(Membership.user_id == user_id).order_by(Organisation.name))
    return list((await db.execute(query)).scalars())


async def members_of(db: AsyncSession, org_id: int, *, page: int, size: int
                     ) -> tuple[list[Membership], bool]:
    query = (select(Membership).where(Membership.org_id == org_id)
             .order_by(Membership.since.desc(), Membership.id.desc())
             .offset(page * size).limit(size + 1))
    found = list((await db.execute(query)).scalars())
    return found[:size], len(found) > size


def pending_condition(now: datetime) -> ColumnElement[bool]:
    """A request to join still waiting for an answer: open or taken, and not lapsed (7 days, or
    the meetup's start). Other kinds of requests never lapse this way."""
    return and_(Handoff.status.in_(LIVE),
                or_(Handoff.kind != HandoffKind.JOIN, Handoff.expires_at.is_(None),
                    Handoff.expires_at > now))


def request_expiry(now: datetime, starts_at: datetime) -> datetime:
    return min(now + REQUEST_LIFETIME, starts_at)


async def pending_requests(db: AsyncSession, user_id: str, now: datetime) -> int:
    return (await db.execute(select(func.count(Handoff.id)).where(
        Handoff.user_id == user_id, Handoff.kind == HandoffKind.JOIN,
        pending_condition(now)))).scalar_one()


async def pending_request_for(db: AsyncSession, user_id: str, meetup_id: int, now: datetime
                              ) -> Handoff | None:
    return (await db.execute(select(Handoff).where(
        Handoff.user_id == user_id, Handoff.kind == HandoffKind.JOIN,
        Handoff.meetup_id == meetup_id, pending_condition(now))
        .order_by(Handoff.id.desc()).limit(1))).scalar_one_or_none()


async def has_request_for(db: AsyncSession, user_id: str, meetup_id: int) -> bool:
    """Whether she asked to join this meetup (in any state): then she may still open its page
    from her list of requests, whatever her region."""
    return (await db.execute(select(Handoff.id).where(
        Handoff.user_id == user_id, Handoff.kind == HandoffKind.JOIN,
        Handoff.meetup_id == meetup_id).limit(1))).first() is not None


async def my_requests(db: AsyncSession, user_id: str, now: datetime
                      ) -> list[tuple[Handoff, Meetup]]:
    """Her requests to join of the last two weeks, newest first."""
    query = (select(Handoff, Meetup).join(Meetup, Meetup.id == Handoff.meetup_id)
             .where(Handoff.user_id == user_id, Handoff.kind == HandoffKind.JOIN,
                    Handoff.created_at > now - REQUEST_KEPT)
             .order_by(Handoff.created_at.desc(), Handoff.id.desc()).limit(10))
    return [(h, m) for h, m in (await db.execute(query)).all()]


def lapsed(handoff: Handoff, now: datetime) -> bool:
    if handoff.kind != HandoffKind.JOIN or handoff.expires_at is None:
        return False
    expires = handoff.expires_at if handoff.expires_at.tzinfo else \
        handoff.expires_at.replace(tzinfo=now.tzinfo)
    return handoff.status in LIVE and expires <= now
