"""Vietnamese text normalisation: NFC for storage and display, accent folding for matching and search."""

from __future__ import annotations

import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def nfc(text: str) -> str:
    """The NFC (composed) form: how motcua stores and compares Vietnamese text."""
    return unicodedata.normalize("NFC", text)


def clean(text: str) -> str:
    """NFC, with runs of whitespace collapsed to one space and the ends trimmed (names, titles)."""
    return _WHITESPACE.sub(" ", nfc(text)).strip()


def fold(text: str) -> str:
    """Accent-insensitive key: lowercase, no diacritics, đ→d, single spaces.

    "Đăng ký  khai sinh" and "dang ky khai sinh" fold to the same string.
    """
    lowered = nfc(text).lower()
    unmarked = "".join(ch for ch in unicodedata.normalize("NFD", lowered) if not unicodedata.combining(ch))
    return clean(unmarked.replace("đ", "d"))


def slug(text: str) -> str:
    """A stable ASCII identifier from a Vietnamese name: "Phường Sài Gòn" → "phuong-sai-gon"."""
    return _NOT_SLUG.sub("-", fold(text)).strip("-")
