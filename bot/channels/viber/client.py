"""A small async client for the Viber REST Bot API, with the platform's error table beside it.

The official `viberbot` SDK is synchronous, unmaintained since 2021 and compares signatures with
`==`, so we speak the few calls we need over aiohttp ourselves. The session is opened and closed
by the channel's lifecycle; it carries the X-Viber-Auth-Token header.

Viber answers errors with HTTP 200 and a non-zero `status` (its "Common Errors" page). By scope:
  0                          ok
  5, 6                       her alone: not a Viber user / not subscribed -> RecipientGone
  12                         too many requests -> RateLimited (postponed; never retried within
                             seconds while her lock is held)
  2, 7, 8, 9, 10, 15, 23, 24 the whole bot account: bad token, blocked, not found, suspended,
                             webhook not set, not authorised, free quota used up, no balance
                             -> AccountRefused (the channel stops every bot-initiated send)
  others                     bad data and the like -> DeliveryFailed(retry=False)
`status_message` is Viber's own short name of the error and carries no user data: it is logged.

Transport failures: only a connection that was never made (ClientConnectorError) or an HTTP 429
is DeliveryFailed(retry=True). A 5xx, a time-out, a dropped connection or an unreadable answer
may follow a message Viber delivered, so they are retry=False: never reach anyone twice.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.core.channels import DeliveryFailed, RateLimited, RecipientGone

log = logging.getLogger(__name__)

AUTH_HEADER = "X-Viber-Auth-Token"
MAX_REQUEST_BYTES = 30 * 1024  # Viber refuses larger send_message / broadcast_message requests
MAX_BROADCAST_RECEIVERS = 300  # broadcast_list holds at most this many ids

STATUS_OK = 0
STATUS_INVALID_TOKEN = 2
STATUS_WEBHOOK_NOT_SET = 10
STATUS_GONE = frozenset({5, 6})
STATUS_RATE = 12
# Statuses about the bot account itself, with Viber's names for them (for the log and the alert).
ACCOUNT_STATUSES: dict[int, str] = {
    2: "invalidAuthToken", 7: "publicAccountBlocked", 8: "publicAccountNotFound",
    9: "publicAccountSuspended", 10: "webhookNotSet", 15: "publicAccountNotAuthorized",
    23: "freeMessagesExceeded", 24: "noBalance",
}
# billing_status 5 is "outOfSessionBilledMessage": the one value Viber charges for.
BILLED = 5
MAX_STATUS_MESSAGE = 80


class AccountRefused(DeliveryFailed):
    """Viber refused the bot account as a whole: nothing was sent, to anybody."""

    def __init__(self, method: str, status: int, status_message: str) -> None:
        super().__init__(f"viber {method}: status {status} ({status_message})", retry=True)
        self.status = status
        self.status_message = status_message


def status_of(body: dict[str, Any]) -> int:
    status = body.get("status")
    return status if isinstance(status, int) and not isinstance(status, bool) else -1


def status_message_of(body: dict[str, Any]) -> str:
    message = body.get("status_message")
    return message[:MAX_STATUS_MESSAGE] if isinstance(message, str) else ""


def billed(body: dict[str, Any]) -> bool | None:
    """True when Viber says it charged this message, False when it says it did not, None when
    the answer has no billing_status (older accounts): the caller then assumes it was paid."""
    value = body.get("billing_status")
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value == BILLED
    return None


def check(method: str, body: dict[str, Any]) -> dict[str, Any]:
    """Apply the error table to an answer; return it when its status is 0."""
    status = status_of(body)
    if status == STATUS_OK:
        return body
    message = status_message_of(body)
    if status in STATUS_GONE:
        raise RecipientGone(f"viber status {status}")
    if status == STATUS_RATE:
        log.info("viber %s: status 12 (%s): postponed", method, message)
        raise RateLimited("viber status 12 (too many requests)")
    if status in ACCOUNT_STATUSES:
        raise AccountRefused(method, status, message or ACCOUNT_STATUSES[status])
    log.warning("viber %s refused: status %s (%s)", method, status, message)
    raise DeliveryFailed(f"viber {method}: status {status}", retry=False)


@dataclass
class ViberClient:
    http: aiohttp.ClientSession
    base_url: str

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
        """send_message with the error table applied; the answer when its status is 0."""
        return check("send_message", await self.call("send_message", payload))

    async def broadcast_message(self, payload: dict[str, Any], receivers: Sequence[str]
                                ) -> dict[str, Any]:
        """One message to up to 300 subscribers. The call's own status goes through the error
        table; who did not get it is in the answer's `failed_list` (see failed_receivers)."""
        if not 0 < len(receivers) <= MAX_BROADCAST_RECEIVERS:
            raise ValueError("broadcast_message takes 1 to 300 receivers")
        body = {**payload, "broadcast_list": list(receivers)}
        return check("broadcast_message", await self.call("broadcast_message", body))

    async def set_webhook(self, url: str, event_types: Sequence[str]) -> dict[str, Any]:
        """Register the webhook. Viber calls it back at once and needs a 200 to accept it."""
        # send_name/send_photo off: we never want her Viber name or picture (docs/ARCHITECTURE.md 2.2).
        return await self.call("set_webhook", {"url": url, "event_types": list(event_types),
                                               "send_name": False, "send_photo": False})

    async def get_account_info(self) -> dict[str, Any]:
        """The bot account's own details; raises AccountRefused for a wrong token."""
        return check("get_account_info", await self.call("get_account_info", {}))


def failed_receivers(body: dict[str, Any]) -> list[tuple[str, int]]:
    """(receiver, status) of each entry of a broadcast answer's failed_list."""
    entries = body.get("failed_list")
    if not isinstance(entries, list):
        return []
    found: list[tuple[str, int]] = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("receiver"), str):
            found.append((entry["receiver"], status_of(entry)))
    return found
