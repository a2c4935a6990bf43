"""The scheduled jobs (docs/ARCHITECTURE.md section 4). Each is idempotent and reads what is due from the
database; APScheduler (bot/scheduler.py) only triggers them."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.services.broadcasting import dispatch
from bot.services.host import JobHost
from bot.services.reminders import purge_past_signups, send_reminders
from bot.services.retention import free_ended_sessions, run_retention, run_tombstones


@dataclass(frozen=True)
class Job:
    name: str
    seconds: int
    run: Callable[[JobHost], Awaitable[object]]


async def run_deletions(rt: JobHost) -> object:
    """Vanishing chat, and retries of quick exits that the platform refused for a while."""
    return await rt.delivery.run_due_deletions()


def all_jobs() -> list[Job]:
    return [
        Job("deletions", 30, run_deletions),
        Job("meetup_reminders", 300, send_reminders),
        Job("meetup_purge", 900, purge_past_signups),
        Job("broadcasts", 15, dispatch),
        Job("retention", 6 * 3600, run_retention),
        Job("forgotten", 60, run_tombstones),
        Job("ended_sessions", 180, free_ended_sessions),
    ]
