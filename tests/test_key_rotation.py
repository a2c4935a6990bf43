"""Key rotation (issue 9): every address and lookup hash under the new key, resumable after an
interruption, the bot refusing to start half-way, on SQLite and PostgreSQL."""
from __future__ import annotations

import base64
import secrets

import pytest
from sqlalchemy import select

from bot.core.settings import SettingsError
from bot.core.types import Channel
from bot.keyrotation import rotate_key
from bot.runtime import open_runtime
from db.engine import make_engine
from db.models import User
from tests.chat import ChatDriver
from tests.conftest import make_settings
from tests.test_staff_cli import cli


async def test_rotation_is_resumable_and_everyone_is_found_again(database_url: str,
                                                                 clock) -> None:  # noqa: ANN001
    old_key, new_key = secrets.token_bytes(32), secrets.token_bytes(32)
    old = make_settings(database_url, data_key=old_key)
    async with open_runtime(old, clock=clock) as rt:
        people = [ChatDriver(rt.core, channel=ch) for ch in
                  (Channel.WEBCHAT, Channel.TELEGRAM, Channel.VIBER, Channel.TELEGRAM,
                   Channel.WEBCHAT)]
        for chat in people:
            await chat.onboard()
    engine = make_engine(database_url)
    try:
        partial = await rotate_key(engine, old_key, new_key, batch=2, stop_after_batches=1)
        assert not partial.finished and partial.rewritten == 2
        for key in (old_key, new_key):  # half-way: the bot refuses to start with either key
            with pytest.raises(SettingsError, match="rotation was interrupted"):
                async with open_runtime(make_settings(database_url, data_key=key)):
                    pass
        with pytest.raises(SettingsError):  # a third key cannot take over the rotation
            await rotate_key(engine, secrets.token_bytes(32), new_key)
        done = await rotate_key(engine, old_key, new_key, batch=2)
        assert done.finished and done.already_done == 2 and done.rewritten == 3
    finally:
        await engine.dispose()
    with pytest.raises(SettingsError, match="does not match"):
        async with open_runtime(old):
            pass
    async with open_runtime(make_settings(database_url, data_key=new_key), clock=clock) as rt:
        for chat in people:
            chat.core = rt.core
            out = await chat.press("menu", must_exist=False)
            assert "help" in [b.action for r in out.replies for row in r.buttons for b in row]
        async with rt.sessionmaker() as db:
            users = list((await db.execute(select(User))).scalars())
        assert len(users) == 5  # everyone found by her new lookup hash: nobody started anew
        assert sorted(rt.vault.decrypt(u.channel, u.address_enc) for u in users) == \
            sorted(chat.address for chat in people)


async def test_rotate_key_command_with_a_key_file(tmp_path, clock) -> None:  # noqa: ANN001
    """The default set-up (a generated key file): the command makes the new key beside it,
    rotates, and moves it in place."""
    key_file = tmp_path / "config" / "data.key"
    key_file.parent.mkdir()
    old_key = secrets.token_bytes(32)
    key_file.write_text(base64.urlsafe_b64encode(old_key).decode())
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/w.db", data_key=old_key)
    async with open_runtime(settings, clock=clock) as rt:
        await ChatDriver(rt.core).onboard()
    code, out, err = await cli(settings, "rotate-key", env={"DATA_KEY": "",
                                                           "DATA_KEY_FILE": str(key_file)})
    assert code == 0, err
    new_key = base64.urlsafe_b64decode(key_file.read_text().strip())
    assert new_key != old_key and not (tmp_path / "config" / "data.key.new").exists()
    async with open_runtime(make_settings(settings.database_url, data_key=new_key)) as rt, \
            rt.sessionmaker() as db:
        (user,) = (await db.execute(select(User))).scalars()
        assert rt.vault.decrypt(user.channel, user.address_enc)
