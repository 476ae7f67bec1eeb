"""`motcua bench generate`: a year of a realistic city's dossiers, written through the legacy import's bulk
path — every state, skewed procedure popularity, many units, documents — and consistent with the services."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import distinct, func, select, text

from motcua.cli.main import cli
from motcua.domain.calendar import BusinessCalendar
from motcua.domain.clock import FixedClock
from motcua.domain.lifecycle import Actor, ActorKind, Status
from motcua.domain.workflow import Role
from motcua.services import dossiers as dossier_service
from motcua.services.audit import verify_audit
from motcua.services.bench_data import CityGenerator, generate, zipf_weights
from motcua.services.catalog import get_city_procedure
from motcua.services.files import LocalBlobStore
from motcua.services.legacy_import import import_records
from motcua.services.runtime import Runtime
from motcua.services.units import directory
from motcua.store.db import Database
from motcua.store.schema.dossiers import dossier_events, dossiers
from motcua.store.schema.files import dossier_files
from motcua.store.schema.units import units
from tests.services.test_legacy_import import city, seeded_pg_name, seeded_sqlite_file  # noqa: F401 - fixtures

COUNT = 2000


@pytest.fixture
def generated(city: Database, clock: FixedClock) -> Database:  # noqa: F811 - the fixture
    report = generate(city, dossiers=COUNT, now=clock.now(), seed=7)
    assert (report.imported, report.rejected) == (COUNT, [])
    return city


def _scalar(db: Database, query: Any) -> int:
    with db.read() as conn:
        return int(conn.execute(query).scalar_one())


def test_a_year_of_dossiers_in_every_state_across_the_city(generated: Database, clock: FixedClock) -> None:
    db = generated
    now = clock.now()
    with db.read() as conn:
        statuses = dict(
            conn.execute(select(dossiers.c.status, func.count()).group_by(dossiers.c.status)).all()
        )
        first, last = conn.execute(
            select(func.min(dossiers.c.submitted_at), func.max(dossiers.c.submitted_at))
        ).one()
        communes = conn.execute(
            select(func.count(distinct(units.c.id))).where(units.c.kind.in_(["phuong", "xa", "dac_khu"]))
        ).scalar_one()
        receiving = conn.execute(select(func.count(distinct(dossiers.c.receiving_unit_id)))).scalar_one()
    assert set(statuses) == {int(s) for s in Status}, statuses
    assert statuses[int(Status.RETURNED)] > COUNT / 2  # most of a year's dossiers are closed
    assert communes == 168
    assert receiving > 100  # spread over the city, not one ward
    assert now - timedelta(days=366) < first < last <= now
    # Every dossier carries 1-3 documents' metadata.
    documents = _scalar(db, select(func.count()).select_from(dossier_files))
    assert COUNT <= documents <= 3 * COUNT


def test_popularity_of_procedures_is_skewed(generated: Database) -> None:
    db = generated
    with db.read() as conn:
        per_procedure = sorted(
            (
                n
                for _, n in conn.execute(
                    select(dossiers.c.procedure_code, func.count()).group_by(dossiers.c.procedure_code)
                )
            ),
            reverse=True,
        )
    weights = zipf_weights(len(per_procedure), 1.1)
    expected_top_share = weights[0] / sum(weights)
    assert per_procedure[0] / COUNT == pytest.approx(expected_top_share, abs=0.05)
    assert per_procedure[0] > 5 * per_procedure[len(per_procedure) // 2]


def test_generated_dossiers_read_track_and_replay(
    generated: Database, clock: FixedClock, tmp_path: Path
) -> None:
    db = generated
    rt = Runtime(db=db, clock=clock, calendar=BusinessCalendar.vietnam(), blobs=LocalBlobStore(tmp_path))
    city_wide = Actor(
        id="tp.giamsat",
        kind=ActorKind.OFFICER,
        roles=frozenset({Role.MONITOR}),
        unit_id="thanh-pho-ho-chi-minh",
    )
    with db.read() as conn:
        sample = conn.execute(
            select(dossiers.c.code, dossiers.c.status).order_by(dossiers.c.id).limit(COUNT).offset(0)
        ).all()[::40]
        assert all(dossier_service.replay_check(conn, code) for code, _ in sample)
    for code, status in sample:
        assert dossier_service.track(rt, code)["status"]["code"] == status
        view = dossier_service.get_dossier(rt, city_wide, code)
        assert view["history"][0]["type"] == "submit"
        assert view["files"]


def test_generating_again_continues_the_daily_codes(generated: Database, clock: FixedClock) -> None:
    db = generated
    report = generate(db, dossiers=300, now=clock.now(), seed=8)
    assert (report.imported, report.rejected) == (300, [])
    assert _scalar(db, select(func.count()).select_from(dossiers)) == COUNT + 300


def test_the_same_seed_gives_the_same_city(city: Database, clock: FixedClock) -> None:  # noqa: F811
    now = clock.now()
    with city.read() as conn:
        registry = directory(conn, now.date())
        procedures = [get_city_procedure(conn, code) for code in ("1.001193", "1.004194", "1.012786")]

    def sample(seed: int) -> list[tuple[str, str, int]]:
        rows = CityGenerator(registry, procedures, now=now, seed=seed).records(200)
        return [(r["code"], r["receiving_unit"], int(r["status"])) for _, r in rows]

    assert sample(3) == sample(3)
    assert sample(3) != sample(4)
    assert Counter(unit for _, unit, _ in sample(3)).most_common(1)[0][1] < 200


def test_command_line_generates_into_the_configured_database(
    city: Database,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOTCUA_DATABASE_URL", city.engine.url.render_as_string(hide_password=False))
    result = CliRunner().invoke(cli, ["bench", "generate", "--dossiers", "120", "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert '"imported": 120' in result.output
    assert _scalar(city, select(func.count()).select_from(dossiers)) == 120


def _schema_of_dossier_tables(db: Database) -> set[tuple[str, str]]:
    with db.read() as conn:
        indexes = conn.execute(
            text(
                "SELECT tablename, indexdef FROM pg_indexes "
                "WHERE tablename IN ('dossiers', 'dossier_events', 'dossier_files')"
            )
        ).all()
        constraints = conn.execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = ANY("
                "ARRAY['dossiers', 'dossier_events', 'dossier_files']::regclass[])"
            )
        ).all()
    return {(a, b) for a, b in [*indexes, *constraints]}


def _index_oids(db: Database) -> dict[str, int]:
    with db.read() as conn:
        rows = conn.execute(
            text("SELECT indexname, indexname::regclass::oid FROM pg_indexes WHERE tablename = 'dossiers'")
        ).all()
    return {name: int(oid) for name, oid in rows}


def test_a_bulk_load_into_empty_tables_puts_every_index_and_key_back(
    city: Database,  # noqa: F811
    clock: FixedClock,
) -> None:
    """PostgreSQL: the generator drops the dossier tables' secondary indexes and foreign keys for the load
    and re-creates them in the same transaction; the audit chain stays exact."""
    if city.dialect != "postgresql":
        pytest.skip("the bulk load is PostgreSQL's")
    before = _schema_of_dossier_tables(city)
    assert len(before) > 15
    created = _index_oids(city)

    report = generate(city, dossiers=500, now=clock.now(), seed=5)

    assert (report.imported, report.rejected) == (500, [])
    assert _schema_of_dossier_tables(city) == before
    assert _scalar(city, select(func.count()).select_from(dossier_events)) == report.events
    rebuilt = _index_oids(city)
    assert rebuilt["uq_dossiers_code"] == created["uq_dossiers_code"]  # kept: it finds stored codes
    assert rebuilt["ix_dossiers_due_id"] != created["ix_dossiers_due_id"]  # built after the load
    # Into tables that hold dossiers: batch by batch, every index maintained as in `motcua import`.
    generate(city, dossiers=50, now=clock.now(), seed=6)
    assert _index_oids(city) == rebuilt
    with city.read() as conn:
        assert verify_audit(conn).ok
        valid = "SELECT bool_and(convalidated) FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY("
        assert conn.execute(
            text(valid + "ARRAY['dossier_events', 'dossier_files']::regclass[])")
        ).scalar_one()


def test_a_failed_bulk_load_leaves_nothing(city: Database, clock: FixedClock) -> None:  # noqa: F811
    if city.dialect != "postgresql":
        pytest.skip("the bulk load is PostgreSQL's")
    before = _schema_of_dossier_tables(city)
    with city.read() as conn:
        units = directory(conn, clock.now().date())
        procedures = [get_city_procedure(conn, "1.001193")]
    records = list(CityGenerator(units, procedures, now=clock.now(), seed=9).records(30))

    def broken() -> Any:
        yield from records[:20]  # the first batch is written
        raise RuntimeError("the export broke")

    with pytest.raises(RuntimeError):
        import_records(city, broken(), now=clock.now(), source="x", batch_size=10, bulk_load=True)

    assert _scalar(city, select(func.count()).select_from(dossiers)) == 0
    assert _schema_of_dossier_tables(city) == before


def test_one_commune_city_holds_only_that_communes_dossiers(city: Database, clock: FixedClock) -> None:  # noqa: F811
    """The SQLite commune benchmark's data: every dossier received at the one ward, in every state, each
    one consistent with the services (tracking answers with that ward's name)."""
    ward = "phuong-sai-gon"
    report = generate(city, dossiers=300, now=clock.now(), seed=3, receiving_units={ward})
    assert (report.imported, report.rejected) == (300, [])
    with city.read() as conn:
        receiving = set(conn.execute(select(dossiers.c.receiving_unit_id).distinct()).scalars())
        statuses = set(conn.execute(select(dossiers.c.status).distinct()).scalars())
        code = conn.execute(select(dossiers.c.code).limit(1)).scalar_one()
    assert receiving == {ward}
    assert len(statuses) >= 5  # a year of one ward's dossiers: many states, not only new ones
    rt = Runtime(db=city, clock=clock)
    assert dossier_service.track(rt, code)["receiving_unit"] == "Phường Sài Gòn"
