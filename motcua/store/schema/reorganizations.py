"""Reorganisation plans applied (`motcua.services.reorganization`): each once, recognised by its SHA-256.

`reorganization_units` lists the units each plan closed, opened or revised: reloading the registry from its
data files (`services.units.load_units`, run by `motcua db setup`) leaves them as the plan made them.
`city_competent_overrides` keeps each procedure's competent unit as a plan set it, so that reloading the city
layer from its data file does not undo it (`services.reorganization.reapply_competent_overrides`).
"""

from __future__ import annotations

from sqlalchemy import Column, Date, PrimaryKeyConstraint, String, Table, Text

from motcua.store.schema.base import Instant, json_type, metadata

reorganizations = Table(
    "reorganizations",
    metadata,
    Column("id", String(120), primary_key=True),  # the plan's id
    Column("sha256", String(64), nullable=False),  # of the plan file's bytes
    Column("title", Text, nullable=False),
    Column("legal_basis", Text, nullable=False),
    Column("effective", Date, nullable=False),
    Column("applied_at", Instant(), nullable=False),
    Column("applied_by", String(64), nullable=False),
    Column("summary", json_type(), nullable=False),  # what was stored and moved (the apply report)
)

reorganization_units = Table(
    "reorganization_units",
    metadata,
    Column("plan_id", String(120), nullable=False),
    Column("unit_id", String(120), nullable=False),
    PrimaryKeyConstraint("plan_id", "unit_id", name="pk_reorganization_units"),
)

city_competent_overrides = Table(
    "city_competent_overrides",
    metadata,
    Column("code", String(16), primary_key=True),  # national procedure code
    Column("competent", String(120), nullable=False),  # the unit id the plan made competent
    Column("plan_id", String(120), nullable=False),
    Column("set_at", Instant(), nullable=False),
)
