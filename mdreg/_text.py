"""Small helpers for the words of messages."""

from __future__ import annotations

import re

# Letters whose names start with a vowel sound: "an XGBoost model", "an npy body".
_VOWEL_SOUND_LETTERS = frozenset("aefhilmnorsx")
# Vowel letters said as a consonant ("a unit", "a one-hot"), and a silent h ("an hour").
_CONSONANT_SOUND = re.compile(r"(?:one\b|once|uni(?![nm])|use|usu|uti|eu)", re.IGNORECASE)
_SILENT_H = re.compile(r"(?:hour|honest|honou?r|heir)", re.IGNORECASE)


def article(word: str) -> str:
    """The article for ``word``, by how it is said: "an unknown", "a dangerous", "a
    LightGBM", "an XGBoost" and "an npy" (read letter by letter), "an 8-bit", "an 11"."""
    word = word.lstrip("\"'`([")
    if not word:
        return "a"
    if word[0].isdigit():
        number = re.match(r"\d+", word).group()  # type: ignore[union-attr]
        # eight, eighty...; eleven and eighteen as themselves, or their thousands, millions
        said_an = number[0] == "8" or (number[:2] in ("11", "18") and len(number) % 3 == 2)
        return "an" if said_an else "a"
    letters = re.match(r"[A-Za-z]*", word).group()  # type: ignore[union-attr]
    spelt_out = (word[0].isupper() and not word[1:2].islower()) or not re.search(
        r"[aeiouAEIOU]", letters
    )
    if spelt_out:
        return "an" if word[0].lower() in _VOWEL_SOUND_LETTERS else "a"
    if _CONSONANT_SOUND.match(word):
        return "a"
    if _SILENT_H.match(word):
        return "an"
    return "an" if word[0].lower() in "aeiou" else "a"


def with_article(word: str) -> str:
    """``word`` after its article: "an unknown", "a dangerous"."""
    return f"{article(word)} {word}"
