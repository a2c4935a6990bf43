"""Issue 11: a web chat visitor counts once she did something; staff lists tell items apart;
the report chart comes in the coordinator's language with the project's targets."""
from __future__ import annotations

import csv
import secrets
from datetime import date, timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

from bot.app import RUNTIME
from bot.core.settings import Settings
from bot.core.types import Channel
from bot.demo import demo_codes
from bot.runtime import Runtime
from bot.services.report import METRICS, OrgReport, target_figures, write_chart
from db.models import ImpactCount, Meetup, Vacancy
from tests.chat import ChatDriver
from tests.conftest import make_settings
from tests.http import WebChatClient, serve
from tests.test_moderation import add_employer, make_org, staff
from tests.test_staff_cli import cli


async def new_users(app_rt: Runtime) -> int:
    async with app_rt.sessionmaker() as db:
        return int((await db.execute(select(func.coalesce(func.sum(ImpactCount.value), 0))
                                     .where(ImpactCount.metric == "new_users"))).scalar_one())


async def test_a_web_chat_visitor_counts_once_she_signs_up(database_url: str, clock) -> None:  # noqa: ANN001
    settings: Settings = make_settings(database_url, demo_data="on")
    async with serve(settings, clock=clock) as (base, app), aiohttp.ClientSession() as http:
        rt = app[RUNTIME]
        for _reload in range(3):  # three page loads that do nothing: nobody is counted
            client = WebChatClient(http, base, secrets.token_hex(16))
            await client.say("/start")
            await client.press("lang:en")
            await client.press("safe:ok")
            await client.press("region:milan")
            await client.press("help")
        assert await new_users(rt) == 0
        # A member of the demo centre (only members sign up for its closed groups).
        async with rt.sessionmaker() as db, db.begin():
            _staff, code = await demo_codes(db, clock.now, 1)
        await client.say(f"/redeem {code}")
        assert await new_users(rt) == 0
        await client.press("ev")
        meetups = [a for a in client.actions() if a.startswith("ev:show:")]
        await client.press(meetups[0])
        await client.press(next(a for a in client.actions() if a.startswith("ev:join:")))
        assert await new_users(rt) == 1
        await client.press("ev")
        await client.press(meetups[1])
        await client.press(next(a for a in client.actions() if a.startswith("ev:join:")))
        assert await new_users(rt) == 1  # one woman, counted once


async def test_telegram_counts_her_when_she_finishes_the_start(rt: Runtime) -> None:
    chat = ChatDriver(rt.core, channel=Channel.TELEGRAM, address="4242")
    await chat.onboard()
    assert await new_users(rt) == 1
    await chat.say("/start")
    await chat.press("safe:ok")
    assert await new_users(rt) == 1


async def test_figures_say_what_they_count(rt: Runtime) -> None:
    boss = await staff(rt, "coordinator", await make_org(rt))
    await boss.press("mod", must_exist=False)
    await boss.press("mod:rep")
    await boss.press("mod:about")
    assert "only once she signed up for a meetup" in boss.text
    assert boss.text.count("\n\n") >= len(METRICS)


async def test_staff_lists_tell_items_apart_newest_first(rt: Runtime) -> None:
    org = await make_org(rt, regions=("milan", "catalonia"))
    employer = await add_employer(rt, org)
    title = "Receptionist at a health centre with a very long name indeed"
    async with rt.sessionmaker() as db, db.begin():
        for n, region in enumerate(("milan", "catalonia", "milan", "catalonia")):
            db.add(Vacancy(employer_id=employer, org_id=org, region_code=region, title=title,
                           expires_on=date(2027, 1, 1) + timedelta(days=n),
                           status="published" if n != 1 else "closed",
                           created_at=rt.services.clock() + timedelta(minutes=n)))
            db.add(Meetup(org_id=org, region_code=region, title=title, place="x",
                          starts_at=rt.services.clock() + timedelta(days=n + 1)))
    mod = await staff(rt, "moderator", org)
    await mod.press("mod", must_exist=False)
    await mod.press("vac")
    lines = [x for x in mod.text.split("\n\n") if title in x]
    assert len(lines) == 4 and len(set(lines)) == 4
    assert "Catalonia (Sabadell, Santa Coloma)" in lines[0] and "January 4, 2027" in lines[0]
    assert "Closed" in lines[2] and "Published" in lines[0]
    labels = [b.label for b in mod.buttons() if b.action.startswith("vac:show:")]
    assert all(len(label) <= 40 and label.endswith("…") for label in labels), labels
    await mod.press("mod", must_exist=False)
    await mod.press("mev")
    lines = [x for x in mod.text.split("\n\n") if title in x]
    assert len(set(lines)) == 4 and "Catalonia" in lines[0] and "Milan / Lombardy" in lines[1]
    assert "1 December" in lines[0] and "28 November" in lines[-1]  # latest date first


def test_chart_in_the_coordinators_language_with_targets(tmp_path: Path) -> None:
    report = OrgReport(slug="x", name="Centre X", employers=3,
                       regions={"milan": {m.key: 7 for m in METRICS},
                                "karditsa": {m.key: 2 for m in METRICS}})
    figures = [(t.goal, f) for t, f in target_figures(report)]
    # Karditsa's 2 stays hidden: never a total of 9 beside a "<5".
    assert figures == [(100, "7 + <5"), (100, "7 + <5"), (120, "7 + <5"), (10, "<5"), (4, "2")]
    pictures = set()
    for lang in ("en", "el", "ar"):
        write_chart(report, tmp_path / f"{lang}.png", date(2026, 1, 1), date(2026, 3, 31), lang)
        pictures.add((tmp_path / f"{lang}.png").read_bytes())
    assert len(pictures) == 3


async def test_cli_report_takes_a_language_and_keeps_csv_columns(settings: Settings,
                                                                 tmp_path: Path) -> None:
    code, out, _err = await cli(settings, "add-org", "--slug", "centre-mi", "--name", "Centre",
                                "--regions", "milan")
    assert code == 0
    code, out, err = await cli(settings, "report", "--quarter", "2026-Q1",
                               "--out", str(tmp_path), "--lang", "el")
    assert code == 0, err
    written = sorted(out.split())
    assert [Path(p).suffix for p in written] == [".csv", ".png"]
    header = next(csv.reader(Path(written[0]).read_text(encoding="utf-8").splitlines()))  # noqa: ASYNC240
    assert header[:4] == ["organisation", "region", "from", "to"] and "women_new" in header
    assert Path(written[1]).stat().st_size > 10_000  # noqa: ASYNC240
    code, _out, err = await cli(settings, "report", "--quarter", "2026-Q1",
                                "--out", str(tmp_path), "--lang", "xx")
    assert code != 0
