"""Issue 11: what she types is understood (help from any screen, in all eight languages, the
words of every language whatever her language), free-text prompts are never hijacked, and the
small things of the start screens and the clock."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.i18n import LANGUAGES, format_when, language_name, translations, use_language
from bot.core.keywords import HELP_WORDS, JOB_WORDS, MEETUP_WORDS, MENU_WORDS, SETTINGS_WORDS
from bot.runtime import Runtime
from tests.chat import ChatDriver
from tests.test_moderation import make_org, staff
from tests.test_talk import add_caseworker, open_talk, take
from tests.test_vanishing import FakeSender

HELP_TYPED = ["help", "I need help", "HELP!", "aiuto", "ayuda", "¡Ayúdame!", "ajuda", "помощ",
              "βοήθεια", "ΒΟΗΘΕΙΑ", "βοηθεια", "допомога", "مساعدة", "أحتاج المساعدة"]


@pytest.fixture
def backend() -> str:
    return "sqlite"  # screens, not storage


@pytest.mark.parametrize("typed", HELP_TYPED)
async def test_help_words_open_the_help_contacts_from_the_menu(demo_rt: Runtime,
                                                               typed: str) -> None:
    chat = ChatDriver(demo_rt.core)
    await chat.onboard(region="milan")
    await chat.say(typed)
    assert "Help in Italy" in chat.text and "1522" in chat.text
    assert "help:safety" in chat.actions()


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_help_word_of_every_language_works_in_every_language(demo_rt: Runtime,
                                                                   lang: str) -> None:
    chat = ChatDriver(demo_rt.core, language_hint=lang)
    await chat.onboard(language=lang, region="karditsa")
    await chat.press("set")  # another screen: the word works from there too
    for other in LANGUAGES:
        word = translations(other).gettext(HELP_WORDS).split(",")[0].strip()
        await chat.say(f"... {word.upper()} ...")
        assert "15900" in chat.text, (lang, other, word)


JOURNEYS = [(MEETUP_WORDS, "ev"), (JOB_WORDS, "job"), (SETTINGS_WORDS, "set"), (MENU_WORDS, "menu")]


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_journey_words_lead_to_the_journey_in_each_language(demo_rt: Runtime,
                                                                  lang: str) -> None:
    typed = ChatDriver(demo_rt.core, language_hint=lang)
    pressed = ChatDriver(demo_rt.core, language_hint=lang)
    await typed.onboard(language=lang, region="catalonia")
    await pressed.onboard(language=lang, region="catalonia")
    for msgid, action in JOURNEYS:
        for word in translations(lang).gettext(msgid).split(","):
            await typed.say(word.strip())
            await pressed.press(action, must_exist=False)
            assert typed.text == pressed.text, (lang, word)


async def test_not_understood_gets_the_menu_and_how_to_reach_help(demo_chat: ChatDriver) -> None:
    await demo_chat.onboard()
    await demo_chat.say("qwerty zzz")
    assert "did not understand" in demo_chat.text and "“help”" in demo_chat.text
    assert "job" in demo_chat.actions() and "help" in demo_chat.actions()


async def test_a_staff_form_keeps_the_typed_word_as_its_answer(rt: Runtime) -> None:
    mod = await staff(rt, "moderator", await make_org(rt))
    await mod.press("mod", must_exist=False)
    await mod.press("emp")
    await mod.press("emp:new")
    assert "step 1 of 7" in mod.text
    await mod.say("Help")  # the employer's name, not a call for the help contacts
    assert "step 2 of 7" in mod.text and "Help in Italy" not in mod.text


async def test_caseworker_chat_relays_the_word_help(rt: Runtime) -> None:
    sender = FakeSender()
    rt.add_sender(sender)
    _cw, address = await add_caseworker(rt)
    chat = ChatDriver(rt.core)
    await chat.onboard()
    hid = await open_talk(chat)
    await take(rt, hid, address)
    await chat.say("help")  # in the caseworker chat the typed text is the message
    await rt.core.drain()
    assert "Help in Italy" not in chat.text
    assert any(t.endswith("help") for t in sender.texts_to(address))


async def test_arabic_at_the_english_notice_gets_the_arabic_notice(demo_chat: ChatDriver) -> None:
    await demo_chat.say("/start")
    await demo_chat.press("lang:en")
    assert "Before we start" in demo_chat.text
    await demo_chat.say("مرحبا، لا أفهم")
    assert "Before we start" not in demo_chat.text
    with use_language("ar"):
        notice = translations("ar").gettext(
            "Before we start: is this a safe moment? Could someone else read this phone?")
    assert notice in demo_chat.text and "safe:ok" in demo_chat.actions()
    await demo_chat.press("safe:ok")
    assert "region:milan" in demo_chat.actions()


async def test_help_at_the_notice_then_menu_goes_back_to_the_notice(demo_chat: ChatDriver) -> None:
    await demo_chat.say("/start")
    await demo_chat.press("lang:en")
    await demo_chat.say("help")
    assert "Which country's help lines" in demo_chat.text
    await demo_chat.press("help:safety")
    await demo_chat.press("menu")
    assert "Before we start" in demo_chat.text and "lang:en" not in demo_chat.actions()


async def test_language_from_settings_does_not_say_welcome(demo_chat: ChatDriver) -> None:
    await demo_chat.say("/start")
    assert "Welcome" in demo_chat.text
    await demo_chat.press("lang:en")
    await demo_chat.press("safe:ok")
    await demo_chat.press("region:milan")
    await demo_chat.say("/language")
    assert "Please choose your language." in demo_chat.text
    assert "Welcome" not in demo_chat.text


def test_one_clock_per_locale_and_the_arabic_comma() -> None:
    moment = datetime(2026, 12, 8, 19, 0, tzinfo=UTC)
    with use_language("en"):
        assert format_when(moment, "Europe/Rome") == "Tuesday 8 December, 8:00\u202fPM"
        assert language_name("it") == "Italian"
    with use_language("it"):
        assert format_when(moment, "Europe/Rome") == "martedì 8 dicembre, 20:00"
        assert language_name("it") == "italiano"
    with use_language("ar"):
        text = format_when(moment, "Europe/Rome")
        assert "،" in text and "," not in text
        assert text.count("\u2068") == 2 and text.count("\u2069") == 2  # date and time isolated


async def test_help_line_shows_its_number_once(demo_chat: ChatDriver) -> None:
    await demo_chat.onboard(region="milan")
    await demo_chat.press("help")
    line = next(x for x in demo_chat.text.splitlines() if "stalking" in x)
    assert line.count("1522") == 1, line


async def test_arabic_help_isolates_numbers_and_addresses(demo_chat: ChatDriver) -> None:
    await demo_chat.onboard(language="ar", region="bulgaria")
    await demo_chat.press("help")
    text = demo_chat.text
    for number in ("0800 11 977", "0800 1 8676", "02 981 7686", "112"):
        assert f"\u2068{number}\u2069" in text, number
    assert "\u2068animusassociation.org" in text


async def test_safety_texts_are_honest_about_the_browser_history(demo_chat: ChatDriver) -> None:
    await demo_chat.say("/start")
    await demo_chat.press("lang:en")
    assert "history list" in demo_chat.text and "on Viber, all messages" in demo_chat.text
    await demo_chat.press("help:safety")
    assert "history list" in demo_chat.text and "private window" in demo_chat.text
    await demo_chat.press("safe:ok", must_exist=False)
    await demo_chat.press("region:milan", must_exist=False)
    await demo_chat.press("set:vanish", must_exist=False)
    assert "history list" in demo_chat.text and "private window" in demo_chat.text
