"""python-telegram-bot's transport on aiohttp: one shared ClientSession for every Bot API call.

PTB's default HTTPXRequest is slow under concurrency (its pool assignment grows with the pool
size, PTB issue 3950); aiohttp is already our HTTP library. One session serves both the normal
calls and the long poll, so there is one connection pool, sized deliberately.

Time-outs follow BaseRequest's contract: `read`, `write`, `connect`, `pool`, each overridable per
call, None meaning "wait forever". PTB itself adds the long-poll `timeout` to the read time-out of
getUpdates, so a quiet long poll never looks like a dead connection.

Nothing here logs a request or a response body: both can carry what a woman typed (docs/ARCHITECTURE.md 2.1).
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.request import BaseRequest, RequestData

log = logging.getLogger(__name__)

# Enough for people's answers, bulk sends and the long poll at once; Telegram allows ~30 msg/s,
# so more connections than this would only queue at the other end.
DEFAULT_POOL_SIZE = 64


# What PTB passes for a time-out: a number, None (wait forever), or its "not given" marker
# (BaseRequest.DEFAULT_NONE and the like, whose class is not public). Anything that is not a
# number or None therefore means "use this request's own default".
Timeout = Any
JSONDict = dict[str, Any]


def _pick(value: Timeout, default: float | None) -> float | None:
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    return default


def make_session(pool_size: int = DEFAULT_POOL_SIZE) -> aiohttp.ClientSession:
    """The one session of the Telegram channel (call inside the running event loop)."""
    connector = aiohttp.TCPConnector(limit=pool_size, limit_per_host=pool_size,
                                     ttl_dns_cache=300, enable_cleanup_closed=True)
    # Time-outs are set per request; cookies are never needed and never kept.
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None),
                                 cookie_jar=aiohttp.DummyCookieJar(), raise_for_status=False)


class AiohttpRequest(BaseRequest):
    """A BaseRequest on an aiohttp ClientSession.

    With `session`, the session is shared and owned by the caller (several request objects, one
    pool); without, this object opens its own on initialize() and closes it on shutdown()."""

    __slots__ = ("_session", "_owns_session", "_pool_size", "_read", "_write", "_connect",
                 "_pool", "_media_write")

    def __init__(self, *, session: aiohttp.ClientSession | None = None,
                 pool_size: int = DEFAULT_POOL_SIZE, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0, media_write_timeout: float | None = 20.0
                 ) -> None:
        self._session = session
        self._owns_session = session is None
        self._pool_size = pool_size
        self._read = read_timeout
        self._write = write_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        self._media_write = media_write_timeout

    @property
    def read_timeout(self) -> float | None:
        return self._read

    @property
    def session(self) -> aiohttp.ClientSession | None:
        return self._session

    async def initialize(self) -> None:
        # Idempotent: PTB initialises the bot's request and the get_updates request separately.
        if self._session is None or (self._owns_session and self._session.closed):
            self._session = make_session(self._pool_size)
            self._owns_session = True

    async def shutdown(self) -> None:
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    @staticmethod
    def parse_json_payload(payload: bytes) -> JSONDict:
        # The base class logs an unreadable payload in full; it may hold message text.
        try:
            decoded = json.loads(payload.decode("utf-8", "replace"))
        except ValueError as exc:
            raise TelegramError("Invalid server response") from exc
        if not isinstance(decoded, dict):
            raise TelegramError("Invalid server response")
        return decoded

    def _timeouts(self, read: Timeout, write: Timeout, connect: Timeout,
                  pool: Timeout, has_files: bool) -> tuple[aiohttp.ClientTimeout,
                                                                   float | None, float | None]:
        read_s = _pick(read, self._read)
        write_s = _pick(write, self._media_write if has_files else self._write)
        connect_s = _pick(connect, self._connect)
        pool_s = _pick(pool, self._pool)
        # aiohttp's `connect` covers waiting for a pooled connection plus opening a new one;
        # `sock_connect` only the latter; `sock_read` is the gap allowed between chunks read.
        acquire = None if connect_s is None or pool_s is None else connect_s + pool_s
        timeout = aiohttp.ClientTimeout(total=None, connect=acquire, sock_connect=connect_s,
                                        sock_read=read_s)
        # aiohttp has no write time-out: bound sending the body (an upload) with an overall limit
        # of everything allowed, so a stalled upload still ends.
        overall = None
        if None not in (read_s, write_s, connect_s, pool_s):
            overall = read_s + write_s + connect_s + pool_s  # type: ignore[operator]
        return timeout, overall, pool_s

    def _body(self, request_data: RequestData | None) -> tuple[Any, dict[str, str]]:
        if request_data is None:
            return None, {}
        files = request_data.multipart_data
        if not files:
            return request_data.json_payload, {"Content-Type": "application/json"}
        form = aiohttp.FormData(quote_fields=False)
        for name, value in request_data.json_parameters.items():
            form.add_field(name, value)
        for name, (filename, content, mimetype) in files.items():
            form.add_field(name, content, filename=filename, content_type=mimetype)
        return form, {}

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Timeout = BaseRequest.DEFAULT_NONE,
        write_timeout: Timeout = BaseRequest.DEFAULT_NONE,
        connect_timeout: Timeout = BaseRequest.DEFAULT_NONE,
        pool_timeout: Timeout = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized")
        body, headers = self._body(request_data)
        has_files = bool(request_data and request_data.multipart_data)
        timeout, overall, _pool = self._timeouts(read_timeout, write_timeout, connect_timeout,
                                                 pool_timeout, has_files)
        headers["User-Agent"] = self.USER_AGENT
        try:
            async with asyncio.timeout(overall):
                async with session.request(method, url, data=body, headers=headers,
                                           timeout=timeout) as resp:
                    status, payload = resp.status, await resp.read()
        except (TimeoutError, aiohttp.ServerTimeoutError, aiohttp.ConnectionTimeoutError) as exc:
            # The message stays generic: the URL holds the bot token.
            raise TimedOut(f"Timed out ({type(exc).__name__})") from exc
        except aiohttp.ClientConnectorError as exc:
            # The connection was never made: nothing was sent, so PTB's NetworkError (retried).
            raise NetworkError(f"aiohttp.{type(exc).__name__}") from exc
        except aiohttp.ClientError as exc:
            # The request may have been sent (the server dropped the connection, the answer was
            # cut off): like a time-out, it may have arrived, so a bulk send must not repeat it.
            raise TimedOut(f"Connection lost (aiohttp.{type(exc).__name__})") from exc
        if status >= 300 and method == "POST" and not payload.lstrip().startswith(b"{"):
            # PTB would quote an unreadable error body (a proxy's page, which may echo the
            # request) in its exception message; keep only the status.
            payload = json.dumps({"ok": False, "error_code": status,
                                  "description": f"HTTP {status}"}).encode()
        return status, payload
