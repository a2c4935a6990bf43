"""AiohttpRequest, python-telegram-bot's transport on one aiohttp session: JSON calls, uploads,
the four time-outs, long polling, errors mapped to PTB's exceptions, and nothing in the logs."""
from __future__ import annotations

import asyncio
import io
import logging

import pytest
from aiohttp import web
from telegram import Bot, InputFile
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.channels.telegram.request import AiohttpRequest, make_session
from tests.canary import assert_not_logged, new_canary
from tests.fake_bot_api import serve_fake


async def make_bot(base: str, token: str, **timeouts: float) -> tuple[Bot, AiohttpRequest]:
    request = AiohttpRequest(**timeouts)
    poll = AiohttpRequest(session=None, read_timeout=timeouts.get("read_timeout", 5.0))
    bot = Bot(token, base_url=base, request=request, get_updates_request=poll)
    await bot.initialize()
    return bot, request


async def test_json_calls_and_errors_become_ptb_exceptions() -> None:
    async with serve_fake() as (fake, base):
        bot, _ = await make_bot(base, fake.token)
        try:
            me = await bot.get_me()
            assert me.username == "weather_bot"
            sent = await bot.send_message(5, "héllo 😀 ‏مرحبا <b>x</b>", protect_content=True)
            assert fake.messages(5)[0].text == "héllo 😀 ‏مرحبا <b>x</b>"
            assert fake.messages(5)[0].protect_content is True
            assert sent.message_id == 1
            for kind, exc in (("429", RetryAfter), ("403", Forbidden), ("400", BadRequest),
                              ("500", NetworkError), ("502", NetworkError)):
                fake.fail("sendMessage", kind, retry_after=3)
                with pytest.raises(exc):
                    await bot.send_message(5, "x")
            assert len(fake.messages(5)) == 1
        finally:
            await bot.shutdown()


async def test_uploads_go_as_multipart() -> None:
    async with serve_fake() as (fake, base):
        bot, _ = await make_bot(base, fake.token)
        try:
            payload = b"%PDF-1.4 " + b"x" * 300_000
            await bot.send_document(7, InputFile(io.BytesIO(payload), filename="dates.pdf"),
                                    caption="dates")
            assert fake.uploads == [("document", "dates.pdf", len(payload))]
            params = fake.calls_to("sendDocument")[0]
            assert int(params["chat_id"]) == 7 and params["caption"] == "dates"
        finally:
            await bot.shutdown()


async def test_read_timeout_raises_timed_out_and_per_call_override_wins() -> None:
    async with serve_fake() as (fake, base):
        bot, request = await make_bot(base, fake.token, read_timeout=0.3)
        try:
            fake.fail("sendMessage", "timeout", delay=1.5)
            with pytest.raises(TimedOut):
                await bot.send_message(1, "x")
            fake.fail("sendMessage", "slow", delay=0.6)
            sent = await bot.send_message(1, "y", read_timeout=2.0)  # the override is honoured
            assert sent.text == "y"
        finally:
            await bot.shutdown()


async def test_long_poll_waits_longer_than_the_read_timeout() -> None:
    """PTB adds the long-poll `timeout` to the read time-out of getUpdates: a quiet poll of 1.5 s
    with a read time-out of 0.5 s must not be mistaken for a dead connection."""
    async with serve_fake() as (fake, base):
        bot, _ = await make_bot(base, fake.token, read_timeout=0.5)
        try:
            loop = asyncio.get_running_loop()
            start = loop.time()
            assert await bot.get_updates(timeout=1.5) == ()
            assert loop.time() - start >= 1.4

            async def later() -> None:
                await asyncio.sleep(0.3)
                fake.say(9, "hi")

            task = asyncio.create_task(later())
            updates = await bot.get_updates(timeout=5)
            await task
            assert [u.message.text for u in updates if u.message] == ["hi"]
        finally:
            await bot.shutdown()


async def test_connect_timeout_and_refused_connection() -> None:
    # Nothing listens on this port: a network error, not a hang.
    bot = Bot("1:x", base_url="http://127.0.0.1:9/bot",
              request=AiohttpRequest(connect_timeout=0.5, pool_timeout=0.5))
    await bot._request[1].initialize()
    try:
        with pytest.raises(NetworkError):
            await bot.get_me()
    finally:
        await bot._request[1].shutdown()


async def test_pool_is_bounded_and_pool_timeout_applies() -> None:
    gate = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await gate.wait()
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    request = AiohttpRequest(pool_size=2, connect_timeout=0.2, pool_timeout=0.2,
                             read_timeout=5.0)
    await request.initialize()
    try:
        url = f"http://127.0.0.1:{port}/bot1:x/deleteWebhook"
        busy = [asyncio.create_task(request.post(url, RequestData())) for _ in range(2)]
        await asyncio.sleep(0.1)
        with pytest.raises(TimedOut):  # both connections are taken: no third one
            await request.post(url, RequestData())
        gate.set()
        assert await asyncio.gather(*busy) == [True, True]
    finally:
        await request.shutdown()
        await runner.cleanup()


async def test_shared_session_is_not_closed_by_a_request_that_does_not_own_it() -> None:
    session = make_session(4)
    try:
        first, second = AiohttpRequest(session=session), AiohttpRequest(session=session)
        await first.initialize()
        await second.initialize()
        await first.shutdown()
        assert not session.closed and first.session is session is second.session
    finally:
        await session.close()
    own = AiohttpRequest()
    await own.initialize()
    await own.initialize()  # idempotent: PTB initialises each request object itself
    assert own.session is not None
    await own.shutdown()
    assert own.session.closed
    with pytest.raises(RuntimeError):
        await own.do_request("http://127.0.0.1:9/", "POST")


async def test_unreadable_answer_is_not_logged(caplog_all: pytest.LogCaptureFixture) -> None:
    canary = new_canary()

    async def broken(request: web.Request) -> web.Response:
        return web.Response(text="<html>" + canary, status=500)

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", broken)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    request = AiohttpRequest()
    await request.initialize()
    caplog_all.set_level(logging.DEBUG)
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/bot1:x/sendMessage"
        data = RequestData([RequestParameter("text", canary, [])])
        with pytest.raises(NetworkError) as raised:
            await request.post(url, data)
        assert canary not in str(raised.value)
    finally:
        await request.shutdown()
        await runner.cleanup()
    assert_not_logged(canary, caplog_all)



async def serve_broken(kind: str, seen: list[bytes]) -> web.AppRunner:
    """A Bot API that reads the whole request (so it may well act on it), then breaks."""
    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(await request.read())
        assert request.transport is not None
        if kind == "disconnect":  # no answer at all: ServerDisconnectedError
            request.transport.close()
            return web.Response()
        # An answer cut short: ClientPayloadError while reading it.
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 1000
        await response.prepare(request)
        await response.write(b'{"ok": true, "result": ')
        request.transport.close()
        return response

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


@pytest.mark.parametrize("kind", ["disconnect", "cut"])
async def test_a_connection_lost_after_sending_is_timed_out_not_network_error(kind: str) -> None:
    """The request went out and may have arrived: TimedOut, which bulk sends never repeat;
    only a connection that was never made is a (retried) NetworkError."""
    seen: list[bytes] = []
    runner = await serve_broken(kind, seen)
    request = AiohttpRequest()
    await request.initialize()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/bot1:x/sendMessage"
        data = RequestData([RequestParameter("chat_id", 5, []),
                            RequestParameter("text", "A date ‏مرحبا 😀", [])])
        with pytest.raises(TimedOut) as raised:
            await request.post(url, data)
        assert "A date" not in str(raised.value) and "1:x" not in str(raised.value)
        assert len(seen) == 1 and b"A date" in seen[0]  # it did arrive
    finally:
        await request.shutdown()
        await runner.cleanup()


async def test_a_refused_connection_is_a_network_error_not_a_time_out() -> None:
    request = AiohttpRequest(connect_timeout=0.5, pool_timeout=0.5)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as raised:
            await request.post("http://127.0.0.1:9/bot1:x/sendMessage", RequestData())
        assert not isinstance(raised.value, TimedOut)  # nothing was sent: safe to retry
    finally:
        await request.shutdown()
