"""Buttons fit a phone: Telegram cuts a label to one line, so no label is over 40 characters,
and none is over 20 where two or more share a row. Every screen reachable by buttons, in all
eight languages, as a participant and as a coordinator (a crawl, each action pressed once)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.core.i18n import LANGUAGES
from bot.runtime import Runtime
from db.models import Organisation
from handlers.mod_team import create_invite
from tests.chat import ChatDriver

WHOLE_ROW = 40
SHARED_ROW = 20
# Leaving, forgetting and switching language end or change the walk; they are screens of their own.
SKIP_PREFIXES = ("exit", "forget", "lang:")
MAX_PRESSES = 400


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the walk is about screens


def too_wide(chat: ChatDriver) -> list[str]:
    found = []
    for reply in chat.replies:
        for row in reply.buttons:
            limit = SHARED_ROW if len(row) > 1 else WHOLE_ROW
            found += [f"{b.label!r} ({len(b.label)} > {limit}, {b.action})" for b in row
                      if len(b.label) > limit]
    return found


async def crawl(chat: ChatDriver) -> tuple[list[str], int]:
    problems = too_wide(chat)
    seen: set[str] = set()
    queue = [a for a in chat.actions() if not a.startswith(SKIP_PREFIXES)]
    presses = 0
    while queue and presses < MAX_PRESSES:
        action = queue.pop(0)
        if action in seen:
            continue
        seen.add(action)
        await chat.press(action, must_exist=False)
        presses += 1
        problems += too_wide(chat)
        queue += [a for a in chat.actions() if a not in seen and not a.startswith(SKIP_PREFIXES)]
    return problems, presses


async def become(rt: Runtime, chat: ChatDriver, role: str) -> None:
    async with rt.sessionmaker() as db, db.begin():
        org = (await db.execute(select(Organisation).where(Organisation.slug == "demo"))
               ).scalar_one()
        code, _invite = await create_invite(db, role=role, org_id=org.id, now=rt.services.clock(),
                                            ttl_hours=1)
    await chat.say(f"/redeem {code}")


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_every_button_fits_a_phone(demo_rt: Runtime, lang: str) -> None:
    problems: list[str] = []
    # The start screens, with the longest region name.
    chat = ChatDriver(demo_rt.core, language_hint=lang)
    await chat.say("/start")
    problems += too_wide(chat)
    await chat.press(f"lang:{lang}")
    problems += too_wide(chat)
    await chat.press("safe:ok")
    problems += too_wide(chat)
    for role in ("participant", "coordinator"):
        chat = ChatDriver(demo_rt.core, language_hint=lang)
        await chat.onboard(language=lang, region="catalonia" if role == "participant" else "milan")
        if role != "participant":
            await become(demo_rt, chat, role)
            await chat.press("menu", must_exist=False)
        found, presses = await crawl(chat)
        assert presses > 20, f"the crawl reached too few screens ({presses})"
        problems += found
    assert not problems, "\n".join(sorted(set(problems)))
