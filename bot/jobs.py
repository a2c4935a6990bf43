"""The periodic jobs of the journeys (reminders, broadcasts, retention). Each is idempotent and
reads what is due from the database."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.scheduler import Job

JOBS: list[Job] = []
