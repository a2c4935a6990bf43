"""The neutral types between channels and the core. No channel SDK is imported here."""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

MAX_ACTION_BYTES = 64
_ACTION_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


class Channel(StrEnum):
    WEBCHAT = "webchat"
    TELEGRAM = "telegram"
    VIBER = "viber"


def is_valid_action(action: str) -> bool:
    """Short ASCII payloads only: they reach us from clients and may be forged."""
    return bool(_ACTION_RE.match(action)) and len(action.encode("ascii")) <= MAX_ACTION_BYTES


@dataclass(frozen=True)
class Button:
    label: str
    action: str

    def __post_init__(self) -> None:
        if not is_valid_action(self.action):
            raise ValueError("button action must be ASCII [A-Za-z0-9_.:-], at most 64 bytes")


Rows = tuple[tuple[Button, ...], ...]


@dataclass(frozen=True)
class Reply:
    """One message the bot shows. `replace` edits the previous screen where the channel can."""

    text: str
    buttons: Rows = ()
    silent: bool = False
    protected: bool = True
    replace: bool = False
    # A prompt for a secret (her code word): the web chat makes the next input a password field
    # and draws no bubble for what she types.
    secret: bool = False

    def has_action(self, action: str) -> bool:
        return any(b.action == action for row in self.buttons for b in row)


@dataclass(frozen=True)
class Inbound:
    """One event from a person: text typed, or a button pressed (action)."""

    channel: Channel
    address: str
    text: str | None = None
    action: str | None = None
    language_hint: str | None = None
    message_ref: str | None = None
    # The web chat's client (the connecting address, or the one the trusted proxy named), only
    # to limit guessing per client; held in memory for this update, never stored or logged.
    client: str | None = None


@dataclass(frozen=True)
class Outgoing:
    """Replies for another person (a relay, a notification), delivered after the commit.

    `build` is called under the recipient's language, so that she reads her own language even
    when a caseworker writing in another one triggered the message."""

    user_id: str
    build: Callable[[], Sequence[Reply]]
    notification: bool = True


@dataclass
class Outcome:
    """What the core made of one Inbound, for the adapter to render."""

    replies: list[Reply] = field(default_factory=list)
    exit: bool = False
    user_id: str | None = None  # None for a visitor (no row yet: bot/core.py)
    outgoing: list[Outgoing] = field(default_factory=list)
    # A visitor's quick exit: the ids of her chat's messages, kept in her session, to delete.
    visitor_refs: list[str] = field(default_factory=list)
    # Her message (a code word, a /redeem code) must not stay on her screen: a channel that can
    # delete deletes inbound.message_ref at once and never records it as a ref to delete later.
    erase_inbound: bool = False
