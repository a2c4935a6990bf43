"""What a channel is to the rest of the bot (docs/ARCHITECTURE.md section 3): two protocols and the
channel's capabilities. A channel talks to the bot only through `ChannelHost`; the bot talks to a
channel only through `ChannelAdapter` and its `ChannelSender`. Handlers and services ask a
channel's `Capabilities`, never its name."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from aiohttp import web

from bot.core.types import Inbound, Outcome, Reply


class RecipientGone(Exception):
    """She blocked the bot or unsubscribed: stop sending to her."""


class DeliveryFailed(Exception):
    """The platform refused or failed; `retry` says whether trying later makes sense (False
    whenever the message may have arrived: nobody gets a message twice)."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.retry = retry


class RateLimited(DeliveryFailed):
    """The platform asked us to slow down: nothing was sent. Bulk sends postpone the message;
    nobody retries it within seconds while holding a person's lock."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, retry=True)


class ChannelPaused(DeliveryFailed):
    """The platform refused the whole bot account (a bad token, a blocked account, no balance):
    nothing was sent, and nothing will be on this channel before `until`. Not the person's
    fault and not an attempt: a broadcast keeps her row pending and resumes later."""

    def __init__(self, reason: str, *, until: datetime) -> None:
        super().__init__(reason, retry=True)
        self.until = until


@dataclass
class BatchResult:
    """What a channel's bulk call did. Addresses not listed in any set were delivered."""

    failed: set[str] = field(default_factory=set)  # refused for her alone: not sent, not retried
    gone: set[str] = field(default_factory=set)  # not subscribed any more: mark her inactive
    postponed: set[str] = field(default_factory=set)  # refused for now (rate): try later
    paid: int = 0  # messages the platform billed, from its own answer where it gives one


class BatchSender(Protocol):
    """A channel that can send the same message to many people in one call (Viber's
    broadcast_message). `batch_limit` is the most addresses one call takes."""

    name: str
    batch_limit: int

    async def send_batch(self, addresses: Sequence[str], replies: Sequence[Reply]
                         ) -> BatchResult:
        """Send once to all; raise DeliveryFailed when the call as a whole failed."""
        ...


class ExitErasure(StrEnum):
    """What a quick exit can erase on the channel (docs/ARCHITECTURE.md 2.3)."""

    DELETE_MESSAGES = "delete_messages"  # Telegram: every tracked message, both directions
    RESET_KEYBOARD = "reset_keyboard"  # Viber: no delete API; a blank keyboard and a cover line
    WIPE_PAGE = "wipe_page"  # web chat: the page wipes itself and leaves with location.replace


@dataclass(frozen=True)
class Capabilities:
    """What a channel can do, declared by the channel itself."""

    deletes_messages: bool
    # How long after sending a message can still be deleted (None: no limit or no deletes).
    delete_window: timedelta | None
    max_text_chars: int
    max_buttons_per_row: int
    max_label_chars: int
    # Messages the bot starts (relays, reminders, broadcasts) cost the NGO money.
    paid_bot_initiated: bool
    exit_erasure: ExitErasure
    # False where the address lives only as long as a session (the web chat's page secret).
    addresses_outlive_sessions: bool = True
    # The page hides what she types at a prompt for a secret (Reply.secret): no bubble, a
    # password field. Where a channel neither deletes nor hides it, she is asked to delete it.
    hides_secret_input: bool = False


class ChannelSender(Protocol):
    """Sends to a person who did not just write (relays, reminders, broadcasts) and deletes."""

    name: str

    async def send(self, address: str, replies: Sequence[Reply], *,
                   notification: bool) -> list[str]:
        """Send and return the platform message refs (for later deletion)."""
        ...

    async def delete(self, address: str, refs: Sequence[str]) -> None:
        """Delete what the platform allows; raise nothing for refs already gone."""
        ...


class ChannelHost(Protocol):
    """The bot as a channel sees it (implemented by bot.runtime.Runtime)."""

    async def handle(self, inbound: Inbound) -> Outcome:
        """Run one update through the core."""
        ...

    async def record_refs(self, channel: str, address: str, user_id: str | None,
                          refs: Sequence[str], *, after_exit: bool = False) -> None:
        """Keep message ids (never text) for quick exit and vanishing chat. With no user_id
        (a visitor, no row yet) they are kept in her session; after_exit: the cover message of a
        quick exit, kept for her next one."""
        ...

    async def erase(self, channel: str, address: str, user_id: str | None,
                    refs: Sequence[str]) -> None:
        """Quick exit: delete every tracked message of her chat now, `refs` included."""
        ...

    async def set_active(self, channel: str, address: str, active: bool) -> None:
        """She blocked or unsubscribed (False), or came back (True)."""
        ...

    async def first_sighting(self, channel: str, delivery_id: str) -> bool:
        """Remember a platform's delivery id (kept hashed, for a week; no user data); False if
        it was seen before, even before a restart (a platform that repeats callbacks)."""
        ...

    def welcome(self, inbound: Inbound) -> Reply:
        """The first screen for someone who just opened the chat, built without the database
        (a platform that waits only seconds for it; nothing about her is stored)."""
        ...

    async def tell_coordinators(self, build: Callable[[], Sequence[Reply]], *,
                                not_on_channel: str | None = None) -> int:
        """Tell every coordinator something about the bot itself (a channel stopped sending),
        each in her language, on her own channel; how many got it."""
        ...

    def now(self) -> datetime:
        """The bot's clock (aware UTC)."""
        ...

    def add_sender(self, sender: ChannelSender, capabilities: Capabilities) -> None:
        """Offer the channel's sender to delivery (relays, reminders, broadcasts)."""
        ...

    def remove_sender(self, sender: ChannelSender) -> None:
        """Stop sending through it (the channel is shutting down)."""
        ...


class ChannelAdapter(Protocol):
    """One channel: its name, capabilities, HTTP routes, lifecycle and sender."""

    name: str
    capabilities: Capabilities

    def routes(self) -> list[web.RouteDef]:
        """Routes on the one aiohttp server (webhooks, the web chat), added before start-up."""
        ...

    async def start(self, host: ChannelHost) -> None:
        """Open clients, register webhooks or start polling; offer the sender to the host."""
        ...

    async def stop(self) -> None:
        """Withdraw the sender, finish what is under way, close the clients."""
        ...

    def health(self) -> dict[str, object]:
        """For /healthz and `python -m bot status`: at least `configured` and `healthy`; never a
        person's data."""
        ...
