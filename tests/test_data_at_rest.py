"""Data at rest (issue 9): after scripted use of the journeys on the web chat (over HTTP) and with
Telegram addresses, the whole database file and its WAL, and a full SQL dump, hold no channel
address in clear, nothing a woman typed, and nothing that links a row to an account without the
key (the lookup hash is keyed: the plain hashes of her address appear nowhere)."""
from __future__ import annotations

import hashlib
import random
import secrets
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from bot.app import RUNTIME
from bot.core.types import Channel
from tests.canary import new_canary
from tests.chat import ChatDriver
from tests.conftest import make_settings
from tests.http import WebChatClient, serve
from tests.test_talk import add_caseworker

pytestmark = pytest.mark.security

STEPS = 80
NEVER_PRESS = {"exit", "forget:yes"}


async def wander(press, say, actions, rng: random.Random, canary: str) -> None:  # noqa: ANN001
    """Press buttons of each screen at random and type the canary every third step."""
    for step in range(STEPS):
        if step % 3 == 2:
            await say(f"{canary} {step}")
            continue
        choices = [a for a in actions() if a not in NEVER_PRESS]
        await press(rng.choice(choices) if choices else "menu")


def plain_hashes(channel: str, address: str) -> list[bytes]:
    """What would link a row to an account without the key: unkeyed digests of the address."""
    out = []
    for message in (address.encode(), f"{channel}\x00{address}".encode()):
        for algo in ("sha256", "sha1", "md5"):
            digest = hashlib.new(algo, message)
            out += [digest.hexdigest().encode(), digest.digest()]
    return out


def read_at_rest(folder: Path, db_file: Path) -> tuple[dict[str, bytes], bytes]:
    """Every file of the database's folder (the file, -wal, -shm) and a full SQL dump."""
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    with sqlite3.connect(db_file) as conn:
        dump = "\n".join(conn.iterdump()).encode()
    return files, dump


async def test_nothing_readable_at_rest(tmp_path: Path, clock) -> None:  # noqa: ANN001
    db_file = tmp_path / "wego.db"
    settings = make_settings(f"sqlite+aiosqlite:///{db_file}", demo_data="on")
    canary = new_canary()
    rng = random.Random(9)
    addresses: list[tuple[str, str]] = []
    async with serve(settings, clock=clock) as (base, app), aiohttp.ClientSession() as http:
        rt = app[RUNTIME]
        _cw, cw_address = await add_caseworker(rt, region="milan")
        addresses.append(("telegram", cw_address))
        for _person in range(3):  # the web chat, over HTTP
            client = WebChatClient(http, base, secrets.token_hex(16))
            addresses.append(("webchat", client.session))
            await client.say("/start")
            await client.press("lang:en")
            await client.press("safe:ok")
            await client.press("region:milan")
            await wander(client.press, client.say, client.actions, rng, canary)
            await client.press("menu")
        for _person in range(3):  # Telegram addresses, through the core
            chat = ChatDriver(rt.core, channel=Channel.TELEGRAM,
                              address=str(rng.randrange(10**9, 10**10)))
            addresses.append(("telegram", chat.address))
            await chat.onboard()
            await chat.press("talk", must_exist=False)
            await chat.press("talk:code", must_exist=False)
            await chat.say(canary + " code word")
            await chat.press("talk:open", must_exist=False)
            await chat.say(canary + " to the caseworker")

            async def press(action: str, chat: ChatDriver = chat) -> None:
                await chat.press(action, must_exist=False)

            await wander(press, chat.say, chat.actions, rng, canary)
        await rt.core.drain()
        files, dump = read_at_rest(tmp_path, db_file)
    everything = b"\n".join(files.values()) + dump
    assert b"INSERT INTO" in dump and len(files) >= 1
    for needle in (canary.encode(), canary.encode("utf-16-le")):
        assert needle not in everything, "something she typed is at rest"
    for channel, address in addresses:
        assert address.encode() not in everything, f"a {channel} address in clear"
        for digest in plain_hashes(channel, address):
            assert digest not in everything, "an unkeyed hash links a row to an account"
