"""Hostile input, property-based (issue 9): random texts, payloads and sequences of updates to
the core, and random bodies to the web chat endpoint. Nothing crashes, nothing privileged
happens, and every answer is in her language with the quick exit."""
from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.core.i18n import translations
from bot.core.types import Channel, Inbound
from bot.runtime import Runtime
from db.models import AuditEntry, Invite, User
from handlers.routes import all_routes
from tests.chat import ChatDriver
from tests.conftest import make_settings
from tests.http import serve

pytestmark = pytest.mark.security

HYPOTHESIS = settings(max_examples=60, deadline=None, derandomize=True,
                      suppress_health_check=[HealthCheck.function_scoped_fixture,
                                             HealthCheck.too_slow])
PREFIXES = sorted({r.prefix for r in all_routes() if r.prefix} | {"exit", "menu"})
COMMANDS = sorted({r.command for r in all_routes() if r.command})

actions = st.one_of(
    st.builds(lambda p, parts: ":".join([p, *parts]), st.sampled_from(PREFIXES),
              st.lists(st.one_of(st.from_regex(r"[a-z]{1,6}", fullmatch=True),
                                 st.integers(-5, 10**10).map(str)), max_size=3)),
    st.text(max_size=80))
texts = st.one_of(
    st.text(max_size=300),
    st.builds(lambda c, t: f"{c} {t}", st.sampled_from(COMMANDS), st.text(max_size=40)),
    st.sampled_from(["\u200f", "\x00", "{name}", "%s %(x)s", "<script>", "' OR 1=1 --",
                     "ΕΞΟΔΟΣ?", "/redeem AAAA-AAAA-AAAA", "🙂" * 50, "x" * 5000]))
updates = st.lists(st.one_of(texts.map(lambda t: ("text", t)),
                             actions.map(lambda a: ("action", a))), min_size=1, max_size=8)


def english_only_lines() -> set[str]:
    """English texts that have an Italian translation: never shown to an Italian reader."""
    catalog = translations("it")
    found = set()
    for msgid in getattr(catalog, "_catalog", {}):  # noqa: SLF001 - gettext's own mapping
        if isinstance(msgid, str) and len(msgid) > 25 and "{" not in msgid:
            translated = catalog.gettext(msgid)
            if translated != msgid:
                found.add(msgid)
    return found


@pytest.fixture
def english(rt: Runtime) -> set[str]:
    return english_only_lines()


@HYPOTHESIS
@given(sequence=updates)
async def test_random_updates_never_crash_or_grant_anything(rt: Runtime, english: set[str],
                                                            sequence) -> None:  # noqa: ANN001
    chat = ChatDriver(rt.core, channel=Channel.TELEGRAM, address=str(secrets.randbits(40)))
    await chat.onboard(language="it")
    for kind, value in sequence:
        inbound = (Inbound(chat.channel, chat.address, text=value) if kind == "text"
                   else Inbound(chat.channel, chat.address, action=value))
        out = await chat.send(inbound)
        assert out.replies, (kind, value)
        if out.exit:
            break  # she left: the session is over
        assert "exit" in [b.action for row in out.replies[-1].buttons for b in row]
        for reply in out.replies:
            for line in reply.text.split("\n"):
                assert line not in english, (kind, value, line)
    async with rt.sessionmaker() as db:
        me = (await db.execute(select(User).where(User.lookup_hash == rt.vault.lookup_hash(
            chat.channel, chat.address)))).scalar_one_or_none()
        granted = (await db.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.actor_id == (me.id if me else ""),
            AuditEntry.action != "redeem_failed"))).scalar_one()
        used = (await db.execute(select(func.count()).select_from(Invite).where(
            Invite.used_at.is_not(None)))).scalar_one()
    assert me is None or (me.role == "participant" and me.org_id is None)
    assert granted == 0 and used == 0


bodies = st.one_of(
    st.binary(max_size=2000),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=50),
                 lambda inner: st.lists(inner, max_size=4)
                 | st.dictionaries(st.sampled_from(["session", "text", "action", "poll", "x"]),
                                   inner, max_size=5), max_leaves=20).map(
        lambda v: json.dumps(v).encode()),
    st.builds(lambda t, a: json.dumps({"session": secrets.token_hex(16), "text": t}
                                      if a is None else
                                      {"session": secrets.token_hex(16), "action": a}).encode(),
              st.text(max_size=300), st.none() | actions),
    st.integers(1, 20_000).map(lambda n: b"[" * n))


@pytest.fixture
async def webchat(database_url: str) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    async with serve(make_settings(database_url, demo_data="on")) as (base, _app), \
            aiohttp.ClientSession() as http:
        yield base, http


@HYPOTHESIS
@given(body=bodies, language=st.sampled_from(["it", "bg", "ar", "xx", ""]))
async def test_the_web_chat_answers_every_body_in_json(webchat, body: bytes,  # noqa: ANN001
                                                       language: str) -> None:
    base, http = webchat
    async with http.post(f"{base}/webchat/api/messages", data=body,
                         headers={"Content-Type": "application/json",
                                  "Accept-Language": language}) as resp:
        assert resp.status in (200, 400, 413, 429), resp.status
        payload = await resp.json()
    if resp.status == 200:
        assert set(payload) >= {"replies", "exit"}
    else:
        assert isinstance(payload["error"], str) and payload["error"]
        if language == "it":
            assert payload["error"] not in english_only_lines()
