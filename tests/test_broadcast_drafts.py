"""Broadcast drafts through the core (issue 11 items 7 and 8, issue 10's cost line): typed text
never throws a draft away, a typed date and time is understood at the schedule question, "Send
now" asks first, counts read right in every language, and the preview says what Viber bills."""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select

from bot.core.i18n import use_language
from bot.core.types import Channel
from bot.runtime import Runtime, open_runtime
from db.models import Broadcast, BroadcastStatus, User
from handlers.broadcasts import parse_when
from tests.chat import ChatDriver
from tests.conftest import FakeClock, make_settings
from tests.test_broadcasts import RecordingSender, compose, coordinator, count, person
from tests.test_moderation import make_org

ROME = ZoneInfo("Europe/Rome")


@pytest.fixture
async def priced(database_url: str, clock: FakeClock) -> AsyncIterator[Runtime]:
    settings = make_settings(database_url, viber_price_per_message=Decimal("0.0125"),
                             viber_price_currency="EUR")
    async with open_runtime(settings, clock=clock) as runtime:
        runtime.add_sender(RecordingSender())
        yield runtime


@pytest.fixture
def sender(rt: Runtime) -> RecordingSender:
    fake = RecordingSender()
    rt.add_sender(fake)
    return fake


async def viber_women(rt: Runtime, n: int) -> None:
    rows = [dict(id=f"viber{i:027d}", channel=Channel.VIBER.value,
                 address_enc=rt.vault.encrypt(Channel.VIBER, f"vb{i}=="),
                 lookup_hash=rt.vault.lookup_hash(Channel.VIBER, f"vb{i}=="), language="en",
                 region_code="milan", role="participant", topics=["trainings"], onboarded=True,
                 active=True, last_active_on=date(2026, 11, 1), created_on=date(2026, 11, 1))
            for i in range(n)]
    async with rt.sessionmaker() as db, db.begin():
        await db.execute(insert(User), rows)


async def only_broadcast(rt: Runtime) -> Broadcast:
    async with rt.sessionmaker() as db:
        return (await db.execute(select(Broadcast))).scalar_one()


# -- nothing typed throws a draft away ---------------------------------------------------------------
STEPS = [
    ("bc:new", "Who should get it?"),
    ("bc:aud:participants", "Which region?"),
    ("bc:reg:milan", "What is it about?"),
    ("bc:top:trainings", "Which language do you write first?"),
]


async def test_typed_text_at_every_button_step_keeps_the_draft(rt: Runtime,
                                                               sender: RecordingSender) -> None:
    org = await make_org(rt, "ngo", ("milan",))
    boss = await coordinator(rt, org)
    await boss.say("/broadcasts")
    for action, question in STEPS:
        await boss.press(action)
        await boss.say("oops, a typo 18:30")
        assert "Your draft is kept." in boss.text and question in boss.text, action
        assert "did not understand" not in boss.text
    await boss.press("bc:lang:en")
    await boss.say("Training on Monday at 10.")
    for text in ("hello?", "2026-12-03 18:30", "Send it!"):
        await boss.say(text)  # at the summary
        assert "Your draft is kept." in boss.text and "Written in: English." in boss.text
    await boss.press("bc:preview")
    await boss.say("looks good")
    assert "Your draft is kept." in boss.text and "Preview for readers in English" in boss.text
    assert "Training on Monday at 10." in boss.text
    await boss.press("bc:send")
    await boss.say("yes")  # typed, not the button: asked again, nothing sent yet
    assert "Your draft is kept." in boss.text and "now?" in boss.text
    assert await count(rt, Broadcast) == 0
    await boss.press("bc:sendok")
    assert (await only_broadcast(rt)).texts == {"en": "Training on Monday at 10."}


async def test_two_languages_survive_a_mistyped_time(rt: Runtime,
                                                     sender: RecordingSender) -> None:
    org = await make_org(rt, "ngo", ("milan",))
    boss = await coordinator(rt, org)
    await compose(boss, extra={"it": "Formazione lunedì."})
    await boss.press("bc:sched")
    for wrong in ("tomorrow evening", "31.02.2027 18:00", "18:30", "2020-01-01 10:00"):
        await boss.say(wrong)
        assert "Send it on" not in boss.text, wrong
        assert "Your draft is kept." in boss.text or "already passed" in boss.text, wrong
    await boss.say("3.12.2026 18:30")
    assert "Send it on" in boss.text and "write another date and time" in boss.text
    await boss.say("4/12/2026 9:15 am")  # a corrected time, typed at the confirmation
    assert "Send it on" in boss.text
    await boss.press("bc:schedok")
    broadcast = await only_broadcast(rt)
    assert broadcast.texts == {"en": "Training on Monday at 10, Via Roma 1.",
                               "it": "Formazione lunedì."}
    assert broadcast.status == BroadcastStatus.SCHEDULED
    assert broadcast.scheduled_at is not None
    assert broadcast.scheduled_at.astimezone(ROME) == datetime(2026, 12, 4, 9, 15, tzinfo=ROME)


TODAY = date(2026, 11, 27)


@pytest.mark.parametrize("typed,expected", [
    ("2026-12-03 18:30", datetime(2026, 12, 3, 18, 30)),
    ("2026-12-03T18:30", datetime(2026, 12, 3, 18, 30)),
    ("03.12.2026 18:30", datetime(2026, 12, 3, 18, 30)),
    ("3/12/2026 18.30", datetime(2026, 12, 3, 18, 30)),
    ("3-12-26, 18h30", datetime(2026, 12, 3, 18, 30)),
    ("3.12. 18:30", datetime(2026, 12, 3, 18, 30)),
    ("3.12 at 6 pm", datetime(2026, 12, 3, 18, 0)),
    ("18:30 3.12.2026", datetime(2026, 12, 3, 18, 30)),
    ("  3.12.2026   6:30PM ", datetime(2026, 12, 3, 18, 30)),
    ("12.30 15.1.", datetime(2027, 1, 15, 12, 30)),  # no year: the next 15 January
    ("15.1 12h", datetime(2027, 1, 15, 12, 0)),
    ("3.12.2026 12 am", datetime(2026, 12, 3, 0, 0)),
])
def test_typed_dates_and_times_are_understood(typed: str, expected: datetime) -> None:
    got = parse_when(typed, "Europe/Rome", today=TODAY)
    assert got == expected.replace(tzinfo=ROME).astimezone(UTC)


@pytest.mark.parametrize("typed", ["", "tomorrow", "18:30", "3.12.2026", "32.12.2026 10:00",
                                   "3.13.2026 10:00", "3.12.2026 25:00", "3.12.2026 13 pm",
                                   "3.12.2026 10:61", "Monday 10:00", "10 000 000"])
def test_what_is_not_a_moment_is_refused(typed: str) -> None:
    assert parse_when(typed, "Europe/Rome", today=TODAY) is None


# -- send now asks first; counts read right ------------------------------------------------------------
async def test_send_now_asks_first_with_the_count(rt: Runtime, sender: RecordingSender) -> None:
    org = await make_org(rt, "ngo", ("milan",))
    boss = await coordinator(rt, org)
    await person(rt, topics=["trainings"])
    await compose(boss)
    assert "About 1 person gets it now." in boss.text
    await boss.press("bc:send")
    assert "Send this to about 1 person now?" in boss.text
    assert {"bc:sendok", "bc:preview"} <= set(boss.actions())
    assert await count(rt, Broadcast) == 0
    await boss.press("bc:preview")  # "No": back to the preview, the draft intact
    assert "Preview for readers in English" in boss.text
    await person(rt, topics=["trainings"])
    await boss.press("bc:send")
    assert "Send this to about 2 people now?" in boss.text
    await boss.press("bc:sendok")
    assert (await only_broadcast(rt)).status == BroadcastStatus.SCHEDULED


async def test_the_character_count_reads_right(rt: Runtime, sender: RecordingSender) -> None:
    org = await make_org(rt, "ngo", ("milan",))
    boss = await coordinator(rt, org)
    await boss.say("/broadcasts")
    for action, _question in STEPS:
        await boss.press(action)
    await boss.press("bc:lang:en")
    await boss.say("x" * 1501)
    assert "That is too long: 1501 characters." in boss.text


@pytest.mark.parametrize("lang,one,five", [
    ("uk", "Приблизно {n} людина", "Приблизно {n} людей"),
    ("bg", "около {n} човек", "около {n} души"),
])
def test_counts_use_each_languages_plural_forms(lang: str, one: str, five: str) -> None:
    from bot.core.i18n import ngettext

    with use_language(lang):
        single = ngettext("About {count} person gets it now.",
                          "About {count} people get it now.", 1, count=1)
        many = ngettext("About {count} person gets it now.",
                        "About {count} people get it now.", 5, count=5)
    assert one.format(n=1).lower() in single.lower()
    assert five.format(n=5).lower() in many.lower()
    assert single != many


# -- what it costs -------------------------------------------------------------------------------------
async def test_the_preview_says_how_many_viber_messages_are_paid(priced: Runtime) -> None:
    org = await make_org(priced, "ngo", ("milan",))
    boss = await coordinator(priced, org)
    await person(priced, topics=["trainings"])  # a web chat woman: free
    await viber_women(priced, 2)
    await compose(boss)
    assert "About 3 people get it now." in boss.text
    assert ("2 of them use Viber: the bot sends 2 Viber messages, and Viber charges for "
            "each one.") in boss.text
    assert "At €0.0125 a message, about €0.03 in all." in boss.text
    await boss.press("bc:send")
    assert "Send this to about 3 people now?" in boss.text and "2 Viber messages" in boss.text


async def test_no_cost_line_without_viber_and_no_price_without_the_setting(
        rt: Runtime, sender: RecordingSender) -> None:
    org = await make_org(rt, "ngo", ("milan",))
    boss = await coordinator(rt, org)
    await person(rt, topics=["trainings"])
    await compose(boss)
    assert "Viber" not in boss.text.split("Preview for readers")[-1].split("About")[-1]
    await viber_women(rt, 1)
    await boss.press("bc:summary")
    await boss.press("bc:preview")
    assert "1 of them uses Viber: the bot sends 1 Viber message, and Viber charges for it." \
        in boss.text
    assert "a message, about" not in boss.text  # no price set: none invented


async def test_the_cost_line_in_the_coordinators_language(priced: Runtime) -> None:
    org = await make_org(priced, "ngo", ("milan",))
    boss = ChatDriver(priced.core)
    await boss.onboard(language="it", region="milan")
    async with priced.sessionmaker() as db, db.begin():
        user = (await db.execute(select(User).where(User.lookup_hash == priced.vault.lookup_hash(
            boss.channel, boss.address)))).scalar_one()
        user.role, user.org_id = "coordinator", org
    await viber_women(priced, 2)
    await compose(boss)
    assert "Viber" in boss.text and "0,0125" in boss.text and "€" in boss.text
    assert "Viber charges" not in boss.text  # translated, not the English
