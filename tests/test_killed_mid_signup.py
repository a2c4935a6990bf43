"""Faults (issue 9): the process killed (SIGKILL, no goodbye) while women are signing up for a
meetup. After a restart on the same database: every place a woman was told she has is there,
nobody holds two, the meetup is not over capacity, and sign-ups work again (no lock left
behind). One machine's shape: `python -m bot run` on SQLite, started as an operator starts it."""
from __future__ import annotations

import asyncio
import base64
import secrets
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bot.core.crypto import AddressVault
from db.models import (
    Meetup,
    MeetupKind,
    Membership,
    Organisation,
    OrganisationRegion,
    Signup,
    SignupStatus,
    User,
)
from tests.conftest import _port_open
from tests.test_two_instances import Instance, _launch, _post, _until

pytestmark = pytest.mark.security

CAPACITY = 4
WOMEN = 12
PLACE_TOLD = "Done: you have a place"
WAIT_TOLD = "Done: you are on the waiting list"


async def _seed(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with async_sessionmaker(engine)() as db, db.begin():
            org = Organisation(slug="centre-mi", name="Centre")
            db.add(org)
            await db.flush()
            db.add(OrganisationRegion(org_id=org.id, region_code="milan"))
            meetup = Meetup(org_id=org.id, region_code="milan", title="Peer group",
                            place="Room 2", starts_at=datetime.now(UTC) + timedelta(days=3),
                            capacity=CAPACITY, kind=MeetupKind.CLOSED)
            db.add(meetup)
            await db.flush()
            return meetup.id
    finally:
        await engine.dispose()


async def _vouch_for_everyone(url: str) -> None:
    """A caseworker vouched for each of them (member codes, in the real journey)."""
    engine = create_async_engine(url)
    try:
        async with async_sessionmaker(engine)() as db, db.begin():
            org_id = (await db.execute(select(Organisation.id))).scalar_one()
            for user_id in (await db.execute(select(User.id))).scalars():
                db.add(Membership(user_id=user_id, org_id=org_id,
                                  since=datetime.now(UTC).date()))
    finally:
        await engine.dispose()


async def _signups(url: str) -> dict[str, str]:
    engine = create_async_engine(url)
    try:
        async with async_sessionmaker(engine)() as db:
            rows = (await db.execute(select(User.lookup_hash, Signup.status)
                                     .join(Signup, Signup.user_id == User.id))).all()
            per_user = (await db.execute(select(func.count()).select_from(Signup)
                                         .group_by(Signup.user_id, Signup.meetup_id)
                                         .having(func.count() > 1))).all()
    finally:
        await engine.dispose()
    assert per_user == []  # nobody holds two
    return {key: status for key, status in rows}


async def _answer(http: aiohttp.ClientSession, instance: Instance, session: str,
                  action: str) -> str | None:
    try:
        answer = await _post(http, instance, session, action=action)
    except (TimeoutError, aiohttp.ClientError, AssertionError):
        return None  # the process died under her: she saw no answer
    return "\n".join(r["text"] for r in answer["replies"])


async def test_killed_mid_signup_loses_no_place_and_gives_none_twice(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/one.db"
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    first = await asyncio.to_thread(_launch_with_key, url, tmp_path, "first", key)
    sessions = [secrets.token_hex(16) for _ in range(WOMEN)]
    try:
        await _until(lambda: _port_open("127.0.0.1", first.port), 60, first)
        meetup_id = await _seed(url)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            for session in sessions:
                await _post(http, first, session, text="/start")
                await _post(http, first, session, action="lang:en")
                await _post(http, first, session, action="safe:ok")
                await _post(http, first, session, action="region:milan")
            await _vouch_for_everyone(url)

            async def sign_up(session: str) -> tuple[str, str | None]:
                return session, await _answer(http, first, session, f"ev:join:{meetup_id}")

            tasks = [asyncio.create_task(sign_up(s)) for s in sessions]
            # Kill as soon as the first women have their answer, with the rest in flight.
            answered = 0
            for next_done in asyncio.as_completed(tasks):
                await next_done
                answered += 1
                if answered == 3:
                    first.proc.send_signal(signal.SIGKILL)
                    break
            results = dict(await asyncio.gather(*tasks))
        await asyncio.to_thread(first.proc.wait, 10)
    finally:
        if first.proc.poll() is None:
            first.proc.kill()

    vault = AddressVault.from_data_key(base64.urlsafe_b64decode(key))
    told_place = {s for s, text in results.items() if text and PLACE_TOLD in text}
    told_wait = {s for s, text in results.items() if text and WAIT_TOLD in text}
    assert told_place, results  # the kill came after some women had their answer
    assert None in results.values(), results  # ... and before the others had theirs
    stored = await _signups(url)
    for session in told_place:
        assert stored.get(vault.lookup_hash("webchat", session)) == SignupStatus.CONFIRMED
    for session in told_wait:
        assert stored.get(vault.lookup_hash("webchat", session)) == SignupStatus.WAITING
    assert sum(1 for s in stored.values() if s == SignupStatus.CONFIRMED) <= CAPACITY

    # The same database, a new process: it starts, and sign-ups work again.
    second = await asyncio.to_thread(_launch_with_key, url, tmp_path, "second", key)
    try:
        await _until(lambda: _port_open("127.0.0.1", second.port), 60, second)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            newcomer = secrets.token_hex(16)
            for step in ({"text": "/start"}, {"action": "lang:en"}, {"action": "safe:ok"},
                         {"action": "region:milan"}):
                await _post(http, second, newcomer, **step)
            await _vouch_for_newcomer(url, vault.lookup_hash("webchat", newcomer))
            text = await _answer(http, second, newcomer, f"ev:join:{meetup_id}")
        assert text is not None and (PLACE_TOLD in text or WAIT_TOLD in text), text
        assert "Traceback" not in second.text()
    finally:
        second.proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(second.proc.wait, 30)
    after = await _signups(url)
    assert sum(1 for s in after.values() if s == SignupStatus.CONFIRMED) <= CAPACITY
    assert len(after) == len(stored) + 1


async def _vouch_for_newcomer(url: str, lookup_hash: str) -> None:
    engine = create_async_engine(url)
    try:
        async with async_sessionmaker(engine)() as db, db.begin():
            org_id = (await db.execute(select(Organisation.id))).scalar_one()
            user_id = (await db.execute(select(User.id).where(User.lookup_hash == lookup_hash))
                       ).scalar_one()
            db.add(Membership(user_id=user_id, org_id=org_id, since=datetime.now(UTC).date()))
    finally:
        await engine.dispose()


def _launch_with_key(url: str, folder: Path, name: str, key: str) -> Instance:
    """`python -m bot migrate` then `run`, with this key (a restart keeps its key)."""
    (instance,) = _launch(url, "", folder, (name,), key=key)
    return instance
