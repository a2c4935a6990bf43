"""A small async client for the Viber REST Bot API, with the platform's error table beside it.

The official `viberbot` SDK is synchronous, unmaintained since 2021 and compares signatures with
`==` (platforms.md), so we speak the few calls we need over aiohttp ourselves. The session is
opened and closed by the channel's lifecycle; it carries the X-Viber-Auth-Token header.

Viber answers errors with HTTP 200 and a non-zero `status`:
  0        ok
  5, 6     receiver not registered / not subscribed  -> RecipientGone (stop sending to her)
  12       rate control                               -> wait and retry, then DeliveryFailed(retry)
  23, 24   free-message quota used up / no balance    -> DeliveryFailed(retry=False) + a WARNING
  others   bad data, blocked account...               -> DeliveryFailed(retry=False)

Transport failures: only a connection that was never made (ClientConnectorError) or an HTTP 429
is DeliveryFailed(retry=True). A 5xx, a time-out, a dropped connection or an unreadable answer
may follow a message Viber delivered, so they are retry=False: never reach anyone twice.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.core.channels import DeliveryFailed, RecipientGone

log = logging.getLogger(__name__)

AUTH_HEADER = "X-Viber-Auth-Token"
MAX_REQUEST_BYTES = 30 * 1024  # Viber refuses larger send_message requests

STATUS_OK = 0
STATUS_GONE = frozenset({5, 6})
STATUS_RATE = 12
STATUS_QUOTA = frozenset({23, 24})
# Every failed quota answer is the same news; say it loudly once, then every this many times.
QUOTA_WARN_EVERY = 100


@dataclass
class ViberClient:
    http: aiohttp.ClientSession
    base_url: str
    retries: int = 3
    backoff: float = 1.0
    quota_refusals: int = field(default=0, init=False)

    def _url(self, method: str) -> str:
        return self.base_url.rstrip("/") + "/" + method

    async def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST one API method; the raw answer (its `status` is checked by the caller)."""
        # ensure_ascii=False: an emoji costs 4 bytes instead of 12 against the 30 KB limit.
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if len(data) > MAX_REQUEST_BYTES:
            raise DeliveryFailed(f"viber {method}: request of {len(data)} bytes is too large",
                                 retry=False)
        try:
            async with self.http.post(self._url(method), data=data,
                                      headers={"Content-Type": "application/json"}) as resp:
                if resp.status != 200:
                    # A 5xx may come after Viber passed the message on; a 429 is a refusal.
                    raise DeliveryFailed(f"viber {method}: HTTP {resp.status}",
                                         retry=resp.status == 429)
                body = await resp.json(content_type=None)
        except aiohttp.ClientConnectorError as exc:
            # The connection was never made: nothing was sent, so trying again is safe.
            # Only the type: the message of a client error can carry the URL or the body.
            raise DeliveryFailed(f"viber {method}: {type(exc).__name__}", retry=True) from None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            # The request may have arrived (a time-out, a dropped connection, an unreadable
            # answer): sending again could reach her twice, so the caller must not retry.
            raise DeliveryFailed(f"viber {method}: {type(exc).__name__}", retry=False) from None
        if not isinstance(body, dict):
            raise DeliveryFailed(f"viber {method}: unreadable answer", retry=False)
        return body

    async def send_message(self, payload: dict[str, Any]) -> dict[str, Any]:
        """send_message with the error table applied; returns the answer when status is 0."""
        for attempt in range(self.retries + 1):
            body = await self.call("send_message", payload)
            status = _status(body)
            if status == STATUS_OK:
                return body
            if status in STATUS_GONE:
                raise RecipientGone(f"viber status {status}")
            if status == STATUS_RATE and attempt < self.retries:
                await asyncio.sleep(self.backoff * 2 ** attempt)
                continue
            if status == STATUS_RATE:
                raise DeliveryFailed("viber status 12 (rate control)", retry=True)
            if status in STATUS_QUOTA:
                self._warn_quota(status)
                raise DeliveryFailed(f"viber status {status} (quota or balance)", retry=False)
            raise DeliveryFailed(f"viber status {status}", retry=False)
        raise AssertionError("unreachable")  # pragma: no cover

    async def set_webhook(self, url: str, event_types: Sequence[str]) -> dict[str, Any]:
        """Register the webhook. Viber calls it back at once and needs a 200 to accept it."""
        # send_name/send_photo off: we never want her Viber name or picture (DESIGN.md 2.2).
        return await self.call("set_webhook", {"url": url, "event_types": list(event_types),
                                               "send_name": False, "send_photo": False})

    async def get_account_info(self) -> dict[str, Any]:
        return await self.call("get_account_info", {})

    def _warn_quota(self, status: int) -> None:
        self.quota_refusals += 1
        if self.quota_refusals % QUOTA_WARN_EVERY == 1:
            log.warning(
                "Viber stopped sending (status %s, %d refusals so far): the bot's message quota "
                "or prepaid balance is used up, so Viber users get no replies, reminders or "
                "broadcasts. The NGO must check costs and billing in the Viber Partners panel.",
                status, self.quota_refusals)


def _status(body: dict[str, Any]) -> int:
    status = body.get("status")
    return status if isinstance(status, int) else -1
