"""Safety: what a participant types never reaches the database file, the logs or any file; a
database dump holds no channel address."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from bot.runtime import open_runtime
from tests.canary import assert_not_logged, assert_not_on_disk, new_canary
from tests.chat import ChatDriver
from tests.conftest import make_settings


async def test_typed_text_is_nowhere_on_disk_or_in_logs(tmp_path: Path, clock,  # noqa: ANN001
                                                        caplog_all: pytest.LogCaptureFixture
                                                        ) -> None:
    canary = new_canary()
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/canary.db", demo_data="on",
                             log_level="DEBUG")
    async with open_runtime(settings, clock=clock) as rt:
        chat = ChatDriver(rt.core, address="addr" + canary)
        await chat.say(canary)  # before any set-up
        await chat.say("/start " + canary)
        await chat.press("lang:en")
        await chat.say(canary)
        await chat.press("safe:ok")
        await chat.say(canary)
        await chat.press("region:milan")
        for action in ("help", "help:safety", "menu"):
            await chat.press(action, must_exist=False)
            await chat.say(canary + " " + action)
        await chat.say(canary * 500)  # too long
        await chat.say("exit")
    assert_not_on_disk(canary, tmp_path)
    assert_not_logged(canary, caplog_all)


async def test_database_dump_holds_no_channel_address(settings, clock) -> None:  # noqa: ANN001
    address = "555000111222"
    async with open_runtime(settings, clock=clock) as rt:
        chat = ChatDriver(rt.core, address=address)
        await chat.onboard()
        async with rt.engine.connect() as conn:
            rows = (await conn.execute(text("SELECT * FROM users"))).all()
    dump = repr(rows)
    assert rows and address not in dump
