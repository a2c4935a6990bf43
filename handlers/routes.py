"""The explicit ordered routing table. Each journey module lists its routes; the core indexes them
(commands, then action prefixes, then session states) and refuses duplicates."""
from __future__ import annotations

from handlers import exit as exit_journey
from handlers import help as help_journey
from handlers import start
from handlers.base import Route


def all_routes() -> list[Route]:
    return [
        *start.ROUTES,
        *help_journey.ROUTES,
    ]


FALLBACK = start.FALLBACK
EXIT = exit_journey.ROUTE
