"""The city administrator's decisions on how far each procedure is offered online.

A decision is applied at once as a new version of the city layer entry (`city_procedures`); it is kept here
too, so that reloading the layer from its data file (`motcua db setup`) does not silently undo it:
`motcua.services.admin.reapply_online_overrides` applies the decisions again after a reload.
"""

from __future__ import annotations

from sqlalchemy import Column, String, Table

from motcua.store.schema.base import Instant, metadata

city_online_overrides = Table(
    "city_online_overrides",
    metadata,
    Column("code", String(16), primary_key=True),  # national procedure code, e.g. "1.001193"
    Column("online", String(16), nullable=False),  # toan_trinh | mot_phan | khong
    Column("set_by", String(64), nullable=False),  # the city administrator's account id
    Column("set_at", Instant(), nullable=False),
)
