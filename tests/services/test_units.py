"""The registry in the database. `db` (tests/conftest.py) is a fresh database with every table
(`metadata.create_all`), on SQLite and then on PostgreSQL."""

import dataclasses
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from motcua.cli.main import cli
from motcua.domain.errors import Conflict, InvalidInput, NotFound
from motcua.domain.units import Unit, load_registry
from motcua.services.units import directory, list_units, load_units
from motcua.store.db import Database
from motcua.store.schema.units import unit_lineage, units

LOADED_ON = date(2025, 11, 1)
DAY = date(2026, 1, 15)
CHANGE = date(2026, 3, 1)
REGISTRY = load_registry()


@pytest.fixture
def loaded(db: Database) -> Database:
    with db.transaction() as conn:
        load_units(conn, today=LOADED_ON)
    return db


def changed(unit_id: str, **changes: object) -> list[Unit]:
    return [dataclasses.replace(u, **changes) if u.id == unit_id else u for u in REGISTRY]


def database_url(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=False)


def version_count(db: Database) -> int:
    with db.read() as conn:
        return conn.scalar(select(func.count()).select_from(units)) or 0


def test_first_load_stores_every_unit_from_the_merger_date(db: Database) -> None:
    with db.transaction() as conn:
        assert load_units(conn, today=LOADED_ON) == len(REGISTRY) == 354
    with db.read() as conn:
        kinds = Counter(row["kind"] for row in list_units(conn, on=DAY))
        assert directory(conn, date(2025, 7, 1)).get("phuong-sai-gon").valid_from == date(2025, 7, 1)
    assert (kinds["phuong"], kinds["xa"], kinds["dac_khu"], kinds["cong_an_xa"]) == (113, 54, 1, 168)


def test_reloading_adds_nothing(loaded: Database) -> None:
    with loaded.transaction() as conn:
        assert load_units(conn, today=CHANGE) == 0
    assert version_count(loaded) == 354


def test_a_renamed_unit_gets_a_second_version_and_the_old_one_stays_resolvable(loaded: Database) -> None:
    registry = changed("phuong-sai-gon", name="Phường Sài Gòn Mới", agency_code="068.00.71.H29")
    with loaded.transaction() as conn:
        assert load_units(conn, today=CHANGE, registry=registry) == 1
    with loaded.transaction() as conn:
        assert load_units(conn, today=date(2026, 4, 1), registry=registry) == 0
    with loaded.read() as conn:
        versions = conn.execute(
            select(units.c.name, units.c.valid_from, units.c.valid_to)
            .where(units.c.id == "phuong-sai-gon")
            .order_by(units.c.valid_from)
        ).all()
        before, after = directory(conn, date(2026, 2, 28)), directory(conn, CHANGE)
    assert [tuple(v) for v in versions] == [
        ("Phường Sài Gòn", date(2025, 7, 1), CHANGE),
        ("Phường Sài Gòn Mới", CHANGE, None),
    ]
    assert before.get("phuong-sai-gon").name == "Phường Sài Gòn"
    assert before.by_agency_code("068.00.70.H29").id == "phuong-sai-gon"
    assert after.get("phuong-sai-gon").name == "Phường Sài Gòn Mới"
    assert after.by_agency_code("068.00.71.H29").id == "phuong-sai-gon"
    with pytest.raises(NotFound):
        after.by_agency_code("068.00.70.H29")
    # the commune police still points at the same commune id across the change
    assert after.resolve("kind:cong_an_xa", receiving_id="phuong-sai-gon", competent_id=None).id == (
        "cong-an-phuong-sai-gon"
    )


def test_a_second_change_on_the_same_day_is_refused_and_changes_nothing(loaded: Database) -> None:
    with loaded.transaction() as conn:
        load_units(conn, today=CHANGE, registry=changed("so-y-te", name="Sở Y tế Thành phố"))
    with pytest.raises(Conflict) as caught, loaded.transaction() as conn:
        load_units(conn, today=CHANGE, registry=changed("so-y-te", name="Sở Y tế TP"))
    assert caught.value.code == "unit.version_conflict"
    with loaded.read() as conn:
        assert directory(conn, CHANGE).get("so-y-te").name == "Sở Y tế Thành phố"
    assert version_count(loaded) == 355


def test_successor_links_are_stored_once_and_read_back(loaded: Database) -> None:
    registry = changed("phuong-ben-thanh", predecessors=("phuong-sai-gon",))
    for _ in range(2):
        with loaded.transaction() as conn:
            load_units(conn, today=CHANGE, registry=registry)
    with loaded.read() as conn:
        links = conn.execute(select(unit_lineage.c.predecessor_id, unit_lineage.c.successor_id)).all()
        ben_thanh = directory(conn, DAY).get("phuong-ben-thanh")
    assert [tuple(link) for link in links] == [("phuong-sai-gon", "phuong-ben-thanh")]
    assert ben_thanh.predecessors == ("phuong-sai-gon",)


def test_directory_before_the_merger_is_empty(loaded: Database) -> None:
    with loaded.read() as conn:
        assert len(directory(conn, date(2025, 6, 30))) == 0


def test_list_units_searches_without_accents(loaded: Database) -> None:
    with loaded.read() as conn:
        by_name = list_units(conn, on=DAY, q="sai gon")
        by_capitals = list_units(conn, on=DAY, q="SÀI GÒN")
        wards = list_units(conn, on=DAY, kind="phuong", q="sai gon")
        by_code = list_units(conn, on=DAY, q="000.00.15.H29")
        police = list_units(conn, on=DAY, parent_id="cong-an-thanh-pho")
    assert {row["name"] for row in by_name} == {"Phường Sài Gòn", "Công an phường Sài Gòn"}
    assert by_capitals == by_name
    assert [row["id"] for row in wards] == ["phuong-sai-gon"]
    assert wards[0] == {
        "id": "phuong-sai-gon",
        "agency_code": "068.00.70.H29",
        "name": "Phường Sài Gòn",
        "kind": "phuong",
        "parent_id": "thanh-pho-ho-chi-minh",
        "area_id": None,
        "gso_code": "26740",
        "valid_from": "2025-07-01",
        "valid_to": None,
        "predecessors": [],
    }
    assert [row["id"] for row in by_code] == ["so-tu-phap"]
    assert len(police) == 168


def test_list_units_rejects_an_unknown_kind(loaded: Database) -> None:
    with loaded.read() as conn, pytest.raises(InvalidInput) as caught:
        list_units(conn, on=DAY, kind="quan")
    assert caught.value.code == "unit.bad_kind"


def test_cli_units_list(loaded: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTCUA_DATABASE_URL", database_url(loaded))
    result = CliRunner().invoke(
        cli, ["units", "list", "--kind", "phuong", "--q", "sai gon", "--on", "2026-01-15"]
    )
    assert result.exit_code == 0, result.output
    assert "068.00.70.H29" in result.stdout
    assert "Phường Sài Gòn" in result.stdout
    assert "Công an" not in result.stdout


def test_cli_units_load_then_list_on_a_fresh_database(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTCUA_DATABASE_URL", database_url(db))
    first = CliRunner().invoke(cli, ["units", "load"])
    again = CliRunner().invoke(cli, ["units", "load"])
    assert (first.exit_code, again.exit_code) == (0, 0)
    assert "354" in first.stdout
    assert "Đã thêm 0" in again.stdout
    listing = CliRunner().invoke(cli, ["units", "list", "--kind", "dac_khu"])
    assert "Đặc khu Côn Đảo" in listing.stdout


def test_cli_units_list_explains_a_database_without_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTCUA_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    result = CliRunner().invoke(cli, ["units", "list"])
    assert result.exit_code == 1
    assert "motcua db setup" in result.stderr
