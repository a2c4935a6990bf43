"""Professionals (social workers, mediators, volunteers): their own menu, subscription to training
dates, region; they get training broadcasts meant for professionals and never see participants."""
from __future__ import annotations

from bot.runtime import Runtime
from bot.services.broadcasting import Broadcaster
from tests.test_broadcasts import (
    RecordingSender,
    compose,
    coordinator,
    load_user,
    make_org,
    person,
    sender,  # noqa: F401 - fixture
)


async def test_menu_has_only_what_professionals_need(rt: Runtime) -> None:
    pro = await person(rt, role="professional")
    await pro.press("menu", must_exist=False)
    assert "pro" in pro.actions() and "set" in pro.actions()
    for participant_only in ("ev", "job", "talk", "mod"):
        assert participant_only not in pro.actions()
    await pro.press("pro")
    assert "Training dates" in pro.text
    assert "You do not get training dates at the moment." in pro.text
    assert "Your region: Milan / Lombardy" in pro.text
    assert {"pro:on", "region", "set", "exit"} <= set(pro.actions())


async def test_subscribe_and_unsubscribe(rt: Runtime) -> None:
    pro = await person(rt, role="professional", topics=["job_fairs"])
    await pro.press("pro", must_exist=False)
    await pro.press("pro:on")
    assert "Done: you will get training dates." in pro.text and "pro:off" in pro.actions()
    assert (await load_user(rt, pro)).topics == ["job_fairs", "trainings"]
    await pro.press("pro:on", must_exist=False)  # twice: no duplicate
    assert (await load_user(rt, pro)).topics == ["job_fairs", "trainings"]
    await pro.press("pro:off", must_exist=False)
    assert "Done: no more training dates." in pro.text and "pro:on" in pro.actions()
    assert (await load_user(rt, pro)).topics == ["job_fairs"]


async def test_change_region_from_the_pro_menu(rt: Runtime) -> None:
    pro = await person(rt, role="professional")
    await pro.press("pro", must_exist=False)
    await pro.press("region")
    await pro.press("region:bulgaria")
    assert (await load_user(rt, pro)).region_code == "bulgaria"
    await pro.press("pro", must_exist=False)
    assert "Your region: Bulgaria" in pro.text


async def test_forged_and_bad_input(rt: Runtime) -> None:
    pro = await person(rt, role="professional")
    for payload in ("pro:delete", "pro:on:1", "pro:999999", "pro:" + "x" * 60):
        await pro.press(payload, must_exist=False)
        assert "not valid any more" in pro.text or "Training dates" in pro.text
        assert (await load_user(rt, pro)).topics == []
    for text in ("", "x" * 10_000, "🎓", "\u200f", "<b>on</b>"):
        await pro.say(text)
        assert "exit" in pro.actions()
    assert (await load_user(rt, pro)).topics == []


async def test_participants_and_staff_cannot_use_the_pro_menu(rt: Runtime) -> None:
    org = await make_org(rt, "ngo", ["milan"])
    woman = await person(rt)
    boss = await coordinator(rt, org)
    for chat in (woman, boss):
        for payload in ("pro", "pro:on", "pro:off"):
            await chat.press(payload, must_exist=False)
            assert "not available to you" in chat.text
        assert (await load_user(rt, chat)).topics == []


async def test_subscribed_professional_gets_training_dates_and_sees_them_again(
        rt: Runtime, sender: RecordingSender) -> None:  # noqa: F811 - fixture
    org = await make_org(rt, "ngo", ["milan"])
    boss = await coordinator(rt, org)
    pro = await person(rt, role="professional")
    other_pro = await person(rt, role="professional")  # never subscribed
    woman = await person(rt, topics=["trainings"])
    await pro.press("pro", must_exist=False)
    await pro.press("pro:on")
    await compose(boss, audience="professionals", text="Mediator training, 3 December.")
    await boss.press("bc:send")
    await boss.press("bc:sendok")  # "Send now" asks first
    await Broadcaster.for_runtime(rt).run_due()
    (notification,) = sender.to(pro)
    assert notification[0].text == "You have a new message."
    assert sender.to(other_pro) == [] and sender.to(woman) == []
    await pro.press("pro", must_exist=False)
    assert "Recent training dates:" in pro.text
    show = pro.action_starting("bc:show:")
    # Her menu leads only to her own things: no list, screen or action about other people.
    assert {a.split(":")[0] for a in pro.actions()} == {"pro", "region", "set", "bc", "menu",
                                                        "exit"}
    await pro.press(show)
    assert "Mediator training, 3 December." in pro.text
    await other_pro.press(show, must_exist=False)
    assert "This message is not available." in other_pro.text


async def test_professionals_cannot_reach_the_survivors_journeys(rt: Runtime) -> None:
    """Their menu has no meetups, jobs or talk; forging those payloads is refused on the server."""
    from sqlalchemy import func, select

    from db.models import Handoff, Signup

    pro = await person(rt, role="professional")
    for action in ("ev", "ev:list:0", "ev:show:1", "ev:join:1", "job", "job:show:1",
                   "job:int:1", "talk", "talk:chat:1"):
        await pro.press(action, must_exist=False)
        assert "not available to you" in pro.text, action
    for command in ("/meetups", "/jobs", "/talk"):
        await pro.say(command)
        assert "not available to you" in pro.text, command
    async with rt.sessionmaker() as db:
        for table in (Signup, Handoff):
            assert (await db.execute(select(func.count()).select_from(table))).scalar_one() == 0
