"""Hand-offs, the caseworker's side: pseudonyms only, take once, relay in her language and keep
nothing, safe hours, close."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.core.i18n import _, use_language
from bot.core.types import Outgoing, Reply
from bot.runtime import Runtime
from db.models import Handoff, ImpactCount
from tests.canary import assert_not_logged, assert_not_on_disk, new_canary
from tests.chat import ChatDriver
from tests.test_moderation import add_handoff, audit_actions, make_org, staff, user_row

# Depends on the database itself: runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_databases


class Outbox:
    """Catches what the core delivers to other people (after the commit), built as the
    delivery would build it: in the recipient's language."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.items: list[tuple[str, list[Reply]]] = []
        self.rings: list[tuple[str, bool]] = []  # (user id, whether it may make a sound)
        rt.core.deliver = self.deliver

    async def deliver(self, item: Outgoing) -> None:
        from bot.core.i18n import use_language
        from db.models import User

        async with self.rt.sessionmaker() as db:
            user = await db.get(User, item.user_id)
            lang = user.language if user else "en"
        with use_language(lang):
            self.items.append((item.user_id, list(item.build())))
        self.rings.append((item.user_id, item.notification))

    async def to(self, user_id: str) -> list[Reply]:
        await self.rt.core.drain()
        return [r for uid, replies in self.items if uid == user_id for r in replies]


async def setup(rt: Runtime, **handoff: object) -> tuple[ChatDriver, ChatDriver, str, int]:
    org = await make_org(rt)
    her = ChatDriver(rt.core)
    await her.onboard(language="it")
    her_id = (await user_row(rt, her)).id
    mod = await staff(rt, "moderator", org)
    hid = await add_handoff(rt, her_id, org, **handoff)
    return her, mod, her_id, hid


async def test_open_requests_show_pseudonyms_and_take_once(rt: Runtime) -> None:
    her, mod, her_id, hid = await setup(rt, kind="job")
    second = await staff(rt, "moderator", (await user_row(rt, mod)).org_id)
    await mod.press("mod", must_exist=False)
    assert "(1 open)" in str([b.label for b in mod.buttons()])
    await mod.press("mod:ho")
    assert "Iris-1234" in str([b.label for b in mod.buttons()])
    await mod.press(f"mod:ho:{hid}")
    assert "Request from Iris-1234" in mod.text and "Status: open" in mod.text
    assert her_id not in mod.text and her.address not in mod.text
    # Both press "take": the first wins, the second is told it is already taken.
    await second.press(f"mod:ho:{hid}", must_exist=False)
    await mod.press(f"ho:take:{hid}")
    assert "You took this request" in mod.text
    await second.press(f"ho:take:{hid}")
    assert "already taken" in second.text and "another caseworker" in second.text
    async with rt.sessionmaker() as db:
        h = await db.get(Handoff, hid)
        assert h is not None and h.status == "taken"
        assert h.taken_by == (await user_row(rt, mod)).id
        taken = (await db.execute(select(func.sum(ImpactCount.value)).where(
            ImpactCount.metric == "handoffs_taken"))).scalar_one()
    assert taken == 1
    # The second caseworker cannot write or close someone else's request.
    for action in (f"ho:write:{hid}", f"ho:closeok:{hid}"):
        await second.press(action, must_exist=False)
        assert "not possible" in second.text
    assert (await audit_actions(rt)).count("handoff_take") == 1


async def test_concurrent_takes_have_one_winner(rt: Runtime) -> None:
    _her, mod, _her_id, hid = await setup(rt)
    org = (await user_row(rt, mod)).org_id
    others = [await staff(rt, "moderator", org) for _i in range(3)]
    await asyncio.gather(*(c.press(f"ho:take:{hid}", must_exist=False)
                           for c in [mod, *others]))
    async with rt.sessionmaker() as db:
        taken = (await db.execute(select(func.sum(ImpactCount.value)).where(
            ImpactCount.metric == "handoffs_taken"))).scalar_one()
    assert taken == 1
    assert (await audit_actions(rt)).count("handoff_take") == 1


async def test_reply_is_relayed_in_her_language_and_stored_nowhere(
        rt: Runtime, tmp_path: Path, caplog_all: pytest.LogCaptureFixture) -> None:
    outbox = Outbox(rt)
    her, mod, her_id, hid = await setup(rt)
    await mod.press(f"ho:take:{hid}", must_exist=False)
    await mod.press(f"ho:write:{hid}")
    canary = new_canary()
    await mod.say(f"Ciao, {canary} <script>x</script> \u200f مرحبا")
    assert "Sent to Iris-1234" in mod.text
    await mod.say("A second message")
    got = await outbox.to(her_id)
    # Discreet notifications are on by default: the neutral line ALONE, in HER language
    # (Italian); the words wait (in memory, never the database) behind "Show".
    with use_language("it"):
        neutral = _("You have a new message.")
    assert neutral != "You have a new message."
    assert len(got) == 2 and all(r.text == neutral for r in got)
    assert canary not in repr(got) and "second message" not in repr(got)
    shows = [r.buttons[0][0].action for r in got]
    assert all(a.startswith("msg:show:") for a in shows)
    assert_not_on_disk(canary, tmp_path)  # held only in memory while she has not looked
    # Someone else with the token sees nothing; she sees the words once, then they are gone.
    stranger = ChatDriver(rt.core)
    await stranger.onboard()
    await stranger.press(shows[0], must_exist=False)
    assert canary not in stranger.text and "not available" in stranger.text
    opened = []
    for show in shows:  # the two deliveries may arrive in either order
        await her.press(show, must_exist=False)
        assert f"talk:chat:{hid}" in her.actions()
        opened.append(her.text)
    assert any(canary in t for t in opened) and any("A second message" in t for t in opened)
    for show in shows:
        await her.press(show, must_exist=False)  # once only
        assert canary not in her.text and "A second message" not in her.text
    await rt.core.drain()
    assert_not_logged(canary, caplog_all)
    assert_not_on_disk(canary, tmp_path)
    # An empty message is not sent.
    await mod.say("   ")
    assert "write a message first" in mod.text
    assert len(await outbox.to(her_id)) == 2


async def test_without_discreet_notifications_the_words_come_at_once(rt: Runtime) -> None:
    from db.models import User

    outbox = Outbox(rt)
    her, mod, her_id, hid = await setup(rt)
    async with rt.sessionmaker() as db, db.begin():
        (await db.get(User, her_id)).discreet = False  # type: ignore[union-attr]
    await mod.press(f"ho:take:{hid}", must_exist=False)
    await mod.press(f"ho:write:{hid}")
    await mod.say("Ci vediamo giovedì")
    await mod.press(f"ho:close:{hid}", must_exist=False)
    await mod.press(f"ho:closeok:{hid}")
    reply, ended = await outbox.to(her_id)
    assert reply.text.endswith("Ci vediamo giovedì") and reply.has_action(f"talk:chat:{hid}")
    assert ended.buttons[0][0].label == "Menu principale"


async def test_safe_hours_warning(rt: Runtime, clock) -> None:  # noqa: ANN001
    # 09:00 UTC is 10:00 in Milan: outside "evening".
    _her, mod, _her_id, hid = await setup(rt, contact_mode="safe_hours", safe_hours="evening")
    await mod.press(f"ho:take:{hid}", must_exist=False)
    assert "only through this bot, and only in the evening" in mod.text
    await mod.press(f"ho:write:{hid}")
    assert "Careful" in mod.text and "10:00" in mod.text
    await mod.say("Should not be relayed")  # not in writing mode yet
    assert "Sent" not in mod.text
    await mod.press(f"ho:writeok:{hid}", must_exist=False)
    await mod.say("Hello")
    assert "Sent to Iris-1234" in mod.text and "outside the hours" in mod.text
    clock.advance(hours=8)  # 18:00 in Milan
    await mod.press(f"ho:write:{hid}", must_exist=False)
    assert "Careful" not in mod.text and "Write your message" in mod.text


async def test_close_tells_her_neutrally(rt: Runtime) -> None:
    outbox = Outbox(rt)
    _her, mod, her_id, hid = await setup(rt)
    await mod.press(f"ho:close:{hid}", must_exist=False)
    assert "not possible" in mod.text  # a moderator closes only what she took
    await mod.press(f"ho:take:{hid}", must_exist=False)
    await mod.press(f"ho:close:{hid}")
    await mod.press(f"ho:closeok:{hid}")
    assert "closed" in mod.text
    told = await outbox.to(her_id)
    # Discreet (the default): the neutral line alone, in her language; the notice behind it
    # names no pseudonym, job or organisation.
    with use_language("it"):
        neutral = _("You have a new message.")
    assert len(told) == 1 and told[0].text == neutral
    await _her.press(told[0].buttons[0][0].action, must_exist=False)
    assert "Iris" not in _her.text and "Menu principale" in str(_her.buttons())
    async with rt.sessionmaker() as db:
        assert (await db.get(Handoff, hid)).status == "closed"  # type: ignore[union-attr]
    # Writing after the close is refused.
    await mod.press(f"ho:write:{hid}", must_exist=False)
    assert "not possible" in mod.text
    assert "handoff_close" in await audit_actions(rt)


async def test_writing_state_ends_when_she_withdraws(rt: Runtime) -> None:
    outbox = Outbox(rt)
    _her, mod, her_id, hid = await setup(rt)
    await mod.press(f"ho:take:{hid}", must_exist=False)
    await mod.press(f"ho:write:{hid}")
    async with rt.sessionmaker() as db, db.begin():
        h = await db.get(Handoff, hid)
        assert h is not None
        h.status = "withdrawn"
    await mod.say("Are you there?")
    assert "was not sent" in mod.text
    assert await outbox.to(her_id) == []


@pytest.mark.parametrize("payload", ["mod:ho:0", "mod:ho:999999999", "mod:ho:abc",
                                     "mod:ho:1:2:3", "ho:take:", "ho:take:-1", "ho:nope:1"])
async def test_forged_handoff_payloads(rt: Runtime, payload: str) -> None:
    _her, mod, _her_id, _hid = await setup(rt)
    await mod.press(payload, must_exist=False)
    assert "not yours" in mod.text or "not available" in mod.text or "not possible" in mod.text
    async with rt.sessionmaker() as db:
        assert (await db.execute(select(Handoff.status))).scalar_one() == "open"


async def test_staff_without_an_organisation_see_no_request(rt: Runtime) -> None:
    """If her organisation is gone (org_id set to NULL), a moderator must not see every talk
    request of every region: `org_id == NULL` would match all of them."""
    from sqlalchemy import update as sql_update

    from db.models import User

    _her, mod, _her_id, hid = await setup(rt)  # a talk request, org_id NULL
    async with rt.sessionmaker() as db, db.begin():
        await db.execute(sql_update(User).where(User.id == (await user_row(rt, mod)).id)
                         .values(org_id=None))
    await mod.press("mod:ho", must_exist=False)
    assert "Iris-1234" not in mod.text
    await mod.press(f"mod:ho:{hid}", must_exist=False)
    assert "Iris-1234" not in mod.text
    await mod.press(f"ho:take:{hid}", must_exist=False)
    async with rt.sessionmaker() as db:
        from db.models import Handoff

        assert (await db.get(Handoff, hid)).status == "open"


async def test_relay_and_close_are_silent_in_her_quiet_hours(rt: Runtime) -> None:
    from sqlalchemy import update as sql_update

    from db.models import User

    outbox = Outbox(rt)
    _her, mod, her_id, hid = await setup(rt)
    async with rt.sessionmaker() as db, db.begin():  # START is 10:00 in Milan: quiet all day
        await db.execute(sql_update(User).where(User.id == her_id)
                         .values(quiet_start=0, quiet_end=23))
    await mod.press(f"ho:take:{hid}", must_exist=False)
    await mod.press(f"ho:write:{hid}")
    await mod.say("Hello")
    await mod.press(f"ho:closeok:{hid}", must_exist=False)
    await outbox.to(her_id)
    rings = [ring for uid, ring in outbox.rings if uid == her_id]
    assert len(rings) == 2 and not any(rings)


async def test_closing_a_request_she_just_withdrew_changes_nothing(rt: Runtime) -> None:
    from sqlalchemy import update as sql_update

    outbox = Outbox(rt)
    _her, mod, her_id, hid = await setup(rt)
    await mod.press(f"ho:take:{hid}", must_exist=False)
    async with rt.sessionmaker() as db, db.begin():
        await db.execute(sql_update(Handoff).where(Handoff.id == hid).values(status="withdrawn"))
    await mod.press(f"ho:closeok:{hid}", must_exist=False)
    assert "not possible" in mod.text
    async with rt.sessionmaker() as db:
        assert (await db.get(Handoff, hid)).status == "withdrawn"
    assert await outbox.to(her_id) == []
