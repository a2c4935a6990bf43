"""Telegram on python-telegram-bot: the adapter, the sender with its error table, the aiohttp
request, the update processor, the channel's capabilities."""
from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.settings import Settings

if TYPE_CHECKING:
    from bot.channels.telegram.adapter import TelegramChannel

__all__ = ["from_settings"]


def from_settings(settings: Settings) -> TelegramChannel | None:
    """The channel, when its token is set. python-telegram-bot is loaded only then: a web chat
    or Viber deployment starts without it (a restart is what a woman waits for)."""
    if not settings.telegram_token:
        return None
    from bot.channels.telegram.adapter import TelegramChannel

    return TelegramChannel(settings)
