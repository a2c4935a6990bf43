"""Telegram throughput, the fake Bot API in its own process (and on its own core): first contact
(1,000 chats that never wrote before each send /start at once) and menu taps (200 chats: /start,
then nine taps on the buttons of the screen each has), three rounds, medians compared.

What is measured is the whole bot as it runs in production (python-telegram-bot Application with
our aiohttp request and per-chat processor, the core, one database transaction per update, the
message refs written for quick exit), from the moment the updates are waiting on the server until
the last answer has arrived there. Start-up (migrations) is not counted. Each update gets exactly
one answer: /start a new message (sendMessage), a tap the screen edited in place
(editMessageText; the echo bots edit in the tapped data). "Done" is as many answers received by
the fake server as updates were queued; a bot that answers an update more than once (two
messages for one update) is reported as a failed run, not as a faster one.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.aiogram_echo import aiogram_installed, run_aiogram_echo

TOKEN = "123456:BENCH-token"
CHATS = 200
PER_CHAT = 10
FIRST_CONTACTS = 1000
RUN_LIMIT = 120.0  # seconds; a run that takes longer is reported as failed, not waited for
# Each scenario is run this many times, every bot once per round, in turn; the summary compares
# the medians. One run of a second or two moves by a tenth or more on this machine (the kernel's
# scheduling): a single pair of runs could call a bot faster or slower than it is.
ROUNDS = 3

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
        return len(self.updates)  # each update gets exactly one answer (sent or edited)


# What she taps after /start, each a button of the screen she has: her language, then in turn
# the safety advice and back to the notice. Each tap is answered by editing the screen in place
# (one editMessageText, as a real tap is). tests/test_user_loader.py presses the same buttons.
FIRST_TAP = "lang:en"
TAPS = ("help:safety", "menu")


def menu_taps(chats: int = CHATS, per_chat: int = PER_CHAT) -> Scenario:
    updates: list[list[object]] = []
    for i in range(per_chat):  # round-robin over chats, as real traffic interleaves
        for chat in range(chats):
            if i == 0:
                updates.append([1000 + chat, "/start"])
            else:
                tap = FIRST_TAP if i == 1 else TAPS[(i - 2) % len(TAPS)]
                updates.append([1000 + chat, tap, "tap"])
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
    round: int = 1

    @property
    def rate(self) -> float | None:
        return self.updates / self.seconds if self.seconds else None


@contextmanager
def _own_cores(server_pid: int) -> Iterator[None]:
    """With two CPUs or more (Linux), the fake server on one and the bot being measured (this
    process, its threads included) on another, for as long as the server runs. Left to the
    kernel, the two processes trade places between the cores from one run to the next, and a
    bot's figure swung by a sixth with where they happened to land; every bot is measured the
    same way. Elsewhere, nothing changes."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        yield
        return
    os.sched_setaffinity(server_pid, {allowed[1]})
    os.sched_setaffinity(0, {allowed[0]})
    try:
        yield
    finally:
        os.sched_setaffinity(0, set(allowed))


@asynccontextmanager
async def fake_server(rate: float = 0.0) -> AsyncIterator[str]:
    """The fake Bot API in its own process, so it does not share our event loop or GIL; with
    `rate`, it refuses (429) messages beyond that many per second, as Telegram does."""
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fake_bot_api", "--port", str(port), "--token", TOKEN,
        "--rate", str(rate), cwd=REPO_ROOT)
    with _own_cores(proc.pid):
        async with _serving(proc, port) as root:
            yield root


@asynccontextmanager
async def _serving(proc: asyncio.subprocess.Process, port: int) -> AsyncIterator[str]:
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


class WrongAnswers(Exception):
    """The bot did not answer each update exactly once: its rate would mean nothing."""


# After the last answer, how long to watch for answers beyond one per update.
SETTLE_SECONDS = 0.3


def _answers(stats: dict[str, int]) -> int:
    return stats["sent"] + stats["edits"]


async def _measure(root: str) -> float | None:
    """Queue the scenario's updates, then time until every answer reached the server."""
    scenario = current()
    expected = scenario.expected
    async with aiohttp.ClientSession() as http:
        base = _answers(await _stats(http, root))
        start = time.perf_counter()
        async with http.post(root + "/control/say", json=scenario.updates) as resp:
            assert resp.status == 200
        deadline = start + RUN_LIMIT
        while True:
            answered = _answers(await _stats(http, root)) - base
            if answered >= expected:
                seconds = time.perf_counter() - start
                break
            if time.perf_counter() > deadline:
                return None
            await asyncio.sleep(0.005)
        await asyncio.sleep(SETTLE_SECONDS)
        answered = _answers(await _stats(http, root)) - base
    if answered != expected:
        raise WrongAnswers(f"{answered:,} answers for {expected:,} updates")
    return seconds


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


def _add_ptb_echo(app: Any) -> None:
    """The echo bot's handlers: a typed message is sent back; a tap is answered and its data
    edited into the tapped message, as our bot edits the screen in place."""
    from telegram import Update
    from telegram.ext import CallbackQueryHandler, ContextTypes, MessageHandler, filters

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await context.bot.send_message(update.message.chat.id, update.message.text or "")

    async def tap(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer()
        await query.edit_message_text(f"{query.data} {query.id}")

    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.add_handler(CallbackQueryHandler(tap))


async def run_bare_echo(root: str) -> float | None:
    """Our transport and update processor with an echo handler: what the framework costs."""
    from telegram.ext import Application

    from bot.channels.telegram.request import AiohttpRequest, make_session
    from bot.channels.telegram.updates import PerChatUpdateProcessor

    session = make_session()

    app = (Application.builder().token(TOKEN).base_url(root + "/bot")
           .request(AiohttpRequest(session=session))
           .get_updates_request(AiohttpRequest(session=session))
           .concurrent_updates(PerChatUpdateProcessor(512)).job_queue(None).build())
    _add_ptb_echo(app)
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
    from telegram.ext import Application

    app = (Application.builder().token(TOKEN).base_url(root + "/bot").job_queue(None).build())
    _add_ptb_echo(app)
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


async def _one(name: str, run: Callable[[str], Awaitable[float | None]],
               round_: int = 1) -> Result:
    # A fresh fake server per run, so one run's leftovers cannot help or hurt the next.
    scenario = current()
    note = ""
    async with fake_server() as root:
        try:
            seconds = await run(root)
        except WrongAnswers as exc:
            seconds, note = None, str(exc)
    result = Result(name, scenario.expected, seconds, note, scenario=scenario.name,
                    round=round_)
    rate = f"{result.rate:,.0f} updates/s" if result.rate else (note or "did not finish")
    print(f"  [{scenario.name}, round {round_}] {name}: {rate}", flush=True)
    return result


AIOGRAM_NAME = AIOGRAM
PTB_DEFAULT = "python-telegram-bot default (bare echo)"
PTB_OURS = "PTB + our aiohttp request + per-chat processor (bare echo)"
WHOLE_SQLITE = "WE GO! bot, whole (SQLite)"
WHOLE_POSTGRES = "WE GO! bot, whole (PostgreSQL)"


async def run_scenario(scenario: Scenario, round_: int = 1) -> list[Result]:
    """Every bot once through the scenario. The whole bot starts on a new database each time:
    the first contacts are first contacts."""
    CURRENT.append(scenario)
    try:
        results: list[Result] = []
        if aiogram_installed():
            results.append(await _one(AIOGRAM, run_aiogram_echo, round_))
        else:
            results.append(Result(AIOGRAM, scenario.expected, None, NOT_INSTALLED,
                                  scenario.name, round_))
            print(f"  [{scenario.name}, round {round_}] {AIOGRAM}: {NOT_INSTALLED}",
                  flush=True)
        results.append(await _one(PTB_DEFAULT, run_bare_ptb_default, round_))
        results.append(await _one(PTB_OURS, run_bare_echo, round_))
        with tempfile.TemporaryDirectory() as tmp:
            results.append(await _one(
                WHOLE_SQLITE,
                lambda root: run_whole_bot(root, f"sqlite+aiosqlite:///{tmp}/bench.db"), round_))
        pg = await _postgres_url()
        if pg is not None:
            try:
                results.append(await _one(WHOLE_POSTGRES, lambda root: run_whole_bot(root, pg),
                                          round_))
            finally:
                await _drop_postgres(pg)
        else:
            results.append(Result(WHOLE_POSTGRES, scenario.expected, None,
                                  "PostgreSQL not reachable", scenario.name, round_))
        return results
    finally:
        CURRENT.pop()


def median_rate(results: list[Result], scenario: str, name: str) -> float | None:
    """The median over the rounds of one bot's rate; None when a round did not finish (a run
    that failed counts against the bot, it is not left out)."""
    runs = [r for r in results if r.scenario == scenario and r.name == name]
    if not runs or any(r.rate is None for r in runs):
        return None
    return statistics.median(r.rate for r in runs if r.rate is not None)


async def main(quick: bool = False) -> list[Result]:
    rounds = 1 if quick else ROUNDS
    print(f"Telegram throughput: fake Bot API in its own process, {os.cpu_count()} CPU(s), "
          f"{rounds} round(s)", flush=True)
    results: list[Result] = []
    for scenario in (first_contact(200 if quick else FIRST_CONTACTS),
                     menu_taps(50 if quick else CHATS, PER_CHAT)):
        for round_ in range(1, rounds + 1):
            results += await run_scenario(scenario, round_)
    return results
