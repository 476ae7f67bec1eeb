"""Workflow definitions, one row per (id, version); a version once stored never changes."""

from __future__ import annotations

from sqlalchemy import Column, Integer, String, Table, Text

from motcua.store.schema.base import Instant, json_type, metadata

workflow_definitions = Table(
    "workflow_definitions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("definition", json_type(), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("loaded_at", Instant(), nullable=False),
)
