"""Engine and session factory, opened and closed in the app's lifecycle, and the migration check."""
from __future__ import annotations

import asyncio
import collections
import logging
import os
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.postgresql.asyncpg import (
    AsyncAdapt_asyncpg_connection,
    AsyncAdapt_asyncpg_cursor,
    AsyncAdapt_asyncpg_dbapi,
)
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util.concurrency import await_ as await_only

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class NotMigratedError(RuntimeError):
    """The database schema is older than the code."""


# -- SQLite: one trip to aiosqlite's thread per statement ------------------------------------------
# SQLAlchemy's aiosqlite adapter makes four trips to the connection's worker thread for one SELECT
# (cursor, execute, fetchall, close), each a queue put there and a call_soon_threadsafe back, and
# one more for a COMMIT even when nothing was written. On a busy event loop those trips cost more
# than the statement itself. This cursor runs the whole statement in one trip, and the connection
# skips COMMIT/ROLLBACK when SQLite has no transaction open (pysqlite opens one only before a
# write, so a read-only update has nothing to end).
def _run_statement(conn: Any, operation: Any, parameters: Any, many: bool) -> tuple[Any, ...]:
    """The statement and its rows, in one go (on the worker thread, or inline for a quick read)."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


# Reads that SQLite answers in well under a millisecond (the user by her lookup hash) cost the
# event loop far more as a trip to the worker thread (a queue put, a thread switch for the GIL, a
# wake-up through the self-pipe) than as the call itself. So a SELECT whose last run took little
# CPU runs inline, on the loop's thread; anything new or heavier (reports, scans) and every write
# and COMMIT (which may wait for a lock or sync the disk) stays on the worker. In WAL mode a read
# never waits for a writer. The connection is never used by both threads at once: each statement
# is awaited before the next (and the adapter's mutex), so the worker is idle during an inline read.
INLINE_CPU_LIMIT = 0.0005  # seconds of CPU time a read may take and still run inline next time
_QUICK_READS_MAX = 2000  # statements remembered (the app has a few hundred distinct ones)


def _timed_statement(conn: Any, operation: Any, parameters: Any, many: bool
                     ) -> tuple[tuple[Any, ...], float]:
    start = time.thread_time()
    result = _run_statement(conn, operation, parameters, many)
    return result, time.thread_time() - start


# SQLite has one writer at a time. A second writer is made to poll (sleeps of 1 to 100 ms, up to
# busy_timeout) while holding a pooled connection and its thread: with many chats at once, new
# users' INSERTs waited up to 2 s and the pool kept opening connections. So in this process
# writers queue on an asyncio lock instead (FIFO, no polling), taken before the statement that
# opens SQLite's write transaction and given back when that transaction ends. Reads never wait
# (WAL). Other processes (the CLI) still meet SQLite's own busy timeout.
WRITE_WAIT = 5.0  # seconds; after that the writer goes ahead and SQLite's busy timeout decides
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC")


def _opens_write(operation: Any) -> bool:
    return isinstance(operation, str) and operation.lstrip()[:6].upper() in _WRITES


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_description", "_rowcount", "_lastrowid")

    def __init__(self, adapt_connection: Any) -> None:  # no trip: nothing opened yet
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = {}
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _async_soft_close(self) -> None:
        return None

    def close(self) -> None:
        self._rows.clear()

    async def _run(self, operation: Any, parameters: Any, many: bool) -> None:
        adapt = self._adapt_connection
        if not adapt._in_transaction() and _opens_write(operation):
            await adapt._take_write_lock()
        try:
            async with adapt._execute_mutex:
                conn = self._connection
                quick = adapt.dbapi.quick_reads
                if not many and quick.get(operation, False):
                    # conn._conn raises as aiosqlite does when the connection is closed.
                    result, cpu = _timed_statement(conn._conn, operation, parameters, many)
                else:
                    result, cpu = await conn._execute(
                        _timed_statement, conn._conn, operation, parameters, many)
                if not many and operation.lstrip()[:6].upper() == "SELECT":
                    if len(quick) >= _QUICK_READS_MAX:
                        quick.clear()
                    quick[operation] = cpu < INLINE_CPU_LIMIT
                description, rows, rowcount, lastrowid = result
        finally:
            adapt._settle()
        self._description, self._rowcount, self._lastrowid = description, rowcount, lastrowid
        self._rows = collections.deque(rows)

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            return await_only(self._run(operation, parameters, False))
        except Exception as error:  # noqa: BLE001 - mapped to the DBAPI's exceptions
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            return await_only(self._run(operation, seq_of_parameters, True))
        except Exception as error:  # noqa: BLE001
            self._adapt_connection._handle_exception(error)


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_writing",)
    _cursor_cls = _OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._writing: asyncio.Lock | None = None

    async def _take_write_lock(self) -> None:
        if self._writing is not None:
            return
        lock = self.dbapi.write_lock()
        try:
            await asyncio.wait_for(lock.acquire(), WRITE_WAIT)
        except TimeoutError:
            log.warning("sqlite: waited %.0f s for the writer lock; going ahead", WRITE_WAIT)
            return
        self._writing = lock

    def _settle(self) -> None:
        """Give the writer lock back once SQLite's transaction is over (or never began)."""
        if self._writing is not None and not self._in_transaction():
            lock, self._writing = self._writing, None
            lock.release()

    def _in_transaction(self) -> bool:
        # Read on the loop's thread: every statement of this connection has been awaited, so the
        # worker is idle; the flag is SQLite's autocommit state, read without a lock.
        raw = self._connection._connection
        return raw is not None and raw.in_transaction

    def commit(self) -> None:
        try:
            if self._in_transaction():
                super().commit()
        finally:
            self._settle()

    def rollback(self) -> None:
        try:
            if self._in_transaction():
                super().rollback()
        finally:
            self._settle()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()

    def terminate(self) -> None:
        try:
            super().terminate()
        finally:
            self._release()

    def _release(self) -> None:
        if self._writing is not None:
            lock, self._writing = self._writing, None
            lock.release()


class _OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    _lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    def __init__(self, aiosqlite: Any, sqlite: Any) -> None:
        super().__init__(aiosqlite, sqlite)
        self.quick_reads: dict[str, bool] = {}  # SQL text -> may run inline

    def write_lock(self) -> asyncio.Lock:
        """One writer lock per database (engine) and event loop."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock[0] is not loop:
            self._lock = (loop, asyncio.Lock())
        return self._lock[1]

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        return _OneTripConnection(self, adapted._connection)


# -- PostgreSQL: no BEGIN/COMMIT round trips for an update that only reads --------------------------
# SQLAlchemy's asyncpg adapter sends BEGIN before the first statement and COMMIT at the end: two
# round trips around the one SELECT of a read-only update. Here a connection begins its
# transaction at the first statement that is not a plain SELECT, as pysqlite does on SQLite, so
# the two backends behave alike. Under READ COMMITTED (the default, the only level this applies
# to) every statement takes a fresh snapshot anyway, so a read before the first write sees what
# it would have seen inside the transaction. A locking read (FOR UPDATE / FOR SHARE) begins the
# transaction first. What must not run this way: a SELECT with a transactional side effect (such
# as pg_advisory_xact_lock or set_config(..., true)); none exists here, keep it that way.
_LOCKING_READS = (" FOR UPDATE", " FOR SHARE", " FOR NO KEY UPDATE", " FOR KEY SHARE")


@lru_cache(maxsize=4096)
def _plain_read(operation: str) -> bool:
    upper = operation.lstrip().upper()
    return upper.startswith("SELECT") and not any(lock in upper for lock in _LOCKING_READS)


class _LazyBeginCursor(AsyncAdapt_asyncpg_cursor):
    __slots__ = ()

    async def _prepare_and_execute(self, operation: Any, parameters: Any) -> Any:
        adapt = self._adapt_connection
        if (adapt._transaction is None and isinstance(operation, str)
                and _plain_read(operation)):
            adapt._plain_read = True
            try:
                return await super()._prepare_and_execute(operation, parameters)
            finally:
                adapt._plain_read = False
        return await super()._prepare_and_execute(operation, parameters)


class _LazyBeginConnection(AsyncAdapt_asyncpg_connection):
    __slots__ = ("_plain_read",)
    _cursor_cls = _LazyBeginCursor

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain_read = False

    async def _start_transaction(self) -> None:
        if (self._plain_read and self.isolation_level in (None, "read_committed")
                and not self.readonly and not self.deferrable):
            return  # no BEGIN yet: the first write (or locking read) will send it
        await super()._start_transaction()


class _LazyBeginDbapi(AsyncAdapt_asyncpg_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> Any:
        creator_fn = kw.pop("async_creator_fn", self.asyncpg.connect)
        cache_size = kw.pop("prepared_statement_cache_size", 100)
        name_func = kw.pop("prepared_statement_name_func", None)
        return await_only(_LazyBeginConnection.create(
            self, creator_fn(*arg, **kw), prepared_statement_cache_size=cache_size,
            prepared_statement_name_func=name_func))


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
        # Every session here ends its own transaction (the core's `db.begin()`), so the pool's
        # ROLLBACK on check-in is a wasted round trip through aiosqlite's thread on every update.
        kwargs.setdefault("pool_reset_on_return", None)
        if url.startswith("sqlite+aiosqlite"):
            import sqlite3

            import aiosqlite

            kwargs.setdefault("module", _OneTripDbapi(aiosqlite, sqlite3))
            # Quick reads run on the loop's thread (see _OneTripCursor), never at the same time as
            # the connection's worker; SQLite itself is built thread-safe (serialized).
            connect_args = dict(kwargs.pop("connect_args", {}))
            connect_args.setdefault("check_same_thread", False)
            kwargs["connect_args"] = connect_args
            # Keep the connections (each one is a thread, opened with five PRAGMAs): with the
            # default 5 + 10 overflow, a busy minute closed and reopened an overflow connection
            # for every few updates.
            kwargs.setdefault("pool_size", 15)
            kwargs.setdefault("max_overflow", 0)
        engine = create_async_engine(url, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL never corrupts the file; a power cut (not a crash of the bot) may
            # lose the last commits. It saves an fsync on every commit.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=5000")
            # Deleted rows are overwritten, not left in free pages of the file.
            cur.execute("PRAGMA secure_delete=ON")
            # A checkpoint truncates the WAL to at most this: old frames (with rows erased
            # since) do not linger in a large -wal file (see checkpoint_wal).
            cur.execute("PRAGMA journal_size_limit=0")
            cur.close()

        return engine
    # Twenty kept connections and no overflow: with many chats at once, overflow connections
    # were closed at check-in and reopened a moment later (137 new connections in one bench run,
    # each a TCP connect, authentication, codec set-up and its statements prepared again).
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 0)
    if url.startswith("postgresql+asyncpg"):
        import asyncpg

        kwargs.setdefault("module", _LazyBeginDbapi(asyncpg))
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
        busy, _log, _done = (await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")).one()
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
