"""The last line of the HTTP server: no request ever gets a traceback, and no log line carries a
client's address (a woman's IP address tells where she is, DESIGN.md 2.1)."""
from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.core.i18n import N_, _, normalise_language, use_language

log = logging.getLogger(__name__)

AIOHTTP_SERVER_LOGGER = "aiohttp.server"
# aiohttp-remotes logs the refused forwarded addresses in its arguments.
REMOTES_LOGGER = "aiohttp_remotes"
UNEXPECTED = N_("Sorry, something went wrong on our side. Nothing was changed. "
                "Please try again in a moment.")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def accept_language(request: web.Request) -> str | None:
    for part in request.headers.get("Accept-Language", "").split(","):
        lang = normalise_language(part.split(";", 1)[0].strip())
        if lang:
            return lang
    return None


def where(exc: BaseException) -> str:
    """Only the type and the last frames: an exception's message can carry what was sent."""
    frames = traceback.extract_tb(exc.__traceback__)
    return " < ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in reversed(frames[-4:]))


@web.middleware
async def unexpected_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Any error a handler did not expect: a translated JSON answer and one log line without
    the request's content or address. HTTP answers a handler chose (404, 405, 413) pass."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - nothing may reach aiohttp's own error log
        log.error("request failed: %s at %s", type(exc).__name__, where(exc))
        with use_language(accept_language(request)):
            text = _(UNEXPECTED)
        return web.json_response({"error": text}, status=500,
                                 headers={"Cache-Control": "no-store"})


class NoClientAddress(logging.Filter):
    """aiohttp logs "Error handling request from <address>" with the traceback when a request
    cannot be parsed; keep the event, drop the address, the arguments and the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        record.msg = "request failed: %s"
        record.args = (type(exc).__name__ if exc is not None else "unknown",)
        record.exc_info = None
        record.exc_text = None
        return True


class NoForwardedAddresses(logging.Filter):
    """aiohttp-remotes names the refused addresses; keep only what was wrong with the header."""

    def filter(self, record: logging.LogRecord) -> bool:
        what = str(record.msg).split("%", 1)[0].strip(" :,")
        record.msg, record.args = "forwarded headers refused: %s", (what,)
        return True


def install_log_filter() -> None:
    for name, kind in ((AIOHTTP_SERVER_LOGGER, NoClientAddress),
                       (REMOTES_LOGGER, NoForwardedAddresses)):
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())
