"""The periodic jobs of the journeys (reminders, broadcasts, retention). Each journey module may
define `JOBS: list[Job]`; each job is idempotent and reads what is due from the database."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.runtime import Runtime


@dataclass(frozen=True)
class Job:
    name: str
    seconds: int
    run: Callable[[Runtime], Awaitable[object]]


def all_jobs() -> list[Job]:
    from handlers.routes import JOURNEYS

    return [job for module in JOURNEYS for job in getattr(module, "JOBS", [])]
