"""Impact counters: one atomic upsert, so concurrent updates never collide on the unique key."""
from __future__ import annotations

import asyncio
from datetime import date

import pytest
from sqlalchemy import select

from bot.runtime import Runtime
from db import queries
from db.models import ImpactCount

# Depends on the database itself: runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_databases


async def test_concurrent_bumps_all_count(rt: Runtime) -> None:
    async def one() -> None:
        async with rt.sessionmaker() as db, db.begin():
            await queries.bump(db, "new_users", day=date(2026, 11, 27), region_code="milan")

    await asyncio.gather(*(one() for _ in range(8)))
    async with rt.sessionmaker() as db, db.begin():
        await queries.bump(db, "new_users", day=date(2026, 11, 27), region_code="milan", n=2,
                           role="professional")
        rows = list((await db.execute(select(ImpactCount.metric, ImpactCount.value)
                                      .order_by(ImpactCount.metric))).all())
    assert rows == [("new_users", 8), ("new_users:professional", 2)]
