"""Scale-out (docs/DEPLOY.md): two app instances, separate processes started as an operator starts
them (`python -m bot run` with the environment), on one PostgreSQL and one Redis.

- a conversation begun on one instance continues on the other (the session lives in Redis);
- exactly one instance runs the scheduled work (the leader lock, bot/scheduler.py), so reminders,
  broadcasts, vanishing deletions and purges run once, never twice; when the leader is killed the
  other takes the lock over (here within seconds: SCHEDULER_LEADER_RETRY_SECONDS=1; in production
  within a minute);
- SIGTERM under load stops an instance with no traceback in its log.
"""
from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import PG_ADMIN_DSN, _port_open, free_port, require_service

REPO = Path(__file__).resolve().parent.parent
LEADER = "scheduler started with"
FOLLOWER = "another worker runs the scheduled jobs"
TAKEOVER = "this worker now runs the scheduled jobs"


@dataclass
class Instance:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webchat/api/messages"

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def services() -> Iterator[tuple[str, str]]:
    require_service("PostgreSQL", _port_open("127.0.0.1", 5432))
    require_service("Redis", _port_open("127.0.0.1", 6379))
    import asyncpg

    name = f"wego_two_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", "redis://127.0.0.1:6379/13"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _env(database_url: str, redis_url: str, key: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "VIBER_"))}
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, DATA_KEY=key,
               HTTP_HOST="127.0.0.1", HTTP_PORT=str(port), DEMO_DATA="off",
               AUTO_MIGRATE="false", LOG_LEVEL="INFO", SCHEDULER_LEADER_RETRY_SECONDS="1",
               PYTHONUNBUFFERED="1")
    return env


def _launch(database_url: str, redis_url: str, folder: Path,
            names: tuple[str, ...] = ("a", "b"), *, key: str | None = None) -> list[Instance]:
    """Migrate once, then start both workers (what docs/DEPLOY.md tells an operator to do)."""
    key = key or base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    # Upgrades run once, before the workers start, never by two at once.
    migrate = subprocess.run([sys.executable, "-m", "bot", "migrate"], cwd=folder,
                             env={**_env(database_url, redis_url, key, free_port()),
                                  "PYTHONPATH": str(REPO)},
                             capture_output=True, timeout=120)
    assert migrate.returncode == 0, migrate.stderr.decode()[-2000:]
    instances: list[Instance] = []
    for name in names:
        port = free_port()
        log = folder / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=folder,
                                    env={**_env(database_url, redis_url, key, port),
                                         "PYTHONPATH": str(REPO)},
                                    stdout=out, stderr=subprocess.STDOUT)
        instances.append(Instance(name, port, proc, log))
    return instances


@pytest.fixture
async def pair(services: tuple[str, str], tmp_path: Path) -> AsyncIterator[list[Instance]]:
    instances = await asyncio.to_thread(_launch, *services, tmp_path)
    try:
        for instance in instances:
            await _until(lambda i=instance: _port_open("127.0.0.1", i.port), 60, instance)
        yield instances
    finally:
        for instance in instances:
            if instance.proc.poll() is None:
                instance.proc.kill()
                instance.proc.wait(10)


async def _until(check, within: float, instance: Instance | None = None) -> None:  # noqa: ANN001
    deadline = time.monotonic() + within
    while not check():
        if instance is not None and instance.proc.poll() is not None:
            pytest.fail(f"instance {instance.name} exited:\n{instance.text()[-3000:]}")
        if time.monotonic() > deadline:
            detail = instance.text()[-3000:] if instance is not None else ""
            pytest.fail(f"timed out waiting{' for ' + instance.name if instance else ''}\n{detail}")
        await asyncio.sleep(0.1)


async def _post(http: aiohttp.ClientSession, instance: Instance, session: str,
                **body: str) -> dict:
    async with http.post(instance.url, json={"session": session, **body}) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


def _actions(answer: dict) -> list[str]:
    return [b["action"] for r in answer["replies"] for row in r.get("buttons", []) for b in row]


async def test_two_instances_share_conversations_and_one_leader(pair: list[Instance]) -> None:
    a, b = pair
    session = secrets.token_hex(16)
    async with aiohttp.ClientSession() as http:
        # A conversation that hops between the instances at every step.
        assert any(x.startswith("lang:") for x in _actions(await _post(http, a, session,
                                                                       text="/start")))
        assert "safe:ok" in _actions(await _post(http, b, session, action="lang:en"))
        assert any(x.startswith("region:") for x in _actions(await _post(http, a, session,
                                                                         action="safe:ok")))
        menu = await _post(http, b, session, action="region:milan")
        assert "set" in _actions(menu), menu
        again = await _post(http, a, session, text="/menu")
        assert "set" in _actions(again)  # she is set up, whichever instance answers

    # Exactly one runs the scheduled work; the other waits for the lock.
    await _until(lambda: all(LEADER in i.text() or FOLLOWER in i.text() for i in pair), 60)
    leaders = [i for i in pair if LEADER in i.text()]
    assert len(leaders) == 1, [i.text()[-1500:] for i in pair]
    leader = leaders[0]
    follower = b if leader is a else a
    assert FOLLOWER in follower.text()
    await asyncio.sleep(3)  # several retries later, still only one
    assert LEADER not in follower.text()

    # The leader dies without a word (a crash, an OOM kill): the other takes the work over.
    leader.proc.send_signal(signal.SIGKILL)
    leader.proc.wait(10)
    await _until(lambda: TAKEOVER in follower.text(), 60, follower)
    assert follower.text().count(LEADER) == 1

    await _stop_under_load(follower)


async def _stop_under_load(instance: Instance) -> None:
    """SIGTERM with requests in flight: a clean stop, exit status 0, no traceback, no error."""
    async with aiohttp.ClientSession() as http:
        async def chat() -> None:
            me = secrets.token_hex(16)
            for step in ("/start", "/menu") * 10:
                try:
                    await _post(http, instance, me, text=step)
                except (aiohttp.ClientError, AssertionError):
                    return  # the server is going away: that is the point

        load = [asyncio.create_task(chat()) for _ in range(20)]
        await asyncio.sleep(0.3)
        instance.proc.send_signal(signal.SIGTERM)
        await asyncio.gather(*load)
    assert await asyncio.to_thread(instance.proc.wait, 30) == 0
    log = instance.text()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]


async def test_sigterm_under_load_on_sqlite_logs_no_traceback(tmp_path: Path) -> None:
    """One machine's shape: SQLite through aiosqlite, sessions in memory."""
    url = f"sqlite+aiosqlite:///{tmp_path}/one.db"
    (instance,) = await asyncio.to_thread(_launch, url, "", tmp_path, ("solo",))
    try:
        await _until(lambda: _port_open("127.0.0.1", instance.port), 60, instance)
        await _stop_under_load(instance)
    finally:
        if instance.proc.poll() is None:
            instance.proc.kill()
            instance.proc.wait(10)
