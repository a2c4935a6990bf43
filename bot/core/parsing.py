"""Parsing what staff type into forms and CSV files: dates, clock times, whole numbers, yes/no,
clean text. Pure functions; None means "not understood"."""
from __future__ import annotations

import re
from datetime import date, time

_INT = re.compile(r"^\d{1,9}$")
_CLOCK = re.compile(r"^(\d{1,2})[:.](\d{2})$")
_DAY_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DAY_DOTS = re.compile(r"^(\d{1,2})[./](\d{1,2})[./](\d{4})$")


def parse_day(raw: str) -> date | None:
    """DD.MM.YYYY, DD/MM/YYYY or YYYY-MM-DD; None when it is not a real date."""
    raw = raw.strip()
    if m := _DAY_DOTS.match(raw):
        d, mo, y = (int(x) for x in m.groups())
    elif m := _DAY_ISO.match(raw):
        y, mo, d = (int(x) for x in m.groups())
    else:
        return None
    try:
        return date(y, mo, d)
    except ValueError:
        return None


def parse_clock(raw: str) -> time | None:
    m = _CLOCK.match(raw.strip())
    if not m:
        return None
    h, mi = int(m.group(1)), int(m.group(2))
    return time(h, mi) if h < 24 and mi < 60 else None


def parse_int(raw: str) -> int | None:
    """A whole number; spaces, dots and commas as thousands separators and a euro sign are fine."""
    cleaned = re.sub(r"[\s.,'€]", "", raw.strip())
    return int(cleaned) if _INT.match(cleaned) else None


YES_WORDS = frozenset({"yes", "y", "true", "1", "si", "sí", "sì", "да", "ναι", "так", "نعم", "x"})
NO_WORDS = frozenset({"no", "n", "false", "0", "не", "όχι", "ні", "لا", ""})


def parse_bool(raw: str) -> bool | None:
    word = raw.strip().casefold()
    if word in YES_WORDS:
        return True
    if word in NO_WORDS:
        return False
    return None


def clean_text(raw: str) -> str:
    """Strip control characters (keep new lines) so a title renders on every channel."""
    return "".join(ch for ch in raw if ch == "\n" or ch.isprintable()).strip()
