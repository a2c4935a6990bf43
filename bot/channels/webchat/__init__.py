"""The web chat: the JSON endpoint (docs/ARCHITECTURE.md section 5) and the page it serves."""
from __future__ import annotations

from bot.channels.webchat.adapter import from_settings

__all__ = ["from_settings"]
