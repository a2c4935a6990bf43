"""The data key (issue 9, item 10): a key that does not match the data, or a weak one, is refused
with a clear message before anything changes; the database files are private (0600)."""
from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.core.settings import Settings, SettingsError
from bot.keycheck import KeyMismatchError
from bot.runtime import open_runtime
from db.models import KeyCheck, User
from tests.chat import ChatDriver
from tests.conftest import make_settings


async def users(settings: Settings) -> int:
    async with open_runtime(settings) as rt, rt.sessionmaker() as db:
        return len(list((await db.execute(select(User))).scalars()))


async def test_a_key_that_does_not_match_the_data_is_refused(database_url: str, clock) -> None:  # noqa: ANN001
    first = make_settings(database_url)
    async with open_runtime(first, clock=clock) as rt:
        await ChatDriver(rt.core).onboard()
        async with rt.sessionmaker() as db:
            assert (await db.get(KeyCheck, "data_key")) is not None
    lost = make_settings(database_url)  # the key file was lost; a new key was made
    with pytest.raises(KeyMismatchError, match="does not match this database"):
        async with open_runtime(lost):
            pass
    assert await users(first) == 1  # nothing was changed; the right key still works


async def test_a_database_from_before_the_check_is_tested_on_a_stored_address(
        database_url: str, clock) -> None:  # noqa: ANN001
    first = make_settings(database_url)
    async with open_runtime(first, clock=clock) as rt:
        await ChatDriver(rt.core).onboard()
        async with rt.sessionmaker() as db, db.begin():
            await db.delete(await db.get(KeyCheck, "data_key"))
    with pytest.raises(KeyMismatchError):
        async with open_runtime(make_settings(database_url)):
            pass
    assert await users(first) == 1  # the right key passes and records the check value


@pytest.mark.parametrize("key", [bytes(32), b"\x01" * 32, b"ab" * 16,
                                 b"correct horse battery staple!!!!"])
def test_weak_keys_are_refused(key: bytes) -> None:
    encoded = base64.urlsafe_b64encode(key).decode()
    with pytest.raises(SettingsError, match="not a random key"):
        Settings.from_env({"DATA_KEY": encoded}, load_dotenv=False)


async def test_a_weak_key_is_refused_at_start_too(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/w.db", data_key=bytes(32))
    with pytest.raises(SettingsError, match="not a random key"):
        async with open_runtime(settings):
            pass
    assert not (tmp_path / "w.db").exists()  # refused before anything was created


async def test_database_files_are_private(tmp_path: Path, clock) -> None:  # noqa: ANN001
    db_file = tmp_path / "var" / "wego.db"
    settings = make_settings(f"sqlite+aiosqlite:///{db_file}", data_key=secrets.token_bytes(32))
    async with open_runtime(settings, clock=clock) as rt:
        await ChatDriver(rt.core).onboard()
        files = [db_file, Path(str(db_file) + "-wal"), Path(str(db_file) + "-shm")]
        assert all(f.exists() for f in files)
        assert [oct(f.stat().st_mode & 0o777) for f in files] == ["0o600"] * 3
    assert db_file.parent.stat().st_mode & 0o077 == 0
