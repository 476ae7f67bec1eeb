"""The organisation registry: one row per unit *version* (effective-dated), and successor links."""

from __future__ import annotations

from sqlalchemy import Column, Date, Index, Integer, String, Table, Text, UniqueConstraint, func

from motcua.store.schema.base import Instant, metadata

units = Table(
    "units",
    metadata,
    Column("row_id", Integer, primary_key=True, autoincrement=True),
    Column("id", String(120), nullable=False),  # stable slug shared by all versions of a unit
    Column("agency_code", String(32), nullable=False),
    Column("name", String(255), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("parent_id", String(120)),
    Column("area_id", String(120)),
    Column("gso_code", String(5)),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date),  # exclusive; NULL = still valid
    Column("created_at", Instant, nullable=False, server_default=func.now()),
    UniqueConstraint("id", "valid_from", name="uq_units_id_valid_from"),
    Index("ix_units_agency_code", "agency_code"),
)

unit_lineage = Table(
    "unit_lineage",
    metadata,
    Column("predecessor_id", String(120), primary_key=True),
    Column("successor_id", String(120), primary_key=True),
    Column("effective", Date, primary_key=True),
    Column("note", Text),
)
