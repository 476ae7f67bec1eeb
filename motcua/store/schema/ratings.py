"""Satisfaction ratings: one per dossier per applicant, given after the result is returned (Decision 766's
"mức độ hài lòng" group counts them)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
)

from motcua.store.schema.base import Instant, metadata

dossier_ratings = Table(
    "dossier_ratings",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column(
        "dossier_id", BigInteger().with_variant(Integer, "sqlite"), ForeignKey("dossiers.id"), nullable=False
    ),
    Column("rater_id", String(64), nullable=False),
    # 3 hài lòng (satisfied), 2 bình thường (neutral), 1 không hài lòng (dissatisfied)
    Column("score", SmallInteger, nullable=False),
    Column("rated_at", Instant(), nullable=False),
    UniqueConstraint("dossier_id", "rater_id", name="uq_dossier_ratings_dossier_rater"),
    CheckConstraint("score BETWEEN 1 AND 3", name="score_range"),
)
Index("ix_dossier_ratings_rated_at", dossier_ratings.c.rated_at)
