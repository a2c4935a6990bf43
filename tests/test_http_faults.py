"""Faults that must not break the way out (issue 9, item 5): a dead session store, a body that
exhausts the JSON parser, and any unexpected error — a translated answer, never a 500 traceback,
never a client address in a log."""
from __future__ import annotations

import logging
import secrets

import aiohttp
import pytest
from aiohttp import web

from bot.core.sessions import MemorySessionStore, RedisSessionStore, SessionData
from bot.core.settings import Settings
from bot.httpguard import install_log_filter, unexpected_errors
from bot.runtime import open_runtime
from tests.chat import ChatDriver
from tests.conftest import free_port, make_settings
from tests.http import WebChatClient, serve


@pytest.fixture
def http_settings(database_url: str) -> Settings:
    return make_settings(database_url, demo_data="on")


async def test_dead_redis_keeps_quick_exit_and_answers_try_again(
        http_settings: Settings) -> None:
    dead = RedisSessionStore(f"redis://127.0.0.1:{free_port()}/0", ttl_seconds=60)
    async with serve(http_settings, store=dead) as (base, _app), \
            aiohttp.ClientSession() as http:
        client = WebChatClient(http, base, secrets.token_hex(16), accept_language="it")
        status, data = await client.post({"session": client.session, "text": "/start"})
        assert status == 200 and data["exit"] is False
        assert "Riprova" in data["replies"][0]["text"] or "riprov" in data["replies"][0]["text"]
        assert "exit" in [b["action"] for row in data["replies"][-1]["buttons"] for b in row]
        for body in ({"session": client.session, "action": "exit"},
                     {"session": client.session, "text": "/exit"},
                     {"session": client.session, "text": "Esci."}):
            status, data = await client.post(body)
            assert status == 200 and data["exit"] is True, body


async def test_deeply_nested_body_gets_a_translated_400_and_no_address_is_logged(
        http_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with serve(http_settings) as (base, _app), aiohttp.ClientSession() as http:
        async with http.post(f"{base}/webchat/api/messages", data=b"[" * 5000,
                             headers={"Content-Type": "application/json",
                                      "Accept-Language": "es"}) as resp:
            assert resp.status == 400
            assert "solicitud" in (await resp.json())["error"]
    assert "127.0.0.1" not in caplog.text
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text


async def test_an_unexpected_error_is_a_translated_json_answer_without_a_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "canary-" + secrets.token_hex(6)

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError(secret)

    app = web.Application(middlewares=[unexpected_errors])
    app.router.add_get("/boom", boom)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http, http.get(
                f"http://127.0.0.1:{port}/boom", headers={"Accept-Language": "bg"}) as resp:
            assert resp.status == 500
            payload = await resp.json()
            assert "опитайте" in payload["error"].lower()
    finally:
        await runner.cleanup()
    assert secret not in caplog.text and "Traceback" not in caplog.text
    assert "request failed: RuntimeError" in caplog.text


def test_aiohttp_error_line_keeps_no_address(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    install_log_filter()
    try:
        raise ValueError("body of the request")
    except ValueError as exc:
        logging.getLogger("aiohttp.server").exception(
            "Error handling request from %s", "203.0.113.7", exc_info=exc)
    assert "203.0.113.7" not in caplog.text and "body of the request" not in caplog.text
    assert "request failed: ValueError" in caplog.text


class FlakyStore(MemorySessionStore):
    """A session store that is down for its first `failures` calls, then works (Redis restarted)."""

    def __init__(self, failures: int) -> None:
        super().__init__(ttl_seconds=600)
        self.failures = failures

    def _maybe_fail(self) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("session store down")

    async def load(self, key: str) -> SessionData:
        self._maybe_fail()
        return await super().load(key)

    async def save(self, key: str, session: SessionData) -> None:
        self._maybe_fail()
        await super().save(key, session)


async def test_a_session_store_briefly_down_then_back(database_url: str, clock,  # noqa: ANN001
                                                      caplog: pytest.LogCaptureFixture) -> None:
    store = FlakyStore(failures=2)
    async with open_runtime(make_settings(database_url), clock=clock, store=store) as rt:
        chat = ChatDriver(rt.core)
        for _ in range(2):
            out = await chat.say("/start")
            assert "try again" in out.replies[0].text and not out.exit
        await chat.onboard()  # back: the journey works from the start
        assert "help" in chat.actions()
    failures = [r for r in caplog.records if "update failed" in r.getMessage()]
    assert len(failures) == 2 and all("ConnectionError" in r.getMessage() for r in failures)
