"""Logging: levels from LOG_LEVEL, and the libraries that would log request bodies or URLs with a
token kept quiet at every level the app sets (docs/ARCHITECTURE.md 2.1)."""
from __future__ import annotations

import logging

# These log URLs (with the bot token) or payloads (with message text) at DEBUG or INFO.
NOISY = ("httpx", "httpcore", "telegram", "telegram.ext", "apscheduler", "aiohttp.access",
         "hpack", "asyncio", "aiosqlite", "sqlalchemy.engine", "alembic")


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        force=True)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
