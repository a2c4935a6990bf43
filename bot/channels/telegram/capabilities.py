"""What Telegram can do (the channel's Capabilities), apart from the adapter so that the runtime
can know it without loading python-telegram-bot."""
from __future__ import annotations

from datetime import timedelta

from bot.core.channels import Capabilities, ExitErasure

MAX_TEXT = 4096  # Telegram counts UTF-16 code units
MAX_BUTTONS_PER_ROW = 8

CAPABILITIES = Capabilities(
    deletes_messages=True, delete_window=timedelta(hours=47), max_text_chars=MAX_TEXT,
    max_buttons_per_row=MAX_BUTTONS_PER_ROW, max_label_chars=64, paid_bot_initiated=False,
    exit_erasure=ExitErasure.DELETE_MESSAGES)
