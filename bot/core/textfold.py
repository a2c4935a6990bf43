"""Fold a typed word to the form we compare with: a stressed woman types the exit word in capitals,
without accents, with a full stop, or her keyboard slips in a right-to-left mark."""
from __future__ import annotations

import unicodedata

# Unicode categories dropped before comparing: combining marks (accents, Arabic vowel signs),
# format characters (RLM, LRM, zero-width joiners), punctuation and symbols of every script.
_DROPPED_CATEGORIES = ("M", "C", "P", "S")


def fold_word(text: str) -> str:
    """NFKC, case-fold, strip accents, punctuation and format characters; collapse spaces."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    decomposed = unicodedata.normalize("NFD", folded)
    kept = "".join(" " if ch.isspace() else ch for ch in decomposed
                   if ch.isspace() or not unicodedata.category(ch).startswith(_DROPPED_CATEGORIES))
    return unicodedata.normalize("NFC", " ".join(kept.split()))
