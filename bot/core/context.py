"""What every handler gets (Ctx) and how it is registered (Route).

Handlers are `async def verb_noun(ctx) -> list[Reply]`. They never commit: the core owns the
transaction. They never trust a payload: ids are looked up and roles checked in the database.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.core.held import HELD_TTL_SECONDS, HeldMessages
from bot.core.sessions import MemorySessionStore
from bot.core.types import Inbound, Outgoing, Reply
from db.models import Role

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.core.channels import Capabilities
    from bot.core.crypto import AddressVault
    from bot.core.sessions import SessionData
    from bot.core.settings import Settings
    from db.models import User

Handler = Callable[["Ctx"], Awaitable[list[Reply]]]

MAX_TEXT_CHARS = 2000
ONE_STEP_KEY = "_confirm"
# The shared-phone lock (docs/ARCHITECTURE.md 2.11): once she typed her code word, the locked
# screens stay open this long after the last use of one of them. The moment they close is kept
# in her session under LOCK_KEY (the core keeps it out of the handlers' way); quick exit drops it.
LOCK_IDLE = timedelta(minutes=10)
LOCK_KEY = "_unlocked"


@dataclass(frozen=True)
class Services:
    settings: Settings
    vault: AddressVault
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # What each channel can do, by channel name: ask this, never the channel's name.
    channels: dict[str, Capabilities] = field(default_factory=dict)
    # Words that wait for a tap or for a caseworker: memory or Redis, never the database.
    held: HeldMessages = field(
        default_factory=lambda: HeldMessages(MemorySessionStore(HELD_TTL_SECONDS)))


class LazySession:
    """This update's database session, opened when something first asks for it: a screen that
    reads nothing (most of the start screens) costs no session, no connection and no commit."""

    def __init__(self, factory: Callable[[], AsyncSession] | None) -> None:
        self._factory = factory
        self.opened: AsyncSession | None = None

    def get(self) -> AsyncSession:
        if self.opened is None:
            if self._factory is None:
                raise RuntimeError("this screen is built without the database")
            self.opened = self._factory()
        return self.opened

    async def commit(self) -> None:
        if self.opened is not None:
            await self.opened.commit()

    async def close(self) -> None:
        """Closing without the commit rolls back."""
        if self.opened is not None:
            session, self.opened = self.opened, None
            await session.close()


@dataclass
class Ctx:
    inbound: Inbound
    database: LazySession
    user: User
    session: SessionData
    services: Services
    args: tuple[str, ...] = ()
    is_new_user: bool = False
    # No database row yet: she has not finished the start screens (bot/core.py). ctx.user is
    # then a transient User; nothing may refer to her id in the database.
    visitor: bool = False
    outgoing: list[Outgoing] = field(default_factory=list)
    exit_requested: bool = False
    # What the previous screen asked to confirm (`expect_next`); the core hands it to this update
    # only, so a confirmation counts solely on the very next step, never after other screens.
    confirming: str | None = None
    # Run by the core once this update's transaction has committed (e.g. the WAL checkpoint
    # after an erase); a failure there is logged and changes nothing the update did.
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Set by the core: run the route of another action in this same update (deep links, redirects).
    goto: Callable[[str], Awaitable[list[Reply]]] | None = None
    # The staff forms, by kind, as the journey modules declared them (handlers/routes.py).
    forms: Mapping[str, Form] = field(default_factory=dict)
    # The shared-phone lock: until when her locked screens are open (None: closed), and, when
    # the core showed the lock screen instead of a locked one, the action she was going to.
    unlocked_until: datetime | None = None
    locked_action: str | None = None
    # Set by erase_inbound(): the channel deletes the message she just sent.
    inbound_erased: bool = False

    @property
    def db(self) -> AsyncSession:
        """This update's one transaction (the core commits it; handlers never do)."""
        return self.database.get()

    @property
    def text(self) -> str:
        """What she typed, stripped; '' for a button press."""
        return (self.inbound.text or "").strip()

    def now(self) -> datetime:
        return self.services.clock()

    def send_to(self, user_id: str, build: Callable[[], Sequence[Reply]], *,
                notification: bool = True) -> None:
        """Queue replies for someone else, delivered only after the transaction commits.
        `build` runs later under the recipient's language: call _() inside it, not here."""
        self.outgoing.append(Outgoing(user_id, build, notification))

    def expect_next(self, what: str) -> None:
        """This screen asks to confirm `what`: only the next update sees it in `confirming`."""
        self.session.data[ONE_STEP_KEY] = what

    def erase_inbound(self) -> None:
        """Her message must not stay on screen (a code word, a /redeem code): the channel
        deletes it at once where it can, and never keeps its id."""
        self.inbound_erased = True

    def unlocked(self) -> bool:
        """Whether her locked screens are open now (always, without a code word)."""
        if not self.user.codeword_hash:
            return True
        return self.unlocked_until is not None and self.unlocked_until > self.now()

    def request_exit(self) -> None:
        self.exit_requested = True

    def arg_int(self, index: int) -> int | None:
        """A numeric id from the payload, or None when it is missing or forged."""
        try:
            raw = self.args[index]
        except IndexError:
            return None
        return int(raw) if raw.isdigit() and len(raw) <= 9 else None


@dataclass(frozen=True)
class Route:
    """One row of the routing table. Exactly one of command, prefix or state is set.

    - command: '/start' — matched on typed text (its first word).
    - prefix: 'job' — matched on actions 'job' and 'job:...'; args are the parts after it.
      With verb: 'show' — matched only on 'job:show[:...]'; a verb row wins over its prefix's
      plain row, so every button a journey shows can be its own row of the table. The args
      still start with the verb (`ctx.arg_int(1)` is the id in 'job:show:42').
    - state: a session state — matched on typed text while the session is in that state.
    roles: who may reach the handler; checked by the core against the database row.
    onboarded_only: a journey screen; someone who has not finished the start screens is taken
      back to them (a forged or early payload), by the core, before the handler runs.
    locked: a screen that would give her away to someone holding her unlocked phone (her
      places, requests, caseworker conversation, membership, settings: docs/ARCHITECTURE.md
      2.11); behind her code word when she set one.
    secret: what she types to this state or command is a secret (her code word, a /redeem
      code): the channel deletes or hides her message even when the update fails half-way
      (handlers also call ctx.erase_inbound()).
    """

    handler: Handler
    command: str | None = None
    prefix: str | None = None
    state: str | None = None
    roles: frozenset[Role] | None = None
    verb: str | None = None
    onboarded_only: bool = False
    locked: bool = False
    secret: bool = False

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.command, self.prefix, self.state)) != 1:
            raise ValueError("a route has exactly one of command, prefix or state")
        if self.verb is not None and self.prefix is None:
            raise ValueError("a verb belongs to a prefix route")


# -- step-by-step forms for staff (the engine that asks the steps is handlers/mod_forms.py) ----
Choices = Callable[["Ctx", dict[str, Any]], Awaitable[list[tuple[str, str]]]]
Check = Callable[[dict[str, Any], Any], str | None]


@dataclass(frozen=True)
class Field:
    key: str
    prompt: str  # an N_() msgid
    kind: str = "text"  # text | choice | bool | day (from today) | pastday | clock | int
    required: bool = True
    max_len: int = 120
    min_val: int = 0
    max_val: int = 1_000_000
    choices: Choices | None = None
    check: Check | None = None  # cross-field check: returns an error msgid or None


@dataclass(frozen=True)
class Form:
    kind: str
    title: str  # an N_() msgid
    fields: tuple[Field, ...]
    preview: Callable[[Ctx, dict[str, Any]], Awaitable[str]]
    publish: Callable[[Ctx, dict[str, Any]], Awaitable[list[Reply]]]
    home: str  # where cancel leads
