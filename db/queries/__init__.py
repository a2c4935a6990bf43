"""Query functions shared by the journeys. They flush when they need ids, and never commit."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, Result, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AuditEntry, ImpactCount, Region, User
from db.reference import REGIONS

# The regions are the project's reference data: their rows are seeded from db/reference.py and
# nothing edits them, so the time zone and country of a known region need no query (most screens
# ask for one; a query each was a fifth of a menu tap's database time).
_KNOWN_REGIONS = {info.code: info for info in REGIONS}
DEFAULT_TIMEZONE = "Europe/Brussels"


def rows_affected(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched (its CursorResult's rowcount)."""
    return int(result.rowcount or 0) if isinstance(result, CursorResult) else 0


def dialect_name(db: AsyncSession) -> str:
    return db.get_bind().dialect.name


async def bump(db: AsyncSession, metric: str, *, day: date, org_id: int = 0,
               region_code: str = "", n: int = 1, role: str | None = None) -> None:
    """Add n to an impact counter (an aggregate: it never names a person). One atomic upsert:
    two updates counting at once must not both try to create the row."""
    if role is not None and role != "participant":
        metric = f"{metric}:{role}"
    row = {"day": day, "org_id": org_id, "region_code": region_code, "metric": metric, "value": n}
    key = ["day", "org_id", "region_code", "metric"]
    add = {"value": ImpactCount.value + n}
    if dialect_name(db) == "postgresql":
        await db.execute(postgresql.insert(ImpactCount).values(row)
                         .on_conflict_do_update(index_elements=key, set_=add))
    else:
        await db.execute(sqlite.insert(ImpactCount).values(row)
                         .on_conflict_do_update(index_elements=key, set_=add))


async def audit(db: AsyncSession, actor: User, action: str, target_type: str = "",
                target_id: object = "") -> None:
    """Record a privileged action: who, what, when. Never a participant's text."""
    db.add(AuditEntry(actor_id=actor.id, actor_role=actor.role, org_id=actor.org_id,
                      action=action, target_type=target_type, target_id=str(target_id)))


async def regions(db: AsyncSession) -> list[Region]:
    return list((await db.execute(select(Region).order_by(Region.position))).scalars())


async def region(db: AsyncSession, code: str | None) -> Region | None:
    return await db.get(Region, code) if code else None


async def org_region_codes(db: AsyncSession, org_id: int | None) -> list[str]:
    """The regions an organisation serves, in the project's order; none without an org."""
    from db.models import OrganisationRegion

    if org_id is None:
        return []
    query = (select(OrganisationRegion.region_code)
             .join(Region, Region.code == OrganisationRegion.region_code)
             .where(OrganisationRegion.org_id == org_id).order_by(Region.position))
    return list((await db.execute(query)).scalars())


async def region_timezone(db: AsyncSession, code: str | None) -> str:
    if code in _KNOWN_REGIONS:
        return _KNOWN_REGIONS[code].timezone
    found = await region(db, code)
    return found.timezone if found else DEFAULT_TIMEZONE


async def region_country(db: AsyncSession, code: str | None) -> str | None:
    """The country of a region (None for 'elsewhere', an unknown code or none)."""
    if code in _KNOWN_REGIONS:
        return _KNOWN_REGIONS[code].country
    found = await region(db, code)
    return found.country if found else None


# Neutral flower names: a caseworker sees "Iris-4821", never an address or a name.
_PSEUDONYM_WORDS = ("Iris", "Rose", "Lily", "Daisy", "Ivy", "Poppy", "Violet", "Jasmine", "Lotus",
                    "Dahlia", "Orchid", "Laurel", "Olive", "Myrtle", "Sage", "Willow")


def new_pseudonym() -> str:
    import secrets

    return f"{secrets.choice(_PSEUDONYM_WORDS)}-{secrets.randbelow(9000) + 1000}"


def pseudonym_from(digest: str) -> str:
    """A stable pseudonym from a keyed hash (hex): the same row always gets the same name."""
    value = int(digest[:16], 16)
    return f"{_PSEUDONYM_WORDS[value % len(_PSEUDONYM_WORDS)]}-{(value >> 8) % 9000 + 1000}"


async def organisation_for_region(db: AsyncSession, region_code: str | None) -> int | None:
    """The ONE organisation a talk request of this region goes to: the longest-serving one (the
    lowest id) of those serving the region with an active caseworker. A stable rule on purpose:
    an organisation created later (a new centre, or a rogue account) never draws the requests
    away from the one already serving; coordinators hand a woman over by talking to her."""
    from db.models import OrganisationRegion, Role

    if not region_code:
        return None
    staffed = select(User.org_id).where(User.role.in_([Role.MODERATOR, Role.COORDINATOR]),
                                        User.active.is_(True))
    query = (select(OrganisationRegion.org_id)
             .where(OrganisationRegion.region_code == region_code,
                    OrganisationRegion.org_id.in_(staffed))
             .order_by(OrganisationRegion.org_id).limit(1))
    return (await db.execute(query)).scalar_one_or_none()


async def caseworkers_for(db: AsyncSession, *, org_id: int | None, region_code: str | None
                          ) -> list[User]:
    """Moderators and coordinators who serve a region (through their organisation), or of one
    organisation when org_id is given. Active ones only."""
    from db.models import OrganisationRegion, Role

    query = select(User).where(User.role.in_([Role.MODERATOR, Role.COORDINATOR]),
                               User.active.is_(True))
    if org_id is not None:
        query = query.where(User.org_id == org_id)
    elif region_code:
        orgs = select(OrganisationRegion.org_id).where(
            OrganisationRegion.region_code == region_code)
        query = query.where(User.org_id.in_(orgs))
    else:
        return []
    return list((await db.execute(query)).scalars())


async def first_sighting(db: AsyncSession, token_hash: str, now: datetime,
                         keep: timedelta) -> bool:
    """Record a webhook message token (its hash); False when it was recorded before and has not
    expired. The caller commits. Expired ones are swept on the way."""
    from sqlalchemy import delete
    from sqlalchemy.exc import IntegrityError

    from db.models import SeenToken

    await db.execute(delete(SeenToken).where(SeenToken.expires_at < now))
    try:
        async with db.begin_nested():
            db.add(SeenToken(token_hash=token_hash, expires_at=now + keep))
    except IntegrityError:
        return False
    return True
