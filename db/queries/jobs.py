"""Queries of the jobs journey. They flush when they need ids, and never commit.

A vacancy is shown only while its employer's commitment is active, it is published and it has
not expired (expires_on is compared with the date in the vacancy's region)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager

from db.models import (
    CommitmentStatus,
    Employer,
    Handoff,
    HandoffKind,
    HandoffStatus,
    PostStatus,
    Vacancy,
)

OPEN_STATUSES = (HandoffStatus.OPEN, HandoffStatus.TAKEN)


@dataclass(frozen=True)
class JobFilters:
    sector: str | None = None
    hours: str | None = None
    childcare: bool = False
    remote: bool = False
    language: str | None = None

    @property
    def any(self) -> bool:
        return bool(self.sector or self.hours or self.childcare or self.remote or self.language)


def visible() -> Select[Vacancy]:
    # The employer joined once: for the filter on her commitment and as the vacancy's employer
    # (contains_eager), not a second time by the relationship's own joined load.
    return (select(Vacancy).join(Employer, Employer.id == Vacancy.employer_id)
            .options(contains_eager(Vacancy.employer))
            .where(Employer.status == CommitmentStatus.ACTIVE,
                   Vacancy.status == PostStatus.PUBLISHED))


async def listing(db: AsyncSession, region_code: str | None, today: date, filters: JobFilters,
                  *, page: int, size: int) -> tuple[list[Vacancy], bool]:
    """One page of the vacancies she may see in her region, newest first; and whether more
    follow."""
    if not region_code:
        return [], False
    query = visible().where(Vacancy.region_code == region_code, Vacancy.expires_on >= today)
    if filters.sector:
        query = query.where(Vacancy.sector == filters.sector)
    if filters.hours:
        query = query.where(Vacancy.hours == filters.hours)
    if filters.childcare:
        query = query.where(Vacancy.childcare_friendly.is_(True))
    if filters.remote:
        query = query.where(Vacancy.remote_possible.is_(True))
    if filters.language:
        query = query.where(Vacancy.work_language == filters.language)
    query = (query.order_by(Vacancy.created_at.desc(), Vacancy.id.desc())
             .offset(page * size).limit(size + 1))
    found = list((await db.execute(query)).scalars().unique())
    return found[:size], len(found) > size


async def visible_vacancy(db: AsyncSession, vacancy_id: int | None, today: date
                          ) -> Vacancy | None:
    """The vacancy if she may see it now; None if it is missing, expired, not published, or its
    employer's commitment is not active."""
    if vacancy_id is None:
        return None
    query = visible().where(Vacancy.id == vacancy_id, Vacancy.expires_on >= today)
    return (await db.execute(query)).scalars().unique().one_or_none()


async def open_request(db: AsyncSession, user_id: str, vacancy_id: int) -> Handoff | None:
    query = select(Handoff).where(Handoff.user_id == user_id, Handoff.vacancy_id == vacancy_id,
                                  Handoff.kind == HandoffKind.JOB,
                                  Handoff.status.in_(OPEN_STATUSES)).limit(1)
    return (await db.execute(query)).scalar_one_or_none()


async def my_requests(db: AsyncSession, user_id: str) -> list[tuple[Handoff, Vacancy | None]]:
    """Her job requests still open or taken by a caseworker, newest first."""
    query = (select(Handoff, Vacancy).outerjoin(Vacancy, Vacancy.id == Handoff.vacancy_id)
             .where(Handoff.user_id == user_id, Handoff.kind == HandoffKind.JOB,
                    Handoff.status.in_(OPEN_STATUSES))
             .order_by(Handoff.created_at.desc(), Handoff.id.desc()))
    return [(h, v) for h, v in (await db.execute(query)).unique().all()]


async def her_request(db: AsyncSession, user_id: str, handoff_id: int | None) -> Handoff | None:
    """One of HER job requests; someone else's id is treated as missing."""
    if handoff_id is None:
        return None
    query = select(Handoff).where(Handoff.id == handoff_id, Handoff.user_id == user_id,
                                  Handoff.kind == HandoffKind.JOB)
    return (await db.execute(query)).scalar_one_or_none()
