"""Broadcast pacing: a broadcast to 10,000 Telegram women while the fake Bot API (its own process)
refuses anything over a known rate with 429, as Telegram does, and other women keep writing.

Figures: the rate achieved (every message the server accepted while the broadcast ran: the
broadcast's and the answers', which share the limit as they do on Telegram, over the time from
the start of the broadcast to its end) as a share of the enforced rate; whether anybody got it twice or not at all; the 429s met; and how
long a woman who writes during the broadcast waits for her answer (p50/p99, measured on the fake
server from her message being queued to the answer arriving). The bot's own pace is set to the
enforced rate (in production, Telegram's limit of about 30 a second), so the share says how much
of the allowed rate the bot uses while answers go first. Sends are one at a time by design (one
message in doubt after a crash, docs/ARCHITECTURE.md): the rate is set where a small machine
keeps up with that, 50 a second, so 10,000 women take about 3 minutes 20 seconds here.
"""
from __future__ import annotations

import asyncio
import secrets
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

import aiohttp

from bench.telegram_throughput import TOKEN, _free_port, fake_server

RATE = 50.0  # messages per second the fake accepts
RECIPIENTS = 10_000
PROBE_EVERY = 0.2  # seconds between two women writing during the broadcast
RUN_LIMIT = 600.0


@dataclass
class Pacing:
    recipients: int
    enforced_rate: float
    seconds: float | None
    achieved_rate: float | None
    twice: int
    missed: int
    too_many: int
    answers: int
    answer_p50_ms: float | None
    answer_p99_ms: float | None


async def _stats(http: aiohttp.ClientSession, root: str, detail: bool = False) -> dict:
    url = root + "/control/stats" + ("?detail=1" if detail else "")
    async with http.get(url) as resp:
        return (await resp.json())["result"]


def _p(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _seed(rt: object, recipients: int) -> tuple[int, list[int]]:
    from sqlalchemy import insert

    from db.models import Broadcast, BroadcastStatus, Organisation, OrganisationRegion, User

    chats = [2_000_000 + i for i in range(recipients)]
    today = date.today()
    rows = [dict(id=secrets.token_hex(16), channel="telegram",
                 address_enc=rt.vault.encrypt("telegram", str(c)),  # type: ignore[attr-defined]
                 lookup_hash=rt.vault.lookup_hash("telegram", str(c)),  # type: ignore[attr-defined]
                 language="en", region_code="milan", role="participant", topics=["trainings"],
                 discreet=True, onboarded=True, counted=True, active=True, vanish_minutes=0,
                 last_active_on=today, created_on=today) for c in chats]
    async with rt.sessionmaker() as db, db.begin():  # type: ignore[attr-defined]
        org = Organisation(slug="bench", name="Bench centre")
        db.add(org)
        await db.flush()
        db.add(OrganisationRegion(org_id=org.id, region_code="milan"))
        for start in range(0, len(rows), 1000):
            await db.execute(insert(User), rows[start:start + 1000])
        broadcast = Broadcast(org_id=org.id, audience="participants", region_code="milan",
                              topic="trainings", texts={"en": "Training on Monday at 10:00"},
                              base_language="en", status=BroadcastStatus.SCHEDULED,
                              scheduled_at=datetime.now(UTC))
        db.add(broadcast)
        await db.flush()
        return broadcast.id, chats


async def run(recipients: int = RECIPIENTS, rate: float = RATE) -> Pacing:
    from aiohttp import web
    from sqlalchemy import select

    from bot.app import ADAPTERS, RUNTIME, create_app
    from bot.channels.telegram.adapter import Pacer
    from bot.core.settings import Settings
    from bot.services.broadcasting import Broadcaster
    from db.models import Broadcast, BroadcastStatus

    async with fake_server(rate) as root, aiohttp.ClientSession() as http:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp}/bench.db",
                                telegram_token=TOKEN, telegram_api_base_url=root + "/bot",
                                data_key=secrets.token_bytes(32), demo_data="off",
                                scheduler_enabled=False, log_level="WARNING")
            app = create_app(settings, serving=True)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", _free_port()).start()
            try:
                rt = app[RUNTIME]
                sender = app[ADAPTERS]["telegram"].sender
                sender.pacer = Pacer(per_second=int(rate))
                broadcast_id, chats = await _seed(rt, recipients)
                broadcaster = Broadcaster.for_runtime(rt, rates={"telegram": rate})

                async def finished() -> bool:
                    async with rt.sessionmaker() as db:
                        status = (await db.execute(select(Broadcast.status).where(
                            Broadcast.id == broadcast_id))).scalar_one()
                    return status == BroadcastStatus.DONE

                async def send_all() -> None:
                    while not await finished():
                        await broadcaster.run_due()
                        await asyncio.sleep(0.05)

                probes: list[int] = []

                async def women_writing() -> None:
                    probe = 9_000_000
                    while True:
                        probe += 1
                        probes.append(probe)
                        async with http.post(root + "/control/say",
                                             json=[[probe, "/start"]]) as resp:
                            assert resp.status == 200
                        await asyncio.sleep(PROBE_EVERY)

                before = (await _stats(http, root))["sent"]
                start = time.perf_counter()
                writing = asyncio.create_task(women_writing())
                try:
                    await asyncio.wait_for(send_all(), RUN_LIMIT)
                    seconds: float | None = time.perf_counter() - start
                except TimeoutError:
                    seconds = None
                finally:
                    writing.cancel()
                accepted = (await _stats(http, root))["sent"] - before
                await asyncio.sleep(1.0)  # the last answers arrive
                stats = await _stats(http, root, detail=True)
            finally:
                await runner.cleanup()
    per_chat = {int(k): v for k, v in stats["sent_per_chat"].items()}
    got = [per_chat.get(c, 0) for c in chats]
    answers = stats["answer_seconds"]
    return Pacing(recipients=recipients, enforced_rate=rate, seconds=seconds,
                  achieved_rate=accepted / seconds if seconds else None,
                  twice=sum(1 for n in got if n > 1), missed=sum(1 for n in got if n == 0),
                  too_many=int(stats["too_many"]), answers=len(answers),
                  answer_p50_ms=statistics.median(answers) * 1000 if answers else None,
                  answer_p99_ms=_p(answers, 0.99))


async def main(quick: bool = False) -> Pacing:
    recipients = 2_000 if quick else RECIPIENTS
    print(f"Broadcast pacing: {recipients:,} recipients, the fake Bot API enforcing "
          f"{RATE:.0f} messages/s", flush=True)
    result = await run(recipients)
    share = (f"{result.achieved_rate:,.0f}/s = {result.achieved_rate / RATE:.0%} of the rate"
             if result.achieved_rate else "did not finish")
    print(f"  {share}; twice {result.twice}, missed {result.missed}, 429s {result.too_many}; "
          f"answers during it: {result.answers}, p99 {result.answer_p99_ms or 0:.0f} ms",
          flush=True)
    return result
