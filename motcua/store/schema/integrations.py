"""The data-sharing gateway: the hash-chained registry exchange log, consents, prefills, registry data that
met a dossier's requirements, and the Decree 63/2024 bundles (linked dossiers)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from motcua.store.schema.base import Instant, json_type, metadata

_ID = BigInteger().with_variant(Integer, "sqlite")

# One row per chain of the exchange log (like audit_heads): each append locks its chain's head.
registry_exchange_heads = Table(
    "registry_exchange_heads",
    metadata,
    Column("chain", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

# Every call to a registry or the national portal (X-Road style): who, about whom, which service, why,
# when, the outcome and the hashes of request and reply — never the payloads.
registry_exchanges = Table(
    "registry_exchanges",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("chain", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("at", Instant(), nullable=False),
    Column("exchange_id", String(32), nullable=False),
    Column("actor_id", String(64), nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("actor_unit_id", String(80)),
    Column("subject_id", String(64), nullable=False),  # account-style id of the data subject (cd-…, dn-…)
    Column("registry", String(32), nullable=False),
    Column("service", String(64), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("procedure_code", String(16)),
    Column("dossier_code", String(64)),
    Column("outcome", String(32), nullable=False),
    Column("http_status", Integer),
    Column("request_hash", String(64), nullable=False),
    Column("response_hash", String(64)),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("chain", "seq", name="uq_registry_exchanges_chain_seq"),
)
Index("ix_registry_exchanges_subject", registry_exchanges.c.subject_id, registry_exchanges.c.at)
Index("ix_registry_exchanges_dossier", registry_exchanges.c.dossier_code)

registry_consents = Table(
    "registry_consents",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("user_id", String(64), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("procedure_code", String(16), nullable=False),
    Column("registries", json_type(), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("given_at", Instant(), nullable=False),
    Column("prefill_id", String(32), nullable=False),
)
Index("ix_registry_consents_user", registry_consents.c.user_id, registry_consents.c.given_at)

# What a prefill returned (digests of the values, never the values), until a dossier uses it.
registry_prefills = Table(
    "registry_prefills",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(64), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("related_id", String(64)),
    Column("procedure_code", String(16), nullable=False),
    Column("created_at", Instant(), nullable=False),
    Column("expires_at", Instant(), nullable=False),
    Column("salt", String(32), nullable=False),
    Column("fields", json_type(), nullable=False),
    Column("documents", json_type(), nullable=False),
    Column("dossier_id", _ID, ForeignKey("dossiers.id")),
)
Index("ix_registry_prefills_user", registry_prefills.c.user_id, registry_prefills.c.procedure_code)

# Registry data a dossier relies on: a required document met by a registry record, or a verified field.
dossier_registry_data = Table(
    "dossier_registry_data",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("dossier_id", _ID, ForeignKey("dossiers.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # document | field
    Column("requirement", Text, nullable=False),  # the document's name, or the form field's path
    Column("label", Text, nullable=False),
    Column("registry", String(32), nullable=False),
    Column("item", String(64), nullable=False),  # the record section (document) or registry field (field)
    Column("subject_id", String(64), nullable=False),
    Column("verified", Boolean, nullable=False),
    Column("reference", String(128)),
    Column("exchange_id", String(32), nullable=False),
    Column("fetched_at", Instant(), nullable=False),
    Column("recorded_at", Instant(), nullable=False),
    Column("recorded_by", String(64), nullable=False),
)
Index("ix_dossier_registry_data_dossier", dossier_registry_data.c.dossier_id)

bundles = Table(
    "bundles",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("applicant_id", String(64), nullable=False),
    Column("submitted_by", String(64), nullable=False),
    Column("receiving_unit_id", String(80), nullable=False),
    Column("request", json_type(), nullable=False),  # what the dependent parts are built from
    Column("status", String(16), nullable=False),  # open | done
    Column("created_at", Instant(), nullable=False),
    Column("done_at", Instant()),
)
Index("ix_bundles_applicant", bundles.c.applicant_id, bundles.c.created_at)

bundle_parts = Table(
    "bundle_parts",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("bundle_id", String(32), ForeignKey("bundles.id"), nullable=False),
    Column("key", String(32), nullable=False),
    Column("position", Integer, nullable=False),
    Column("procedure_code", String(16)),
    Column("registry", String(32)),
    Column("dossier_id", _ID, ForeignKey("dossiers.id")),
    # waiting | created (dossier) | sent | done | not_eligible | failed (external request)
    Column("status", String(16), nullable=False),
    Column("reference", String(128)),
    Column("result", json_type()),
    Column("updated_at", Instant(), nullable=False),
    UniqueConstraint("bundle_id", "key", name="uq_bundle_parts_bundle_key"),
)
Index("ix_bundle_parts_dossier", bundle_parts.c.dossier_id)
