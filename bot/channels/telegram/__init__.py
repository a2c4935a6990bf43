"""Telegram on python-telegram-bot: the adapter, the sender with its error table, the aiohttp
request, the update processor."""
from __future__ import annotations

from bot.channels.telegram.adapter import from_settings

__all__ = ["from_settings"]
