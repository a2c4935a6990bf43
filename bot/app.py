"""The one aiohttp server: web chat and webhooks. Resources open and close in its cleanup context."""
from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from aiohttp import web
from aiohttp_remotes import XForwardedStrict

from bot.channels.webchat import WebChat, WebChatSender
from bot.httpguard import install_log_filter, unexpected_errors
from bot.runtime import Runtime, open_runtime
from bot.scheduler import Scheduler
from bot.sessions import SessionStore
from bot.settings import Settings

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
RUNTIME = web.AppKey("runtime", Runtime)
WEBCHAT = web.AppKey("webchat", WebChat)
SCHEDULER = web.AppKey("scheduler", Scheduler)
DEFAULT_EXIT_URL = "https://www.google.com/search?q=weather"


async def health(request: web.Request) -> web.Response:
    return web.json_response({"ok": RUNTIME in request.app})


def create_app(settings: Settings, *, clock: Callable[[], datetime] | None = None,
               store: SessionStore | None = None, with_scheduler: bool | None = None,
               exit_url: str = DEFAULT_EXIT_URL, serving: bool = False) -> web.Application:
    """The app. `serving` is for a long-running server (the CLI's run, the benchmark): it tunes
    the garbage collector once start-up is done, which a test process must not have."""
    install_log_filter()
    app = web.Application(client_max_size=64 * 1024, middlewares=[unexpected_errors])
    if settings.trusted_proxies:
        # Behind the configured reverse proxy, request.remote becomes the client it names in
        # X-Forwarded-For; a request from anywhere else, or with a forged extra hop, is refused.
        # (XForwardedStrict.setup() only appends this middleware, but it is a coroutine.)
        forwarded = XForwardedStrict([list(settings.trusted_proxies)], white_paths=["/healthz"])
        app.middlewares.append(forwarded.middleware)
    app[SETTINGS] = settings
    webchat = WebChat(WebChatSender(ttl_seconds=settings.session_ttl_seconds), exit_url)
    app[WEBCHAT] = webchat
    app.router.add_get("/healthz", health)
    if settings.webchat_enabled:
        app.add_routes(webchat.routes())
    run_scheduler = settings.scheduler_enabled if with_scheduler is None else with_scheduler

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async with open_runtime(settings, clock=clock, store=store) as runtime:
            app[RUNTIME] = runtime
            runtime.add_sender(webchat.sender)
            webchat.core = runtime.core
            if runtime.demo_seeded:
                log.info("demo data created (organisation 'demo')")
            scheduler = Scheduler(runtime)
            app[SCHEDULER] = scheduler
            if run_scheduler:
                await scheduler.start()
            try:
                yield
            finally:
                await scheduler.stop()  # already stopped on shutdown; here if start-up failed
                webchat.core = None

    async def stop_scheduler(app: web.Application) -> None:
        # on_shutdown runs before any cleanup context: no job may send through a channel that
        # the cleanups (Telegram's, Viber's) are about to close.
        scheduler = app.get(SCHEDULER)
        if scheduler is not None:
            await scheduler.stop()

    app.on_shutdown.append(stop_scheduler)

    app.cleanup_ctx.append(lifecycle)
    # Each channel adds its webhook routes and a cleanup context that runs inside the one above
    # (so app[RUNTIME] is open), and does nothing when its token is not set.
    from bot.channels import telegram, viber

    telegram.install(app, settings)
    viber.install(app, settings)
    if serving:
        app.on_startup.append(tune_gc_for_serving)  # after every start-up step above
    return app


# Each update allocates a few hundred short-lived container objects (python-telegram-bot's Update
# and Message, the ORM row, the screen), so the default threshold of 700 ran a young-generation
# collection every couple of updates, and the older generations rescanned everything loaded at
# start-up (modules, mappers, catalogs). Measured: about a fifth of the bot's CPU per update.
GC_YOUNG_THRESHOLD = 10_000


async def tune_gc_for_serving(app: web.Application) -> None:
    """Once start-up is done: freeze what start-up loaded out of the collector's scans, and
    collect the young generation less often. Process-wide: the bot process is a server."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    if young < GC_YOUNG_THRESHOLD:
        gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
