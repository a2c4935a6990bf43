"""Shared fixtures: a runtime on SQLite and on PostgreSQL, a chat driver, a real HTTP server.

Services (PostgreSQL, Redis, Chromium) are required when CI is set: a missing one fails the run
instead of skipping silently."""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.settings import Settings
from bot.runtime import Runtime, open_runtime
from tests.chat import ChatDriver

PG_ADMIN_DSN = os.environ.get("TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = bool(os.environ.get("CI"))
START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def require_service(name: str, available: bool) -> None:
    if available:
        return
    if IN_CI:
        pytest.fail(f"{name} is required in CI but is not reachable")
    pytest.skip(f"{name} not reachable (it is required when CI is set)")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _run_in_thread(factory) -> None:  # noqa: ANN001
    """Run a coroutine to the end in its own loop (a session fixture may start inside a loop)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(factory())).result()


class FakeClock:
    """The time the bot sees; tests move it forward."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """One migrated template database per test run; each test copies it (fast)."""
    import asyncpg  # noqa: F401 - fails early if the driver is missing

    require_service("PostgreSQL", _port_open("127.0.0.1", 5432))
    name = f"wego_tpl_{os.getpid()}"

    async def make() -> None:
        import asyncpg as apg

        conn = await apg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        from db.engine import upgrade

        await upgrade(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}")

    _run_in_thread(make)
    yield name

    async def drop() -> None:
        import asyncpg as apg

        conn = await apg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    _run_in_thread(drop)


# Journeys run on SQLite; what depends on the database itself (the engine, locking, upserts,
# migrations, crash recovery, the leader lock, scaling out) runs on both. A test module says so
# with `pytestmark = pytest.mark.both_databases` (or a test with the mark).
BOTH = ["sqlite", "postgresql"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_databases: run on SQLite and on PostgreSQL")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    if any(m.name == "parametrize" and "backend" in str(m.args[0])
           for m in metafunc.definition.iter_markers()):
        return  # the test chose its backends itself
    both = metafunc.definition.get_closest_marker("both_databases") is not None
    metafunc.parametrize("backend", BOTH if both else ["sqlite"])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per test run; each test gets a copy (Alembic runs once)."""
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def make() -> None:
        from db.engine import upgrade

        await upgrade(f"sqlite+aiosqlite:///{path}")

    _run_in_thread(make)
    return path


@pytest.fixture
async def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest
                       ) -> AsyncIterator[str]:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, tmp_path / "test.db")
        yield f"sqlite+aiosqlite:///{tmp_path}/test.db"
        return
    import asyncpg

    template = request.getfixturevalue("pg_template")
    name = f"wego_t_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _is_migrated_copy(database_url: str) -> bool:
    """The fixtures' databases are copies of migrated templates; a test's own new file is not."""
    if database_url.startswith("sqlite"):
        return Path(database_url.split("///", 1)[-1]).exists()
    return "/wego_t_" in database_url


def make_settings(database_url: str, **overrides: object) -> Settings:
    # The test databases are copies of migrated templates: no Alembic run per test (a test of
    # the migrations themselves turns auto_migrate on).
    values: dict[str, object] = dict(database_url=database_url, data_key=secrets.token_bytes(32),
                                     demo_data="off", scheduler_enabled=False,
                                     auto_migrate=not _is_migrated_copy(database_url))
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def rt(settings: Settings, clock: FakeClock) -> AsyncIterator[Runtime]:
    async with open_runtime(settings, clock=clock) as runtime:
        yield runtime


@pytest.fixture
async def demo_rt(database_url: str, clock: FakeClock) -> AsyncIterator[Runtime]:
    async with open_runtime(make_settings(database_url, demo_data="on"), clock=clock) as runtime:
        yield runtime


@pytest.fixture
def chat(rt: Runtime) -> ChatDriver:
    return ChatDriver(rt.core)


@pytest.fixture
def demo_chat(demo_rt: Runtime) -> ChatDriver:
    return ChatDriver(demo_rt.core)


@pytest.fixture
def caplog_all(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every log record at DEBUG, from every logger (the canary tests read them all)."""
    caplog.set_level(logging.DEBUG)
    return caplog


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
