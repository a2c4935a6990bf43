"""Everything the bot needs at run time, opened and closed in one place (the app's lifecycle, the
CLI, the tests). Nothing here is built at import time."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.core import Core
from bot.crypto import AddressVault
from bot.delivery import ChannelSender, Delivery
from bot.held import HELD_TTL_SECONDS, HeldMessages
from bot.i18n import load_all
from bot.keycheck import refuse_weak, verify_data_key
from bot.sessions import SessionStore, make_session_store
from bot.settings import Settings, SettingsError
from db.demo import seed_demo
from db.engine import ensure_migrated, make_engine, make_session_factory, upgrade
from db.reference import seed_reference_data
from handlers.base import Services
from handlers.routes import EXIT, FALLBACK, all_routes

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    store: SessionStore
    vault: AddressVault
    services: Services
    delivery: Delivery
    core: Core
    senders: dict[str, ChannelSender] = field(default_factory=dict)
    demo_seeded: bool = False

    def add_sender(self, sender: ChannelSender) -> None:
        self.senders[sender.name] = sender


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
                            clock=clock or (lambda: datetime.now(UTC)), held=held)
        senders: dict[str, ChannelSender] = {}
        delivery = Delivery(sessionmaker=sessionmaker, vault=vault, senders=senders,
                            clock=services.clock)
        core = Core(sessionmaker=sessionmaker, store=store, services=services,
                    routes=all_routes(), fallback=FALLBACK, exit_route=EXIT,
                    deliver=delivery.deliver)
        runtime = Runtime(settings=settings, engine=engine, sessionmaker=sessionmaker,
                          store=store, vault=vault, services=services, delivery=delivery,
                          core=core, senders=senders)
        if settings.demo_data == "on" or (settings.demo_data == "auto"
                                          and not settings.has_channel_token):
            async with sessionmaker() as db, db.begin():
                runtime.demo_seeded = await seed_demo(db, vault, services.clock())
        yield runtime
        await core.drain()
    finally:
        await store.close()
        await held.close()
        await engine.dispose()
