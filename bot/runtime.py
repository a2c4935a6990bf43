"""Everything the bot needs at run time, opened and closed in one place (the app's lifecycle, the
CLI, the tests). Nothing here is built at import time."""
from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.channels.telegram.capabilities import CAPABILITIES as TELEGRAM
from bot.channels.viber.adapter import CAPABILITIES as VIBER
from bot.channels.webchat.adapter import CAPABILITIES as WEBCHAT
from bot.core.channels import Capabilities, ChannelSender
from bot.core.context import Services
from bot.core.core import Core
from bot.core.crypto import AddressVault
from bot.core.held import HELD_TTL_SECONDS, HeldMessages
from bot.core.i18n import load_all
from bot.core.sessions import SessionStore, make_session_store
from bot.core.settings import Settings, SettingsError
from bot.core.types import Channel, Inbound, Outcome, Reply
from bot.demo import seed_demo
from bot.keycheck import refuse_weak, verify_data_key
from bot.services.alerts import tell_coordinators
from bot.services.delivery import Delivery, RefRecorder
from bot.services.retention import erase_ended_session
from bot.services.users import set_active_by_address
from db import queries
from db.engine import ensure_migrated, make_engine, make_session_factory, upgrade
from db.reference import seed_reference_data
from handlers.routes import (
    ADMITTING_ROUTES,
    EXIT,
    FALLBACK,
    LOCK,
    VISITOR_ROUTES,
    all_forms,
    all_routes,
)
from handlers.start import first_screen

log = logging.getLogger(__name__)


SEEN_TOKEN_KEEP = timedelta(days=7)  # platforms repeat a callback for hours at most
# What each channel can do, known even for channels not switched on here (a purge or a report
# may meet rows of any channel).
KNOWN_CHANNELS: dict[str, Capabilities] = {
    Channel.WEBCHAT.value: WEBCHAT, Channel.TELEGRAM.value: TELEGRAM, Channel.VIBER.value: VIBER}


@dataclass
class Runtime:
    """The open resources, and the ChannelHost that every channel adapter talks to."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    store: SessionStore
    vault: AddressVault
    services: Services
    delivery: Delivery
    core: Core
    refs: RefRecorder
    senders: dict[str, ChannelSender] = field(default_factory=dict)
    demo_seeded: bool = False
    # When this process opened (the bot's clock): the job that frees ended web chat sessions
    # waits one session lifetime after it (bot/services/retention.py).
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _erasing: set[asyncio.Task[None]] = field(default_factory=set)

    # -- ChannelHost -------------------------------------------------------------------------------
    async def handle(self, inbound: Inbound) -> Outcome:
        outcome = await self.core.handle(inbound)
        if outcome.exit and outcome.user_id is not None:
            capabilities = self.services.channels.get(inbound.channel)
            if capabilities is not None and not capabilities.addresses_outlive_sessions:
                # Her address was the session, which the exit ended: her row is of no use now.
                # Erased after the exit answer, never delaying or blocking it; if this fails,
                # the job for ended sessions erases her (her session is gone already).
                task = asyncio.create_task(self._erase_ended(outcome.user_id))
                self._erasing.add(task)
                task.add_done_callback(self._erasing.discard)
        return outcome

    async def _erase_ended(self, user_id: str) -> None:
        try:
            await erase_ended_session(self, user_id)
        except Exception as exc:  # noqa: BLE001 - the job retries it
            log.warning("erasing after a quick exit failed (%s); the job retries it",
                        type(exc).__name__)

    async def drain(self) -> None:
        """Wait for what runs after an answer: relays, erasing after a quick exit."""
        while self._erasing:
            await asyncio.gather(*list(self._erasing), return_exceptions=True)
        await self.core.drain()

    async def record_refs(self, channel: str, address: str, user_id: str | None,
                          refs: Sequence[str], *, after_exit: bool = False) -> None:
        if user_id is None:  # a visitor: no row to refer to, so her session keeps them
            await self.core.keep_visitor_refs(Inbound(Channel(channel), address), refs,
                                              after_exit=after_exit)
        else:
            self.refs.add(channel, user_id, address, refs)

    async def erase(self, channel: str, address: str, user_id: str | None,
                    refs: Sequence[str]) -> None:
        if user_id is not None:
            self.refs.add(channel, user_id, address, refs)
            await self.refs.flush()  # every id she may see must be in the table before erasing
            await self.delivery.erase_now(user_id)
        elif refs and channel in self.senders:
            # A visitor: no row, no refs table; her session kept the ids until this exit.
            await self.senders[channel].delete(address, refs)

    async def set_active(self, channel: str, address: str, active: bool) -> None:
        key = self.vault.lookup_hash(channel, address)
        changed = await set_active_by_address(self.sessionmaker, key, active)
        if changed and not active:
            await self.store.drop(key)
        if changed:
            log.info("%s user marked %s", channel, "active" if active else "inactive")

    async def first_sighting(self, channel: str, delivery_id: str) -> bool:
        token_hash = hashlib.sha256(f"{channel}\x00{delivery_id}".encode()).hexdigest()
        async with self.sessionmaker() as db, db.begin():
            return await queries.first_sighting(db, token_hash, self.services.clock(),
                                                SEEN_TOKEN_KEEP)

    def welcome(self, inbound: Inbound) -> Reply:
        return first_screen(self.services, inbound)

    async def tell_coordinators(self, build: Callable[[], Sequence[Reply]], *,
                                not_on_channel: str | None = None) -> int:
        return await tell_coordinators(self.sessionmaker, self.delivery, build,
                                       not_on_channel=not_on_channel)

    def now(self) -> datetime:
        return self.services.clock()

    def add_sender(self, sender: ChannelSender, capabilities: Capabilities | None = None) -> None:
        self.senders[sender.name] = sender
        if capabilities is not None:
            self.services.channels[sender.name] = capabilities

    def remove_sender(self, sender: ChannelSender) -> None:
        if self.senders.get(sender.name) is sender:
            del self.senders[sender.name]


async def prepare_database(settings: Settings, engine: AsyncEngine, *,
                           verify_key: bool = True) -> None:
    """Migrate (or refuse to start on an unmigrated database), refuse a key that does not match
    the data (bot/keycheck.py), then the reference data."""
    if verify_key:
        refuse_weak(settings.data_key)
    if settings.auto_migrate:
        await upgrade(settings.database_url)
    await ensure_migrated(engine)
    async with make_session_factory(engine)() as db, db.begin():
        if verify_key:
            await verify_data_key(db, settings.data_key)
        await seed_reference_data(db)


@asynccontextmanager
async def open_runtime(settings: Settings, *,
                       clock: Callable[[], datetime] | None = None,
                       store: SessionStore | None = None) -> AsyncIterator[Runtime]:
    if not settings.data_key:
        raise SettingsError("DATA_KEY is not set (see .env.example)")
    refuse_weak(settings.data_key)  # before anything is opened or created
    load_all()
    # hide_parameters: a failing statement's message must never carry what somebody typed.
    engine = make_engine(settings.database_url, hide_parameters=True)
    if store is None:  # (an empty store is falsy: it has __len__)
        store = make_session_store(settings.redis_url, settings.session_ttl_seconds)
    held = HeldMessages(make_session_store(settings.redis_url, HELD_TTL_SECONDS))
    try:
        await prepare_database(settings, engine)
        sessionmaker = make_session_factory(engine)
        vault = AddressVault.from_data_key(settings.data_key)
        services = Services(settings=settings, vault=vault,
                            clock=clock or (lambda: datetime.now(UTC)),
                            channels=dict(KNOWN_CHANNELS), held=held)
        senders: dict[str, ChannelSender] = {}
        delivery = Delivery(sessionmaker=sessionmaker, vault=vault, senders=senders,
                            clock=services.clock)
        core = Core(sessionmaker=sessionmaker, store=store, services=services,
                    routes=all_routes(), fallback=FALLBACK, exit_route=EXIT,
                    deliver=delivery.deliver, forms=all_forms(), visitor_routes=VISITOR_ROUTES,
                    admitting_routes=ADMITTING_ROUTES, lock_route=LOCK)
        refs = RefRecorder(sessionmaker, vault, services.clock)
        runtime = Runtime(settings=settings, engine=engine, sessionmaker=sessionmaker,
                          store=store, vault=vault, services=services, delivery=delivery,
                          core=core, refs=refs, senders=senders, started_at=services.clock())
        if settings.demo_data == "on" or (settings.demo_data == "auto"
                                          and not settings.has_channel_token):
            async with sessionmaker() as db, db.begin():
                runtime.demo_seeded = await seed_demo(db, vault, services.clock())
        yield runtime
        await runtime.drain()
        await refs.close()
    finally:
        await store.close()
        await held.close()
        await engine.dispose()
