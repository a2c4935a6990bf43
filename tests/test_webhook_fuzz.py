"""Hostile input at the webhooks, property-based (issue 9, "Hostile input"): random and
half-valid bodies at Telegram's webhook (with the right secret: a forger who stole it) and signed
random events at Viber's (a forger who stole the token). Never a 500, never a handler crash, never
a reply into a group chat, nothing privileged granted, and the bot still answers afterwards."""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.app import ADAPTERS, RUNTIME
from bot.channels.viber.adapter import ACTION_MARKER, WEBHOOK_PATH
from bot.runtime import Runtime
from db.models import AuditEntry, Invite, User
from tests.conftest import FakeClock
from tests.fake_bot_api import FakeBotApi, serve_fake
from tests.fake_viber_api import FakeViberApi, post_event, run_fake
from tests.http import serve
from tests.test_hostile_input import actions as core_actions
from tests.test_telegram import eventually, tg_settings
from tests.test_viber import TOKEN, serve_viber

pytestmark = pytest.mark.security

HYPOTHESIS = settings(max_examples=40, deadline=None, derandomize=True,
                      suppress_health_check=[HealthCheck.function_scoped_fixture,
                                             HealthCheck.too_slow])
SECRET = "fuzz-secret-" + "k" * 24
_ids = itertools.count(1)

# Values of the wrong type or shape wherever a field is expected.
junk = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                 st.text(max_size=40), st.lists(st.integers(), max_size=3),
                 st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))
chat_ids = st.one_of(st.integers(1, 10**12), st.integers(-10**13, -1), junk)
chat_types = st.sampled_from(["private", "group", "supergroup", "channel", "", "x"])
typed = st.one_of(st.text(max_size=200), st.sampled_from(
    ["/start", "/start x", "/redeem AAAA-BBBB-CCCC", "/exit", "exit", "\u200f/menu", "x" * 5000]))


def _chat(chat_id: object, kind: str) -> dict[str, Any]:
    return {"id": chat_id, "type": kind, "first_name": "P"}


def _from(user_id: object, lang: object) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "P", "language_code": lang}


@st.composite
def telegram_updates(draw: st.DrawFn) -> dict[str, Any]:
    chat_id, kind = draw(chat_ids), draw(chat_types)
    lang = draw(st.one_of(st.sampled_from(["en", "it", "ar", "xx", ""]), junk))
    message: dict[str, Any] = {"message_id": draw(st.one_of(st.integers(1, 10**6), junk)),
                               "date": 1_800_000_000, "chat": _chat(chat_id, kind),
                               "from": _from(chat_id, lang)}
    if draw(st.booleans()):
        message["text"] = draw(st.one_of(typed, junk))
    else:
        message[draw(st.sampled_from(["photo", "sticker", "voice", "location"]))] = draw(junk)
    shape = draw(st.sampled_from(["message", "edited_message", "callback_query",
                                  "channel_post", "my_chat_member", "unknown"]))
    update: dict[str, Any] = {"update_id": draw(st.one_of(st.integers(0, 2**31), junk))}
    if shape == "callback_query":
        update[shape] = {"id": str(next(_ids)), "chat_instance": "1",
                         "from": _from(chat_id, lang),
                         "data": draw(st.one_of(core_actions, junk)),
                         **({"message": {**message, "from": {"id": 1, "is_bot": True,
                                                             "first_name": "B"}}}
                            if draw(st.booleans()) else {})}
    else:
        update[shape] = message
    for key in draw(st.lists(st.sampled_from(["message", "callback_query", "chat"]),
                             max_size=2)):
        update[key] = draw(junk)  # a field of the wrong shape on top
    return update


telegram_bodies = st.one_of(
    telegram_updates().map(lambda u: json.dumps(u).encode()),
    st.binary(max_size=500),
    st.recursive(st.none() | st.integers() | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                 max_leaves=12).map(lambda v: json.dumps(v).encode()),
    st.integers(1, 5000).map(lambda n: b"[" * n))


@dataclass
class Served:
    app: web.Application
    url: str
    http: aiohttp.ClientSession

    @property
    def rt(self) -> Runtime:
        return self.app[RUNTIME]


async def nothing_granted(rt: Runtime) -> None:
    async with rt.sessionmaker() as db:
        roles = set((await db.execute(select(User.role))).scalars())
        used = (await db.execute(select(func.count()).select_from(Invite).where(
            Invite.used_at.is_not(None)))).scalar_one()
        granted = (await db.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action != "redeem_failed"))).scalar_one()
    assert roles <= {"participant"} and used == 0 and granted == 0, (roles, used, granted)


def no_failures(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not bad, [(r.name, r.getMessage()) for r in bad]


# -- Telegram ----------------------------------------------------------------------------------------
@pytest.fixture
async def telegram(database_url: str, clock: FakeClock
                   ) -> AsyncIterator[tuple[Served, FakeBotApi]]:
    async with serve_fake() as (fake, base):
        settings_ = tg_settings(database_url, fake, base, public_url="https://bot.example.org",
                                telegram_webhook_secret=SECRET)
        async with serve(settings_, clock=clock) as (url, app), aiohttp.ClientSession() as http:
            yield Served(app, url + "/webhooks/telegram", http), fake


@HYPOTHESIS
@given(bodies=st.lists(telegram_bodies, min_size=1, max_size=5))
async def test_telegram_webhook_survives_every_body(telegram, bodies: list[bytes],  # noqa: ANN001
                                                    caplog: pytest.LogCaptureFixture) -> None:
    served, fake = telegram
    caplog.set_level(logging.INFO)
    caplog.clear()
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    for body in bodies:
        async with served.http.post(served.url, data=body, headers=headers) as resp:
            assert resp.status in (200, 400, 413), resp.status
    # The bot still answers a real person afterwards (and so has worked through the queue).
    probe = 9_000_000_000 + next(_ids)
    good = fake.message_update(probe, "/start")
    good["update_id"] = next(_ids)
    async with served.http.post(served.url, json=good, headers=headers) as resp:
        assert resp.status == 200
    await eventually(lambda: any("choose your language" in m.text
                                 for m in fake.bot_messages(probe)))
    await asyncio.sleep(0.05)
    no_failures(caplog)
    # The bot lives in private chats: nothing was ever sent to a group or a channel.
    assert all(p.get("chat_id") is None or int(p["chat_id"]) > 0
               for p in fake.calls_to("sendMessage"))
    await nothing_granted(served.rt)


async def test_telegram_tap_from_a_group_chat_gets_no_answer(telegram) -> None:  # noqa: ANN001
    """A tap on a message in a group (the bot added to one) is not a person's private chat."""
    served, fake = telegram
    group = -100_123
    update = {"update_id": next(_ids), "callback_query": {
        "id": "1", "chat_instance": "1", "from": _from(5, "en"), "data": "menu",
        "message": {"message_id": 1, "date": 1, "chat": _chat(group, "group"),
                    "from": {"id": 1, "is_bot": True, "first_name": "B"}, "text": "x"}}}
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    channel = served.app[ADAPTERS]["telegram"]
    before = channel.handled
    async with served.http.post(served.url, json=update, headers=headers) as resp:
        assert resp.status == 200
    await eventually(lambda: channel.handled > before)
    assert fake.calls_to("sendMessage") == [] and fake.calls_to("editMessageText") == []
    async with served.rt.sessionmaker() as db:
        assert (await db.execute(select(func.count()).select_from(User))).scalar_one() == 0


# -- Viber -------------------------------------------------------------------------------------------
@st.composite
def viber_events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["message", "conversation_started", "subscribed",
                                 "unsubscribed", "delivered", "seen", "failed", "webhook",
                                 "client_status", "", "x"]))
    sender: Any = {"id": draw(st.one_of(st.text(min_size=1, max_size=30), junk)),
                   "language": draw(st.one_of(st.sampled_from(["en", "bg", "el", "zz"]), junk)),
                   "country": "BG",
                   "api_version": draw(st.one_of(st.integers(0, 12), junk))}
    if draw(st.integers(0, 9)) == 0:
        sender = draw(junk)
    event: dict[str, Any] = {"event": kind, "timestamp": int(time.time() * 1000),
                             "message_token": draw(st.one_of(st.integers(1, 2**62), junk))}
    if kind == "message":
        event["sender"] = sender
        text = draw(st.one_of(typed, core_actions.map(lambda a: ACTION_MARKER + a), junk))
        event["message"] = draw(st.one_of(
            st.just({"type": "text", "text": text}),
            st.builds(lambda t, x: {"type": t, "media": x},
                      st.sampled_from(["picture", "sticker", "location", "contact", "zz"]), junk),
            junk))
    elif kind in ("conversation_started",):
        event["user"] = sender
        event["type"] = "open"
        if draw(st.booleans()):
            event["context"] = draw(st.one_of(st.text(max_size=60), junk))
    elif kind in ("subscribed",):
        event["user"] = sender
    else:
        event["user_id"] = draw(st.one_of(st.text(max_size=30), junk))
    return event


@pytest.fixture
async def viber(database_url: str, clock: FakeClock
                ) -> AsyncIterator[tuple[Served, FakeViberApi]]:
    async with run_fake(TOKEN) as fake, serve_viber(database_url, fake, clock) as (base, app), \
            aiohttp.ClientSession() as http:
        yield Served(app, base + WEBHOOK_PATH, http), fake
        assert fake.violations == []  # every call the bot made is one Viber documents


@HYPOTHESIS
@given(events=st.lists(viber_events(), min_size=1, max_size=5))
async def test_viber_webhook_survives_every_signed_event(viber, events,  # noqa: ANN001
                                                         caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    served, fake = viber
    caplog.set_level(logging.INFO)
    caplog.clear()
    for event in events:
        status, _body = await post_event(served.http, served.url, TOKEN, event)
        assert status in (200, 400), (status, event.get("event"))
    await served.app[ADAPTERS]["viber"].drain()
    no_failures(caplog)
    assert fake.violations == []
    await nothing_granted(served.rt)
    # Still answers a real person.
    phone = secrets.token_urlsafe(16) + "=="
    status, body = await post_event(served.http, served.url, TOKEN, {
        "event": "conversation_started", "timestamp": int(time.time() * 1000),
        "message_token": next(_ids) + 10**15, "type": "open", "subscribed": False,
        "user": {"id": phone, "language": "en", "country": "BG", "api_version": 10}})
    assert status == 200 and "keyboard" in json.loads(body)
