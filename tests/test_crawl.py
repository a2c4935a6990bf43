"""A tester's walk, automated: in every language, as a participant, a professional and a
coordinator, press the buttons each screen offers (random walks with a fixed seed) and type odd
text at every prompt. Every screen must carry the quick exit, no handler may fail, and no English
may show through in another language."""
from __future__ import annotations

import random

import pytest
from babel.messages.pofile import read_po
from sqlalchemy import select

from bot.core.i18n import LANGUAGES, LOCALES_DIR, translations
from bot.demo import MEETUP_PLACE
from bot.runtime import Runtime
from db.models import Meetup, Organisation
from db.queries import meetups as mq
from handlers.mod_team import create_invite
from tests.canary import assert_not_logged, assert_not_on_disk, new_canary
from tests.chat import ChatDriver

CRASH = "Sorry, something went wrong on our side"
ODD_TEXTS = ["", "   ", "🙂" * 30, "\u200f\u202e١٢٣", "'; DROP TABLE users;--", "<b>x</b>",
             "31.02.2026", "99:99", "-5", "1" * 40, "x" * 3000]


def untranslated_lines(lang: str) -> set[str]:
    """English source lines that must not show in `lang` (its translation differs from them)."""
    with (LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return {m.id for m in read_po(fh, locale=lang)
                if isinstance(m.id, str) and len(m.id) >= 12 and m.string != m.id}


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the walk is about screens; the database tests run on both backends


async def _become(rt: Runtime, chat: ChatDriver, role: str) -> None:
    async with rt.sessionmaker() as db, db.begin():
        org = (await db.execute(select(Organisation).where(Organisation.slug == "demo"))
               ).scalar_one()
        code, _invite = await create_invite(db, role=role, org_id=org.id, now=rt.services.clock(),
                                            ttl_hours=1)
    await chat.say(f"/redeem {code}")


async def walk(chat: ChatDriver, rng: random.Random, steps: int, canary: str,
               english: set[str], lang: str) -> list[str]:
    problems: list[str] = []
    for _ in range(steps):
        # Stay in this language (switching is tested elsewhere) and in this conversation.
        actions = [a for a in chat.actions() if a not in ("exit", "forget:yes")
                   and not (a.startswith("lang:") and a != f"lang:{lang}")]
        if not actions or rng.random() < 0.25:
            text = rng.choice(ODD_TEXTS + [canary])
            out = await chat.say(text)
            where = f"typed {text[:12]!r}"
        else:
            action = rng.choice(actions)
            out = await chat.press(action)
            where = f"pressed {action}"
        if out.exit:
            await chat.say("/start")
            continue
        if not out.replies:
            problems.append(f"{lang}: no reply after {where}")
            continue
        if "exit" not in [b.action for b in out.replies[-1].buttons[-1]] if \
                out.replies[-1].buttons else True:
            problems.append(f"{lang}: no quick exit after {where}")
        for action in chat.actions():
            if not chat.core.claims(action):
                problems.append(f"{lang}: no route claims {action!r} (after {where})")
        texts = [r.text for r in out.replies] + [b.label for b in chat.buttons()]
        if any(CRASH in t for t in texts):
            problems.append(f"{lang}: a handler failed after {where}")
        if lang != "en":
            for t in texts:
                for line in t.split("\n"):
                    if line.strip() in english:
                        problems.append(f"{lang}: English shows through: {line.strip()[:50]!r}")
    return problems


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("role", ["participant", "professional", "coordinator"])
async def test_random_walks_find_no_broken_screen(demo_rt: Runtime, lang: str, role: str,
                                                  caplog_all: pytest.LogCaptureFixture,
                                                  tmp_path) -> None:  # noqa: ANN001
    rng = random.Random(f"{lang}-{role}")
    english = untranslated_lines(lang)
    canary = new_canary()
    problems: list[str] = []
    for walk_no in range(4):
        chat = ChatDriver(demo_rt.core, language_hint=lang)
        await chat.onboard(language=lang, region=["milan", "catalonia", "karditsa",
                                                  "bulgaria"][walk_no])
        if role != "participant":
            await _become(demo_rt, chat, role)
            await chat.press("menu", must_exist=False)
        problems += await walk(chat, rng, 60, canary, english, lang)
    assert sorted(set(problems)) == []
    assert_not_logged(canary, caplog_all)
    database_file = demo_rt.settings.database_url.split("///", 1)[1]
    from pathlib import Path

    assert_not_on_disk(canary, Path(database_file).parent)


def demo_places() -> set[str]:
    """The demo groups' place in every language (the words a closed group must never show)."""
    return {"DEMO address"} | {translations(lang).gettext(MEETUP_PLACE) for lang in LANGUAGES}


@pytest.mark.parametrize("region", ["milan", "catalonia", "karditsa", "bulgaria", "elsewhere"])
async def test_a_visitor_pressing_every_button_sees_no_demo_address(demo_rt: Runtime,
                                                                    region: str) -> None:
    """Breadth-first over every button a visitor is shown (and every meetup of every region,
    forged): no closed group's place ever shows, and no place is taken."""
    hidden = demo_places()
    chat = ChatDriver(demo_rt.core)
    await chat.onboard(region=region)
    async with demo_rt.sessionmaker() as db:
        ids = list((await db.execute(select(Meetup.id))).scalars())
        before = await mq.confirmed_counts(db, ids)
    queue = ["menu", "ev", *[f"ev:{verb}:{n}" for n in ids
                             for verb in ("show", "join", "wait", "where", "ask", "askok")]]
    seen = set(queue)
    pressed = 0
    while queue and pressed < 600:
        action = queue.pop(0)
        out = await chat.press(action, must_exist=False)
        pressed += 1
        if out.exit:
            await chat.onboard(region=region)
            continue
        texts = [r.text for r in out.replies] + [b.label for b in chat.buttons()]
        leaked = [t for t in texts if any(place in t for place in hidden)]
        assert not leaked, f"{region}: {action} shows {leaked[0][:80]!r}"
        for nxt in chat.actions():
            if nxt in seen or nxt == "exit" or nxt.startswith(("forget", "lang:", "region:",
                                                                "set:")):
                continue
            seen.add(nxt)
            queue.append(nxt)
    assert pressed > 40, pressed
    async with demo_rt.sessionmaker() as db:
        assert await mq.confirmed_counts(db, ids) == before
