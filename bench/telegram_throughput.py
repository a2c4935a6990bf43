"""Telegram throughput: 2,000 updates from 200 chats, the fake Bot API in its own process.

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
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.aiogram_echo import aiogram_installed, run_aiogram_echo

TOKEN = "123456:BENCH-token"
CHATS = 200
PER_CHAT = 10
RUN_LIMIT = 120.0  # seconds; a run that takes longer is reported as failed, not waited for

# Measured in the issue on this kind of machine (bare echo bots, same fake-server set-up).
REFERENCE = [
    ("python-telegram-bot 22.8 default (sequential, HTTPXRequest)", 540),
    ("python-telegram-bot 22.8 concurrent_updates(True), HTTPXRequest", 170),
    ("aiogram 3 (bare echo)", 1030),
    ("PTB + aiohttp BaseRequest, sequential (bare echo)", 1360),
    ("PTB + aiohttp BaseRequest, concurrent (bare echo)", 2150),
]
REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET = 1030  # the aiogram figure, used when aiogram is not measured in this run
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


@dataclass
class Result:
    name: str
    updates: int
    seconds: float | None
    note: str = ""  # why there is no figure, when it is not a run that failed to finish

    @property
    def rate(self) -> float | None:
        return self.updates / self.seconds if self.seconds else None


@asynccontextmanager
async def fake_server() -> AsyncIterator[str]:
    """The fake Bot API in its own process, so it does not share our event loop or GIL."""
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fake_bot_api", "--port", str(port), "--token", TOKEN,
        cwd=REPO_ROOT)
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


async def _measure(root: str, expected: int) -> float | None:
    """Queue the updates, then time until `expected` messages reached the server."""
    updates = []
    for i in range(PER_CHAT):  # round-robin over chats, as real traffic interleaves
        for chat in range(CHATS):
            updates.append([1000 + chat, "/start" if i == 0 else f"hello {i}"])
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
        return await _measure(root, CHATS * PER_CHAT)
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
        return await _measure(root, CHATS * PER_CHAT)
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        await session.close()


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
    async with fake_server() as root:
        seconds = await run(root)
    result = Result(name, CHATS * PER_CHAT, seconds)
    rate = f"{result.rate:,.0f} updates/s" if result.rate else "did not finish"
    print(f"  {name}: {rate}", flush=True)
    return result


async def main() -> list[Result]:
    import logging

    logging.basicConfig(level=logging.WARNING)
    print(f"Telegram throughput: {CHATS * PER_CHAT:,} updates from {CHATS} chats, fake Bot API "
          f"in its own process, {os.cpu_count()} CPU(s)", flush=True)
    results: list[Result] = []
    if aiogram_installed():
        results.append(await _one(AIOGRAM, run_aiogram_echo))
    else:
        results.append(Result(AIOGRAM, CHATS * PER_CHAT, None, NOT_INSTALLED))
        print(f"  {AIOGRAM}: {NOT_INSTALLED}", flush=True)
    results.append(await _one("PTB + our aiohttp request + per-chat processor (bare echo)",
                              run_bare_echo))
    with tempfile.TemporaryDirectory() as tmp:
        results.append(await _one(
            "WE GO! bot, whole (SQLite)",
            lambda root: run_whole_bot(root, f"sqlite+aiosqlite:///{tmp}/bench.db")))
    pg = await _postgres_url()
    if pg is not None:
        try:
            results.append(await _one("WE GO! bot, whole (PostgreSQL)",
                                      lambda root: run_whole_bot(root, pg)))
        finally:
            await _drop_postgres(pg)
    print_table(results)
    return results


def print_table(results: list[Result]) -> None:
    rows = [(r.name, f"{r.rate:,.0f}" if r.rate else "n/a",
             r.note or ("measured now" if r.rate else "measured now, did not finish"))
            for r in results]
    rows += [(name, f"{rate:,}", "issue's figure") for name, rate in REFERENCE]
    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'bot':<{width}}  {'updates/s':>10}  source")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 14}")
    for name, rate, source in rows:
        print(f"{name:<{width}}  {rate:>10}  {source}")
    aiogram = next((r.rate for r in results if r.name == AIOGRAM and r.rate), None)
    target, source = (aiogram, "measured now") if aiogram else (TARGET, "the issue's figure")
    whole = [r for r in results if r.name.startswith("WE GO!") and r.rate]
    if whole:
        best = min(r.rate for r in whole if r.rate)
        verdict = "faster" if best > target else "NOT faster"
        print(f"\nThe whole bot (slowest database: {best:,.0f} updates/s) is {verdict} than a "
              f"bare aiogram bot ({target:,.0f} updates/s, {source}).")
