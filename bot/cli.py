"""Command line: run, migrate, seed-demo (and the staff tools the other journeys add)."""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence

from bot.core.settings import Settings, SettingsError

log = logging.getLogger("bot")

Command = Callable[[argparse.Namespace, Settings], int]
_COMMANDS: dict[str, tuple[Command, Callable[[argparse.ArgumentParser], object], str]] = {}


def command(name: str, help_text: str,
            arguments: Callable[[argparse.ArgumentParser], object] = lambda p: None
            ) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        _COMMANDS[name] = (fn, arguments, help_text)
        return fn
    return register


@command("run", "serve the bot: web chat, and Telegram/Viber where a token is set")
def run(args: argparse.Namespace, settings: Settings) -> int:
    from aiohttp import web

    from bot.app import create_app

    app = create_app(settings, serving=True)
    if not settings.has_channel_token:
        print(f"No channel token set: serving the web chat with demo data at "
              f"http://{settings.http_host}:{settings.http_port}/webchat/ (Ctrl+C to stop)",
              flush=True)
    web.run_app(app, host=settings.http_host, port=settings.http_port, print=None,
                access_log=None)
    return 0


@command("migrate", "bring the database schema up to date")
def migrate(args: argparse.Namespace, settings: Settings) -> int:
    from db.engine import make_engine, upgrade

    async def go() -> None:
        from bot.runtime import prepare_database

        await upgrade(settings.database_url)
        engine = make_engine(settings.database_url)
        try:
            await prepare_database(settings, engine)
        finally:
            await engine.dispose()

    asyncio.run(go())
    print("The database is up to date.")
    return 0


@command("seed-demo", "create the demo organisation 'demo' with invented content")
def seed_demo_command(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from bot.core.crypto import AddressVault
    from bot.demo import codes_text, demo_codes, seed_demo
    from bot.runtime import prepare_database
    from db.engine import make_engine, make_session_factory

    async def go() -> tuple[bool, str, str]:
        engine = make_engine(settings.database_url)
        try:
            await prepare_database(settings, engine)
            async with make_session_factory(engine)() as db, db.begin():
                created = await seed_demo(db, AddressVault.from_data_key(settings.data_key))
                staff, member = await demo_codes(db, datetime.now(UTC),
                                                 settings.invite_ttl_hours)
                return created, staff, member
        finally:
            await engine.dispose()

    created, staff, member = asyncio.run(go())
    print("Demo data created (organisation 'demo')." if created
          else "Demo data was already there (organisation 'demo').")
    # stdout only, never a log: whoever reads these can act as the demo centre's caseworker.
    print(codes_text(staff, member, settings.invite_ttl_hours))
    return 0


@command("routes", "print the routing table and its states as a Mermaid diagram")
def routes_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.core.core import RoutingTable
    from handlers.routes import all_routes

    table = RoutingTable(all_routes())
    rows = table.rows()
    width = max(len(key) for key, _route in rows)
    print("Routing table (commands, then actions by prefix and verb, then typed text by state):")
    for key, route in rows:
        roles = ",".join(sorted(route.roles)) if route.roles else "anyone"
        lock = "  locked" if route.locked else ""  # behind her code word (the shared-phone lock)
        print(f"  {key:<{width}}  {route.handler.__module__}.{route.handler.__name__}  [{roles}]"
              f"{lock}")
    print()
    print(mermaid(rows))
    return 0


def _node(key: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in key).strip("_") or "root"


def mermaid(rows: Sequence[tuple[str, object]]) -> str:
    """A stateDiagram-v2 (like python-telegram-bot's conversationbot .mmd): each command, each
    action prefix with its verbs, and each state that reads typed text."""
    lines = ["```mermaid", "stateDiagram-v2"]
    prefixes: dict[str, list[str]] = {}
    for key, route in rows:
        name = getattr(getattr(route, "handler", None), "__name__", "?")
        if key.startswith("/"):
            lines.append(f"    [*] --> {_node(key)}: {key}")
            lines.append(f"    {_node(key)}: {key} ({name})")
        elif key.startswith("state "):
            state = key.removeprefix("state ")
            lines.append(f"    {_node(state)}: typed text in {state} ({name})")
            lines.append(f"    {_node(state)} --> {_node(state)}: text")
        else:
            head = key.split(":", 1)[0]
            prefixes.setdefault(head, []).append(f"{key} ({name})")
    for head, keys in prefixes.items():
        lines.append(f"    state \"{head}\" as p_{_node(head)} {{")
        lines += [f"        {_node(k.split(' ', 1)[0])}: {k}" for k in keys]
        lines.append("    }")
        lines.append(f"    menu --> p_{_node(head)}: {head}")
    lines.append("```")
    return "\n".join(lines)


@command("status", "show whether the running bot and each channel are registered and healthy",
         lambda p: p.add_argument("--url", help="the bot's /healthz (default: "
                                                "http://HTTP_HOST:HTTP_PORT/healthz)"))
def status(args: argparse.Namespace, settings: Settings) -> int:
    """Asks the running server (its /healthz) and, for Viber, Viber itself which webhook it
    has on file. Exit code 0 when everything configured is healthy, 1 otherwise."""
    from bot.status import report_status

    url = args.url or f"http://{settings.http_host}:{settings.http_port}/healthz"
    lines, healthy = asyncio.run(report_status(settings, url))
    print("\n".join(lines))
    return 0 if healthy else 1


def _load_extensions() -> None:
    """Commands defined by other modules register themselves on import."""
    import importlib

    for module in ("bot.staff_cli",):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def main(argv: Sequence[str] | None = None) -> int:
    _load_extensions()
    parser = argparse.ArgumentParser(prog="python -m bot", description="WE GO! bot")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_fn, arguments, help_text) in _COMMANDS.items():
        arguments(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(create_key=True)
    except SettingsError as exc:
        print(f"Configuration problem: {exc}", file=sys.stderr)
        return 2
    from bot.logs import setup_logging

    setup_logging(settings.log_level)
    fn = _COMMANDS[args.command][0]
    try:
        return fn(args, settings)
    except SettingsError as exc:
        print(f"Configuration problem: {exc}", file=sys.stderr)
        return 2
