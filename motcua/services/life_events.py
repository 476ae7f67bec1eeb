"""Browsing the city's procedures by life event ("sinh con", "kết hôn", …), as the citizen portal does.

Life events belong to the HCMC layer (`life_events` of each entry), so only procedures the city offers have
them. The layer is small (tens of entries): its current rows are kept in the process's catalog snapshot
(`catalog.catalog_snapshot`, current in the caller's transaction) and filtered here, which works the same on
SQLite and PostgreSQL without JSON operators.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from sqlalchemy import Connection

from motcua.domain.catalog import OnlineLevel, ProcessingTime, TimeUnit, search_key
from motcua.domain.errors import InvalidInput
from motcua.services.catalog import catalog_snapshot

MAX_PAGE_SIZE = 100
_ONLINE_RANK = {OnlineLevel.FULL.value: 0, OnlineLevel.PARTIAL.value: 1}


def _current_entries(conn: Connection) -> tuple[dict[str, Any], ...]:
    """The current city entries (the fields browsing needs, and "_folded"), from the process's catalog
    snapshot (`catalog.catalog_snapshot`: re-read whenever the catalog changed). Read-only."""
    return catalog_snapshot(conn).city_entries


def life_event_counts(conn: Connection) -> dict[str, int]:
    """How many current city procedures each life event (slug) has."""
    return dict(catalog_snapshot(conn).life_event_counts)


def _matches(entry: dict[str, Any], words: list[str], field: str | None) -> bool:
    padded = " " + entry["_folded"]
    if any(" " + word not in padded for word in words):
        return False
    return field is None or entry.get("field_vi") == field


def procedures_for_life_event(
    conn: Connection,
    event: str,
    *,
    q: str | None = None,
    field: str | None = None,
    online_only: bool = False,
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """The city's procedures for one life event, in the item shape of `catalog.search_procedures`.

    `q` narrows by name (every word must start a word of it, diacritics ignored); online procedures first,
    then by name.
    """
    if not 1 <= limit <= MAX_PAGE_SIZE or offset < 0:
        raise InvalidInput(
            "catalog.bad_page",
            f"Phân trang không hợp lệ: limit phải từ 1 đến {MAX_PAGE_SIZE}, offset không âm.",
        )
    words = search_key(q or "").split()
    found = [
        entry
        for entry in _current_entries(conn)
        if event in (entry.get("life_events") or [])
        and _matches(entry, words, field)
        and (not online_only or entry["online"] in _ONLINE_RANK)
    ]
    found.sort(key=lambda e: (_ONLINE_RANK.get(e["online"], 2), e["_folded"], e["code"]))
    return [_item(entry) for entry in found[offset : offset + limit]], len(found)


def _item(entry: dict[str, Any]) -> dict[str, Any]:
    time = entry["time"]
    return {
        "code": entry["code"],
        "name": entry["name"],
        "national_name": entry["name"],
        "field": entry.get("field_vi"),
        "levels": [],
        "ministry": None,
        "offered": True,
        "online": entry["online"],
        "level": entry["level"],
        "time": ProcessingTime(Fraction(time["amount"]), TimeUnit(time["unit"])).to_dict(),
        "fee_text": entry["fee"]["text"],
        "fee_vnd": entry["fee"]["amount_vnd"],
        "life_events": list(entry.get("life_events") or []),
    }


__all__ = ["life_event_counts", "procedures_for_life_event"]
