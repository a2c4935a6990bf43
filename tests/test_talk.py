"""Talk to a caseworker (participant side) through the core: the code word kept only as a salted
hash, one open conversation at a time, her words relayed under a pseudonym and stored nowhere."""
from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.core.crypto import verify_secret
from bot.core.types import Channel
from bot.runtime import Runtime, open_runtime
from db.models import Handoff, HandoffStatus, Organisation, OrganisationRegion, Role, User
from tests.canary import assert_not_logged, assert_not_on_disk, new_canary
from tests.chat import ChatDriver
from tests.conftest import make_settings
from tests.test_vanishing import FakeSender


async def add_caseworker(rt: Runtime, region: str = "milan", *, role: Role = Role.MODERATOR,
                         org_slug: str | None = None) -> tuple[str, str]:
    """A caseworker on Telegram in an organisation serving `region`: (user id, address)."""
    address = "cw-" + secrets.token_hex(4)
    slug = org_slug or "org-" + secrets.token_hex(3)
    async with rt.sessionmaker() as db, db.begin():
        org = (await db.execute(select(Organisation).where(Organisation.slug == slug))
               ).scalar_one_or_none()
        if org is None:
            org = Organisation(slug=slug, name="Test centre")
            db.add(org)
            await db.flush()
            db.add(OrganisationRegion(org_id=org.id, region_code=region))
        today = rt.services.clock().date()
        user = User(channel=Channel.TELEGRAM, address_enc=rt.vault.encrypt("telegram", address),
                    lookup_hash=rt.vault.lookup_hash("telegram", address), role=role,
                    org_id=org.id, region_code=region, onboarded=True, language="en",
                    last_active_on=today, created_on=today, topics=[])
        db.add(user)
        await db.flush()
        return user.id, address


async def her(rt: Runtime, chat: ChatDriver) -> User:
    key = rt.vault.lookup_hash(chat.channel, chat.address)
    async with rt.sessionmaker() as db:
        return (await db.execute(select(User).where(User.lookup_hash == key))).scalar_one()


async def handoffs(rt: Runtime) -> list[Handoff]:
    async with rt.sessionmaker() as db:
        return list((await db.execute(select(Handoff).order_by(Handoff.id))).scalars())


async def set_codeword(chat: ChatDriver, word: str = "Blue heron") -> None:
    await chat.press("talk", must_exist=False)
    await chat.press("talk:code", must_exist=False)
    await chat.say(word)


async def open_talk(chat: ChatDriver) -> int:
    await set_codeword(chat)
    await chat.press("talk:open")
    return int(chat.action_starting("talk:end:").rsplit(":", 1)[1])


@pytest.fixture
def sender(rt: Runtime) -> FakeSender:
    fake = FakeSender()
    rt.add_sender(fake)
    return fake


# -- the code word -------------------------------------------------------------------------------

async def test_code_word_is_explained_first_and_kept_only_as_a_hash(
        chat: ChatDriver, rt: Runtime, sender: FakeSender) -> None:
    await add_caseworker(rt)
    await chat.onboard()
    await chat.press("talk")
    assert "a word only you know" in chat.text and "same service" in chat.text
    assert chat.actions()[0] == "talk:code" and "talk:open" not in chat.actions()
    await chat.press("talk:code")
    await chat.say("  Blue   Heron  ")
    assert "code word is saved" in chat.text
    assert "Heron" not in chat.text
    stored = (await her(rt, chat)).codeword_hash
    assert stored and "heron" not in stored.lower()
    assert verify_secret("blue heron", stored)
    assert "talk:open" in chat.actions()


async def test_check_code_word(chat: ChatDriver, rt: Runtime) -> None:
    await chat.onboard()
    await set_codeword(chat, "Sunflower")
    await chat.press("talk:check", must_exist=False)
    await chat.say("SUNFLOWER")
    assert "Yes, that is your code word" in chat.text
    await chat.press("talk:check", must_exist=False)
    await chat.say("sunflour")
    assert "not the code word you chose" in chat.text


async def test_check_without_a_code_word(chat: ChatDriver, rt: Runtime) -> None:
    await chat.onboard()
    await chat.press("talk:check", must_exist=False)
    assert "not chosen a code word" in chat.text


@pytest.mark.parametrize(("text", "answer"), [
    ("", "Please type a word"), ("   ", "Please type a word"), ("ab", "3 to 64"),
    ("x" * 65, "3 to 64"), ("x" * 10_000, "too long"),
])
async def test_bad_code_words_are_refused(chat: ChatDriver, rt: Runtime, text: str,
                                          answer: str) -> None:
    await chat.onboard()
    await chat.press("talk:code", must_exist=False)
    await chat.say(text)
    assert answer in chat.text
    assert (await her(rt, chat)).codeword_hash is None
    await chat.say("a good word")  # still at the prompt
    assert "code word is saved" in chat.text


@pytest.mark.parametrize("word", ["🙂🌷🙂", "\u200fكلمة", "'; DROP TABLE users;--",
                                  "<b>x</b>"])
async def test_unusual_code_words_work(chat: ChatDriver, rt: Runtime, word: str) -> None:
    await chat.onboard()
    await set_codeword(chat, word)
    assert "code word is saved" in chat.text
    await chat.press("talk:check", must_exist=False)
    await chat.say(word)
    assert "Yes, that is your code word" in chat.text


# -- the conversation ----------------------------------------------------------------------------

async def take(rt: Runtime, hid: int, caseworker_address: str) -> ChatDriver:
    """The caseworker presses "Take this request" in her own chat."""
    cw = ChatDriver(rt.core, channel=Channel.TELEGRAM, address=caseworker_address)
    await cw.press(f"ho:take:{hid}", must_exist=False)
    assert "You took this request" in cw.text, cw.text
    return cw


async def test_open_and_relay_under_a_pseudonym(chat: ChatDriver, rt: Runtime,
                                                sender: FakeSender) -> None:
    """The request goes to ONE organisation (the longest-serving one of her region); her words
    wait until one of its caseworkers takes it, then reach that caseworker alone."""
    cw1, addr1 = await add_caseworker(rt, org_slug="first-centre")
    _colleague, addr1b = await add_caseworker(rt, org_slug="first-centre")
    _newer, addr2 = await add_caseworker(rt, org_slug="newer-centre")
    _other_region, addr3 = await add_caseworker(rt, region="karditsa")
    await chat.onboard(region="milan")
    hid = await open_talk(chat)
    (handoff,) = await handoffs(rt)
    async with rt.sessionmaker() as db:
        first_org = (await db.get(User, cw1)).org_id  # type: ignore[union-attr]
    assert (handoff.id, handoff.kind, handoff.org_id, handoff.region_code, handoff.status) == (
        hid, "talk", first_org, "milan", HandoffStatus.OPEN)
    assert handoff.pseudonym in chat.text
    await rt.core.drain()
    for addr in (addr1, addr1b):
        assert any(handoff.pseudonym in t or "new message" in t for t in sender.texts_to(addr))
    assert sender.texts_to(addr2) == [] and sender.texts_to(addr3) == []
    sender.sent.clear()

    words = "I need to talk about my situation <b>&</b> {name}"
    await chat.say(words)
    assert "Sent." in chat.text and words not in chat.text and "situation" not in chat.text
    await rt.core.drain()
    assert sender.sent == []  # held until someone takes it
    # The newer centre cannot even open it.
    newer = ChatDriver(rt.core, channel=Channel.TELEGRAM, address=addr2)
    await newer.press(f"ho:take:{hid}", must_exist=False)
    assert "You took" not in newer.text
    await take(rt, hid, addr1)
    await rt.core.drain()
    (reply,) = [r for a, rs in sender.sent if a == addr1 and any(
        words in r.text for r in rs) for r in rs if words in r.text]
    assert reply.text.endswith(words) and handoff.pseudonym in reply.text
    assert reply.has_action(f"mod:ho:{hid}")
    for addr in (addr1b, addr2, addr3):
        assert not any(words in t for t in sender.texts_to(addr))
    assert chat.address not in repr(sender.sent)
    sender.sent.clear()
    await chat.say("and now?")
    await rt.core.drain()
    assert any(t.endswith("and now?") for t in sender.texts_to(addr1))
    assert [a for a, _rs in sender.sent] == [addr1]


async def test_only_one_open_conversation(chat: ChatDriver, rt: Runtime) -> None:
    await add_caseworker(rt)
    await chat.onboard()
    hid = await open_talk(chat)
    await chat.press("talk", must_exist=False)
    assert f"talk:chat:{hid}" in chat.actions()
    await chat.press("talk:open", must_exist=False)
    assert f"talk:end:{hid}" in chat.actions()
    assert len(await handoffs(rt)) == 1


async def test_once_taken_only_that_caseworker_gets_her_words(chat: ChatDriver, rt: Runtime,
                                                              sender: FakeSender) -> None:
    cw1, addr1 = await add_caseworker(rt)
    _cw2, addr2 = await add_caseworker(rt)
    await chat.onboard()
    hid = await open_talk(chat)
    async with rt.sessionmaker() as db, db.begin():
        handoff = await db.get(Handoff, hid)
        handoff.status, handoff.taken_by = HandoffStatus.TAKEN, cw1
    await rt.core.drain()
    sender.sent.clear()
    await chat.say("only for you")
    await rt.core.drain()
    assert any(t.endswith("only for you") for t in sender.texts_to(addr1))
    assert sender.texts_to(addr2) == []


async def test_answer_button_reenters_chat_mode(chat: ChatDriver, rt: Runtime,
                                                sender: FakeSender) -> None:
    _cw, addr = await add_caseworker(rt)
    await chat.onboard()
    hid = await open_talk(chat)
    await take(rt, hid, addr)
    await chat.press("menu", must_exist=False)
    await chat.say("hello?")  # out of chat mode: not relayed
    assert "did not understand" in chat.text
    await rt.core.drain()
    assert not any(t.endswith("hello?") for t in sender.texts_to(addr))
    await chat.press(f"talk:chat:{hid}", must_exist=False)
    await chat.say("back again")
    assert "Sent." in chat.text
    await rt.core.drain()
    assert any(t.endswith("back again") for t in sender.texts_to(addr))


@pytest.mark.parametrize("text", ["", "   "])
async def test_empty_message_is_not_sent(chat: ChatDriver, rt: Runtime, sender: FakeSender,
                                         text: str) -> None:
    _cw, addr = await add_caseworker(rt)
    await chat.onboard()
    await open_talk(chat)
    await rt.core.drain()
    sender.sent.clear()
    await chat.say(text)
    assert "write a message first" in chat.text
    await rt.core.drain()
    assert sender.sent == []


async def test_too_long_message_is_refused_and_not_sent(chat: ChatDriver, rt: Runtime,
                                                        sender: FakeSender) -> None:
    await add_caseworker(rt)
    await chat.onboard()
    await open_talk(chat)
    await rt.core.drain()
    sender.sent.clear()
    await chat.say("x" * 10_000)
    assert "too long" in chat.text
    await rt.core.drain()
    assert sender.sent == []
    await chat.say("shorter now")  # still in chat mode
    assert "Sent." in chat.text


@pytest.mark.parametrize("text", ["🙂🌷", "\u200f\u202eمرحبا", "'; DROP TABLE handoffs;--",
                                  "<script>alert(1)</script>", "{name} {0}"])
async def test_unusual_text_is_relayed_as_typed(chat: ChatDriver, rt: Runtime,
                                                sender: FakeSender, text: str) -> None:
    _cw, addr = await add_caseworker(rt)
    await chat.onboard()
    await take(rt, await open_talk(chat), addr)
    await chat.say(text)
    assert "Sent." in chat.text
    await rt.core.drain()
    assert any(t.endswith("\n\n" + text) for t in sender.texts_to(addr))
    assert len(await handoffs(rt)) == 1


async def test_she_can_end_the_conversation(chat: ChatDriver, rt: Runtime,
                                            sender: FakeSender) -> None:
    cw, addr = await add_caseworker(rt)
    await chat.onboard()
    hid = await open_talk(chat)
    async with rt.sessionmaker() as db, db.begin():
        handoff = await db.get(Handoff, hid)
        handoff.status, handoff.taken_by = HandoffStatus.TAKEN, cw
    await chat.press(f"talk:end:{hid}")
    assert "conversation has ended" in chat.text
    (handoff,) = await handoffs(rt)
    assert handoff.status == HandoffStatus.CLOSED
    await rt.core.drain()
    assert any("ended the conversation" in t for t in sender.texts_to(addr))
    sender.sent.clear()
    await chat.say("still there?")
    await rt.core.drain()
    assert sender.sent == []
    await chat.press(f"talk:chat:{hid}", must_exist=False)
    assert "not available" in chat.text
    await chat.press("talk:open", must_exist=False)  # a new one may start
    assert len(await handoffs(rt)) == 2


async def test_no_caseworker_for_her_region_is_said_honestly(chat: ChatDriver,
                                                             rt: Runtime) -> None:
    await add_caseworker(rt, region="milan")
    await chat.onboard(region="elsewhere")
    await chat.press("talk")
    assert "no caseworker for your region" in chat.text
    assert "help" in chat.actions()
    await chat.press("talk:code", must_exist=False)
    await chat.say("my word")
    await chat.press("talk:open", must_exist=False)
    assert "no caseworker for your region" in chat.text
    assert await handoffs(rt) == []


async def test_message_not_sent_when_no_caseworker_is_left(chat: ChatDriver, rt: Runtime,
                                                           sender: FakeSender) -> None:
    cw, addr = await add_caseworker(rt)
    await chat.onboard()
    await take(rt, await open_talk(chat), addr)
    async with rt.sessionmaker() as db, db.begin():
        (await db.get(User, cw)).active = False
    await rt.core.drain()
    sender.sent.clear()
    await chat.say("anyone?")
    assert "was not sent" in chat.text and "Sent." not in chat.text.split("\n")[0]
    await rt.core.drain()
    assert sender.sent == []


@pytest.mark.parametrize("payload", ["talk:chat:{other}", "talk:end:{other}", "talk:chat:999999",
                                     "talk:end:999999", "talk:chat:abc", "talk:end:",
                                     "talk:chat", "talk:end:{other}:1", "talk:nope",
                                     "talk:chat:0"])
async def test_forged_payloads_are_refused(rt: Runtime, sender: FakeSender,
                                           payload: str) -> None:
    _cw, addr = await add_caseworker(rt)
    other = ChatDriver(rt.core)
    await other.onboard()
    other_id = await open_talk(other)
    chat = ChatDriver(rt.core)
    await chat.onboard()
    await chat.press(payload.format(other=other_id), must_exist=False)
    assert "not available" in chat.text or "not valid" in chat.text
    assert "exit" in chat.actions()
    (handoff,) = await handoffs(rt)
    assert handoff.status == HandoffStatus.OPEN
    await rt.core.drain()
    sender.sent.clear()
    await chat.say("is this relayed?")
    await rt.core.drain()
    assert sender.sent == []


async def test_talk_before_setup_goes_to_the_start(chat: ChatDriver, rt: Runtime) -> None:
    await chat.press("talk:open", must_exist=False)
    assert any(a.startswith("lang:") for a in chat.actions())
    assert await handoffs(rt) == []


async def test_talk_in_another_language(chat: ChatDriver, rt: Runtime) -> None:
    await add_caseworker(rt)
    await chat.onboard(language="bg")
    await chat.press("talk")
    assert "talk:code" in chat.actions()
    assert "Quick exit" not in " ".join(b.label for b in chat.buttons())


# -- the canary ----------------------------------------------------------------------------------

async def test_canary(tmp_path: Path, clock, caplog_all: pytest.LogCaptureFixture  # noqa: ANN001
                      ) -> None:
    """What she types at every prompt of talk and settings is nowhere on disk or in a log."""
    canary = new_canary()
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/canary.db", log_level="DEBUG")
    async with open_runtime(settings, clock=clock) as rt:
        sender = FakeSender()
        rt.add_sender(sender)
        _cw, cw_addr = await add_caseworker(rt)
        chat = ChatDriver(rt.core)
        await chat.onboard()
        # Settings: no text prompt, but typing on each screen must leave nothing behind.
        for action in ("set", "set:topics", "set:discreet", "set:quiet", "set:vanish"):
            await chat.press(action, must_exist=False)
            await chat.say(canary)
        await chat.press("talk", must_exist=False)
        await chat.say(canary)
        await chat.press("talk:code", must_exist=False)
        await chat.say(canary)  # the code word itself
        await chat.press("talk:check", must_exist=False)
        await chat.say(canary + "x")  # a wrong one
        await chat.press("talk:check", must_exist=False)
        await chat.say(canary)
        assert "Yes, that is your code word" in chat.text
        await chat.press("talk:open", must_exist=False)
        hid = int(chat.action_starting("talk:end:").rsplit(":", 1)[1])
        await chat.say(canary + " before anyone took it")  # held in memory meanwhile
        await take(rt, hid, cw_addr)
        await chat.say(canary)
        await chat.say(canary + " 🙂 <b>" + canary + "</b>")
        await chat.say(canary * 300)  # too long
        await rt.core.drain()
        # It did reach the caseworker, in memory.
        assert any(canary in t for t in sender.texts_to(cw_addr))
        await chat.press(f"talk:end:{hid}", must_exist=False)
        await chat.say(canary)
        await chat.press("forget", must_exist=False)
        await chat.say(canary)
        await chat.press("forget", must_exist=False)
        await chat.press("forget:yes")
        assert chat.last is not None and chat.last.exit
        await chat.say("exit")
    assert_not_on_disk(canary, tmp_path)
    assert_not_logged(canary, caplog_all)


async def test_she_can_answer_in_a_job_request_too(chat: ChatDriver, rt: Runtime,
                                                   sender: FakeSender) -> None:
    cw, addr = await add_caseworker(rt)
    await chat.onboard()
    uid = (await her(rt, chat)).id
    async with rt.sessionmaker() as db, db.begin():
        handoff = Handoff(kind="job", user_id=uid, pseudonym="Ivy-2000", region_code="milan",
                          status=HandoffStatus.TAKEN, taken_by=cw)
        db.add(handoff)
        await db.flush()
        hid = handoff.id
    await chat.press(f"talk:chat:{hid}", must_exist=False)
    await chat.say("about the job")
    assert "Sent." in chat.text
    await rt.core.drain()
    assert any(t.endswith("about the job") and "Ivy-2000" in t for t in sender.texts_to(addr))
