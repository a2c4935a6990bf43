"""Viber: the webhook adapter and the REST client with its status table."""
from __future__ import annotations

from bot.channels.viber.adapter import from_settings

__all__ = ["from_settings"]
