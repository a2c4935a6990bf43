"""Bulk import of vacancies from a CSV file (UTF-8, comma or semicolon separated, a header row).
Each row is checked on its own; the valid rows are added in the caller's one transaction, and
the rejected ones are reported with their line number and why. A bad file never crashes it."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.i18n import LANGUAGES
from bot.core.parsing import clean_text, parse_bool, parse_day, parse_int
from db.models import CommitmentStatus, Employer, Hours, OrganisationRegion, PostStatus, Vacancy
from db.reference import SECTORS

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000
COLUMNS = ("employer_id", "employer", "region", "title", "description", "sector", "hours",
           "contract", "pay_min", "pay_max", "childcare_friendly", "remote_possible",
           "work_language", "expires_on", "place")
REQUIRED = ("region", "title", "expires_on")
LIMITS = {"title": 120, "description": 4000, "contract": 80, "place": 120}


@dataclass
class ImportReport:
    imported: list[int] = field(default_factory=list)  # line numbers
    rejected: list[tuple[int, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # about the whole file
    ignored_columns: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = list(self.problems)
        if self.ignored_columns:
            out.append("Ignored unknown columns: " + ", ".join(self.ignored_columns))
        out.append(f"Imported: {len(self.imported)} vacancies. Rejected: {len(self.rejected)}.")
        out += [f"line {line}: {reason}" for line, reason in self.rejected]
        return out


def _decode(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        return csv.excel


class RowError(ValueError):
    """One reason a row is rejected (the message names the column, never echoes the data)."""


def _text(row: dict[str, str], key: str, required: bool = False) -> str:
    value = clean_text(row.get(key) or "")
    if required and not value:
        raise RowError(f"{key} is empty")
    if len(value) > LIMITS.get(key, 120):
        raise RowError(f"{key} is longer than {LIMITS.get(key, 120)} characters")
    return value


def _money(row: dict[str, str], key: str) -> int | None:
    raw = (row.get(key) or "").strip()
    if not raw:
        return None
    value = parse_int(raw)
    if value is None or value > 100_000:
        raise RowError(f"{key} is not a whole number of euros")
    return value


def _flag(row: dict[str, str], key: str) -> bool:
    value = parse_bool(row.get(key) or "")
    if value is None:
        raise RowError(f"{key} must be yes or no")
    return value


class _Lookup:
    """Employers and organisation regions, loaded once per import."""

    def __init__(self, employers: list[Employer], org_regions: dict[int, set[str]]) -> None:
        self.by_id = {e.id: e for e in employers}
        self.by_name: dict[str, list[Employer]] = {}
        for e in employers:
            self.by_name.setdefault(e.name.casefold().strip(), []).append(e)
        self.org_regions = org_regions

    def employer(self, row: dict[str, str]) -> Employer:
        raw_id = (row.get("employer_id") or "").strip()
        if raw_id:
            emp = self.by_id.get(int(raw_id)) if raw_id.isdigit() and len(raw_id) < 10 else None
            if emp is None:
                raise RowError("employer_id is not a known employer")
        else:
            name = clean_text(row.get("employer") or "").casefold()
            if not name:
                raise RowError("employer_id or employer is needed")
            found = self.by_name.get(name, [])
            if len(found) != 1:
                raise RowError("employer is not a known employer" if not found
                               else "employer name matches several employers: use employer_id")
            emp = found[0]
        if emp.status != CommitmentStatus.ACTIVE:
            raise RowError("the employer's commitment is not active")
        return emp


def _vacancy(row: dict[str, str], lookup: _Lookup, today: date) -> Vacancy:
    emp = lookup.employer(row)
    region = (row.get("region") or "").strip().lower()
    if region not in lookup.org_regions.get(emp.org_id, set()):
        raise RowError("region is not one of the employer's organisation's regions")
    sector = (row.get("sector") or "").strip().lower() or emp.sector
    if sector not in SECTORS:
        raise RowError("sector must be one of " + ", ".join(SECTORS))
    hours = (row.get("hours") or "").strip().lower() or Hours.FULL_TIME
    if hours not in {h.value for h in Hours}:
        raise RowError("hours must be one of " + ", ".join(h.value for h in Hours))
    pay_min, pay_max = _money(row, "pay_min"), _money(row, "pay_max")
    if pay_min is not None and pay_max is not None and pay_max < pay_min:
        raise RowError("pay_max is lower than pay_min")
    language = (row.get("work_language") or "").strip().lower() or "en"
    if language not in LANGUAGES:
        raise RowError("work_language must be one of " + ", ".join(LANGUAGES))
    expires = parse_day(row.get("expires_on") or "")
    if expires is None:
        raise RowError("expires_on is not a date (DD.MM.YYYY or YYYY-MM-DD)")
    if expires < today:
        raise RowError("expires_on is in the past")
    return Vacancy(employer_id=emp.id, org_id=emp.org_id, region_code=region,
                   title=_text(row, "title", required=True),
                   description=_text(row, "description"), sector=sector,
                   place=_text(row, "place"), hours=hours, contract=_text(row, "contract"),
                   pay_min=pay_min, pay_max=pay_max,
                   childcare_friendly=_flag(row, "childcare_friendly"),
                   remote_possible=_flag(row, "remote_possible"), work_language=language,
                   expires_on=expires, status=PostStatus.PUBLISHED)


async def _lookup(db: AsyncSession, org_id: int | None) -> _Lookup:
    query = select(Employer)
    if org_id is not None:
        query = query.where(Employer.org_id == org_id)
    employers = list((await db.execute(query)).scalars())
    org_regions: dict[int, set[str]] = {}
    for oid, code in await db.execute(select(OrganisationRegion.org_id,
                                             OrganisationRegion.region_code)):
        org_regions.setdefault(oid, set()).add(code)
    return _Lookup(employers, org_regions)


async def import_vacancies(db: AsyncSession, raw: bytes, *, today: date,
                           org_id: int | None = None) -> ImportReport:
    """Check every row and add the valid ones to `db` (the caller commits once)."""
    report = ImportReport()
    if len(raw) > MAX_BYTES:
        report.problems.append(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.")
        return report
    text = _decode(raw)
    if text is None:
        report.problems.append("The file is not UTF-8 text. Save it as 'CSV UTF-8' and try "
                               "again.")
        return report
    text = text.replace("\x00", "")
    if not text.strip():
        report.problems.append("The file is empty.")
        return report
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=_dialect(text))
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    missing = [c for c in REQUIRED if c not in header]
    if "employer_id" not in header and "employer" not in header:
        missing.append("employer_id or employer")
    if missing:
        report.problems.append("Missing columns: " + ", ".join(missing) + ". Nothing was "
                               "imported.")
        return report
    report.ignored_columns = [h for h in header if h not in COLUMNS]
    lookup = await _lookup(db, org_id)
    rows: list[Vacancy] = []
    try:
        for count, row in enumerate(reader):
            line = reader.line_num
            if count >= MAX_ROWS:
                report.problems.append(f"Only the first {MAX_ROWS} rows were read.")
                break
            if not any((v or "").strip() for k, v in row.items() if isinstance(v, str)):
                continue  # an empty line
            if row.get(None) is not None:
                report.rejected.append((line, "more cells than columns"))
                continue
            try:
                vacancy = _vacancy({k: v or "" for k, v in row.items() if k}, lookup, today)
            except RowError as exc:
                report.rejected.append((line, str(exc)))
                continue
            rows.append(vacancy)
            report.imported.append(line)
    except csv.Error as exc:
        report.problems.append(f"The file could not be read after line {reader.line_num}: "
                               f"{type(exc).__name__}. Nothing after it was imported.")
    db.add_all(rows)
    await db.flush()
    return report
