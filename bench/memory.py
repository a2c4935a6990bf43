"""Memory per session: resident memory of a fresh process with the bot's runtime (SQLite, the
in-memory session store), before and after 10,000 women are each in the middle of a conversation.

Run in its own process (`python -m bench.memory`) so that nothing else this run allocated counts.
Each session is a visitor on the language screen (first contact), the most common kind under a
flood; the figure is (resident after - resident before) / sessions.
"""
from __future__ import annotations

import asyncio
import gc
import json
import secrets
import sys
import tempfile

from bot.core.types import Channel, Inbound


def resident_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def measure(sessions: int) -> dict[str, float]:
    from bot.core.settings import Settings
    from bot.runtime import open_runtime

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp}/memory.db",
                            data_key=secrets.token_bytes(32), demo_data="off",
                            scheduler_enabled=False, log_level="WARNING")
        async with open_runtime(settings) as rt:
            for i in range(500):  # warm-up: caches, pool, statements; then the idle baseline
                await rt.core.handle(Inbound(Channel.WEBCHAT, f"warm-{i}", text="/start"))
            await rt.store.drop("x")
            for i in range(500):
                await rt.store.drop(rt.vault.lookup_hash(Channel.WEBCHAT, f"warm-{i}"))
            gc.collect()
            idle = resident_bytes()
            for start in range(0, sessions, 200):
                await asyncio.gather(*(rt.core.handle(
                    Inbound(Channel.WEBCHAT, f"s-{i}", text="/start"))
                    for i in range(start, min(start + 200, sessions))))
            gc.collect()
            busy = resident_bytes()
            kept = len(rt.store)  # type: ignore[arg-type]
    return {"sessions": kept, "idle_bytes": idle, "busy_bytes": busy,
            "bytes_per_session": (busy - idle) / max(1, kept)}


def main() -> None:
    sessions = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    print(json.dumps(asyncio.run(measure(sessions))))


if __name__ == "__main__":
    main()
