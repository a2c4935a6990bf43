"""Typed words that lead somewhere: "help", "I need help", "aiuto", "مساعدة" open the help
contacts; words for meetups, jobs, settings and the menu open those journeys.

Each journey's words are one msgid (the English words, comma-separated) that every catalog
translates like any other string, so the tables are read by translators, never hard-coded per
language. The words of every language work whatever her language is: a woman whose phone says
English may still type in Arabic. Matching ignores case, accents and width (NFKC, case-fold,
combining marks stripped) and finds a word or phrase anywhere inside a sentence. Nothing here
routes on a button's label."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from bot.core.i18n import LANGUAGES, N_, _, translations

# The journey each table leads to, in the order they are tried: help first, because a woman who
# writes "I need help with a job" may be in danger, and the help contacts also lead to the rest.
# Translators: words (and short phrases) a woman may type to reach the help contacts, separated
# by commas. Give the usual forms (with and without the article, singular and plural). Lower case.
HELP_WORDS = N_("help, helpline, emergency, danger, sos")
# Translators: words a woman may type to reach the peer-group meetups, separated by commas.
MEETUP_WORDS = N_("meetup, meetups, meeting, group, groups, peer group")
# Translators: words a woman may type to reach the job vacancies, separated by commas.
JOB_WORDS = N_("job, jobs, work, vacancy, vacancies, employment")
# Translators: words a woman may type to reach her settings, separated by commas.
SETTINGS_WORDS = N_("settings, setting, language, notifications")
# Translators: words a woman may type to see the main menu again, separated by commas.
MENU_WORDS = N_("menu, main menu, start, home")

JOURNEYS: tuple[tuple[str, str], ...] = (
    ("help", HELP_WORDS),
    ("ev", MEETUP_WORDS),
    ("job", JOB_WORDS),
    ("set", SETTINGS_WORDS),
    ("menu", MENU_WORDS),
)

_NON_WORD = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    """Compatibility forms folded, case folded, accents and Arabic vowel marks dropped, every run
    of punctuation or space made one space, padded with a space on both ends for whole-word
    matching: "  ¡AYÚDA!" -> " ayuda "."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    bare = "".join(ch for ch in unicodedata.normalize("NFD", folded)
                   if not unicodedata.combining(ch) and unicodedata.category(ch) != "Cf")
    # Arabic tatweel (a stretching stroke, not a letter) would break a word in two.
    bare = bare.replace("\u0640", "")
    return " " + _NON_WORD.sub(" ", unicodedata.normalize("NFC", bare)).strip() + " "


@dataclass(frozen=True)
class Match:
    action: str          # the journey's action payload: 'help', 'ev', 'job', 'set', 'menu'
    languages: frozenset[str]  # the languages whose tables hold the word


@cache
def _tables() -> tuple[tuple[str, tuple[tuple[str, frozenset[str]], ...]], ...]:
    """(action, ((normalised word, languages), ...)) for every journey, from all eight catalogs.
    Built on first use (never at import time); longest words first so a phrase wins."""
    out = []
    for action, msgid in JOURNEYS:
        words: dict[str, set[str]] = {}
        for lang in LANGUAGES:
            for raw in translations(lang).gettext(msgid).split(","):
                word = normalise(raw)
                if word.strip():
                    words.setdefault(word, set()).add(lang)
        ordered = sorted(words.items(), key=lambda item: -len(item[0]))
        out.append((action, tuple((w, frozenset(langs)) for w, langs in ordered)))
    return tuple(out)


def find_journey(text: str) -> Match | None:
    """The journey a typed text asks for, or None. Help wins over every other journey."""
    if not text:
        return None
    haystack = normalise(text)
    for action, words in _tables():
        for word, langs in words:
            if word in haystack:
                return Match(action, langs)
    return None


def first_word(msgid: str) -> str:
    """The first word of a table in the current language (to tell her what she may type)."""
    return _(msgid).split(",", 1)[0].strip()


def clear_cache() -> None:
    """After the catalogs were reloaded."""
    _tables.cache_clear()


# Letters that belong to one of our languages only: typed text in them tells her language even
# when no keyword matched (Arabic text at the English safety notice).
_SCRIPT_HINTS: tuple[tuple[str, str], ...] = (
    ("ARABIC", "ar"),
    ("GREEK", "el"),
)
_UKRAINIAN_ONLY = frozenset("іїєґ")
_BULGARIAN_ONLY = frozenset("ъ")


def guess_language(text: str) -> str | None:
    """The language a typed text is written in, when its words or letters tell it for sure."""
    match = find_journey(text)
    if match is not None and len(match.languages) == 1:
        return next(iter(match.languages))
    letters = [ch for ch in text.casefold() if ch.isalpha()]
    if not letters:
        return None
    for script, lang in _SCRIPT_HINTS:
        if sum(script in unicodedata.name(ch, "") for ch in letters) * 2 > len(letters):
            return lang
    if any(ch in _UKRAINIAN_ONLY for ch in letters):
        return "uk"
    if any(ch in _BULGARIAN_ONLY for ch in letters):
        return "bg"
    return None
