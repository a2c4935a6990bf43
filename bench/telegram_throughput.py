"""Telegram throughput, the fake Bot API in its own process: first contact (1,000 chats that never
wrote before each send /start at once) and menu taps (2,000 updates from 200 chats).

What is measured is the whole bot as it runs in production (python-telegram-bot Application with
our aiohttp request and per-chat processor, the core, one database transaction per update, the
message refs written for quick exit), from the moment the updates are waiting on the server until
the last answer has arrived there. Start-up (migrations) is not counted. Each update gets exactly
one sendMessage, so "done" is 2,000 messages received by the fake server.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.aiogram_echo import aiogram_installed, run_aiogram_echo

TOKEN = "123456:BENCH-token"
CHATS = 200
PER_CHAT = 10
FIRST_CONTACTS = 1000
RUN_LIMIT = 120.0  # seconds; a run that takes longer is reported as failed, not waited for

REPO_ROOT = Path(__file__).resolve().parent.parent
AIOGRAM = "aiogram 3 (bare echo)"
NOT_INSTALLED = "not installed (pip install aiogram)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Scenario:
    name: str
    updates: list[list[object]] = field(hash=False)  # [chat_id, text], in the order they arrive

    @property
    def expected(self) -> int:
        return len(self.updates)  # each update gets exactly one sendMessage


def menu_taps(chats: int = CHATS, per_chat: int = PER_CHAT) -> Scenario:
    updates: list[list[object]] = []
    for i in range(per_chat):  # round-robin over chats, as real traffic interleaves
        for chat in range(chats):
            updates.append([1000 + chat, "/start" if i == 0 else f"hello {i}"])
    return Scenario("menu taps", updates)


def first_contact(chats: int = FIRST_CONTACTS) -> Scenario:
    return Scenario("first contact", [[500_000 + chat, "/start"] for chat in range(chats)])


# The scenario being run (the echo bots and the whole bot all read it); set by run_scenario.
CURRENT: list[Scenario] = []


def current() -> Scenario:
    return CURRENT[-1] if CURRENT else menu_taps()


@dataclass
class Result:
    name: str
    updates: int
    seconds: float | None
    note: str = ""  # why there is no figure, when it is not a run that failed to finish
    scenario: str = "menu taps"

    @property
    def rate(self) -> float | None:
        return self.updates / self.seconds if self.seconds else None


@asynccontextmanager
async def fake_server(rate: float = 0.0) -> AsyncIterator[str]:
    """The fake Bot API in its own process, so it does not share our event loop or GIL; with
    `rate`, it refuses (429) messages beyond that many per second, as Telegram does."""
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fake_bot_api", "--port", str(port), "--token", TOKEN,
        "--rate", str(rate), cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 20
        while not _port_open(port):
            if proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError("the fake Bot API did not start")
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _stats(http: aiohttp.ClientSession, root: str) -> dict[str, int]:
    async with http.get(root + "/control/stats") as resp:
        return (await resp.json())["result"]


async def _measure(root: str, expected: int | None = None) -> float | None:
    """Queue the scenario's updates, then time until every answer reached the server."""
    scenario = current()
    updates = scenario.updates
    expected = scenario.expected
    async with aiohttp.ClientSession() as http:
        base = (await _stats(http, root))["sent"]
        start = time.perf_counter()
        async with http.post(root + "/control/say", json=updates) as resp:
            assert resp.status == 200
        deadline = start + RUN_LIMIT
        while True:
            sent = (await _stats(http, root))["sent"] - base
            if sent >= expected:
                return time.perf_counter() - start
            if time.perf_counter() > deadline:
                return None
            await asyncio.sleep(0.005)


async def run_whole_bot(root: str, database_url: str) -> float | None:
    from aiohttp import web

    from bot.app import create_app
    from bot.core.settings import Settings

    settings = Settings(database_url=database_url, telegram_token=TOKEN,
                        telegram_api_base_url=root + "/bot", data_key=secrets.token_bytes(32),
                        demo_data="off", scheduler_enabled=False, log_level="WARNING")
    runner = web.AppRunner(create_app(settings, serving=True), access_log=None)
    await runner.setup()  # runs the lifecycle: database, core, Telegram polling
    await web.TCPSite(runner, "127.0.0.1", _free_port()).start()
    try:
        return await _measure(root)
    finally:
        await runner.cleanup()


async def run_bare_echo(root: str) -> float | None:
    """Our transport and update processor with an echo handler: what the framework costs."""
    from telegram import Update
    from telegram.ext import Application, ContextTypes, MessageHandler, filters

    from bot.channels.telegram.request import AiohttpRequest, make_session
    from bot.channels.telegram.updates import PerChatUpdateProcessor

    session = make_session()

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await context.bot.send_message(update.message.chat.id, update.message.text or "")

    app = (Application.builder().token(TOKEN).base_url(root + "/bot")
           .request(AiohttpRequest(session=session))
           .get_updates_request(AiohttpRequest(session=session))
           .concurrent_updates(PerChatUpdateProcessor(512)).job_queue(None).build())
    app.add_handler(MessageHandler(filters.TEXT, echo))
    await app.initialize()
    assert app.updater is not None
    await app.updater.start_polling(timeout=10)
    await app.start()
    try:
        return await _measure(root)
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        await session.close()


async def run_bare_ptb_default(root: str) -> float | None:
    """python-telegram-bot as its documentation sets it up: HTTPXRequest, updates one by one."""
    from telegram import Update
    from telegram.ext import Application, ContextTypes, MessageHandler, filters

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await context.bot.send_message(update.message.chat.id, update.message.text or "")

    app = (Application.builder().token(TOKEN).base_url(root + "/bot").job_queue(None).build())
    app.add_handler(MessageHandler(filters.TEXT, echo))
    await app.initialize()
    assert app.updater is not None
    await app.updater.start_polling(timeout=10)
    await app.start()
    try:
        return await _measure(root)
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


async def _postgres_url() -> str | None:
    """A fresh PostgreSQL database when the server is there (dropped afterwards)."""
    if not _port_open(5432):
        return None
    import asyncpg

    name = f"wego_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def _drop_postgres(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _one(name: str, run: Callable[[str], Awaitable[float | None]]) -> Result:
    # A fresh fake server per run, so one run's leftovers cannot help or hurt the next.
    scenario = current()
    async with fake_server() as root:
        seconds = await run(root)
    result = Result(name, scenario.expected, seconds, scenario=scenario.name)
    rate = f"{result.rate:,.0f} updates/s" if result.rate else "did not finish"
    print(f"  [{scenario.name}] {name}: {rate}", flush=True)
    return result


AIOGRAM_NAME = AIOGRAM
PTB_DEFAULT = "python-telegram-bot default (bare echo)"
PTB_OURS = "PTB + our aiohttp request + per-chat processor (bare echo)"
WHOLE_SQLITE = "WE GO! bot, whole (SQLite)"
WHOLE_POSTGRES = "WE GO! bot, whole (PostgreSQL)"


async def run_scenario(scenario: Scenario) -> list[Result]:
    CURRENT.append(scenario)
    try:
        results: list[Result] = []
        if aiogram_installed():
            results.append(await _one(AIOGRAM, run_aiogram_echo))
        else:
            results.append(Result(AIOGRAM, scenario.expected, None, NOT_INSTALLED,
                                  scenario.name))
            print(f"  [{scenario.name}] {AIOGRAM}: {NOT_INSTALLED}", flush=True)
        results.append(await _one(PTB_DEFAULT, run_bare_ptb_default))
        results.append(await _one(PTB_OURS, run_bare_echo))
        with tempfile.TemporaryDirectory() as tmp:
            results.append(await _one(
                WHOLE_SQLITE,
                lambda root: run_whole_bot(root, f"sqlite+aiosqlite:///{tmp}/bench.db")))
        pg = await _postgres_url()
        if pg is not None:
            try:
                results.append(await _one(WHOLE_POSTGRES, lambda root: run_whole_bot(root, pg)))
            finally:
                await _drop_postgres(pg)
        else:
            results.append(Result(WHOLE_POSTGRES, scenario.expected, None,
                                  "PostgreSQL not reachable", scenario.name))
        return results
    finally:
        CURRENT.pop()


async def main(quick: bool = False) -> list[Result]:
    print(f"Telegram throughput: fake Bot API in its own process, {os.cpu_count()} CPU(s)",
          flush=True)
    results = await run_scenario(first_contact(200 if quick else FIRST_CONTACTS))
    results += await run_scenario(menu_taps(50 if quick else CHATS, PER_CHAT))
    return results
