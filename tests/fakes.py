"""Fakes at the channel boundary: a sender that records what would reach each address."""
from __future__ import annotations

from collections.abc import Sequence

from bot.core.types import Reply


class Outbox:
    """A web chat sender that keeps what would be delivered to each address."""

    name = "webchat"

    def __init__(self) -> None:
        self.sent: dict[str, list[Reply]] = {}

    async def send(self, address: str, replies: Sequence[Reply], *,
                   notification: bool) -> list[str]:
        self.sent.setdefault(address, []).extend(replies)
        return []

    async def delete(self, address: str, refs: Sequence[str]) -> None:
        return None

    def take(self, address: str) -> list[Reply]:
        return self.sent.pop(address, [])
