"""Engine and session factory, opened and closed in the app's lifecycle, and the migration check.

Only public, documented means (issue 13): SQLAlchemy's `create_async_engine` with pool settings
and a `connect` event for SQLite's PRAGMAs, asyncpg's documented connection options. No driver
adapter is subclassed and no private attribute is read, so a SQLAlchemy, aiosqlite or asyncpg
release within the ranges of pyproject.toml cannot break this module. SQLite is used only
through aiosqlite, that is from the connection's own worker thread.
"""
from __future__ import annotations

import asyncio
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# SQLite: connections kept open (each one is an aiosqlite worker thread, opened with five
# PRAGMAs). With the default 5 + 10 overflow a busy minute closed and reopened an overflow
# connection every few updates; here there is no overflow, and a burst waits for a kept one.
SQLITE_POOL_SIZE = 8
# PostgreSQL: twenty kept connections and no overflow, for the same reason (each new one is a TCP
# connect, authentication, codec set-up and its statements prepared again).
POSTGRES_POOL_SIZE = 20
# asyncpg prepares every statement once per connection and keeps it (its documented
# `statement_cache_size`); SQLAlchemy's asyncpg dialect keeps its own cache of the prepared
# statements (`prepared_statement_cache_size`). The app has a few hundred distinct statements.
PREPARED_STATEMENTS = 500


class NotMigratedError(RuntimeError):
    """The database schema is older than the code."""


def _sqlite_engine(url: str, kwargs: dict[str, Any]) -> AsyncEngine:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    if path and path != ":memory:":
        kwargs.setdefault("pool_size", SQLITE_POOL_SIZE)
        kwargs.setdefault("max_overflow", 0)
    # Every session here ends its own transaction (the core commits or closes), and pysqlite
    # opens a transaction only before a write: the pool's ROLLBACK on check-in would be one more
    # trip to the connection's thread on every update for nothing (SQLAlchemy's documented
    # `pool_reset_on_return=None`).
    kwargs.setdefault("pool_reset_on_return", None)
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL never corrupts the file; a power cut (not a crash of the bot) may
        # lose the last commits. It saves an fsync on every commit.
        cur.execute("PRAGMA synchronous=NORMAL")
        # A second writer waits for the first inside SQLite (on its own worker thread, so the
        # event loop never waits), up to five seconds.
        cur.execute("PRAGMA busy_timeout=5000")
        # Deleted rows are overwritten, not left in free pages of the file.
        cur.execute("PRAGMA secure_delete=ON")
        # A checkpoint truncates the WAL to at most this: old frames (with rows erased since)
        # do not linger in a large -wal file (see checkpoint_wal).
        cur.execute("PRAGMA journal_size_limit=0")
        cur.close()

    return engine


SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_sqlite_file(url: str) -> None:
    """The SQLite file (and its -wal and -shm, which SQLite creates with the file's own mode)
    readable by this account only: 0600, in a folder made 0700. Nothing for other databases."""
    if not url.startswith("sqlite"):
        return
    path = url.split("///", 1)[-1].split("?", 1)[0]
    if not path or path == ":memory:":
        return
    db_file = Path(path)
    if not db_file.parent.exists():
        db_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not db_file.exists():
        os.close(os.open(db_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for candidate in (db_file, *(Path(str(db_file) + s) for s in SQLITE_SIDE_FILES)):
        if candidate.exists() and candidate.stat().st_mode & 0o077:
            candidate.chmod(0o600)


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        private_sqlite_file(url)
        return _sqlite_engine(url, kwargs)
    kwargs.setdefault("pool_size", POSTGRES_POOL_SIZE)
    kwargs.setdefault("max_overflow", 0)
    if url.startswith("postgresql+asyncpg"):
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("prepared_statement_cache_size", PREPARED_STATEMENTS)
        connect_args.setdefault("statement_cache_size", PREPARED_STATEMENTS)
        kwargs["connect_args"] = connect_args
    # No pre-ping: on asyncpg it is three round trips (BEGIN, a query, ROLLBACK) on every checkout,
    # more than the update's own work. The core retries an update once when its connection turns
    # out to be dead on the first statement (bot/core.py), and SQLAlchemy then refreshes the pool.
    kwargs.setdefault("pool_pre_ping", False)
    return create_async_engine(url, **kwargs)


async def checkpoint_wal(engine: AsyncEngine) -> None:
    """SQLite: after an erase, copy the WAL into the database file and truncate it to zero bytes.
    Until then the WAL keeps the pages as they were before the delete, her row included;
    secure_delete has already zeroed the deleted cells in the pages that get written back.
    TRUNCATE waits (busy_timeout) for readers on an older snapshot. Nothing to do elsewhere."""
    if engine.dialect.name != "sqlite":
        return
    async with engine.connect() as conn:
        row = (await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")).one()
    busy = row[0]  # then the WAL's pages and how many were copied
    if busy:
        log.warning("WAL checkpoint could not finish (a reader was busy); the next one will")


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def _upgrade_sync(url: str, revision: str) -> None:
    from alembic import command

    private_sqlite_file(url)  # before Alembic's engine creates the file with the umask's mode
    command.upgrade(alembic_config(url), revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Run the migrations (Alembic's env.py runs its own event loop, so use a thread)."""
    await asyncio.to_thread(_upgrade_sync, url, revision)


@lru_cache(maxsize=1)
def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() or ""


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision())


async def ensure_migrated(engine: AsyncEngine) -> None:
    current, head = await current_revision(engine), head_revision()
    if current != head:
        raise NotMigratedError(
            f"The database is at migration {current or 'none'} but the code needs {head}. "
            "Run `python -m bot migrate` (or set AUTO_MIGRATE=true) and start again.")
