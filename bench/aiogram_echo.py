"""A bare aiogram 3 echo bot, as configured by default, measured like our bot (issue 4, item 7).

Default AiohttpSession, default Dispatcher, long polling with its defaults (updates handled as
tasks), one message handler that sends the text back and one tap handler that answers the tap
and edits its data into the tapped message. aiogram is an optional benchmark
dependency: when it is not installed the run is skipped and the table says so.
"""
from __future__ import annotations

import asyncio
import importlib.util
import logging
from contextlib import suppress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiogram import Dispatcher

STOP_LIMIT = 15.0  # seconds to wait for the polling loop to stop before cancelling it

log = logging.getLogger(__name__)


def aiogram_installed() -> bool:
    return importlib.util.find_spec("aiogram") is not None


async def run_aiogram_echo(root: str) -> float | None:
    """Time the current scenario through a bare aiogram echo bot; None when it is missing."""
    if not aiogram_installed():
        return None
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import CallbackQuery, Message

    # Imported here: telegram_throughput imports this module.
    from bench.telegram_throughput import TOKEN, _measure

    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(root)))
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await bot.send_message(message.chat.id, message.text or "")

    @dp.callback_query()
    async def tap(query: CallbackQuery) -> None:
        # Answered, and its data edited into the tapped message, as our bot edits its screen.
        # With the tap's id: aiogram handles updates in any order, and an edit that changes
        # nothing is refused by Telegram (and would leave the tap unanswered here).
        await query.answer()
        assert query.message is not None
        await bot.edit_message_text(f"{query.data} {query.id}", chat_id=query.message.chat.id,
                                    message_id=query.message.message_id)

    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False))
    measure = asyncio.create_task(_measure(root))
    try:
        # If the polling loop dies, do not sit out the whole RUN_LIMIT waiting for answers.
        await asyncio.wait({polling, measure}, return_when=asyncio.FIRST_COMPLETED)
        if measure.done():
            return measure.result()
        measure.cancel()
        log.error("aiogram polling stopped early: %r", polling.exception())
        return None
    finally:
        await _stop(dp, polling)
        await bot.session.close()  # already closed by start_polling; closing twice is safe


async def _stop(dp: Dispatcher, polling: asyncio.Task[None]) -> None:
    if not polling.done():
        # RuntimeError: "Polling is not started" (it failed first); TimeoutError: cancel below.
        with suppress(RuntimeError, TimeoutError):
            await asyncio.wait_for(dp.stop_polling(), STOP_LIMIT)
    if not polling.done():
        polling.cancel()
    with suppress(asyncio.CancelledError):
        await asyncio.gather(polling, return_exceptions=True)
