"""A person in a chat, for tests: she types, presses buttons by their action, and reads screens."""
from __future__ import annotations

import secrets

from bot.core.core import Core
from bot.core.types import Button, Channel, Inbound, Outcome, Reply


class ChatDriver:
    def __init__(self, core: Core, channel: Channel = Channel.WEBCHAT,
                 address: str | None = None, language_hint: str | None = None) -> None:
        self.core = core
        self.channel = channel
        self.address = address or secrets.token_hex(16)
        self.language_hint = language_hint
        self.last: Outcome | None = None

    async def send(self, inbound: Inbound) -> Outcome:
        self.last = await self.core.handle(inbound)
        return self.last

    async def say(self, text: str) -> Outcome:
        return await self.send(Inbound(self.channel, self.address, text=text,
                                       language_hint=self.language_hint))

    async def press(self, action: str, *, must_exist: bool = True) -> Outcome:
        """Press a button of the last screen (or, with must_exist=False, forge any payload)."""
        if must_exist:
            assert self.last is not None and action in self.actions(), (
                f"no button {action!r} on the screen; have {self.actions()}")
        return await self.send(Inbound(self.channel, self.address, action=action,
                                       language_hint=self.language_hint))

    @property
    def replies(self) -> list[Reply]:
        return self.last.replies if self.last else []

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.replies)

    def buttons(self) -> list[Button]:
        return [b for r in self.replies for row in r.buttons for b in row]

    def actions(self) -> list[str]:
        return [b.action for b in self.buttons()]

    def action_starting(self, prefix: str) -> str:
        found = [a for a in self.actions() if a.startswith(prefix)]
        assert found, f"no button starting {prefix!r}; have {self.actions()}"
        return found[0]

    async def onboard(self, language: str = "en", region: str = "milan",
                      start: str = "/start") -> Outcome:
        await self.say(start)
        await self.press(f"lang:{language}")
        await self.press("safe:ok")
        return await self.press(f"region:{region}")
