"""Queries of the meetups journey. They flush when they need ids, and never commit.

Every time stored here is UTC (SQLite hands time-zone-aware columns back without a zone, so
`aware()` puts UTC back before any comparison in Python)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    Handoff,
    HandoffKind,
    Meetup,
    Membership,
    PostStatus,
    Signup,
    SignupStatus,
    User,
)


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def ends_at(meetup: Meetup) -> datetime:
    return aware(meetup.starts_at) + timedelta(minutes=meetup.duration_minutes or 0)


def is_open(meetup: Meetup, now: datetime) -> bool:
    """Published and not started yet: she may see it, sign up, or leave it."""
    return meetup.status == PostStatus.PUBLISHED and aware(meetup.starts_at) > now


async def visible_to(db: AsyncSession, meetup: Meetup, user: User) -> bool:
    """Her region only, plus the meetups she holds a place in or asked to join: a forged id of
    another region must not be told apart from a missing one (docs/ARCHITECTURE.md 2.6)."""
    if user.region_code and meetup.region_code == user.region_code:
        return True
    held = await db.execute(select(Signup.id).where(Signup.meetup_id == meetup.id,
                                                    Signup.user_id == user.id).limit(1))
    if held.first() is not None:
        return True
    asked = await db.execute(select(Handoff.id).where(
        Handoff.meetup_id == meetup.id, Handoff.user_id == user.id,
        Handoff.kind == HandoffKind.JOIN).limit(1))
    return asked.first() is not None


async def upcoming_with_places(db: AsyncSession, region_code: str | None, now: datetime, *,
                               page: int, size: int) -> tuple[list[tuple[Meetup, int]], bool]:
    """One page of the published meetups of a region that have not started, each with its
    confirmed places that count (as `confirmed_counts`); and whether more follow. Cancelled,
    draft and closed meetups are never listed. One statement: the list is the screen women open
    most after the menu, and each statement is several trips to the database's thread."""
    if not region_code:
        return [], False
    taken = (select(func.count(Signup.id))
             .where(Signup.meetup_id == Meetup.id, Signup.status == SignupStatus.CONFIRMED,
                    _of_a_member())
             .correlate(Meetup).scalar_subquery())
    query = (select(Meetup, taken)
             .where(Meetup.region_code == region_code, Meetup.status == PostStatus.PUBLISHED,
                    Meetup.starts_at > now)
             .order_by(Meetup.starts_at, Meetup.id)
             .offset(page * size).limit(size + 1))
    found = [(meetup, int(count or 0)) for meetup, count in (await db.execute(query)).all()]
    return found[:size], len(found) > size


def _of_a_member() -> Exists:
    """The sign-up's woman is a member of the meetup's organiser (docs/ARCHITECTURE.md 2.6).
    Correlated by name to the enclosing statement's sign-up and meetup: inside a subquery that
    has no meetups table of its own it must not get one (it would then read any meetup)."""
    return (select(Membership.id)
            .where(Membership.user_id == Signup.user_id, Membership.org_id == Meetup.org_id)
            .correlate(Signup, Meetup).exists())


async def confirmed_counts(db: AsyncSession, meetup_ids: list[int]) -> dict[int, int]:
    """Confirmed places that count against capacity: only those of members of the organiser;
    a request to join waiting for an answer takes no place."""
    if not meetup_ids:
        return {}
    query = (select(Signup.meetup_id, func.count())
             .join(Meetup, Meetup.id == Signup.meetup_id)
             .where(Signup.meetup_id.in_(meetup_ids), Signup.status == SignupStatus.CONFIRMED,
                    _of_a_member())
             .group_by(Signup.meetup_id))
    return {mid: int(n) for mid, n in (await db.execute(query)).all()}


async def confirmed_count(db: AsyncSession, meetup_id: int) -> int:
    return (await confirmed_counts(db, [meetup_id])).get(meetup_id, 0)


async def get_meetup(db: AsyncSession, meetup_id: int | None, *, lock: bool = False
                     ) -> Meetup | None:
    """The meetup row; with lock, held until the end of the update so that two women cannot
    take the last place at once (PostgreSQL; SQLite serialises writers anyway)."""
    if meetup_id is None:
        return None
    query = select(Meetup).where(Meetup.id == meetup_id)
    if lock:
        query = query.with_for_update()
    return (await db.execute(query)).scalar_one_or_none()


async def signup_of(db: AsyncSession, meetup_id: int, user_id: str) -> Signup | None:
    query = select(Signup).where(Signup.meetup_id == meetup_id, Signup.user_id == user_id)
    return (await db.execute(query)).scalar_one_or_none()


async def waiting_position(db: AsyncSession, signup: Signup) -> int:
    """1 for the first on the waiting list."""
    query = (select(Signup.id)
             .where(Signup.meetup_id == signup.meetup_id, Signup.status == SignupStatus.WAITING)
             .order_by(Signup.created_at, Signup.id))
    ids = list((await db.execute(query)).scalars())
    return ids.index(signup.id) + 1 if signup.id in ids else 0


async def first_waiting(db: AsyncSession, meetup_id: int) -> Signup | None:
    """The first member of the organiser on the waiting list."""
    query = (select(Signup).join(Meetup, Meetup.id == Signup.meetup_id)
             .where(Signup.meetup_id == meetup_id, Signup.status == SignupStatus.WAITING,
                    _of_a_member())
             .order_by(Signup.created_at, Signup.id).limit(1))
    return (await db.execute(query)).scalar_one_or_none()


async def my_signups(db: AsyncSession, user_id: str, now: datetime
                     ) -> list[tuple[Signup, Meetup]]:
    """Her sign-ups for meetups that have not started (cancelled ones too, so she learns it)."""
    query = (select(Signup, Meetup).join(Meetup, Meetup.id == Signup.meetup_id)
             .where(Signup.user_id == user_id, Meetup.starts_at > now)
             .order_by(Meetup.starts_at, Meetup.id))
    return [(s, m) for s, m in (await db.execute(query)).all()]


@dataclass(frozen=True)
class DueReminder:
    signup_id: int
    kind: str  # "day" | "soon"
    user: User
    meetup: Meetup


DAY_BEFORE = timedelta(hours=24)
SOON = timedelta(hours=2)


def reminder_kind(signup: Signup, starts_at: datetime, now: datetime) -> str | None:
    """Which reminder is due now, if any. Never after the start; the 'soon' one replaces a
    day-before reminder that quiet hours held back until it was too late to be useful."""
    left = starts_at - now
    if left <= timedelta(0):
        return None
    if left <= SOON and not signup.reminded_soon:
        return "soon"
    if left <= DAY_BEFORE and not signup.reminded_day and not signup.reminded_soon:
        return "day"
    return None


async def due_reminders(db: AsyncSession, now: datetime) -> list[DueReminder]:
    query = (select(Signup, Meetup, User)
             .join(Meetup, Meetup.id == Signup.meetup_id)
             .join(User, User.id == Signup.user_id)
             .where(Signup.status == SignupStatus.CONFIRMED,
                    Meetup.status == PostStatus.PUBLISHED,
                    Meetup.starts_at > now, Meetup.starts_at <= now + DAY_BEFORE,
                    User.active.is_(True))
             .order_by(Meetup.starts_at, Signup.id))
    due: list[DueReminder] = []
    for signup, meetup, user in (await db.execute(query)).all():
        kind = reminder_kind(signup, aware(meetup.starts_at), now)
        if kind is not None:
            due.append(DueReminder(signup.id, kind, user, meetup))
    return due


async def ended_with_signups(db: AsyncSession, now: datetime) -> list[Meetup]:
    """Meetups that are over and still hold sign-ups (whatever their status)."""
    has_signups = select(Signup.meetup_id).distinct()
    query = (select(Meetup)
             .where(Meetup.starts_at <= now, Meetup.id.in_(has_signups))
             .order_by(Meetup.id))
    return [m for m in (await db.execute(query)).scalars() if ends_at(m) <= now]


async def signups_of(db: AsyncSession, meetup_id: int) -> list[Signup]:
    query = select(Signup).where(Signup.meetup_id == meetup_id).order_by(Signup.id)
    return list((await db.execute(query)).scalars())
