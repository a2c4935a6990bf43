"""Reference data every installation needs: the project's territories and the help contacts
checked in public sources (each row carries its source). Seeded idempotently: a row that a
coordinator corrected is never overwritten, a missing one is added."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import HelpContact, Region


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Mark a name for extraction (db imports nothing of ours); translated where shown."""
    return message

# The date the checked list (helplines.md) was compiled for this release. NGO partners re-check
# each source before launch and correct rows in the database; the bot shows this date beside each.
HELPLINES_CHECKED_ON = date(2026, 11, 27)


@dataclass(frozen=True)
class RegionInfo:
    code: str
    country: str | None
    timezone: str
    name: str


REGIONS: tuple[RegionInfo, ...] = (
    RegionInfo("milan", "IT", "Europe/Rome", N_("Milan / Lombardy")),
    RegionInfo("catalonia", "ES", "Europe/Madrid",
               N_("Catalonia (Sabadell, Santa Coloma)")),
    RegionInfo("karditsa", "GR", "Europe/Athens", N_("Karditsa")),
    RegionInfo("bulgaria", "BG", "Europe/Sofia", N_("Bulgaria (Sofia, Pernik, Ruse)")),
    RegionInfo("elsewhere", None, "Europe/Brussels", N_("Somewhere else")),
)
REGION_NAMES = {r.code: r.name for r in REGIONS}

COUNTRY_NAMES = {"BG": N_("Bulgaria"), "IT": N_("Italy"), "ES": N_("Spain"), "GR": N_("Greece")}


@dataclass(frozen=True)
class HelpLine:
    key: str
    country: str
    kind: str
    name: str
    number: str
    hours: str
    notes: str
    source: str
    region_code: str | None = None


HELP_LINES: tuple[HelpLine, ...] = (
    HelpLine("bg-animus", "BG", "hotline",
             N_("National hotline for survivors of violence (Animus Association)"), "0800 1 8676",
             N_("Free. Opening hours differ between sources: please check."),
             N_("Also 02 981 7686 (landline)."),
             "animusassociation.org/programi-uslugi/goreshta-linia ; "
             "humanrightsguide.bg/temi/domashno-nasilie/pomoshch-i-podpomagane"),
    HelpLine("bg-alliance", "BG", "hotline",
             N_("National line of the Alliance for Protection against Gender-Based Violence"),
             "0800 11 977", N_("24 hours, every day. Free."), "",
             "bgrf.org (31 Jul 2018) ; humanrightsguide.bg"),
    HelpLine("bg-112", "BG", "emergency", N_("Emergency"), "112",
             N_("24 hours, every day. Free."), "", "novinite.com/articles/132457"),
    HelpLine("it-1522", "IT", "hotline", N_("National line against violence and stalking"),
             "1522", N_("24 hours, every day. Free from landlines and mobiles."),
             N_("Anonymous; calls are not recorded. Also a chat at 1522.eu and in the free 1522 "
                "app. 11 languages, including English, Spanish, Arabic and Ukrainian."),
             "1522.eu/cose-1522 ; ansa.it (22 Nov 2023)"),
    HelpLine("it-112", "IT", "emergency", N_("Emergency"), "112", N_("Free."),
             N_("The operator always sees the caller's number."), "112.gov.it/en/how_it_works"),
    HelpLine("es-016", "ES", "hotline", N_("Help for every form of violence against women"),
             "016", N_("24 hours. Free. 53 languages."),
             N_("The call does not appear on the phone bill, but it DOES stay in the phone's call "
                "log: delete it there. Also WhatsApp (text only) 600 000 016, e-mail "
                "016-online@igualdad.gob.es, text phone for deaf people 900 116 016."),
             "europapress.es (7 Aug 2025) ; valencianoticias.com"),
    HelpLine("cat-900900120", "ES", "hotline",
             N_("Catalan line for women facing male violence (Institut Català de les Dones)"),
             "900 900 120", N_("24 hours. Free and confidential. 124 languages."),
             N_("E-mail 900900120@gencat.cat."), "govern.cat/salapremsa/notes-premsa/284496",
             region_code="catalonia"),
    HelpLine("es-112", "ES", "emergency", N_("Emergency"), "112", N_("24 hours, every day. Free."),
             N_("Police 091, Guardia Civil 062."), "upday.com"),
    HelpLine("gr-15900", "GR", "hotline", N_("SOS line of the General Secretariat for Equality"),
             "15900", N_("24 hours, every day. Low cost (not free). Greek and English."), "",
             "dsth.gr (11 Mar 2011) ; dnews.gr (25 Nov 2025)"),
    HelpLine("gr-100", "GR", "emergency", N_("Police: domestic violence"), "100",
             N_("24 hours, every day. You can also send a text message (SMS) to 100."), "",
             "infovictims.gr/en/victims-of-domestic-violence"),
    HelpLine("gr-112", "GR", "emergency", N_("Emergency"), "112", N_("24 hours, every day."), "",
             "patt.gov.gr"),
    HelpLine("gr-197", "GR", "hotline", N_("EKKA social support line"), "197",
             N_("24 hours, every day."), "", "patt.gov.gr"),
)


async def seed_reference_data(db: AsyncSession) -> None:
    """Add missing regions and checked help lines; leave rows that exist untouched."""
    have_regions = set((await db.execute(select(Region.code))).scalars())
    for pos, info in enumerate(REGIONS):
        if info.code not in have_regions:
            db.add(Region(code=info.code, country=info.country, timezone=info.timezone,
                          position=pos))
    await db.flush()
    have_lines = set((await db.execute(select(HelpContact.key)
                                       .where(HelpContact.key.is_not(None)))).scalars())
    for pos, line in enumerate(HELP_LINES):
        if line.key not in have_lines:
            db.add(HelpContact(key=line.key, country=line.country, region_code=line.region_code,
                               kind=line.kind, name=line.name, number=line.number,
                               hours=line.hours, notes=line.notes, source=line.source,
                               checked_on=HELPLINES_CHECKED_ON, position=pos))
    await db.flush()

SECTORS: dict[str, str] = {
    "retail": N_("Shops and retail"),
    "care": N_("Care and health"),
    "cleaning": N_("Cleaning"),
    "food": N_("Food and hospitality"),
    "office": N_("Office and admin"),
    "other": N_("Other work"),
}
HOURS: dict[str, str] = {
    "part_time": N_("Part-time"),
    "full_time": N_("Full-time"),
    "flexible": N_("Flexible hours"),
}
TOPICS: dict[str, str] = {
    "trainings": N_("Training dates"),
    "job_fairs": N_("Job fairs"),
    "meetups": N_("New peer-group meetups"),
}
