"""Core latency without network: the time of one `Core.handle` (user lookup, routing, handler, the
one transaction) with 100,000 users, 10,000 vacancies and 1,000 meetups in the database.

The data is the demo organisation's content copied many times (so every row is one the bot
itself would write); the users are onboarded participants spread over the four regions. Updates
are what women do most: the main menu, the job list, a vacancy, the meetups, help.
"""
from __future__ import annotations

import random
import secrets
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

TAPS = ("menu", "job", "ev", "help", "menu", "job")
REGIONS = ("milan", "catalonia", "karditsa", "bulgaria")


@dataclass
class Latency:
    database: str
    users: int
    vacancies: int
    meetups: int
    updates: int
    p50_ms: float
    p99_ms: float
    seed_seconds: float


def _copies(row: dict[str, Any], count: int, **changes: Any) -> list[dict[str, Any]]:
    template = {k: v for k, v in row.items() if k != "id"}
    return [{**template, **{k: (v(i) if callable(v) else v) for k, v in changes.items()}}
            for i in range(count)]


async def _seed(rt: Any, users: int, vacancies: int, meetups: int) -> list[str]:
    from db.models import Meetup, User, Vacancy

    today = date.today()
    addresses = [f"bench-{i}" for i in range(users)]
    async with rt.sessionmaker() as db, db.begin():
        vacancy = (await db.execute(select(Vacancy.__table__).limit(1))).mappings().one()
        meetup = (await db.execute(select(Meetup.__table__).limit(1))).mappings().one()
        await db.execute(insert(Vacancy), _copies(
            dict(vacancy), vacancies, region_code=lambda i: REGIONS[i % 4],
            title=lambda i: f"Vacancy {i}", expires_on=lambda i: today + timedelta(days=30 + i % 60)))
        starts = datetime.now(UTC) + timedelta(days=2)
        await db.execute(insert(Meetup), _copies(
            dict(meetup), meetups, region_code=lambda i: REGIONS[i % 4],
            title=lambda i: f"Meetup {i}", starts_at=lambda i: starts + timedelta(hours=i)))
        vault = rt.vault
        for start in range(0, users, 5000):
            rows = [{"id": secrets.token_hex(16), "channel": "webchat",
                     "address_enc": vault.encrypt("webchat", address),
                     "lookup_hash": vault.lookup_hash("webchat", address), "language": "en",
                     "region_code": REGIONS[n % 4], "role": "participant", "topics": [],
                     "discreet": True, "vanish_minutes": 1440, "onboarded": True,
                     "active": True, "last_active_on": today, "created_on": today}
                    for n, address in enumerate(addresses[start:start + 5000], start)]
            await db.execute(insert(User), rows)
    return addresses


async def measure(database_url: str, label: str, *, users: int = 100_000,
                  vacancies: int = 10_000, meetups: int = 1_000, updates: int = 3_000
                  ) -> Latency:
    from bot.app import tune_gc
    from bot.core.settings import Settings
    from bot.core.types import Channel, Inbound
    from bot.runtime import open_runtime

    settings = Settings(database_url=database_url, data_key=secrets.token_bytes(32),
                        demo_data="on", scheduler_enabled=False, log_level="WARNING")
    async with open_runtime(settings) as rt:
        began = time.perf_counter()
        addresses = await _seed(rt, users, vacancies, meetups)
        seeded = time.perf_counter() - began
        pick = random.Random(12)
        core = rt.core
        for address in addresses[:300]:  # warm the statement caches and the pool
            await core.handle(Inbound(Channel.WEBCHAT, address, action="menu"))
        tune_gc()  # as the server does once it has started (bot/app.py)
        times: list[float] = []
        for _ in range(updates):
            address = addresses[pick.randrange(users)]
            inbound = Inbound(Channel.WEBCHAT, address, action=pick.choice(TAPS))
            start = time.perf_counter()
            await core.handle(inbound)
            times.append(time.perf_counter() - start)
    cuts = statistics.quantiles(times, n=100)
    return Latency(label, users, vacancies, meetups, updates, cuts[49] * 1000, cuts[98] * 1000,
                   seeded)


async def run(postgres_url: str | None, quick: bool = False) -> list[Latency]:
    sizes: dict[str, int] = ({"users": 10_000, "vacancies": 1_000, "meetups": 100,
                              "updates": 1_000} if quick else {})
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(await measure(f"sqlite+aiosqlite:///{tmp}/latency.db", "SQLite", **sizes))
    if postgres_url is not None:
        results.append(await measure(postgres_url, "PostgreSQL", **sizes))
    for r in results:
        print(f"  core latency ({r.database}, {r.users:,} users, {r.vacancies:,} vacancies, "
              f"{r.meetups:,} meetups): p50 {r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms "
              f"(seeded in {r.seed_seconds:.0f} s)", flush=True)
    return results
