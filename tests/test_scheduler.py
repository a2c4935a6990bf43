"""The scheduler: running jobs are cancelled and awaited on stop, it stops before the channels
close, and with PostgreSQL a worker without the lock takes over when the leader stops."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from bot.app import SCHEDULER, create_app
from bot.runtime import Runtime, open_runtime
from bot.scheduler import LEADER_RETRY_SECONDS, Scheduler
from bot.services.jobs import Job
from tests.conftest import FakeClock, make_settings

# Depends on the database itself: runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_databases


async def eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while True:  # the condition changes in APScheduler's tasks: poll it
            if check():
                return
            await asyncio.sleep(0.02)


async def test_stop_cancels_a_running_job_and_waits_for_it(rt: Runtime) -> None:
    started, ended = asyncio.Event(), []

    async def long_job(runtime: Runtime) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        finally:
            ended.append("cleaned up")  # e.g. its transaction rolled back

    scheduler = Scheduler(rt, jobs=[Job("long", 1, long_job)])
    assert await scheduler.start() is True
    async with asyncio.timeout(10):
        await started.wait()
    assert ended == []
    await scheduler.stop()
    assert ended == ["cleaned up"]  # finished before stop() returned, not left running
    assert not scheduler.leading
    await scheduler.stop()  # idempotent


async def test_a_failing_job_does_not_stop_the_others(rt: Runtime) -> None:
    runs: list[str] = []

    async def broken(runtime: Runtime) -> None:
        runs.append("broken")
        raise ValueError("boom")

    async def fine(runtime: Runtime) -> None:
        runs.append("fine")

    scheduler = Scheduler(rt, jobs=[Job("broken", 1, broken), Job("fine", 1, fine)])
    await scheduler.start()
    try:
        await eventually(lambda: runs.count("fine") >= 2 and runs.count("broken") >= 2)
    finally:
        await scheduler.stop()


async def test_the_app_stops_the_scheduler_before_the_channels_close(database_url: str,
                                                                      clock: FakeClock) -> None:
    seen: list[bool] = []
    app = create_app(make_settings(database_url), clock=clock, with_scheduler=True)

    async def channel(app: web.Application) -> AsyncIterator[None]:
        # Added last, so it closes first, like the Telegram and Viber channels' contexts.
        yield
        seen.append(app[SCHEDULER].leading)

    app.cleanup_ctx.append(channel)
    runner = web.AppRunner(app)
    await runner.setup()
    assert app[SCHEDULER].leading
    await runner.cleanup()
    assert seen == [False]  # no job can run while (or after) a channel shuts down


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_waiting_worker_takes_over_when_the_leader_stops(database_url: str,
                                                                 clock: FakeClock) -> None:
    assert LEADER_RETRY_SECONDS == 60  # in production a worker asks once a minute
    runs: list[str] = []

    def job_of(worker: str) -> Job:
        async def run(runtime: Runtime) -> None:
            runs.append(worker)
        return Job("deletions", 1, run)

    settings = make_settings(database_url)
    async with open_runtime(settings, clock=clock) as first_rt, \
            open_runtime(settings, clock=clock) as second_rt:
        first = Scheduler(first_rt, jobs=[job_of("first")], leader_retry=0.1)
        second = Scheduler(second_rt, jobs=[job_of("second")], leader_retry=0.1)
        try:
            assert await first.start() is True
            assert await second.start() is False
            await eventually(lambda: "first" in runs)
            await asyncio.sleep(0.5)  # the second keeps asking, and keeps being refused
            assert not second.leading and "second" not in runs
            await first.stop()  # the leader goes away (its lock connection closes)
            await eventually(lambda: second.leading)
            await eventually(lambda: "second" in runs)
            assert await first.start() is False  # now the first one waits
            await asyncio.sleep(0.3)
            assert not first.leading
        finally:
            await first.stop()
            await second.stop()
