"""The procedure catalog: versions of national records, and the effective-dated HCMC layer.

Nothing here is ever deleted. A changed national record gets a new `version` (the previous one keeps its row
with `is_current` false). A changed city entry gets a new version too; a city version is valid on the days
`valid_from <= day < valid_to` (`valid_to` null = still valid), and `is_current` marks the latest version
of a procedure the city still offers.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from motcua.store.schema.base import Instant, json_type, metadata

procedures = Table(
    "procedures",
    metadata,
    Column("row_id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("name", Text, nullable=False),
    # Accent-folded words of the name separated by single spaces (motcua.domain.text.fold): search key.
    Column("name_folded", Text, nullable=False),
    Column("field", Text, nullable=True),
    Column("levels", json_type(), nullable=False),
    # The levels as slugs between bars, e.g. "|tinh|xa|", for a portable "carried out at level X" filter.
    Column("level_keys", String(32), nullable=False),
    Column("ministry", String(64), nullable=True),
    Column("data", json_type(), nullable=False),
    Column("imported_at", Instant(), nullable=False),
    Column("is_current", Boolean, nullable=False),
    UniqueConstraint("code", "version"),
    Index("ix_procedures_code_current", "code", "is_current"),
    Index("ix_procedures_name_folded", "name_folded"),
    Index("ix_procedures_field", "field"),
)

city_procedures = Table(
    "city_procedures",
    metadata,
    Column("row_id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("name", Text, nullable=False),
    Column("name_folded", Text, nullable=False),
    Column("level", String(8), nullable=False),
    Column("workflow_id", String(64), nullable=False),
    Column("time_amount", String(32), nullable=False),  # a Fraction as text: "3", "1/2"
    Column("time_unit", String(16), nullable=False),
    Column("cutoff", String(5), nullable=True),  # "HH:MM"
    Column("online", String(16), nullable=False),
    Column("fee_vnd", BigInteger, nullable=True),
    Column("fee_text", Text, nullable=False),
    # The whole validated entry, with the e-form schema embedded, so a dossier keeps the version it used.
    Column("data", json_type(), nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date, nullable=True),
    Column("is_current", Boolean, nullable=False),
    Column("loaded_at", Instant(), nullable=False),
    UniqueConstraint("code", "version"),
    Index("ix_city_procedures_code_current", "code", "is_current"),
)
