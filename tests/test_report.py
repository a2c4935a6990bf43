"""The impact report: figures per organisation and region, small counts never shown."""
from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from bot.core.settings import Settings
from bot.runtime import Runtime
from bot.services.report import collect, shown, write_chart, write_reports
from db.models import ImpactCount
from tests.chat import ChatDriver
from tests.test_moderation import add_employer, make_org, staff
from tests.test_staff_cli import cli


def test_small_counts_are_hidden() -> None:
    assert [shown(n) for n in (0, 1, 2, 3, 4, 5, 6, 120, -2)] == [
        "0", "<5", "<5", "<5", "<5", "5", "6", "120", "0"]


async def seed(rt: Runtime, org: int) -> None:
    rows = [
        (date(2026, 3, 1), 0, "milan", "new_users", 7),
        (date(2026, 4, 1), 0, "milan", "new_users", 5),
        (date(2026, 4, 1), 0, "milan", "active_month", 3),
        (date(2026, 4, 2), org, "milan", "meetup_signups", 9),
        (date(2026, 4, 2), org, "milan", "meetup_attended", 4),
        (date(2026, 4, 3), org, "milan", "job_interests", 12),
        (date(2026, 4, 3), org, "milan", "handoffs_taken", 2),
        (date(2026, 4, 3), 0, "milan", "talk_requests", 6),
        (date(2026, 4, 4), org, "milan", "broadcast_sent", 40),
        (date(2026, 4, 4), 0, "milan", "new_users:professional", 3),
        (date(2026, 4, 4), org, "milan", "broadcast_sent:professional", 6),
        (date(2026, 4, 4), 0, "karditsa", "new_users", 8),  # another organisation's region
        (date(2025, 4, 4), 0, "milan", "new_users", 50),  # outside the period
    ]
    async with rt.sessionmaker() as db, db.begin():
        for day, org_id, region, metric, value in rows:
            db.add(ImpactCount(day=day, org_id=org_id, region_code=region, metric=metric,
                               value=value))


async def test_collect_per_organisation_and_region(rt: Runtime) -> None:
    org = await make_org(rt)
    await make_org(rt, "south", ("karditsa",))
    for _i in range(6):
        await add_employer(rt, org)
    await seed(rt, org)
    async with rt.sessionmaker() as db:
        reports = await collect(db, date(2026, 1, 1), date(2026, 12, 31))
    north = next(r for r in reports if r.slug == "north")
    south = next(r for r in reports if r.slug == "south")
    assert list(north.regions) == ["milan"]
    milan = north.regions["milan"]
    assert milan["women_new"] == 12 and milan["women_active_months"] == 3
    assert milan["meetup_signups"] == 9 and milan["meetup_attended"] == 4
    assert milan["job_interests"] == 12 and milan["handoffs_taken"] == 2
    assert milan["talk_requests"] == 6 and milan["broadcasts_sent"] == 40  # women only (no total to subtract from)
    assert milan["professionals_reached"] == 3 and milan["professional_messages"] == 6
    assert north.employers == 6
    assert south.regions["karditsa"]["women_new"] == 8 and south.employers == 0


async def test_cli_report_writes_csv_and_png_with_small_counts_hidden(
        rt: Runtime, settings: Settings, tmp_path: Path) -> None:
    org = await make_org(rt)
    await seed(rt, org)
    code, out, err = await cli(settings, "report", "--quarter", "2026-Q2",
                               "--out", str(tmp_path / "out"))
    assert code == 0, err
    files = sorted((tmp_path / "out").iterdir())
    assert [f.suffix for f in files] == [".csv", ".png"]
    assert files[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with files[0].open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    milan = next(r for r in rows if r["region"] == "milan")
    assert milan["women_new"] == "5" and milan["women_active_months"] == "<5"
    assert milan["meetup_attended"] == "<5" and milan["handoffs_taken"] == "<5"
    assert milan["professionals_reached"] == "<5" and milan["broadcasts_sent"] == "40"
    assert next(r for r in rows if r["region"] == "all")["employers_committed"] == "0"
    assert "1" not in {milan[k] for k in milan} and "4" not in {milan[k] for k in milan}
    for bad in ("2026-01-01", "2026-Q5", "2999-Q1"):  # a day, no quarter, not yet over
        code, _out, err = await cli(settings, "report", "--quarter", bad,
                                    "--out", str(tmp_path / "x"))
        assert code == 1 and "--quarter" in err


def test_chart_looks_the_same_for_every_count_from_1_to_4(tmp_path: Path) -> None:
    from bot.services.report import METRICS, OrgReport

    pictures = set()
    for n in (1, 4):
        report = OrgReport(slug="x", name="X", employers=n,
                           regions={"milan": {m.key: n for m in METRICS}})
        path = tmp_path / f"{n}.png"
        write_chart(report, path, date(2026, 1, 1), date(2026, 12, 31))
        pictures.add(path.read_bytes())
    assert len(pictures) == 1
    five = OrgReport(slug="x", name="X", regions={"milan": {m.key: 5 for m in METRICS}})
    write_chart(five, tmp_path / "5.png", date(2026, 1, 1), date(2026, 12, 31))
    assert (tmp_path / "5.png").read_bytes() not in pictures
    assert write_reports([], tmp_path / "none", date(2026, 1, 1), date(2026, 1, 2)) == []


async def test_coordinator_sees_the_summary_in_the_chat(rt: Runtime, clock) -> None:  # noqa: ANN001
    org = await make_org(rt)
    await seed(rt, org)
    boss = await staff(rt, "coordinator", org)
    await boss.press("mod", must_exist=False)
    await boss.press("mod:rep")
    assert "Figures for 2026 Q3 (2026-07-01 to 2026-09-30)" in boss.text
    # Only whole, completed quarters: no "this month", "this year" or any overlapping period.
    assert [a for a in boss.actions() if a.startswith("mod:rep:")] == [
        "mod:rep:2026q3", "mod:rep:2026q2", "mod:rep:2026q1", "mod:rep:2025q4"]
    await boss.press("mod:rep:2026q2")
    text = boss.text
    assert "Women who started using the bot: 5" in text
    assert "Meetup attendance: <5" in text and "Broadcast messages to women: 40" in text
    assert "Employers committed: 0" in text
    for forged in ("mod:rep:nonsense", "mod:rep:2026q4", "mod:rep:2020q1", "mod:rep:year"):
        await boss.press(forged, must_exist=False)
        assert "2026 Q3" in boss.text, forged
    her = ChatDriver(rt.core)
    await her.onboard()
    await her.press("mod:rep:2026q2", must_exist=False)
    assert "not available to you" in her.text


def test_quarters_are_fixed_and_never_overlap() -> None:
    from bot.services.report import Quarter, completed_quarters

    quarters = completed_quarters(date(2026, 11, 27), 8)
    assert quarters[0] == Quarter(2026, 3) and quarters[-1] == Quarter(2024, 4)
    spans = sorted((q.start, q.end) for q in quarters)
    for (_s1, e1), (s2, _e2) in zip(spans, spans[1:], strict=False):
        assert (s2 - e1).days == 1  # back to back: no gap, no overlap
    assert Quarter(2026, 4).end == date(2026, 12, 31) and Quarter(2026, 1).end == date(2026, 3, 31)
    assert Quarter.parse("2026-Q3") == Quarter(2026, 3) and Quarter.parse("2026-Q3\n") is None
