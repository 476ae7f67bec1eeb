"""Satisfaction ratings of returned dossiers: the applicant rates once, with one click, and the rating is
audited in the same transaction.

Scale (the three answers the citizen portal offers): 3 = hài lòng, 2 = bình thường, 1 = không hài lòng.
The satisfaction rate reported for Decision 766/QĐ-TTg is the share of "hài lòng" among all ratings.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import IntEnum
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from motcua.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from motcua.domain.lifecycle import Actor, ActorKind, Status
from motcua.services.audit import append_audit
from motcua.services.runtime import Runtime
from motcua.store.schema.dossiers import dossiers
from motcua.store.schema.ratings import dossier_ratings


class Satisfaction(IntEnum):
    DISSATISFIED = 1
    NEUTRAL = 2
    SATISFIED = 3

    @property
    def label_vi(self) -> str:
        return {1: "Không hài lòng", 2: "Bình thường", 3: "Hài lòng"}[self.value]


def parse_score(value: Any) -> Satisfaction:
    """A score from a form or JSON value ("3", 3); InvalidInput for anything else."""
    try:
        return Satisfaction(int(str(value).strip()))
    except ValueError:
        raise InvalidInput(
            "rating.bad_score", "Mức đánh giá phải là 1 (không hài lòng), 2 (bình thường) hoặc 3 (hài lòng)."
        ) from None


def _dossier_for_rater(conn: Connection, actor: Actor, code: str) -> Mapping[str, Any]:
    """The dossier row when `actor` is its applicant (or filed it for them); NotFound otherwise (leaks nothing)."""
    row = (
        conn.execute(
            select(
                dossiers.c.id,
                dossiers.c.code,
                dossiers.c.status,
                dossiers.c.applicant_id,
                dossiers.c.submitted_by,
                dossiers.c.receiving_unit_id,
                dossiers.c.procedure_code,
            ).where(dossiers.c.code == code.strip())
        )
        .mappings()
        .first()
    )
    if row is None or actor.id not in (row["applicant_id"], row["submitted_by"]):
        raise NotFound("dossier.not_found", f"Không tìm thấy hồ sơ {code}.")
    if actor.kind is ActorKind.OFFICER:
        raise Forbidden("rating.applicant_only", "Chỉ người nộp hồ sơ mới được đánh giá mức độ hài lòng.")
    return dict(row)


def _view(row: Mapping[str, Any]) -> dict[str, Any]:
    score = Satisfaction(row["score"])
    return {"score": int(score), "label": score.label_vi, "rated_at": row["rated_at"].isoformat()}


def _existing(conn: Connection, dossier_id: int, rater_id: str) -> Mapping[str, Any] | None:
    row = (
        conn.execute(
            select(dossier_ratings.c.score, dossier_ratings.c.rated_at).where(
                dossier_ratings.c.dossier_id == dossier_id, dossier_ratings.c.rater_id == rater_id
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def rate_dossier(rt: Runtime, actor: Actor, code: str, score: int | str) -> dict[str, Any]:
    """Record the applicant's rating of a returned dossier: once per dossier and applicant, audited."""
    satisfaction = parse_score(score)
    now = rt.clock.now()
    try:
        with rt.db.transaction() as conn:
            row = _dossier_for_rater(conn, actor, code)
            if row["status"] != int(Status.RETURNED):
                raise Conflict("rating.not_returned", "Chỉ đánh giá được sau khi hồ sơ đã được trả kết quả.")
            if _existing(conn, row["id"], actor.id) is not None:
                raise _already_rated()
            conn.execute(
                dossier_ratings.insert().values(
                    dossier_id=row["id"], rater_id=actor.id, score=int(satisfaction), rated_at=now
                )
            )
            append_audit(
                conn,
                at=now,
                actor_id=actor.id,
                actor_role=actor.kind.value,
                action="dossier.rated",
                object_type="dossier",
                object_id=row["code"],
                unit_id=row["receiving_unit_id"],
                data={"score": int(satisfaction), "procedure": row["procedure_code"]},
            )
    except IntegrityError as exc:  # the same applicant rating twice at the same moment
        raise _already_rated() from exc
    return {"score": int(satisfaction), "label": satisfaction.label_vi, "rated_at": now.isoformat()}


def _already_rated() -> Conflict:
    return Conflict("rating.already_rated", "Bạn đã đánh giá hồ sơ này; mỗi hồ sơ chỉ đánh giá một lần.")


def get_rating(rt: Runtime, actor: Actor, code: str) -> dict[str, Any] | None:
    """The applicant's own rating of the dossier ({score, label, rated_at}), or None if not rated yet."""
    with rt.db.read() as conn:
        row = _dossier_for_rater(conn, actor, code)
        existing = _existing(conn, row["id"], actor.id)
    return _view(existing) if existing is not None else None


def satisfaction_summary(
    conn: Connection,
    *,
    unit_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Counts per answer and the satisfaction rate (percent, None without ratings) for dossiers received at
    `unit_id` (all units when None), rated in [since, until)."""
    query = (
        select(dossier_ratings.c.score, func.count().label("n"))
        .select_from(dossier_ratings.join(dossiers, dossiers.c.id == dossier_ratings.c.dossier_id))
        .group_by(dossier_ratings.c.score)
    )
    if unit_id is not None:
        query = query.where(dossiers.c.receiving_unit_id == unit_id)
    if since is not None:
        query = query.where(dossier_ratings.c.rated_at >= since)
    if until is not None:
        query = query.where(dossier_ratings.c.rated_at < until)
    counts = {int(s): 0 for s in Satisfaction}
    for row in conn.execute(query):
        counts[int(row.score)] = int(row.n)
    total = sum(counts.values())
    rate = round(100 * counts[Satisfaction.SATISFIED] / total, 1) if total else None
    return {"total": total, "counts": counts, "satisfied_rate": rate}


__all__ = ["Satisfaction", "get_rating", "parse_score", "rate_dossier", "satisfaction_summary"]
