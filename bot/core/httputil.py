"""Small HTTP helpers shared by the channel adapters."""
from __future__ import annotations

from aiohttp import web


async def read_limited(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or None past `limit` bytes. One read() returns only what has arrived so
    far, so a body sent in pieces must be read until its end."""
    if request.content_length is not None and request.content_length > limit:
        return None
    parts: list[bytes] = []
    size = 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)
