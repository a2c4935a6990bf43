"""The explicit ordered routing table. Each journey module lists its routes; the core indexes them
(commands, then action prefixes, then session states) and refuses duplicates."""
from __future__ import annotations

from handlers import (
    broadcasts,
    forget,
    jobs,
    meetups,
    messages,
    moderation,
    professionals,
    settings,
    start,
    talk,
)
from handlers import (
    exit as exit_journey,
)
from handlers import (
    help as help_journey,
)
from handlers.base import Route

JOURNEYS = (start, help_journey, meetups, jobs, talk, settings, forget, professionals,
            moderation, broadcasts, messages)


def all_routes() -> list[Route]:
    return [route for module in JOURNEYS for route in module.ROUTES]


FALLBACK = start.FALLBACK
EXIT = exit_journey.ROUTE
