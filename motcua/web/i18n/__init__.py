"""The pages' messages: Vietnamese first, English second, kept as data (`vi.yaml`, `en.yaml` beside this file).

Templates call the Jinja global `t("key", name=...)`; Python code calls `translate(lang, "key", ...)`. A key
missing from a catalog falls back to Vietnamese, then to the key itself (logged), so a page never breaks.
"""

from __future__ import annotations

import logging
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("motcua.web")

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
_CATALOG_DIR = Path(__file__).resolve().parent


@cache
def catalog(lang: str) -> dict[str, str]:
    """All messages of one language as a flat {"dotted.key": "text"} map (NFC-normalised)."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}")
    with (_CATALOG_DIR / f"{lang}.yaml").open(encoding="utf-8") as stream:
        tree = yaml.safe_load(stream)
    return _flatten(tree, prefix="")


def _flatten(tree: dict[Any, Any], prefix: str) -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, prefix=f"{path}."))
        else:
            flat[path] = unicodedata.normalize("NFC", str(value))
    return flat


def translate(lang: str, key: str, **params: Any) -> str:
    """The message `key` in `lang`, with `{name}` parameters filled in. Plain text: Jinja escapes it."""
    text = catalog(lang if lang in LANGUAGES else DEFAULT_LANGUAGE).get(key)
    if text is None:
        text = catalog(DEFAULT_LANGUAGE).get(key)
        if text is None:
            log.warning("missing message key %r", key)
            return key
    return text.format_map(params) if params else text


def has_key(key: str) -> bool:
    return key in catalog(DEFAULT_LANGUAGE)


def pick_language(*candidates: str | None) -> str:
    """The first supported language among the candidates (query, then cookie, ...), else Vietnamese."""
    for candidate in candidates:
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE
