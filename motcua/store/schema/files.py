"""Content-addressed files (uploads, issued documents) and their links to dossiers."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text

from motcua.store.schema.base import Instant, metadata

files = Table(
    "files",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("created_at", Instant(), nullable=False),
)

dossier_files = Table(
    "dossier_files",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column(
        "dossier_id", BigInteger().with_variant(Integer, "sqlite"), ForeignKey("dossiers.id"), nullable=False
    ),
    Column("sha256", String(64), ForeignKey("files.sha256"), nullable=False),
    # upload (with the submission), supplement, result, receipt, slip …
    Column("kind", String(32), nullable=False),
    Column("name", Text, nullable=False),
    # which required document (or result) this file is for, as named in the catalog
    Column("label", Text),
    Column("added_by", String(64), nullable=False),
    Column("added_at", Instant(), nullable=False),
)
Index("ix_dossier_files_dossier", dossier_files.c.dossier_id)
