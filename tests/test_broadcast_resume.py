"""The promise of issue 5: a broadcast to 5,000 users killed half-way and restarted reaches every
eligible user exactly once. The kill is a real asyncio cancellation of the engine's task in the
middle of a send; the restart is a new runtime on the same database."""
from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import date

import pytest
from sqlalchemy import func, insert, select

from bot.core.crypto import AddressVault
from bot.core.settings import Settings
from bot.core.types import Reply
from bot.runtime import Runtime, open_runtime
from bot.services.broadcasting import Broadcaster
from db.models import (
    Broadcast,
    BroadcastDelivery,
    BroadcastStatus,
    ImpactCount,
    Organisation,
    OrganisationRegion,
    User,
)
from tests.conftest import FakeClock

# Depends on the database itself: runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_databases

FAKE = "fakechan"
ELIGIBLE = 5000
KILL_AT = 2500


class Recorder:
    """What reached each address, across both runs of the bot."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.calls = 0


class RecordingSender:
    """A fake channel. At the KILL_AT-th call it cancels the engine's task and waits, so the
    cancellation lands in the middle of a send: that message never arrives."""

    name = FAKE

    def __init__(self, recorder: Recorder, kill: asyncio.Task[object] | None = None) -> None:
        self.recorder = recorder
        self.kill = kill

    async def send(self, address: str, replies: Sequence[Reply], *,
                   notification: bool) -> list[str]:
        self.recorder.calls += 1
        if self.kill is not None and self.recorder.calls == KILL_AT:
            self.kill.cancel()
            await asyncio.sleep(3600)
        assert replies and replies[0].text
        self.recorder.received[address] += 1
        return []

    async def delete(self, address: str, refs: Sequence[str]) -> None:
        return None


def user_row(vault: AddressVault, address: str, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = dict(
        id=f"{address:0>32}"[-32:], channel=FAKE, address_enc=vault.encrypt(FAKE, address),
        lookup_hash=vault.lookup_hash(FAKE, address), language="en", region_code="milan",
        role="participant", org_id=None, topics=["trainings"], discreet=True, quiet_start=None,
        quiet_end=None, vanish_minutes=0, codeword_hash=None, onboarded=True, active=True,
        last_active_on=date(2026, 11, 1), created_on=date(2026, 11, 1))
    row.update(overrides)
    return row


INELIGIBLE = {
    "other-region": dict(region_code="karditsa"),
    "unsubscribed": dict(topics=["job_fairs"]),
    "blocked": dict(active=False),
    "professional": dict(role="professional"),
    "not-onboarded": dict(onboarded=False),
}


async def populate(settings: Settings, clock: FakeClock) -> tuple[int, dict[str, str]]:
    """An organisation serving Milan, 5,000 eligible women and some who must get nothing."""
    async with open_runtime(settings, clock=clock) as rt, rt.sessionmaker() as db, db.begin():
        org = Organisation(slug="ngo", name="NGO")
        db.add(org)
        await db.flush()
        db.add(OrganisationRegion(org_id=org.id, region_code="milan"))
        addresses = {f"e{i}": "eligible" for i in range(ELIGIBLE)}
        rows = [user_row(rt.vault, a) for a in addresses]
        for kind, overrides in INELIGIBLE.items():
            for i in range(20):
                addresses[f"{kind}{i}"] = kind
                rows.append(user_row(rt.vault, f"{kind}{i}", **overrides))
        for start in range(0, len(rows), 1000):
            await db.execute(insert(User), rows[start:start + 1000])
        broadcast = Broadcast(org_id=org.id, audience="participants", region_code="milan",
                              topic="trainings", texts={"en": "Training on Monday"},
                              base_language="en", status=BroadcastStatus.SCHEDULED,
                              scheduled_at=clock())
        db.add(broadcast)
        await db.flush()
        return broadcast.id, addresses


async def test_killed_half_way_and_restarted_reaches_everyone_once(
        database_url: str, clock: FakeClock) -> None:
    from tests.conftest import make_settings

    settings = make_settings(database_url)
    broadcast_id, addresses = await populate(settings, clock)
    recorder = Recorder()

    # First run: killed in the middle of the 2,500th send.
    async with open_runtime(settings, clock=clock) as rt:
        engine = Broadcaster.for_runtime(rt)
        task: asyncio.Task[object] = asyncio.create_task(engine.run_due())
        rt.add_sender(RecordingSender(recorder, kill=task))
        try:
            await task
            raise AssertionError("the engine was not killed")
        except asyncio.CancelledError:
            pass
    assert recorder.calls == KILL_AT
    first_run = sum(recorder.received.values())
    assert first_run == KILL_AT - 1

    # Restart: a new runtime on the same database, run to the end.
    async with open_runtime(settings, clock=clock) as rt:
        rt.add_sender(RecordingSender(recorder))
        await Broadcaster.for_runtime(rt).run_due()
        async with rt.sessionmaker() as db:
            deliveries = list(await db.execute(
                select(BroadcastDelivery.status, User.lookup_hash)
                .join(User, User.id == BroadcastDelivery.user_id)
                .where(BroadcastDelivery.broadcast_id == broadcast_id)))
            broadcast = await db.get(Broadcast, broadcast_id)
            impact = (await db.execute(select(func.sum(ImpactCount.value))
                                       .where(ImpactCount.metric == "broadcast_sent"))).scalar()
            by_hash = {rt.vault.lookup_hash(FAKE, a): a for a in addresses}

    assert max(recorder.received.values()) == 1, "somebody got the broadcast twice"
    status_of = {by_hash[h]: status for status, h in deliveries}
    eligible = [a for a, kind in addresses.items() if kind == "eligible"]
    assert sorted(status_of) == sorted(eligible)  # rows only for the eligible
    unknown = [a for a in eligible if status_of[a] == "unknown"]
    sent = [a for a in eligible if status_of[a] == "sent"]
    # Only the one message in flight at the kill is unknown, and it was never sent again; the
    # rest of its batch (claimed, never tried) went back to pending and reached everyone.
    assert len(unknown) == 1
    assert len(sent) + len(unknown) == ELIGIBLE
    assert all(recorder.received[a] == 1 for a in sent)
    assert recorder.received[unknown[0]] == 0  # the killed send never arrived, nor was repeated
    assert not [a for a, kind in addresses.items() if kind != "eligible" and recorder.received[a]]
    assert broadcast is not None and broadcast.status == BroadcastStatus.DONE
    assert impact == len(sent)
    assert sum(recorder.received.values()) == len(sent) + sum(
        recorder.received[a] for a in unknown)


async def test_a_long_run_of_people_without_the_topic_does_not_stall_materialising(
        rt: Runtime, clock: FakeClock) -> None:
    """1,500 people who did not ask for the topic come first (by id); the three who did must still
    get a delivery row, and the pass must end."""
    from bot.services.broadcasting import MATERIALISE_CHUNK

    async with rt.sessionmaker() as db, db.begin():
        org = Organisation(slug="long", name="Long run")
        db.add(org)
        await db.flush()
        db.add(OrganisationRegion(org_id=org.id, region_code="milan"))
        rows = [user_row(rt.vault, f"a{i:05d}", topics=[]) for i in range(MATERIALISE_CHUNK + 500)]
        rows += [user_row(rt.vault, f"z{i:05d}") for i in range(3)]  # ids sort after the a-s
        await db.execute(insert(User), rows)
        broadcast = Broadcast(org_id=org.id, audience="participants", region_code="milan",
                              topic="trainings", texts={"en": "Training"}, base_language="en",
                              status=BroadcastStatus.SCHEDULED, scheduled_at=clock())
        db.add(broadcast)
        await db.flush()
        broadcast_id = broadcast.id
    added = await asyncio.wait_for(Broadcaster.for_runtime(rt).materialise(broadcast_id), 60)
    assert added == 3
    async with rt.sessionmaker() as db:
        assert (await db.get(Broadcast, broadcast_id)).status == BroadcastStatus.SENDING
