"""The first journeys through the core: start -> language -> safety -> region -> menu -> help -> exit."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.core.i18n import LANGUAGES
from bot.core.types import Channel, Inbound
from bot.runtime import Runtime
from db.models import MessageRef, User
from tests.chat import ChatDriver


async def test_first_contact_offers_every_language_with_hint_first(rt: Runtime) -> None:
    chat = ChatDriver(rt.core, language_hint="uk-UA")
    await chat.say("/start")
    langs = [a for a in chat.actions() if a.startswith("lang:")]
    assert sorted(langs) == sorted(f"lang:{code}" for code in LANGUAGES)
    assert langs[0] == "lang:uk"
    assert "Українська" in [b.label for b in chat.buttons()][0]
    assert "exit" in chat.actions()


async def test_walk_to_help_contacts_and_quick_exit(chat: ChatDriver, rt: Runtime) -> None:
    await chat.say("/start")
    await chat.press("lang:en")
    assert "safe moment" in chat.text
    assert "cannot erase" in chat.text
    await chat.press("safe:ok")
    assert "region:bulgaria" in chat.actions() and "region:elsewhere" in chat.actions()
    await chat.press("region:bulgaria")
    assert {"ev", "job", "help", "set", "exit"} <= set(chat.actions())
    await chat.press("help")
    assert "0800 1 8676" in chat.text and "0800 11 977" in chat.text and "112" in chat.text
    assert "Source:" in chat.text and "Last checked" in chat.text
    assert "call log" in chat.text
    out = await chat.press("exit")
    assert out.exit is True
    assert len(out.replies) == 1 and out.replies[0].buttons == ()
    async with rt.sessionmaker() as db:
        user = (await db.execute(select(User))).scalar_one()
        assert user.onboarded and user.region_code == "bulgaria"


@pytest.mark.parametrize("word", [
    "/exit", "exit", "EXIT", "изход", "salir", "خروج", "вихід",
    # typed naturally: capitals, no accent, a decomposed accent, punctuation, an RTL mark
    "ΕΞΟΔΟΣ", "εξοδος", "ε\u0301ξοδος", "Exit.", "exit!", "\u200fخروج", "ИЗХОД!", " Esci ",
    "ｅｘｉｔ", "sal\u00edr", "\u200bexit\u200b",
    # her word typed as if it were a command: the slash is punctuation like any other
    "/esci", "/salir", "/изход", "/EXIT@WeGoBot", "/Quit"])
async def test_exit_word_works_from_any_screen(rt: Runtime, word: str) -> None:
    chat = ChatDriver(rt.core)
    await chat.onboard()
    await chat.press("help")
    out = await chat.say(word)
    assert out.exit is True


@pytest.mark.parametrize("text", ["exits", "exit now please", "έξοδο", "next"])
async def test_words_near_the_exit_word_stay_in_the_chat(rt: Runtime, text: str) -> None:
    chat = ChatDriver(rt.core)
    await chat.onboard()
    out = await chat.say(text)
    assert out.exit is False


async def test_every_screen_carries_the_exit_button(chat: ChatDriver) -> None:
    steps = [("say", "/start"), ("press", "lang:it"), ("press", "help:safety"),
             ("press", "help"), ("press", "menu"), ("say", "hello?"), ("press", "safe:ok"),
             ("press", "region:milan"), ("press", "help"), ("press", "help:c:GR"),
             ("press", "help:safety")]
    for kind, value in steps:
        if kind == "say":
            await chat.say(value)
        else:
            await chat.press(value, must_exist=False)
        assert "exit" in [b.action for b in chat.replies[-1].buttons[-1]], (value, chat.replies)


async def test_deep_link_lands_after_safety_notice(demo_chat: ChatDriver, demo_rt: Runtime
                                                   ) -> None:
    await demo_chat.say("/start ev-1")
    await demo_chat.press("lang:en")
    assert "safe moment" in demo_chat.text
    await demo_chat.press("safe:ok")
    await demo_chat.press("region:milan")
    # The meetups journey owns 'ev:show:1'; whatever it shows, it is not the main menu.
    assert "Main menu. What would you like to do?" not in demo_chat.text


async def test_unknown_deep_link_is_refused_calmly(chat: ChatDriver) -> None:
    await chat.say("/start ev-1; DROP TABLE users")
    assert "not valid" in chat.text
    assert any(a.startswith("lang:") for a in chat.actions())


@pytest.mark.parametrize("payload", ["lang:xx", "region:atlantis", "help:c:US", "nope:1",
                                     "menu:extra:args"])
async def test_forged_payloads_change_nothing(chat: ChatDriver, rt: Runtime, payload: str) -> None:
    await chat.onboard(region="milan")
    await chat.press(payload, must_exist=False)
    assert chat.replies and "exit" in chat.actions()
    async with rt.sessionmaker() as db:
        user = (await db.execute(select(User))).scalar_one()
        assert (user.language, user.region_code) == ("en", "milan")


async def test_invalid_action_bytes_are_refused(chat: ChatDriver) -> None:
    await chat.onboard()
    out = await chat.send(Inbound(Channel.WEBCHAT, chat.address, action="x" * 65))
    assert "not valid" in out.replies[0].text
    out = await chat.send(Inbound(Channel.WEBCHAT, chat.address, action="job:<script>"))
    assert "not valid" in out.replies[0].text


@pytest.mark.parametrize("text", ["", "   ", "🙂🙂🙂", "\u200f\u202eabc", "'; DROP TABLE users;--",
                                  "<b>hi</b>"])
async def test_odd_text_gets_a_calm_answer(chat: ChatDriver, text: str) -> None:
    await chat.onboard()
    out = await chat.say(text)
    assert out.replies and not out.exit
    assert "exit" in chat.actions()


async def test_oversized_text_is_refused(chat: ChatDriver) -> None:
    await chat.onboard()
    out = await chat.say("a" * 10_000)
    assert "too long" in out.replies[0].text


async def test_language_switch_translates_screens(chat: ChatDriver) -> None:
    await chat.say("/start")
    await chat.press("lang:es")
    assert "exit" in chat.actions()
    labels = " ".join(b.label for b in chat.buttons())
    assert "Quick exit" not in labels  # the Spanish catalog answered


async def test_quick_exit_makes_tracked_messages_due(chat: ChatDriver, rt: Runtime,
                                                     clock) -> None:  # noqa: ANN001
    await chat.onboard()
    async with rt.sessionmaker() as db, db.begin():
        user = (await db.execute(select(User))).scalar_one()
        db.add(MessageRef(user_id=user.id, channel="webchat", ref="5", sent_at=clock.now,
                          delete_at=None))
    await chat.press("exit")
    async with rt.sessionmaker() as db:
        due = (await db.execute(select(func.count()).select_from(MessageRef)
                                .where(MessageRef.delete_at <= clock.now))).scalar_one()
        assert due == 1


async def test_quick_exit_works_even_when_the_database_fails(chat: ChatDriver, rt: Runtime
                                                             ) -> None:
    """The way out must not depend on the database: with it unreachable, ✖ and the exit word
    still end the session and leave only the neutral cover message."""
    from sqlalchemy.exc import OperationalError

    await chat.onboard()
    working = rt.core._sessionmaker  # noqa: SLF001 - breaking the database on purpose

    def broken() -> object:
        raise OperationalError("connect", {}, Exception("database is down"))

    rt.core._sessionmaker = broken  # noqa: SLF001
    try:
        out = await chat.press("help")
        assert not out.exit and "something went wrong" in out.replies[0].text
        for inbound in ("exit", "/exit"):
            out = await chat.say(inbound)
            assert out.exit is True and len(out.replies) == 1
        out = await chat.press("exit", must_exist=False)
        assert out.exit is True
    finally:
        rt.core._sessionmaker = working  # noqa: SLF001


@pytest.mark.parametrize("forged", ["region:milan", "safe:ok"])
async def test_set_up_cannot_skip_the_language_or_the_safety_notice(rt: Runtime, forged: str
                                                                    ) -> None:
    chat = ChatDriver(rt.core)
    await chat.press(forged, must_exist=False)  # as a very first message
    assert any(a.startswith("lang:") for a in chat.actions())
    await chat.press("lang:en", must_exist=False)
    await chat.press("region:milan", must_exist=False)  # before the notice was accepted
    async with rt.sessionmaker() as db:
        # Not set up, so still a visitor: no row at all (bot/core.py), no region anywhere.
        assert (await db.execute(select(User))).first() is None
    assert any(a.startswith("lang:") for a in chat.actions())  # back to the first step
