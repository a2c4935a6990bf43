"""Her row by its lookup hash, read for many updates in one statement.

When a thousand women write at the same moment, each update needs its user row (or to learn
that there is none: a first contact) before anything else. Read one by one, that is a thousand
statements, each a round trip to the database (on SQLite several hops to its worker thread)
queued behind the others. Here the updates that ask while one read is on its way wait for the
next, and that read serves all of them: `WHERE lookup_hash IN (...)`. Alone, an update waits for
nothing but its own statement.

The rows come back detached (their short session is closed without a write); the core adds hers
to its update's session, where a change is written in that update's transaction as before. A
row read a moment before the transaction begins is what READ COMMITTED gives a statement inside
it anyway: no update relied on more. An update that asks alone (the usual case when the bot is
not busy) reads in its own session, as before there was a loader: one connection, no extra
checkout.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import User

# Keys per statement: far below SQLite's limit of bound parameters (32,766), and a page of an
# index read at once.
BATCH_MAX = 500
# Reads on their way at once. More let a slow read not hold up the updates behind it; each holds
# a pooled connection, so fewer than the pool keeps (db/engine.py: SQLite 8, PostgreSQL 20).
IN_FLIGHT_MAX = 4


class UserLoader:
    """One per core. Callers hold the person's lock (bot/core/core.py), so a key is asked for by
    one update at a time."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        # Each key's update: the future it waits on, and its own session (for a read that
        # serves it alone).
        self._waiting: dict[str, tuple[asyncio.Future[User | None],
                                       Callable[[], AsyncSession]]] = {}
        self._scheduled = False
        self._in_flight = 0
        self._reads: set[asyncio.Task[None]] = set()

    async def get(self, key: str, own: Callable[[], AsyncSession]) -> User | None:
        """Her row or None when there is none. Raises what the read raised. Read with others,
        it comes detached; read for her update alone, in her update's session (`own`), where
        her update's statements follow on the same connection."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[User | None] = loop.create_future()
        self._waiting[key] = (future, own)
        if not self._scheduled:
            # Once the updates that are ready in this turn of the loop have asked too: they
            # share the statement.
            self._scheduled = True
            loop.call_soon(self._start_reads)
        return await future

    def _start_reads(self) -> None:
        self._scheduled = False
        while self._waiting and self._in_flight < IN_FLIGHT_MAX:
            taken = [(key, self._waiting.pop(key)) for key in list(self._waiting)[:BATCH_MAX]]
            batch = {key: future for key, (future, _own) in taken}
            own = taken[0][1][1] if len(taken) == 1 else None
            self._in_flight += 1
            task = asyncio.create_task(self._read(batch, own))
            self._reads.add(task)
            task.add_done_callback(self._reads.discard)

    async def _read(self, batch: dict[str, asyncio.Future[User | None]],
                    own: Callable[[], AsyncSession] | None) -> None:
        try:
            try:
                if own is not None:
                    rows = await self._select_in(own(), list(batch))
                else:
                    rows = await self._select(list(batch))
            except BaseException as exc:
                # Each update waiting gets the failure as its own (a cancelled read cancels
                # them, as at shutdown).
                for future in batch.values():
                    if future.done():
                        continue
                    if isinstance(exc, Exception):
                        future.set_exception(exc)
                    else:
                        future.cancel()
                if not isinstance(exc, Exception):
                    raise
                return
            found = {row.lookup_hash: row for row in rows}
            for key, future in batch.items():
                if not future.done():  # not an update cancelled while it waited
                    future.set_result(found.get(key))
        finally:
            self._in_flight -= 1
            # Those who asked while this read was on its way.
            self._start_reads()

    @staticmethod
    async def _select_in(db: AsyncSession, keys: Sequence[str]) -> Sequence[User]:
        return (await db.execute(select(User).where(User.lookup_hash.in_(keys)))).scalars().all()

    async def _select(self, keys: Sequence[str]) -> Sequence[User]:
        async with self._sessionmaker() as db:
            if db.bind is not None and db.bind.dialect.name == "postgresql":
                # One statement that writes nothing needs no transaction: without it, no BEGIN
                # before and no ROLLBACK after, two round trips of three. (SQLite opens none for
                # a read anyway.)
                await db.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            return await self._select_in(db, keys)

    async def drain(self) -> None:
        """Wait for the reads on their way (the app's shutdown)."""
        while self._reads:
            await asyncio.gather(*list(self._reads), return_exceptions=True)
