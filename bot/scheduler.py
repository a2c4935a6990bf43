"""Scheduled work lives in the database; APScheduler only triggers it (DESIGN.md section 4).
Each job reads what is due from the tables, so a restart loses nothing. With PostgreSQL and
several workers, only the holder of an advisory lock runs the jobs."""
from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.jobs import Job, all_jobs
from bot.runtime import Runtime

log = logging.getLogger(__name__)

LEADER_LOCK_ID = 0x5745_474F  # "WEGO"


async def _vanish(rt: Runtime) -> object:
    return await rt.delivery.run_due_deletions()


def default_jobs() -> list[Job]:
    return [Job("deletions", 30, _vanish), *all_jobs()]


class Scheduler:
    def __init__(self, runtime: Runtime, jobs: list[Job] | None = None) -> None:
        self.runtime = runtime
        self.jobs = jobs if jobs is not None else default_jobs()
        self._scheduler: AsyncIOScheduler | None = None
        self._leader_conn: AsyncConnection | None = None

    async def _become_leader(self) -> bool:
        if self.runtime.settings.is_sqlite:
            return True  # one machine, one process
        conn = await self.runtime.engine.connect()
        got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                  {"k": LEADER_LOCK_ID})).scalar()
        if got:
            self._leader_conn = conn  # the lock lives as long as this connection
            return True
        await conn.close()
        return False

    async def start(self) -> bool:
        if not await self._become_leader():
            log.info("another worker runs the scheduled jobs")
            return False
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        for job in self.jobs:
            self._scheduler.add_job(self._run, "interval", seconds=job.seconds, args=[job],
                                    id=job.name, max_instances=1, coalesce=True)
        self._scheduler.start()
        log.info("scheduler started with %d jobs", len(self.jobs))
        return True

    async def _run(self, job: Job) -> None:
        try:
            await job.run(self.runtime)
        except Exception as exc:  # noqa: BLE001 - a failing job must not stop the others
            log.error("job %s failed: %s", job.name, type(exc).__name__)

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._leader_conn is not None:
            await self._leader_conn.close()
            self._leader_conn = None
