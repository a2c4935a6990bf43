"""Scheduled work lives in the database; APScheduler only triggers it (docs/ARCHITECTURE.md section 4).
Each job reads what is due from the tables, so a restart loses nothing. With PostgreSQL and
several workers, only the holder of an advisory lock runs the jobs."""
from __future__ import annotations

import asyncio
import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.runtime import Runtime
from bot.services.jobs import Job, all_jobs

log = logging.getLogger(__name__)

LEADER_LOCK_ID = 0x5745_474F  # "WEGO"
LEADER_RETRY_SECONDS = 60.0  # a worker without the lock asks again this often


def default_jobs() -> list[Job]:
    return all_jobs()


class Scheduler:
    def __init__(self, runtime: Runtime, jobs: list[Job] | None = None,
                 leader_retry: float | None = None) -> None:
        self.runtime = runtime
        self.jobs = jobs if jobs is not None else default_jobs()
        if leader_retry is None:
            leader_retry = float(runtime.settings.scheduler_leader_retry_seconds)
        self.leader_retry = leader_retry
        self._scheduler: AsyncIOScheduler | None = None
        self._leader_conn: AsyncConnection | None = None
        self._campaign: asyncio.Task[None] | None = None  # retrying to become the leader
        self._tasks: set[asyncio.Task[None]] = set()  # the jobs running now

    @property
    def leading(self) -> bool:
        return self._scheduler is not None

    async def _become_leader(self) -> bool:
        if self.runtime.settings.is_sqlite:
            return True  # one machine, one process
        conn = await self.runtime.engine.connect()
        try:
            got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                      {"k": LEADER_LOCK_ID})).scalar()
        except BaseException:
            await conn.close()
            raise
        if got:
            self._leader_conn = conn  # the lock lives as long as this connection
            return True
        await conn.close()
        return False

    async def start(self) -> bool:
        """Run the jobs if this worker gets the lock; otherwise keep trying in the background,
        so that the jobs go on when the leader dies (vanishing chat must delete within 48 h)."""
        if await self._become_leader():
            self._start_jobs()
            return True
        log.info("another worker runs the scheduled jobs; trying again every %.0f s",
                 self.leader_retry)
        self._campaign = asyncio.create_task(self._campaign_loop())
        return False

    async def _campaign_loop(self) -> None:
        while True:
            await asyncio.sleep(self.leader_retry)
            try:
                if await self._become_leader():
                    log.info("this worker now runs the scheduled jobs")
                    self._start_jobs()
                    return
            except Exception as exc:  # noqa: BLE001 - the database may be away for a while
                log.warning("could not ask for the scheduler lock: %s", type(exc).__name__)

    def _start_jobs(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        for job in self.jobs:
            self._scheduler.add_job(self._fire, "interval", seconds=job.seconds, args=[job],
                                    id=job.name, max_instances=1, coalesce=True)
        self._scheduler.start()
        log.info("scheduler started with %d jobs", len(self.jobs))

    async def _fire(self, job: Job) -> None:
        """Start the job in a task of our own, so that stop() can cancel it and wait for it
        before the runtime closes the engine under it. One run of a job at a time."""
        name = f"job:{job.name}"
        if any(task.get_name() == name for task in self._tasks):
            return
        task = asyncio.create_task(self._run(job), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job: Job) -> None:
        try:
            await job.run(self.runtime)
        except Exception as exc:  # noqa: BLE001 - a failing job must not stop the others
            log.error("job %s failed: %s", job.name, type(exc).__name__)

    async def stop(self) -> None:
        """Stop triggering, cancel the running jobs and wait for them. Idempotent."""
        if self._campaign is not None:
            self._campaign.cancel()
            await asyncio.gather(self._campaign, return_exceptions=True)
            self._campaign = None
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        running = list(self._tasks)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        if self._leader_conn is not None:
            # Closing alone would hand the connection back to the pool with the lock still
            # held; invalidating closes it for real, so another worker can take over.
            await self._leader_conn.invalidate()
            await self._leader_conn.close()
            self._leader_conn = None
