"""Every catalog compiles, translates every message, keeps the placeholders, and holds every
string the code marks for translation (so nobody forgot `make i18n`)."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.core.i18n import LANGUAGES, LOCALES_DIR, _, use_language

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


def load(lang: str):  # noqa: ANN201
    with (LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def code_msgids() -> set[str]:
    found: set[str] = set()
    for package in ("bot", "handlers", "db"):
        for _file, _line, message, _comments, _ctx in extract_from_dir(
                ROOT / package, method_map=[("**.py", "python")], keywords=KEYWORDS):
            found.add(message[0] if isinstance(message, tuple) else message)
    return found


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalog_is_complete_and_compiles(lang: str) -> None:
    catalog = load(lang)
    problems = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(f"untranslated: {ids[0][:60]!r}")
            continue
        wanted = set(PLACEHOLDER.findall(ids[-1])) | set(PLACEHOLDER.findall(ids[0]))
        for text in strings:
            got = set(PLACEHOLDER.findall(text))
            if got - wanted or (len(ids) == 1 and wanted - got):
                problems.append(f"placeholders differ: {ids[0][:60]!r}")
    assert problems == [], problems[:20]
    write_mo(io.BytesIO(), catalog)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalog_holds_every_string_of_the_code(lang: str) -> None:
    have = {m.id if isinstance(m.id, str) else m.id[0] for m in load(lang) if m.id}
    missing = sorted(code_msgids() - have)
    assert missing == [], f"run `make i18n` and translate: {missing[:10]}"


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_translations_are_really_translated(lang: str) -> None:
    """A catalog that copies English is not a translation: most messages must differ."""
    catalog = [m for m in load(lang) if m.id and isinstance(m.id, str) and len(m.id) > 20]
    same = [m.id for m in catalog if m.string == m.id]
    assert len(same) <= max(3, len(catalog) // 20), same[:10]


def test_placeholders_are_filled_in_every_language() -> None:
    for lang in LANGUAGES:
        with use_language(lang):
            text = _("That message is too long. Please write at most {limit} characters.",
                     limit=2000)
        assert "2000" in text, (lang, text)
