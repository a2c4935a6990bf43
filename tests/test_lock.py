"""The lock for a shared phone (issue 8 item 5, docs/ARCHITECTURE.md 2.11): one code word locks
her meetups, requests, caseworker conversation, memberships and settings; it opens for 10 minutes
since the last use, closes at quick exit, five wrong tries close it for an hour, and a forgotten
code word is replaced only by erasing what it protects. The code word is never shown back."""
from __future__ import annotations

import secrets
from datetime import UTC, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.core.crypto import verify_secret
from bot.core.types import Channel
from bot.runtime import Runtime, open_runtime
from db.models import (
    AuditEntry,
    Handoff,
    HandoffKind,
    HandoffStatus,
    Membership,
    MessageRef,
    Organisation,
    Signup,
    SignupStatus,
    User,
)
from handlers import lock as lock_module
from tests.canary import assert_not_logged, assert_not_on_disk, new_canary
from tests.chat import ChatDriver
from tests.conftest import FakeClock, make_settings
from tests.fakes import Outbox
from tests.http import WebChatClient, serve
from tests.test_browser import browser  # noqa: F401 - the fixture
from tests.test_meetups import make_meetup
from tests.test_talk import add_caseworker, her, take
from tests.test_telegram import (
    CHAT,
    Tg,
    tg,  # noqa: F401 - the fixture
)
from tests.test_telegram import onboard as tg_onboard
from tests.test_vanishing import FakeSender

WORD = "Blue heron"
LOCKED = "This screen is protected. Type your code word."


@pytest.fixture
def outbox(rt: Runtime) -> Outbox:
    box = Outbox()
    rt.add_sender(box)
    return box


@pytest.fixture
def sender(rt: Runtime) -> FakeSender:
    fake = FakeSender()
    rt.add_sender(fake)
    return fake


async def set_in_settings(chat: ChatDriver, word: str = WORD) -> None:
    await chat.press("set", must_exist=False)
    await chat.press("set:code")
    await chat.press("lock:new:set")
    await chat.say(word)
    assert "code word is saved" in chat.text, chat.text


async def lock_screen_shown(chat: ChatDriver) -> bool:
    return LOCKED in chat.text and any(r.secret for r in chat.replies)


# -- setting it ------------------------------------------------------------------------------------
async def test_set_at_the_safety_notice_as_a_visitor(chat: ChatDriver, rt: Runtime,
                                                     clock: FakeClock) -> None:
    await chat.say("/start")
    await chat.press("lang:en")
    assert "protect your screens with a code word" in chat.text
    await chat.press("safe:code")
    assert any(r.secret for r in chat.replies)  # the web chat hides what she types next
    assert "locks the screens" in chat.text or "also locks" in chat.text
    await chat.say("ab")
    assert "3 to 64" in chat.text
    await chat.say(WORD)
    assert "code word is saved" in chat.text and "safe moment" in chat.text
    assert chat.last is not None and chat.last.erase_inbound
    assert "safe:code" not in chat.actions()  # no second offer: changing it needs the old one
    async with rt.sessionmaker() as db:  # still a visitor: no row yet, the hash in her session
        assert (await db.execute(select(func.count()).select_from(User))).scalar_one() == 0
    await chat.press("safe:ok")
    await chat.press("region:milan")
    assert "Main menu" in chat.text
    user = await her(rt, chat)
    assert user.codeword_hash and verify_secret("blue heron", user.codeword_hash)
    # She just typed it: open for now; after 10 idle minutes Settings needs it.
    await chat.press("set")
    assert "Code word and lock: on" in chat.text
    clock.advance(minutes=11)
    await chat.press("set:vanish")
    assert await lock_screen_shown(chat)
    assert "Vanishing messages:" not in chat.text
    await chat.say("BLUE   heron")  # capitals and spaces do not matter
    assert "Unlocked" in chat.text and "Vanishing messages:" in chat.text  # where she was going


async def test_settings_set_change_and_remove(chat: ChatDriver, rt: Runtime,
                                              clock: FakeClock) -> None:
    await chat.onboard()
    await chat.press("set")
    assert "Code word and lock: off" in chat.text
    await set_in_settings(chat)
    assert "Your code word is set" in chat.text  # back on the code word screen
    await chat.press("lock:change:set")
    await chat.say("green heron")
    assert "That is not your code word." in chat.text and "4 more times" in chat.text
    assert (await her(rt, chat)).lock_failures == 1
    await chat.say(WORD)
    assert "new code word" in chat.text and (await her(rt, chat)).lock_failures == 0
    await chat.say("Sunflower")
    assert "code word is saved" in chat.text
    stored = (await her(rt, chat)).codeword_hash
    assert stored and verify_secret("sunflower", stored) and not verify_secret("blue heron",
                                                                             stored)
    await chat.press("lock:remove:set")
    await chat.say("Sunflower")
    assert "code word is removed" in chat.text
    assert (await her(rt, chat)).codeword_hash is None
    clock.advance(hours=2)
    await chat.press("set", must_exist=False)
    assert "Settings" in chat.text and LOCKED not in chat.text  # nothing locked any more


async def test_talk_journey_sets_it_and_change_needs_the_old_one(chat: ChatDriver, rt: Runtime,
                                                                  clock: FakeClock) -> None:
    await add_caseworker(rt)
    await chat.onboard()
    await chat.press("talk")
    assert "locks the screens" in chat.text
    await chat.press("talk:code")
    await chat.say(WORD)
    assert "code word is saved" in chat.text and "talk:open" in chat.actions()
    await chat.press("talk:code")  # "Change my code word": the current one first
    assert "first type the one you have now" in chat.text
    await chat.say("Sunflower")
    assert "That is not your code word." in chat.text
    assert verify_secret("blue heron", (await her(rt, chat)).codeword_hash or "")
    clock.advance(minutes=11)
    await chat.press("talk", must_exist=False)
    assert await lock_screen_shown(chat)


# -- closing again ----------------------------------------------------------------------------------
async def test_idle_ten_minutes_closes_each_use_extends(chat: ChatDriver, clock: FakeClock
                                                        ) -> None:
    await chat.onboard()
    await set_in_settings(chat)
    for _ in range(3):  # used every 9 minutes: stays open
        clock.advance(minutes=9)
        await chat.press("set", must_exist=False)
        assert "Settings" in chat.text and LOCKED not in chat.text
    clock.advance(minutes=4)
    await chat.press("menu", must_exist=False)  # an unlocked screen does not extend it
    clock.advance(minutes=6, seconds=1)
    await chat.press("set", must_exist=False)
    assert await lock_screen_shown(chat)
    # Her caseworker's words and the talk screen are behind it too.
    await chat.press("talk", must_exist=False)
    assert LOCKED in chat.text
    await chat.press("msg:show:" + "a" * 24, must_exist=False)
    assert LOCKED in chat.text and "not available any more" not in chat.text


async def test_quick_exit_closes_it_and_nothing_survives(chat: ChatDriver, rt: Runtime) -> None:
    await chat.onboard()
    await set_in_settings(chat)
    await chat.press("set", must_exist=False)
    assert LOCKED not in chat.text
    await chat.press("exit", must_exist=False)
    key = rt.vault.lookup_hash(chat.channel, chat.address)
    assert (await rt.store.load(key)).empty  # the session went, with the open lock in it
    await chat.press("set", must_exist=False)
    assert await lock_screen_shown(chat)


# -- wrong tries --------------------------------------------------------------------------------------
async def test_five_wrong_block_for_an_hour_the_rest_works(chat: ChatDriver, rt: Runtime,
                                                           clock: FakeClock) -> None:
    await chat.onboard()
    await set_in_settings(chat)
    clock.advance(minutes=11)
    await chat.press("set", must_exist=False)
    for n in range(3):
        await chat.say(f"wrong {n}")
    await chat.say(WORD)  # a right word resets the count
    assert "Unlocked" in chat.text and (await her(rt, chat)).lock_failures == 0
    clock.advance(minutes=11)
    await chat.press("set", must_exist=False)
    for n in range(4):
        await chat.say(f"wrong {n}")
        assert "That is not your code word." in chat.text
    await chat.say("wrong 4")
    assert "closed until" in chat.text and "Everything else" in chat.text
    user = await her(rt, chat)
    assert user.lock_blocked_until is not None
    blocked = user.lock_blocked_until.replace(tzinfo=UTC) if user.lock_blocked_until.tzinfo \
        is None else user.lock_blocked_until
    assert blocked == clock.now + timedelta(hours=1)
    # Even the right word opens nothing now; the locked screens say they are closed.
    await chat.press("set", must_exist=False)
    assert "closed until" in chat.text and not any(r.secret for r in chat.replies)
    await chat.say(WORD)
    assert "Settings" not in chat.text
    await chat.press("talk", must_exist=False)
    assert "closed until" in chat.text
    # The menu, the jobs and help still work.
    await chat.press("menu", must_exist=False)
    assert "Main menu" in chat.text
    await chat.press("job", must_exist=False)
    assert "closed until" not in chat.text and LOCKED not in chat.text
    await chat.press("help", must_exist=False)
    assert "closed until" not in chat.text and LOCKED not in chat.text
    clock.advance(minutes=61)
    await chat.press("set", must_exist=False)
    assert await lock_screen_shown(chat)
    await chat.say(WORD)
    assert "Unlocked" in chat.text and "Code word and lock: on" in chat.text


# -- a forgotten code word ------------------------------------------------------------------------------
async def _join_request(rt: Runtime, user_id: str, meetup_id: int, org_id: int) -> int:
    async with rt.sessionmaker() as db, db.begin():
        now = rt.services.clock()
        row = Handoff(kind=HandoffKind.JOIN, user_id=user_id, meetup_id=meetup_id, org_id=org_id,
                      region_code="milan", pseudonym="Maple 12", status=HandoffStatus.OPEN,
                      created_at=now, updated_at=now, expires_at=now + timedelta(days=7))
        db.add(row)
        await db.flush()
        return row.id


async def _rows(rt: Runtime, model: type, user_id: str) -> list:  # noqa: ANN401
    async with rt.sessionmaker() as db:
        return list((await db.execute(select(model).where(model.user_id == user_id))).scalars())


@pytest.mark.both_databases  # the erase frees places under the meetup's row lock
async def test_forgotten_code_word_erases_exactly_what_it_says(
        rt: Runtime, outbox: Outbox, sender: FakeSender, clock: FakeClock) -> None:
    _cw, cw_addr = await add_caseworker(rt)
    full = await make_meetup(rt, starts_in=timedelta(days=3), capacity=1)
    other = await make_meetup(rt, starts_in=timedelta(days=4), capacity=1, title="Walk")
    chat, next_one, bystander = ChatDriver(rt.core), ChatDriver(rt.core), ChatDriver(rt.core)
    for person in (chat, next_one, bystander):
        await person.onboard()
    me, nxt, by = [(await her(rt, p)).id for p in (chat, next_one, bystander)]
    async with rt.sessionmaker() as db, db.begin():
        org = (await db.execute(select(Organisation).where(Organisation.slug == "t"))
               ).scalar_one()
        org_id = org.id
        db.add_all([Signup(meetup_id=full, user_id=me, status=SignupStatus.CONFIRMED),
                    Signup(meetup_id=full, user_id=nxt, status=SignupStatus.WAITING),
                    Signup(meetup_id=other, user_id=by, status=SignupStatus.CONFIRMED),
                    Signup(meetup_id=other, user_id=me, status=SignupStatus.WAITING),
                    Membership(user_id=me, org_id=org_id, since=clock.now.date()),
                    Membership(user_id=by, org_id=org_id, since=clock.now.date()),
                    # Only members of the organiser wait for its places (issue 8).
                    Membership(user_id=nxt, org_id=org_id, since=clock.now.date())])
    mine_join = await _join_request(rt, me, other, org_id)
    their_join = await _join_request(rt, by, full, org_id)
    # Her conversation with a caseworker, taken.
    await chat.press("talk", must_exist=False)
    await chat.press("talk:code")
    await chat.say(WORD)
    await chat.press("talk:open")
    hid = int(chat.action_starting("talk:end:").rsplit(":", 1)[1])
    await take(rt, hid, cw_addr)
    await chat.press("set", must_exist=False)
    await chat.press("set:discreet")
    await chat.press("set:discreet:off")
    await chat.press("set:vanish", must_exist=False)
    await chat.press("set:vanish:60")
    await chat.press("set:topics", must_exist=False)
    await chat.press("set:topic:trainings")
    await rt.core.drain()
    sender.sent.clear()
    outbox.take(next_one.address)

    clock.advance(minutes=11)
    await chat.press("set", must_exist=False)
    assert await lock_screen_shown(chat)
    # Blocked first: forgetting works all the same.
    for n in range(5):
        await chat.say(f"not it {n}")
    assert "closed until" in chat.text
    # A forged erase, not right after the screen that says what it erases, changes nothing.
    await chat.press("lock:erase", must_exist=False)
    assert "not valid any more" in chat.text
    await chat.press("menu", must_exist=False)
    await chat.press("lock:erase", must_exist=False)
    assert len(await _rows(rt, Membership, me)) == 1
    await chat.press("lock:forgot", must_exist=False)
    for line in ("places and waiting-list places", "requests to join", "conversations with "
                 "caseworkers", "memberships", "settings, back to the defaults", "cannot be undone"):
        assert line in chat.text
    await chat.press("lock:erase")
    assert "erased" in chat.text and "lock:new:set" in chat.actions()
    await rt.core.drain()

    user = await her(rt, chat)
    assert user.codeword_hash is None and user.lock_failures == 0
    assert user.lock_blocked_until is None
    assert (user.discreet, user.topics, user.vanish_minutes, user.quiet_start) == (
        True, [], 1440, None)
    assert (user.language, user.region_code) == ("en", "milan")  # these stay
    assert await _rows(rt, Signup, me) == []
    assert [s.status for s in await _rows(rt, Signup, nxt)] == [SignupStatus.CONFIRMED]
    told = outbox.take(next_one.address)
    assert len(told) == 1 and told[0].has_action(f"ev:show:{full}")
    assert await _rows(rt, Membership, me) == []
    statuses = {h.id: h.status for h in await _rows(rt, Handoff, me)}
    assert statuses == {hid: HandoffStatus.CLOSED, mine_join: HandoffStatus.WITHDRAWN}
    assert any("ended the conversation" in t for t in sender.texts_to(cw_addr))
    # Nothing else: the bystander keeps her place, membership and request.
    assert [s.status for s in await _rows(rt, Signup, by)] == [SignupStatus.CONFIRMED]
    assert len(await _rows(rt, Membership, by)) == 1
    assert [h.status for h in await _rows(rt, Handoff, by)] == [HandoffStatus.OPEN]
    assert their_join
    async with rt.sessionmaker() as db:
        entries = list((await db.execute(select(AuditEntry).where(
            AuditEntry.action.in_(["membership_erased", "join_request_erased"])))).scalars())
    assert sorted(e.action for e in entries) == ["join_request_erased", "membership_erased"]
    assert all(e.actor_id is None and e.target_id.isdigit() for e in entries)
    # And a new code word right away.
    await chat.press("lock:new:set")
    await chat.say("Sunflower")
    assert "code word is saved" in chat.text and "Your code word is set" in chat.text


# -- never shown back ------------------------------------------------------------------------------------
async def test_telegram_deletes_the_code_word_and_redeem_messages(tg: Tg) -> None:  # noqa: F811
    await tg_onboard(tg)
    await tg.press("set")
    await tg.press("set:code")
    await tg.press("lock:new:set")
    assert "delete your message" not in tg.screen()  # Telegram deletes it for her
    await tg.say(WORD)
    assert "Your code word is set" in tg.screen()
    texts = [m.text for m in tg.fake.messages(CHAT)]
    assert WORD not in texts
    deleted = [int(c["message_id"]) for c in tg.fake.calls_to("deleteMessage")]
    assert len(deleted) == 1
    refs = {r.ref for r in await tg.refs()}
    assert str(deleted[0]) not in refs  # not kept as a ref to delete later either
    await tg.say("hello")  # an ordinary message stays and is tracked
    assert "hello" in [m.text for m in tg.fake.messages(CHAT)]
    await tg.say("/redeem ABCD-EFGH-JKMN")
    assert "/redeem ABCD-EFGH-JKMN" not in [m.text for m in tg.fake.messages(CHAT)]
    assert len(tg.fake.calls_to("deleteMessage")) == 2


async def test_web_chat_prompt_carries_the_secret_flag(database_url: str, clock: FakeClock
                                                       ) -> None:
    async with serve(make_settings(database_url), clock=clock) as (base, _app), \
            aiohttp.ClientSession() as http:
        client = WebChatClient(http, base, secrets.token_hex(16))
        await client.say("/start")
        await client.press("lang:en")
        assert not any(r.get("secret") for r in client.last["replies"])
        await client.press("safe:code")
        assert client.last["replies"][-1]["secret"] is True
        assert "delete your message" not in client.last["replies"][-1]["text"]
        await client.say(WORD)
        assert not any(r.get("secret") for r in client.last["replies"])
        assert all(WORD not in r["text"] for r in client.last["replies"])


async def test_a_code_word_is_erased_even_when_the_update_fails(
        chat: ChatDriver, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    await chat.onboard()
    await set_in_settings(chat)
    clock.advance(minutes=11)
    await chat.press("set", must_exist=False)
    assert await lock_screen_shown(chat)

    async def broken(*_args: object) -> bool:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(lock_module, "check_codeword", broken)
    outcome = await chat.say(WORD)
    assert "something went wrong" in chat.text and outcome.erase_inbound
    monkeypatch.undo()
    # A word typed at a code-word prompt after the lock closed meanwhile is erased too.
    await chat.say(WORD)
    await chat.press("talk:check", must_exist=False)
    clock.advance(minutes=11)
    outcome = await chat.say(WORD)
    assert LOCKED in chat.text and outcome.erase_inbound
    await chat.press("menu", must_exist=False)
    outcome = await chat.say("hello")  # an ordinary message is not
    assert "did not understand" in chat.text and not outcome.erase_inbound


@pytest.mark.browser
async def test_web_chat_page_takes_the_code_word_as_a_password_without_a_bubble(
        browser, database_url: str) -> None:  # noqa: ANN001, F811
    async with serve(make_settings(database_url)) as (base, _app):
        page = await browser.new_page()
        await page.goto(f"{base}/webchat/")
        await page.get_by_role("button", name="English").click()
        await page.locator("button[data-action='safe:code']").last.click()
        await page.locator(".bubble.bot", has_text="Choose a code word").wait_for()
        assert await page.get_attribute("#text", "type") == "password"
        await page.fill("#text", WORD)
        await page.press("#text", "Enter")
        await page.locator(".bubble.bot", has_text="code word is saved").wait_for()
        assert WORD not in await page.inner_text("#log")
        assert await page.locator(".bubble.me").count() == 2  # the two buttons she pressed
        assert await page.get_attribute("#text", "type") == "text"  # back to plain text


async def test_viber_prompt_asks_her_to_delete_it_herself(rt: Runtime) -> None:
    chat = ChatDriver(rt.core, channel=Channel.VIBER, address="viber-" + secrets.token_hex(4))
    await chat.onboard()
    await chat.press("set", must_exist=False)
    await chat.press("set:code")
    await chat.press("lock:new:set")
    assert "delete your message" in chat.text


async def test_canary_code_word_is_nowhere(tmp_path: Path, clock: FakeClock,
                                           caplog_all: pytest.LogCaptureFixture) -> None:
    canary = new_canary()
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/canary.db", log_level="DEBUG")
    async with open_runtime(settings, clock=clock) as rt:
        chat = ChatDriver(rt.core)
        await chat.say("/start")
        await chat.press("lang:en")
        await chat.press("safe:code")
        await chat.say(canary)  # at the notice, as a visitor
        await chat.press("safe:ok")
        await chat.press("region:milan")
        clock.advance(minutes=11)
        await chat.press("set", must_exist=False)
        await chat.say(canary + "x")  # a wrong one at the lock
        await chat.say(canary)  # the right one
        await chat.press("set:code")
        await chat.press("lock:change:set")
        await chat.say(canary)
        await chat.say(canary + "new")
        await chat.press("lock:remove:set")
        await chat.say(canary + "new")
        await set_in_settings(chat, canary)
        key = rt.vault.lookup_hash(chat.channel, chat.address)
        assert canary.lower() not in (await rt.store.load(key)).to_json().lower()
        async with rt.sessionmaker() as db:
            assert (await db.execute(select(func.count()).select_from(MessageRef))
                    ).scalar_one() == 0
    assert_not_on_disk(canary, tmp_path)
    assert_not_logged(canary, caplog_all)
