"""The explicit ordered routing table. Each journey module lists its routes; the core indexes them
(commands, then action prefixes, then session states) and refuses duplicates."""
from __future__ import annotations

from bot.core.context import Form, Route
from handlers import (
    broadcasts,
    forget,
    jobs,
    lock,
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

JOURNEYS = (start, help_journey, meetups, jobs, talk, settings, forget, professionals,
            moderation, broadcasts, messages, lock)


def all_routes() -> list[Route]:
    return [route for module in JOURNEYS for route in module.ROUTES]


def all_forms() -> list[Form]:
    """The staff forms each journey module declares (FORMS), collected like its routes."""
    return [form for module in JOURNEYS for form in getattr(module, "FORMS", ())]


FALLBACK = start.FALLBACK
EXIT = exit_journey.ROUTE
LOCK = lock.LOCK_SCREEN  # shown by the core instead of a locked screen (the shared-phone lock)

# What a visitor (no row yet, bot/core.py) may reach: the start screens, help and the exit. The
# admitting routes write her row first (a staff member redeeming her invite as first message).
VISITOR_ROUTES = [*start.ROUTES, *help_journey.ROUTES]
ADMITTING_ROUTES = [route for route in moderation.ROUTES if route.command == "/redeem"]
