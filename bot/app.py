"""The one aiohttp server: web chat and webhooks. Resources open and close in its cleanup context."""
from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime

from aiohttp import web
from aiohttp_remotes import XForwardedStrict

from bot.channels import telegram, viber, webchat
from bot.core.channels import ChannelAdapter
from bot.core.sessions import SessionStore
from bot.core.settings import Settings
from bot.demo import codes_text, demo_codes
from bot.httpguard import install_log_filter, unexpected_errors
from bot.runtime import Runtime, open_runtime
from bot.scheduler import Scheduler

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
RUNTIME = web.AppKey("runtime", Runtime)
ADAPTERS = web.AppKey("adapters", dict[str, ChannelAdapter])
SCHEDULER = web.AppKey("scheduler", Scheduler)

ChannelFactory = Callable[[Settings], ChannelAdapter | None]
# Every channel, one line each: a factory that returns its adapter, or None when it is off.
CHANNELS: tuple[ChannelFactory, ...] = (
    webchat.from_settings,
    telegram.from_settings,
    viber.from_settings,
)


def channel_health(app: web.Application) -> dict[str, dict[str, object]]:
    """Each channel's state, as the channel itself reports it (never a person's data)."""
    settings = app[SETTINGS]
    channels: dict[str, dict[str, object]] = {
        "webchat": {"configured": settings.webchat_enabled},
        "telegram": {"configured": bool(settings.telegram_token)},
        "viber": {"configured": bool(settings.viber_token)},
    }
    for name, adapter in app[ADAPTERS].items():
        channels[name] = adapter.health()
    return channels


async def health(request: web.Request) -> web.Response:
    """GET /healthz for the proxy and `python -m bot status`: no user data, no addresses."""
    channels = channel_health(request.app)
    running = RUNTIME in request.app
    ok = running and all(state.get("healthy", True) for state in channels.values()
                         if state.get("configured"))
    return web.json_response({"ok": ok, "running": running, "channels": channels})


def create_app(settings: Settings, *, clock: Callable[[], datetime] | None = None,
               store: SessionStore | None = None, with_scheduler: bool | None = None,
               serving: bool = False, exit_url: str | None = None,
               channels: Sequence[ChannelFactory] = CHANNELS) -> web.Application:
    """The app. `serving` is for a long-running server (the CLI's run, the benchmark): it tunes
    the garbage collector once start-up is done, which a test process must not have.
    `exit_url` is where the web chat page goes on a quick exit (tests point it home)."""
    if exit_url is not None:
        page_exit = exit_url
        channels = [(lambda s: webchat.from_settings(s, page_exit))
                    if factory is webchat.from_settings else factory for factory in channels]
    install_log_filter()
    app = web.Application(client_max_size=64 * 1024, middlewares=[unexpected_errors])
    if settings.trusted_proxies:
        # Behind the configured reverse proxy, request.remote becomes the client it names in
        # X-Forwarded-For; a request from anywhere else, or with a forged extra hop, is refused.
        # (XForwardedStrict.setup() only appends this middleware, but it is a coroutine.)
        forwarded = XForwardedStrict([list(settings.trusted_proxies)], white_paths=["/healthz"])
        app.middlewares.append(forwarded.middleware)
    app[SETTINGS] = settings
    adapters = [adapter for factory in channels if (adapter := factory(settings)) is not None]
    app[ADAPTERS] = {adapter.name: adapter for adapter in adapters}
    app.router.add_get("/healthz", health)
    for adapter in adapters:
        app.add_routes(adapter.routes())  # routes exist before start-up; they answer 503 till then
    run_scheduler = settings.scheduler_enabled if with_scheduler is None else with_scheduler

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async with open_runtime(settings, clock=clock, store=store) as runtime:
            app[RUNTIME] = runtime
            if runtime.demo_seeded:
                log.info("demo data created (organisation 'demo')")
                if serving:
                    # `make run`: the codes to see both sides, on stdout only (never a log).
                    async with runtime.sessionmaker() as db, db.begin():
                        staff, member = await demo_codes(db, runtime.now(),
                                                         settings.invite_ttl_hours)
                    print(codes_text(staff, member, settings.invite_ttl_hours), flush=True)
            started: list[ChannelAdapter] = []
            scheduler = Scheduler(runtime)
            app[SCHEDULER] = scheduler
            try:
                for adapter in adapters:
                    await adapter.start(runtime)
                    started.append(adapter)
                if run_scheduler:
                    await scheduler.start()
                yield
            finally:
                await scheduler.stop()  # already stopped on shutdown; here if start-up failed
                for adapter in reversed(started):
                    await adapter.stop()

    async def stop_scheduler(app: web.Application) -> None:
        # on_shutdown runs before any cleanup context: no job may send through a channel that
        # is about to close.
        scheduler = app.get(SCHEDULER)
        if scheduler is not None:
            await scheduler.stop()

    app.on_shutdown.append(stop_scheduler)
    app.cleanup_ctx.append(lifecycle)
    if serving:
        app.on_startup.append(tune_gc_for_serving)  # after every start-up step above
    return app


# Each update allocates a few hundred short-lived container objects (python-telegram-bot's Update
# and Message, the ORM row, the screen), so the default threshold of 700 ran a young-generation
# collection every couple of updates, and the older generations rescanned everything loaded at
# start-up (modules, mappers, catalogs). Measured: about a fifth of the bot's CPU per update.
GC_YOUNG_THRESHOLD = 10_000


async def tune_gc_for_serving(app: web.Application) -> None:
    tune_gc()


def tune_gc() -> None:
    """Once start-up is done: freeze what start-up loaded out of the collector's scans, and
    collect the young generation less often. Process-wide: the bot process is a server (and the
    core latency benchmark, which measures the core as the server runs it)."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    if young < GC_YOUNG_THRESHOLD:
        gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
