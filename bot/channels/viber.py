"""(being built: see the issue that owns this channel)."""
from __future__ import annotations

from aiohttp import web

from bot.settings import Settings


def install(app: web.Application, settings: Settings) -> None:
    """Add this channel's routes and lifecycle when its token is set."""
