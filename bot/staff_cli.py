"""Staff commands of the CLI: invite codes, organisations, the vacancy import, the impact report.
They register themselves with bot.cli.command when bot.cli loads this module."""
from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli import command
from bot.core.i18n import DEFAULT_LANGUAGE, LANGUAGES
from bot.core.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from bot.services.csv_import import ImportReport


def _open(settings: Settings) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    from db.engine import make_engine, make_session_factory

    engine = make_engine(settings.database_url, hide_parameters=True)
    return engine, make_session_factory(engine)


async def _org_id(db: AsyncSession, slug: str | None) -> int | None:
    """The id of the organisation with this slug; None when no slug was given."""
    from sqlalchemy import select

    from db.models import Organisation

    if not slug:
        return None
    org = (await db.execute(select(Organisation).where(Organisation.slug == slug))
           ).scalar_one_or_none()
    if org is None:
        raise LookupError(f"no organisation with slug {slug!r}")
    return org.id


async def _prepared(settings: Settings
                    ) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    from bot.runtime import prepare_database

    engine, factory = _open(settings)
    await prepare_database(settings, engine)
    return engine, factory


def _invite_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--role", required=True,
                   choices=["moderator", "coordinator", "admin", "professional", "member"],
                   help="a staff role, or member: a one-time member code for a woman the "
                        "organisation knows (access to its closed peer groups)")
    p.add_argument("--org", help="organisation slug (required except for admin)")


async def make_invite(settings: Settings, role: str, org_slug: str | None,
                      now: datetime | None = None) -> str:
    """Create a one-time invite and return the code (only its hash is stored)."""

    from db.models import AuditEntry
    from handlers.mod_team import create_invite

    engine, factory = await _prepared(settings)
    try:
        async with factory() as db, db.begin():
            org_id = await _org_id(db, org_slug)
            if org_id is None and role != "admin":
                raise LookupError("--org is required for this role")
            code, invite = await create_invite(db, role=role, org_id=org_id,
                                               now=now or datetime.now(UTC),
                                               ttl_hours=settings.invite_ttl_hours)
            db.add(AuditEntry(actor_id=None, actor_role="cli", org_id=org_id,
                              action="member.code" if role == "member" else "invite_create",
                              target_type="invite", target_id=str(invite.id)))
            return code
    finally:
        await engine.dispose()


@command("invite", "print a one-time invite code for a staff role", _invite_args)
def invite(args: argparse.Namespace, settings: Settings) -> int:
    try:
        code = asyncio.run(make_invite(settings, args.role, args.org))
    except LookupError as exc:
        print(f"Cannot create the invite: {exc}", file=sys.stderr)
        return 1
    if args.role == "member":
        print(f"Member code (valid {settings.invite_ttl_hours} hours, works once):")
        print(code)
        print("Give it to her in person or read it to her on the phone. In the bot she taps "
              f"\"I have a code from my centre\" and types it, or sends: /redeem {code}")
        return 0
    print(f"Invite code ({args.role}, valid {settings.invite_ttl_hours} hours, works once):")
    print(code)
    print(f"The person sends this to the bot: /redeem {code}")
    return 0


def _org_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--slug", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--regions", required=True, help="comma-separated region codes")


async def add_org(settings: Settings, slug: str, name: str, regions: list[str]) -> str:
    from sqlalchemy import select

    from db.models import Organisation, OrganisationRegion, Region

    engine, factory = await _prepared(settings)
    try:
        async with factory() as db, db.begin():
            known = set((await db.execute(select(Region.code))).scalars())
            unknown = [r for r in regions if r not in known]
            if unknown:
                raise LookupError("unknown regions: " + ", ".join(unknown)
                                  + " (known: " + ", ".join(sorted(known)) + ")")
            org = (await db.execute(select(Organisation).where(Organisation.slug == slug))
                   ).scalar_one_or_none()
            if org is None:
                org = Organisation(slug=slug, name=name)
                db.add(org)
                await db.flush()
                verb = "created"
            else:
                org.name = name
                verb = "updated"
            have = set((await db.execute(select(OrganisationRegion.region_code).where(
                OrganisationRegion.org_id == org.id))).scalars())
            for code in regions:
                if code not in have:
                    db.add(OrganisationRegion(org_id=org.id, region_code=code))
            return verb
    finally:
        await engine.dispose()


@command("add-org", "create or update an organisation and the regions it serves", _org_args)
def add_org_command(args: argparse.Namespace, settings: Settings) -> int:
    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    if not args.slug.strip() or len(args.slug) > 40 or not regions:
        print("Give a slug (at most 40 characters) and at least one region.", file=sys.stderr)
        return 1
    try:
        verb = asyncio.run(add_org(settings, args.slug.strip(), args.name.strip()[:120],
                                   regions))
    except LookupError as exc:
        print(f"Cannot save the organisation: {exc}", file=sys.stderr)
        return 1
    print(f"Organisation {args.slug} {verb}.")
    return 0


def _import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path)
    p.add_argument("--org", help="only employers of this organisation (slug)")


async def run_import(settings: Settings, raw: bytes, org_slug: str | None,
                     today: date | None = None) -> ImportReport:

    from bot.services.csv_import import import_vacancies
    from db.models import AuditEntry

    engine, factory = await _prepared(settings)
    try:
        async with factory() as db, db.begin():
            org_id = await _org_id(db, org_slug)
            report = await import_vacancies(db, raw, today=today or date.today(),
                                            org_id=org_id)
            db.add(AuditEntry(actor_id=None, actor_role="cli", org_id=org_id,
                              action="vacancy_import", target_type="vacancies",
                              target_id=str(len(report.imported))))
            return report
    finally:
        await engine.dispose()


@command("import-vacancies", "import vacancies from a CSV file and report rejected rows",
         _import_args)
def import_vacancies_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        raw = args.file.read_bytes()
    except OSError as exc:
        print(f"Cannot read the file: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        report = asyncio.run(run_import(settings, raw, args.org))
    except LookupError as exc:
        print(f"Cannot import: {exc}", file=sys.stderr)
        return 1
    for line in report.lines():
        print(line)
    return 0 if not report.problems and not report.rejected else 3


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quarter", required=True,
                   help="a completed calendar quarter, like 2026-Q3 (only whole quarters: no "
                        "hidden count can then be worked out by subtracting two reports)")
    p.add_argument("--out", required=True, type=Path, help="folder for the CSV and PNG files")
    p.add_argument("--org", help="only this organisation (slug)")
    p.add_argument("--lang", default=DEFAULT_LANGUAGE, choices=LANGUAGES,
                   help="language of the chart (the CSV keeps machine-readable columns)")


async def make_report(settings: Settings, start: date, end: date, out: Path,
                      org_slug: str | None = None, lang: str = DEFAULT_LANGUAGE) -> list[Path]:
    from bot.services.report import collect, write_reports

    engine, factory = await _prepared(settings)
    try:
        async with factory() as db, db.begin():
            reports = await collect(db, start, end, await _org_id(db, org_slug))
    finally:
        await engine.dispose()
    return write_reports(reports, out, start, end, lang)


@command("report", "write the impact report (CSV and PNG per organisation)", _report_args)
def report(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services.report import Quarter

    quarter = Quarter.parse(args.quarter)
    if quarter is None or quarter.end >= date.today():
        print("Give --quarter as a completed calendar quarter, like 2026-Q3.", file=sys.stderr)
        return 1
    start, end = quarter.start, quarter.end
    try:
        written = asyncio.run(make_report(settings, start, end, args.out, args.org,
                                          args.lang))
    except LookupError as exc:
        print(f"Cannot write the report: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"Cannot write to {args.out}: {exc.strerror}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    if not written:
        print("No organisations yet: nothing to report.")
    return 0


def _help_contact_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["edit"])
    p.add_argument("id", type=int, help="the help contact's id (shown by the staff screens)")
    for name in ("number", "hours", "notes", "source"):
        p.add_argument(f"--{name}")
    p.add_argument("--checked-on", help="the day you checked the source (YYYY-MM-DD); without "
                                        "it, 'Last checked' stays as it was")
    p.add_argument("--active", choices=["yes", "no"])


async def edit_help_contact(settings: Settings, contact_id: int, fields: dict[str, object]
                            ) -> bool:
    """An admin's direct change of any help line (national ones included), audited as the CLI."""
    from db.models import AuditEntry, HelpContact
    from handlers.mod_contact_changes import apply_fields

    engine, factory = await _prepared(settings)
    try:
        async with factory() as db, db.begin():
            contact = await db.get(HelpContact, contact_id)
            if contact is None:
                return False
            apply_fields(contact, fields)
            db.add(AuditEntry(actor_id=None, actor_role="cli", org_id=contact.org_id,
                              action="help_contact_edit_cli", target_type="help_contact",
                              target_id=str(contact.id)))
            return True
    finally:
        await engine.dispose()


@command("help-contact", "change a help line directly (admins: national lines too)",
         _help_contact_args)
def help_contact(args: argparse.Namespace, settings: Settings) -> int:
    from bot.core.parsing import parse_day
    from handlers.mod_contacts import parse_field

    fields: dict[str, object] = {}
    for name in ("number", "hours", "notes", "source"):
        raw = getattr(args, name)
        if raw is None:
            continue
        value, error = parse_field(name, raw) if raw else ("", None)
        if error:
            print(f"--{name}: {error}", file=sys.stderr)
            return 1
        fields[name] = value
    if args.checked_on:
        day = parse_day(args.checked_on)
        if day is None:
            print("--checked-on must be a date (YYYY-MM-DD)", file=sys.stderr)
            return 1
        fields["checked_on"] = day.isoformat()
    if args.active:
        fields["active"] = args.active == "yes"
    if not fields:
        print("Nothing to change: give --number, --hours, --notes, --source, --checked-on or "
              "--active.", file=sys.stderr)
        return 1
    if not asyncio.run(edit_help_contact(settings, args.id, fields)):
        print(f"No help contact with id {args.id}.", file=sys.stderr)
        return 1
    print(f"Help contact {args.id} changed.")
    return 0


def _rotate_args(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Re-encrypt every stored address and lookup hash under a new data key. Stop the bot "
        "first. The new key comes from NEW_DATA_KEY in the environment (never a command-line "
        "argument, which other users of the machine can see); with a key file and no "
        "NEW_DATA_KEY, a new key is made in <key file>.new and moved in place at the end. If "
        "interrupted, run the command again with the same keys: it continues. Afterwards, set "
        "DATA_KEY to the new key (when it came from NEW_DATA_KEY) and back it up.")


@command("rotate-key", "re-encrypt every address under a new data key (resumable)",
         _rotate_args)
def rotate_key_command(args: argparse.Namespace, settings: Settings) -> int:
    import base64
    import os
    import secrets

    from bot.core.settings import SettingsError, decode_key, key_file_path
    from bot.keyrotation import rotate_key
    from bot.runtime import prepare_database

    env = dict(os.environ)
    new_file = None
    if env.get("NEW_DATA_KEY"):
        new_key = decode_key(env["NEW_DATA_KEY"], "NEW_DATA_KEY")
    elif env.get("DATA_KEY"):
        print("DATA_KEY is set in the environment: give the new key as NEW_DATA_KEY.",
              file=sys.stderr)
        return 1
    else:
        key_file = key_file_path(env)
        new_file = key_file.with_name(key_file.name + ".new")
        if not new_file.exists():  # a second run after an interruption reuses it
            fd = os.open(new_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() + "\n")
        new_key = decode_key(new_file.read_text(encoding="ascii"), str(new_file))

    async def go() -> bool:
        engine, _factory = _open(settings)
        try:
            await prepare_database(settings, engine, verify_key=False)
            return (await rotate_key(engine, settings.data_key, new_key)).finished
        finally:
            await engine.dispose()

    try:
        finished = asyncio.run(go())
    except SettingsError as exc:
        print(f"Cannot rotate the key: {exc}", file=sys.stderr)
        return 1
    if not finished:
        print("The rotation did not finish; run the command again.", file=sys.stderr)
        return 1
    if new_file is not None:
        os.replace(new_file, key_file_path(env))
        print(f"Done. The new key is in {key_file_path(env)}; back it up.")
    else:
        print("Done. Set DATA_KEY to the new key (NEW_DATA_KEY) before starting the bot.")
    return 0
