"""The web chat protocol of docs/ARCHITECTURE.md section 5, over real HTTP against the real app."""
from __future__ import annotations

import secrets

import aiohttp
import pytest

from bot.core.settings import Settings
from tests.conftest import make_settings
from tests.http import WebChatClient, serve


@pytest.fixture
def http_settings(database_url: str) -> Settings:
    return make_settings(database_url, demo_data="on")


async def test_protocol_walk_and_exit(http_settings: Settings, clock) -> None:  # noqa: ANN001
    async with serve(http_settings, clock=clock) as (base, _app), aiohttp.ClientSession() as http:
        async with http.get(f"{base}/webchat/") as resp:
            page = await resp.text()
            assert resp.status == 200
            csp = resp.headers["Content-Security-Policy"]
            assert "default-src 'none'" in csp and "script-src 'self'" in csp
            assert "<script src=\"/webchat/static/chat.js\">" in page
            assert "http" not in page.replace("https://www.google.com/search?q=weather", "")
        client = WebChatClient(http, base, secrets.token_hex(16))
        data = await client.say("/start")
        assert set(data) >= {"replies", "exit"} and data["exit"] is False
        reply = data["replies"][0]
        assert set(reply) >= {"id", "text", "buttons"}
        assert reply["buttons"][0][0].keys() == {"label", "action"}
        await client.press("lang:ar")
        assert client.last["dir"] == "rtl" and client.last["lang"] == "ar"
        await client.press("safe:ok")
        await client.press("region:karditsa")
        await client.press("help")
        assert "15900" in client.text()
        data = await client.press("exit")
        assert data["exit"] is True


@pytest.mark.parametrize("body,status", [
    (b"not json", 400),
    (b"[]", 400),
    (b'{"session": "short", "text": "hi"}', 400),
    (b'{"session": "' + b"g" * 32 + b'", "text": "hi"}', 400),
    (b'{"session": "' + b"a" * 32 + b'"}', 400),
    (b'{"session": "' + b"a" * 32 + b'", "text": "hi", "action": "menu"}', 400),
    (b'{"session": "' + b"a" * 32 + b'", "text": 5}', 400),
    (b'{"session": "' + b"a" * 32 + b'", "text": "' + b"x" * 20000 + b'"}', 413),
])
async def test_malformed_requests_are_refused_with_a_translated_error(
        http_settings: Settings, body: bytes, status: int) -> None:
    async with serve(http_settings) as (base, _app), aiohttp.ClientSession() as http:
        async with http.post(f"{base}/webchat/api/messages", data=body,
                             headers={"Content-Type": "application/json",
                                      "Accept-Language": "en"}) as resp:
            assert resp.status == status
            payload = await resp.json()
            assert payload["error"]


async def test_poll_returns_relayed_messages(http_settings: Settings) -> None:
    from bot.app import RUNTIME
    from bot.core.types import Channel, Inbound, Reply

    async with serve(http_settings) as (base, app), aiohttp.ClientSession() as http:
        client = WebChatClient(http, base, secrets.token_hex(16))
        await client.say("/start")
        for step in ("lang:en", "safe:ok", "region:milan"):  # her row exists once she is set up
            await client.post({"session": client.session, "action": step})
        runtime = app[RUNTIME]
        user_id = (await runtime.core.handle(
            Inbound(Channel.WEBCHAT, client.session, action="menu"))).user_id
        assert user_id
        assert await runtime.delivery.send_to_user(user_id, [Reply("A caseworker answered.")])
        status, data = await client.post({"session": client.session, "poll": True})
        assert status == 200 and data["replies"][0]["text"] == "A caseworker answered."
        status, data = await client.post({"session": client.session, "poll": True})
        assert data["replies"] == []


def test_rate_limiter_refills() -> None:
    from bot.channels.webchat.adapter import RateLimiter

    now = [0.0]
    limiter = RateLimiter(rate_per_second=1.0, burst=3, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # another client is not affected
    now[0] = 2.0
    assert limiter.allow("a") and limiter.allow("a") and not limiter.allow("a")


async def test_flooding_gets_a_calm_429(http_settings: Settings) -> None:
    async with serve(http_settings, real_rate_limit=True) as (base, _app), \
            aiohttp.ClientSession() as http:
        client = WebChatClient(http, base, secrets.token_hex(16))
        statuses = [(await client.post({"session": client.session, "text": "/start"}))[0]
                    for _ in range(60)]
        assert statuses[0] == 200 and statuses[-1] == 429
        _status, body = await client.post({"session": client.session, "text": "/start"})
        assert "wait" in body["error"]


async def test_body_sent_in_pieces_is_read_whole(http_settings: Settings) -> None:
    """One read() returns what has arrived so far; a slow client's body must still be whole."""
    import asyncio
    import json

    body = json.dumps({"session": secrets.token_hex(16), "text": "/start " + "x" * 3000}).encode()

    async def pieces():  # noqa: ANN202
        for i in range(0, len(body), 500):
            yield body[i:i + 500]
            await asyncio.sleep(0.01)

    async with serve(http_settings) as (base, _app), aiohttp.ClientSession() as http:
        async with http.post(f"{base}/webchat/api/messages", data=pieces(),
                             headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 200
            assert (await resp.json())["replies"]


async def test_poll_keeps_her_language(http_settings: Settings) -> None:
    """A poll runs no core: it must not send English/ltr and flip an Arabic page every 8 s."""
    async with serve(http_settings) as (base, _app), aiohttp.ClientSession() as http:
        client = WebChatClient(http, base, secrets.token_hex(16), accept_language="en")
        await client.say("/start")
        await client.press("lang:ar")
        assert client.last["lang"] == "ar" and client.last["dir"] == "rtl"
        status, data = await client.post({"session": client.session, "poll": True})
        assert status == 200 and data["exit"] is False and data["replies"] == []
        assert "lang" not in data and "dir" not in data and "ui" not in data
        # A real message still carries her language.
        data = await client.press("menu")
        assert data["lang"] == "ar" and data["dir"] == "rtl" and data["ui"]["title"]


async def test_outbox_of_a_closed_page_is_dropped_after_the_session_ttl() -> None:
    from bot.channels.webchat.adapter import WebChatSender
    from bot.core.types import Reply

    now = [1000.0]
    sender = WebChatSender(ttl_seconds=1800, clock=lambda: now[0])
    await sender.send("a" * 32, [Reply("A caseworker answered.")], notification=True)
    now[0] += 1000
    await sender.send("b" * 32, [Reply("for b")], notification=True)
    now[0] += 900  # a's box is 1900 s old, b's 900 s
    assert sender.take("a" * 32) == []
    assert "a" * 32 not in sender._outboxes  # gone from memory, not only hidden
    assert [m["text"] for m in sender.take("b" * 32)] == ["for b"]
    # A new message touches the box again: it lives for another TTL from then.
    await sender.send("c" * 32, [Reply("one")], notification=True)
    now[0] += 1700
    await sender.send("c" * 32, [Reply("two")], notification=True)
    now[0] += 1700
    assert [m["text"] for m in sender.take("c" * 32)] == ["one", "two"]
    # Expired boxes of others are dropped when anything is sent, without anybody polling.
    await sender.send("d" * 32, [Reply("x")], notification=True)
    now[0] += 1800
    await sender.send("e" * 32, [Reply("y")], notification=True)
    assert list(sender._outboxes) == ["e" * 32]


def test_outbox_ttl_defaults_to_the_session_ttl() -> None:
    from bot.channels.webchat.adapter import WebChatSender

    assert WebChatSender().ttl == 1800 == Settings.session_ttl_seconds


async def test_a_flooded_page_can_still_leave(http_settings: Settings) -> None:
    async with serve(http_settings, real_rate_limit=True) as (base, _app), \
            aiohttp.ClientSession() as http:
        client = WebChatClient(http, base, secrets.token_hex(16))
        statuses = [(await client.post({"session": client.session, "text": "/start"}))[0]
                    for _ in range(60)]
        assert statuses[-1] == 429
        status, data = await client.post({"session": client.session, "action": "exit"})
        assert status == 200 and data["exit"] is True
        # Only leaving bypasses the limit; everything else is still refused.
        status, _data = await client.post({"session": client.session, "action": "menu"})
        assert status == 429
        status, _data = await client.post({"session": client.session, "poll": True})
        assert status == 429
        # An oversized body is refused by size before anything else, exit or not.
        async with http.post(f"{base}/webchat/api/messages",
                             data=b'{"action": "exit", "x": "' + b"x" * 20000 + b'"}',
                             headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 413


async def test_one_flooding_session_does_not_lock_out_the_others(http_settings: Settings) -> None:
    """Behind one address (a proxy, a shelter's connection) a flood slows its own session only."""
    async with serve(http_settings, real_rate_limit=True) as (base, _app), \
            aiohttp.ClientSession() as http:
        flood = WebChatClient(http, base, secrets.token_hex(16))
        statuses = [(await flood.post({"session": flood.session, "text": "/start"}))[0]
                    for _ in range(60)]
        assert statuses[-1] == 429
        other = WebChatClient(http, base, secrets.token_hex(16))
        assert (await other.post({"session": other.session, "text": "/start"}))[0] == 200


async def test_new_sessions_from_one_client_are_limited(http_settings: Settings) -> None:
    """A script making a new session for every request still meets the per-client limit."""
    from bot.app import ADAPTERS
    from bot.channels.webchat.adapter import RateLimiter

    async with serve(http_settings, real_rate_limit=True) as (base, app), \
            aiohttp.ClientSession() as http:
        # A bucket that does not refill during the test: it counts requests, not speed.
        app[ADAPTERS]["webchat"].client_limiter = RateLimiter(rate_per_second=0.001, burst=20)
        statuses = []
        for _ in range(25):
            client = WebChatClient(http, base, secrets.token_hex(16))
            statuses.append((await client.post({"session": client.session, "text": "hi"}))[0])
        assert statuses[0] == 200 and statuses[-1] == 429


async def test_the_client_is_the_one_the_trusted_proxy_names(database_url: str) -> None:
    """With TRUSTED_PROXIES, each client named in X-Forwarded-For has its own limit; a request
    that does not come from the proxy cannot name a client."""
    from bot.app import ADAPTERS
    from bot.channels.webchat.adapter import RateLimiter

    settings = make_settings(database_url, demo_data="on", trusted_proxies=("127.0.0.1",))
    async with serve(settings, real_rate_limit=True) as (base, app), \
            aiohttp.ClientSession() as http:
        app[ADAPTERS]["webchat"].client_limiter = RateLimiter(rate_per_second=0.001, burst=20)
        flood_headers = {"X-Forwarded-For": "203.0.113.7", "Accept-Language": "en"}
        statuses = []
        for _ in range(25):
            async with http.post(f"{base}/webchat/api/messages", headers=flood_headers,
                                 json={"session": secrets.token_hex(16), "text": "hi"}) as resp:
                statuses.append(resp.status)
        assert statuses[0] == 200 and statuses[-1] == 429
        async with http.post(f"{base}/webchat/api/messages",
                             headers={"X-Forwarded-For": "198.51.100.9"},
                             json={"session": secrets.token_hex(16), "text": "hi"}) as resp:
            assert resp.status == 200  # another woman behind the same proxy
        # a forged second hop is refused rather than believed
        async with http.post(f"{base}/webchat/api/messages",
                             headers={"X-Forwarded-For": "10.9.9.9, 203.0.113.7"},
                             json={"session": secrets.token_hex(16), "text": "hi"}) as resp:
            assert resp.status == 400


async def test_a_session_with_a_trailing_newline_is_refused(http_settings: Settings) -> None:
    async with serve(http_settings) as (base, _app), aiohttp.ClientSession() as http:
        client = WebChatClient(http, base, secrets.token_hex(16) + "\n")
        status, body = await client.post({"session": client.session, "text": "/start"})
        assert status == 400 and "session" in body["error"]
