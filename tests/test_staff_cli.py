"""The staff CLI: `python -m bot add-org`, `invite`, `import-vacancies` (with tests/data/*.csv)."""
from __future__ import annotations

import asyncio
import base64
import os
import sys
from datetime import date
from pathlib import Path

from sqlalchemy import select

from bot.core.settings import Settings
from bot.runtime import Runtime
from bot.staff_cli import run_import
from db.models import Vacancy
from tests.chat import ChatDriver
from tests.test_moderation import add_employer, make_org, user_row

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent


async def cli(settings: Settings, *args: str, env: dict[str, str] | None = None
              ) -> tuple[int, str, str]:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "LOG_LEVEL": "WARNING",
           "DATA_KEY": base64.urlsafe_b64encode(settings.data_key).decode(), **(env or {})}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_add_org_invite_and_redeem(rt: Runtime, settings: Settings) -> None:
    code, out, _err = await cli(settings, "add-org", "--slug", "north", "--name",
                                "Centre North", "--regions", "milan,karditsa")
    assert code == 0 and "created" in out
    code, _out, err = await cli(settings, "add-org", "--slug", "x", "--name", "X", "--regions",
                                "atlantis")
    assert code == 1 and "unknown regions" in err
    code, _out, err = await cli(settings, "invite", "--role", "moderator", "--org", "nosuch")
    assert code == 1 and "no organisation" in err
    code, out, _err = await cli(settings, "invite", "--role", "coordinator", "--org", "north")
    assert code == 0
    invite_code = out.splitlines()[1].strip()
    chat = ChatDriver(rt.core)
    await chat.onboard()
    await chat.say(f"/redeem {invite_code}")
    assert "You are now a coordinator" in chat.text and "Centre North" in chat.text
    assert (await user_row(rt, chat)).role == "coordinator"


def _csv(name: str, emp: int, sus: int) -> bytes:
    text = (DATA / name).read_text(encoding="utf-8")
    return text.replace("{EMP}", str(emp)).replace("{SUS}", str(sus)).encode("utf-8")


async def test_import_reports_rejected_rows_and_imports_the_rest(rt: Runtime,
                                                                 settings: Settings) -> None:
    org = await make_org(rt)
    emp = await add_employer(rt, org)
    sus = await add_employer(rt, org, name="Paused Co", status="suspended")
    report = await run_import(settings, _csv("vacancies_mixed.csv", emp, sus), None,
                              today=date(2026, 11, 27))
    assert report.imported == [3, 4, 17]
    reasons = dict(report.rejected)
    assert sorted(reasons) == list(range(5, 16))
    assert "title is empty" in reasons[5]
    assert "region" in reasons[6]
    assert "not a known employer" in reasons[7]
    assert "sector" in reasons[8]
    assert "pay_min" in reasons[9]
    assert "pay_max is lower" in reasons[10]
    assert "in the past" in reasons[11]
    assert "not a date" in reasons[12]
    assert "yes or no" in reasons[13]
    assert "work_language" in reasons[14]
    assert "not active" in reasons[15]
    assert report.ignored_columns == ["notes"]
    async with rt.sessionmaker() as db:
        rows = list((await db.execute(select(Vacancy).order_by(Vacancy.id))).scalars())
    assert [v.title for v in rows][:2] == ["Shop assistant", "Cleaner early shift"]
    assert rows[0].description == "Help customers,\nfill shelves"
    assert (rows[0].pay_min, rows[0].pay_max, rows[0].childcare_friendly) == (700, 850, True)
    assert rows[1].childcare_friendly is True and rows[1].expires_on == date(2026, 12, 15)
    assert rows[2].hours == "full_time" and rows[2].sector == "retail"
    assert rows[2].work_language == "en"


async def test_import_by_cli_prints_line_numbers(rt: Runtime, settings: Settings,
                                                 tmp_path: Path) -> None:
    org = await make_org(rt)
    emp = await add_employer(rt, org)
    path = tmp_path / "jobs.csv"
    path.write_bytes(_csv("vacancies_mixed.csv", emp, emp))
    code, out, _err = await cli(settings, "import-vacancies", str(path), "--org", "north")
    assert code == 3
    assert "Imported: 4 vacancies. Rejected: 10." in out
    assert "line 5: title is empty" in out
    code, _out, err = await cli(settings, "import-vacancies", str(tmp_path / "missing.csv"))
    assert code == 1 and "Cannot read the file" in err


async def test_semicolons_are_fine(rt: Runtime, settings: Settings) -> None:
    org = await make_org(rt)
    emp = await add_employer(rt, org)
    report = await run_import(settings, _csv("vacancies_semicolon.csv", emp, emp), "north",
                              today=date(2026, 11, 27))
    assert report.imported == [2] and not report.rejected
    # Another organisation's import does not see this employer.
    await make_org(rt, "south", ("catalonia",))
    report = await run_import(settings, _csv("vacancies_semicolon.csv", emp, emp), "south",
                              today=date(2026, 11, 27))
    assert report.imported == [] and "not a known employer" in report.rejected[0][1]


async def test_bad_files_never_crash_and_import_nothing(rt: Runtime, settings: Settings
                                                        ) -> None:
    await make_org(rt)
    cases = {"vacancies_empty.csv": "empty", "vacancies_utf16.csv": "not UTF-8",
             "vacancies_wrong_columns.csv": "Missing columns"}
    for name, expected in cases.items():
        report = await run_import(settings, (DATA / name).read_bytes(), None,
                                  today=date(2026, 11, 27))
        assert expected in " ".join(report.problems), name
        assert report.imported == []
    for raw in (b"\x00\x00\x00", b"title,region\n\"unclosed", b"\n\n\n", "é".encode("latin-1")):
        report = await run_import(settings, raw, None, today=date(2026, 11, 27))
        assert report.imported == []
    async with rt.sessionmaker() as db:
        assert (await db.execute(select(Vacancy.id))).first() is None


async def test_an_admin_changes_a_national_line_from_the_cli(rt: Runtime,
                                                            settings: Settings) -> None:
    from sqlalchemy import select

    from db.models import AuditEntry, HelpContact

    async with rt.sessionmaker() as db:
        line = (await db.execute(select(HelpContact).where(HelpContact.key == "it-1522"))
                ).scalar_one()
    code, out, _err = await cli(settings, "help-contact", "edit", str(line.id),
                                "--hours", "Every day, 0-24")
    assert code == 0 and "changed" in out
    code, _out, err = await cli(settings, "help-contact", "edit", str(line.id),
                                "--number", "call me")
    assert code == 1 and "--number" in err
    async with rt.sessionmaker() as db:
        edited = await db.get(HelpContact, line.id)
        audit = (await db.execute(select(AuditEntry.action))).scalars().all()
    assert edited.hours == "Every day, 0-24" and edited.number == line.number
    assert edited.checked_on == line.checked_on  # no --checked-on: not moved
    assert "help_contact_edit_cli" in audit
