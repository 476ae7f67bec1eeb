"""Documents motcua issued and signed (receipts, slips, results, control sheets).

The signed PDF itself is a content-addressed file (`files`) attached to the dossier (`dossier_files`); this
row says what it is, who signed it with which certificate, and gives it the unguessable public id of its
verification page (`/xac-minh/{id}`, behind the QR code).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, UniqueConstraint

from motcua.store.schema.base import Instant, metadata

issued_documents = Table(
    "issued_documents",
    metadata,
    Column("id", String(32), primary_key=True),  # public, unguessable (128 random bits, URL-safe)
    Column(
        "dossier_id", BigInteger().with_variant(Integer, "sqlite"), ForeignKey("dossiers.id"), nullable=False
    ),
    Column("kind", String(32), nullable=False),
    Column("sha256", String(64), ForeignKey("files.sha256"), nullable=False),  # of the signed PDF
    Column("file_id", BigInteger().with_variant(Integer, "sqlite"), ForeignKey("dossier_files.id")),
    Column("unit_id", String(120), nullable=False),  # the signing unit
    Column("signer_fingerprint", String(64), nullable=False),  # SHA-256 of the signer's certificate
    Column("event_seq", Integer),  # the dossier event that caused it (None: issued on demand)
    Column("issued_at", Instant(), nullable=False),
    Column("issued_by", String(64), nullable=False),
    # One document per dossier event and kind: a retried `documents.issue` job finds it and issues no other.
    # (Control sheets, issued on demand, have no event: NULLs never collide. Also serves dossier lookups.)
    UniqueConstraint("dossier_id", "kind", "event_seq"),
)
Index("ix_issued_documents_sha256", issued_documents.c.sha256)
