"""gettext the aiogram way: the locale is a ContextVar set per update, catalogs are compiled from
the .po files in memory on first use (no manual compile step), placeholders are named and filled
after translation, dates go through Babel in the region's time zone."""
from __future__ import annotations

import gettext as _gettext
import io
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date as _babel_date
from babel.dates import format_time as _babel_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGUAGES: tuple[str, ...] = ("bg", "it", "es", "ca", "el", "en", "uk", "ar")
DEFAULT_LANGUAGE = "en"
RTL_LANGUAGES = frozenset({"ar"})
# Each language named in itself: a woman must recognise her own language, whatever the screen shows.
LANGUAGE_NAMES: dict[str, str] = {
    "bg": "Български",
    "it": "Italiano",
    "es": "Español",
    "ca": "Català",
    "el": "Ελληνικά",
    "en": "English",
    "uk": "Українська",
    "ar": "العربية",
}
LOCALES_DIR = Path(__file__).resolve().parents[2] / "locales"
DOMAIN = "messages"

_locale: ContextVar[str] = ContextVar("wego_locale", default=DEFAULT_LANGUAGE)
_catalogs: dict[str, _gettext.NullTranslations] = {}
_lock = threading.Lock()


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Mark an import-time constant for extraction; translate it with _() when shown."""
    return message


def _compile(lang: str) -> _gettext.NullTranslations:
    po_path = LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_path.exists():
        return _gettext.NullTranslations()
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return _gettext.GNUTranslations(buf)


def translations(lang: str) -> _gettext.NullTranslations:
    found = _catalogs.get(lang)
    if found is None:
        with _lock:
            found = _catalogs.get(lang)
            if found is None:
                found = _compile(lang)
                _catalogs[lang] = found
    return found


def load_all() -> None:
    """Compile every catalog now (at start-up), so the first update pays nothing."""
    for lang in LANGUAGES:
        translations(lang)


def reload_catalogs() -> None:
    with _lock:
        _catalogs.clear()


def normalise_language(hint: object) -> str | None:
    """'uk-UA' -> 'uk'; unknown, empty or not text at all (a forged update) -> None."""
    if not hint or not isinstance(hint, str):
        return None
    base = hint.replace("_", "-").split("-", 1)[0].lower()
    return base if base in LANGUAGES else None


def current_language() -> str:
    return _locale.get()


def set_language(lang: str | None) -> None:
    _locale.set(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)


@contextmanager
def use_language(lang: str | None) -> Iterator[None]:
    token = _locale.set(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _locale.reset(token)


def _(message: str, **values: object) -> str:
    text = translations(_locale.get()).gettext(message)
    return text.format(**values) if values else text


def ngettext(singular: str, plural: str, n: int, **values: object) -> str:
    text = translations(_locale.get()).ngettext(singular, plural, n)
    return text.format(n=n, **values)


def is_rtl(lang: str | None = None) -> bool:
    return (lang or _locale.get()) in RTL_LANGUAGES


def language_name(code: str) -> str:
    """A language named in the language of the sentence around it ("Work in Italian", "Lavoro
    in italiano"), from Babel's locale data. The language picker keeps LANGUAGE_NAMES instead:
    there each language must be named in itself."""
    return Locale.parse(_locale.get()).languages.get(code) or LANGUAGE_NAMES.get(code, code)


def _babel_locale() -> Locale:
    return Locale.parse(_locale.get())


# Unicode "first strong isolate" and "pop directional isolate": a number, address or date set
# between them keeps its own left-to-right order inside Arabic text ("0800 11 977" never turns
# into "977 11 0800"), and Telegram and Viber still find a phone number written plainly inside.
ISOLATE_START = "\u2068"
ISOLATE_END = "\u2069"


def isolate(text: str) -> str:
    """A phone number, web address, code or date, kept in its own order in right-to-left text.
    Unchanged in left-to-right languages, so their messages stay plain."""
    if not text or not is_rtl():
        return text
    return ISOLATE_START + text + ISOLATE_END


# Numbers (phone numbers, "1522", "24"), web and e-mail addresses: what turns around in Arabic.
_LTR_RUN = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"                      # an e-mail address
    r"|(?:https?://)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?:/[\w./%?=&#-]*)?"  # a site
    r"|\+?\d[\d \u00a0-]*\d|\d")                          # a number, with inner spaces


def isolate_runs(text: str) -> str:
    """Every number and address inside a text isolated (for Arabic); other languages untouched."""
    if not text or not is_rtl():
        return text
    return _LTR_RUN.sub(lambda m: isolate(m.group(0)), text)


def _clock_pattern(locale: Locale) -> str:
    """The locale's own short time pattern: '8:00 PM' in English, '20:00' in Italian."""
    return str(locale.time_formats["short"].pattern)


def format_when(moment: datetime, tz: str) -> str:
    """A meetup time as a stressed reader wants it: weekday, date and time, in the region's zone,
    with the locale's one clock (12 or 24 hours) and its own glue between them (CLDR's
    date-time pattern: a Latin comma in English, the Arabic comma "،" in Arabic)."""
    return _format_when(moment, tz, _locale.get())


# A list of meetups formats the same few start times again and again, and Babel's formatting
# was a tenth of the list's time. Meetup times are public posts, never what a woman typed.
@lru_cache(maxsize=4096)
def _format_when(moment: datetime, tz: str, language: str) -> str:
    local = moment.astimezone(ZoneInfo(tz))
    locale = Locale.parse(language)
    day = _babel_date(local, "EEEE d MMMM", locale=locale)
    clock = _babel_time(local, _clock_pattern(locale), locale=locale)
    glue = str(locale.datetime_formats.get("medium", "{1}, {0}"))
    return glue.replace("{1}", isolate(day)).replace("{0}", isolate(clock))


def format_day(day: date) -> str:
    return isolate(_babel_date(day, "long", locale=_babel_locale()))


def format_clock(moment: datetime, tz: str) -> str:
    locale = _babel_locale()
    return isolate(_babel_time(moment.astimezone(ZoneInfo(tz)), _clock_pattern(locale),
                               locale=locale))


def format_number(n: int | float) -> str:
    return format_decimal(n, locale=_babel_locale())


def data_text(text: str) -> str:
    """Text from the database. Seeded and demo rows are msgids and get translated; text that a
    caseworker typed is shown as she typed it (no placeholders are filled in data)."""
    return translations(_locale.get()).gettext(text) if text else text
