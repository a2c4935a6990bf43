"""Settings through the core: every choice confirmed in plain words, stored, and forged or
wrong values refused without changing anything."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.runtime import Runtime
from db.models import User
from tests.chat import ChatDriver


async def me(rt: Runtime) -> User:
    async with rt.sessionmaker() as db:
        users = list((await db.execute(select(User))).scalars())
    assert len(users) == 1
    return users[0]


async def snapshot(rt: Runtime) -> tuple[object, ...]:
    user = await me(rt)
    return (user.language, user.region_code, tuple(user.topics), user.discreet,
            user.quiet_start, user.quiet_end, user.vanish_minutes)


async def test_settings_screen_shows_defaults_and_every_setting(chat: ChatDriver, rt: Runtime
                                                                ) -> None:
    await chat.onboard(region="milan")
    await chat.press("set")
    text = chat.text
    assert "Settings" in text and "English" in text and "Milan" in text
    assert "Discreet notifications: on" in text
    assert "Quiet hours: none" in text
    assert "Vanishing messages: 24 hours" in text
    assert {"lang", "region", "set:topics", "set:discreet", "set:quiet", "set:vanish",
            "help:safety", "forget", "exit"} <= set(chat.actions())
    user = await me(rt)
    assert user.discreet is True and user.vanish_minutes == 1440 and user.topics == []


async def test_command_opens_settings(chat: ChatDriver) -> None:
    await chat.onboard()
    await chat.say("/settings")
    assert "set:vanish" in chat.actions()


async def test_language_and_region_buttons_reach_the_start_journey(chat: ChatDriver,
                                                                   rt: Runtime) -> None:
    await chat.onboard(region="milan")
    await chat.press("set")
    await chat.press("lang")
    await chat.press("lang:it")
    assert (await me(rt)).language == "it"
    await chat.press("set", must_exist=False)
    await chat.press("region")
    await chat.press("region:karditsa")
    assert (await me(rt)).region_code == "karditsa"


async def test_topics_toggle_on_and_off(chat: ChatDriver, rt: Runtime) -> None:
    await chat.onboard()
    await chat.press("set")
    await chat.press("set:topics")
    await chat.press("set:topic:trainings")
    assert "You will get news about: Training dates" in chat.text
    await chat.press("set:topic:job_fairs")
    assert (await me(rt)).topics == ["trainings", "job_fairs"]
    assert any(b.label.startswith("✓") and b.action == "set:topic:trainings"
               for b in chat.buttons())
    await chat.press("set:topic:trainings")
    assert "no longer get news about: Training dates" in chat.text
    assert (await me(rt)).topics == ["job_fairs"]


async def test_discreet_off_and_on(chat: ChatDriver, rt: Runtime) -> None:
    await chat.onboard()
    await chat.press("set")
    await chat.press("set:discreet")
    await chat.press("set:discreet:off")
    assert "full text" in chat.text
    assert (await me(rt)).discreet is False
    await chat.press("set:discreet", must_exist=False)
    await chat.press("set:discreet:on")
    assert "neutral line" in chat.text
    assert (await me(rt)).discreet is True


async def test_quiet_hours_presets_in_region_time(chat: ChatDriver, rt: Runtime) -> None:
    await chat.onboard(region="bulgaria")
    await chat.press("set")
    await chat.press("set:quiet")
    assert "set:quiet:21:8" in chat.actions() and "set:quiet:off" in chat.actions()
    labels = [b.label.replace("\u202f", " ") for b in chat.buttons()]
    assert "9:00 PM to 8:00 AM" in labels
    await chat.press("set:quiet:22:7")
    assert "Quiet hours: 10:00 PM to 7:00 AM" in chat.text.replace("\u202f", " ")
    user = await me(rt)
    assert (user.quiet_start, user.quiet_end) == (22, 7)
    await chat.press("set:quiet", must_exist=False)
    await chat.press("set:quiet:off")
    assert "No quiet hours" in chat.text
    user = await me(rt)
    assert (user.quiet_start, user.quiet_end) == (None, None)


async def test_vanish_choices(chat: ChatDriver, rt: Runtime) -> None:
    await chat.onboard()
    await chat.press("set")
    await chat.press("set:vanish")
    assert {"set:vanish:0", "set:vanish:60", "set:vanish:1440"} <= set(chat.actions())
    assert "Viber" in chat.text  # honest about what cannot be deleted
    await chat.press("set:vanish:60")
    assert "vanish after 1 hour" in chat.text
    assert (await me(rt)).vanish_minutes == 60
    await chat.press("set:vanish", must_exist=False)
    await chat.press("set:vanish:0")
    assert "Quick exit still deletes them" in chat.text
    assert (await me(rt)).vanish_minutes == 0


async def test_safety_advice_is_one_tap_away(chat: ChatDriver) -> None:
    await chat.onboard()
    await chat.press("set")
    await chat.press("help:safety")
    assert "call log" in chat.text


@pytest.mark.parametrize("payload", [
    "set:vanish:999", "set:vanish:-1", "set:vanish:abc", "set:vanish", "set:vanish:60:1",
    "set:quiet:3:4", "set:quiet:21", "set:quiet:25:8", "set:quiet:21:8:1", "set:quiet:x:y",
    "set:topic:nope", "set:topic", "set:topic:trainings:x", "set:discreet:maybe",
    "set:discreet:on:1", "set:nothing", "set:nothing:1", "set:topics:1",
])
async def test_forged_or_wrong_values_change_nothing(chat: ChatDriver, rt: Runtime,
                                                     payload: str) -> None:
    await chat.onboard()
    before = await snapshot(rt)
    await chat.press(payload, must_exist=False)
    assert chat.replies and "exit" in chat.actions()
    if payload.count(":") >= 2 or payload in {"set:nothing", "set:topic"}:
        assert "not available" in chat.text or "Nothing was changed" in chat.text
    assert await snapshot(rt) == before


@pytest.mark.parametrize("text", ["", "🙂", "\u200f\u202e22-7", "'; DROP TABLE users;--",
                                  "<b>off</b>", "x" * 10_000])
async def test_typing_on_a_settings_screen_changes_nothing(chat: ChatDriver, rt: Runtime,
                                                           text: str) -> None:
    await chat.onboard()
    await chat.press("set")
    await chat.press("set:quiet")
    before = await snapshot(rt)
    await chat.say(text)
    assert chat.replies and "exit" in chat.actions()
    assert await snapshot(rt) == before


async def test_settings_before_setup_goes_to_the_start(chat: ChatDriver, rt: Runtime) -> None:
    await chat.press("set:vanish:60", must_exist=False)
    assert any(a.startswith("lang:") for a in chat.actions())
    async with rt.sessionmaker() as db:  # a visitor: nothing stored at all
        assert (await db.execute(select(User))).first() is None


async def test_settings_in_another_language(chat: ChatDriver) -> None:
    await chat.onboard(language="it", region="karditsa")
    await chat.press("set")
    await chat.press("set:quiet")
    assert any("21:00" in b.label and "08:00" in b.label for b in chat.buttons())
    assert "exit" in chat.actions()
    labels = " ".join(b.label for b in chat.buttons())
    assert "Quick exit" not in labels
