"""Catalog use cases on real databases: the national import (versioned, idempotent), the HCMC layer loader,
the search and detail queries, and the `motcua catalog` commands."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import Connection, func, select

from motcua.cli.main import cli
from motcua.domain.clock import VN_TZ
from motcua.domain.errors import InvalidInput, NotFound
from motcua.services.catalog import (
    NATIONAL_FILE,
    get_city_procedure,
    get_procedure,
    import_national,
    import_national_file,
    list_fields,
    load_city_layer,
    search_procedures,
)
from motcua.services.workflows import workflow_ids
from motcua.store.db import Database
from motcua.store.schema.catalog import city_procedures, procedures

FIXTURES = Path(__file__).parent / "fixtures" / "catalog"
SAMPLE = FIXTURES / "national_sample.jsonl"
LAYER = FIXTURES / "hcmc_procedures.yaml"
FORMS = FIXTURES / "forms"
WORKFLOWS = frozenset({"tieu-chuan", "lien-thong-xa-tinh"})
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=VN_TZ)
LATER = datetime(2026, 4, 1, 9, 0, tzinfo=VN_TZ)
FULL_CATALOG_SIZE = 2642


def count(conn: Connection, table: Any, *conditions: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(*conditions)).scalar_one())


def national_lines() -> list[str]:
    with gzip.open(NATIONAL_FILE, "rt", encoding="utf-8") as lines:
        return list(lines)


def write_gz(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.writelines(lines)
    return path


def load_fixture_layer(conn: Connection, yaml_path: Path = LAYER, *, now: datetime = NOW) -> Any:
    return load_city_layer(conn, yaml_path=yaml_path, forms_dir=FORMS, workflow_ids=WORKFLOWS, now=now)


def edited_layer(tmp_path: Path, edit: Any) -> Path:
    data = yaml.safe_load(LAYER.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "hcmc_procedures.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def sample_db(db: Database) -> Database:
    """Both databases, with the seven sample national records and the fixture HCMC layer."""
    with db.transaction() as conn:
        import_national_file(conn, SAMPLE, now=NOW)
        load_fixture_layer(conn)
    return db


# --- the national import ----------------------------------------------------------------------------------


def test_the_packaged_catalog_imports_once_and_new_versions_keep_the_old(
    db: Database, tmp_path: Path
) -> None:
    with db.transaction() as conn:
        first = import_national_file(conn, NATIONAL_FILE, now=NOW)
    assert (first.total, first.created, first.updated, first.unchanged, first.rejected) == (
        2642,
        2642,
        0,
        0,
        [],
    )

    with db.transaction() as conn:
        again = import_national_file(conn, NATIONAL_FILE, now=LATER)
    assert (again.created, again.updated, again.unchanged) == (0, 0, FULL_CATALOG_SIZE)

    lines = national_lines()
    index = next(i for i, line in enumerate(lines) if json.loads(line)["code"] == "1.001193")
    record = json.loads(lines[index])
    record["name"] = "Thủ tục đăng ký khai sinh (đã sửa đổi)"
    lines[index] = json.dumps(record, ensure_ascii=False) + "\n"
    with db.transaction() as conn:
        changed = import_national_file(conn, write_gz(tmp_path / "changed.jsonl.gz", lines), now=LATER)
    assert (changed.created, changed.updated, changed.unchanged) == (0, 1, FULL_CATALOG_SIZE - 1)

    with db.read() as conn:
        assert count(conn, procedures) == FULL_CATALOG_SIZE + 1
        assert count(conn, procedures, procedures.c.is_current.is_(True)) == FULL_CATALOG_SIZE
        versions = conn.execute(
            select(procedures.c.version, procedures.c.name, procedures.c.is_current, procedures.c.imported_at)
            .where(procedures.c.code == "1.001193")
            .order_by(procedures.c.version)
        ).all()
        assert [(v.version, v.name, v.is_current) for v in versions] == [
            (1, "Thủ tục đăng ký khai sinh", False),
            (2, "Thủ tục đăng ký khai sinh (đã sửa đổi)", True),
        ]
        assert versions[1].imported_at == LATER
        assert get_procedure(conn, "1.001193")["national_version"] == 2


def test_bad_lines_are_reported_and_the_others_imported(db: Database, tmp_path: Path) -> None:
    good = SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    bad_code = json.loads(good[0]) | {"code": "1.0656"}
    lines = [
        good[0],
        "{not json\n",
        "\n",  # blank lines are skipped, not counted
        json.dumps(bad_code, ensure_ascii=False) + "\n",
        good[1],
        good[0],  # the same code twice in one file
        *good[2:],
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    with db.transaction() as conn:
        report = import_national_file(conn, path, now=NOW)
    assert (report.total, report.created) == (len(good) + 3, len(good))
    assert [(r.line, r.code) for r in report.rejected] == [
        (2, "catalog.bad_json"),
        (4, "catalog.bad_record"),
        (6, "catalog.duplicate_record"),
    ]
    assert report.rejected[1].reason.startswith("Dòng 4:") and "1.0656" in report.rejected[1].reason
    assert "3 bị loại" in report.summary()
    with db.read() as conn:
        assert count(conn, procedures) == len(good)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x1f\x8b\x08\x00garbage that is not deflate data",
        b"code;name\n1.001193;Dang ky khai sinh\n",
        "Thủ tục đăng ký khai sinh\n".encode("utf-16"),
    ],
    ids=["empty", "broken-gzip", "csv", "utf16"],
)
def test_a_file_that_is_not_jsonl_changes_nothing(db: Database, tmp_path: Path, content: bytes) -> None:
    with db.transaction() as conn:
        import_national_file(conn, SAMPLE, now=NOW)
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(content)
    with pytest.raises(InvalidInput) as err, db.transaction() as conn:
        import_national_file(conn, path, now=LATER)
    assert err.value.code == "catalog.bad_file"
    with db.read() as conn:
        assert count(conn, procedures) == len(SAMPLE.read_text(encoding="utf-8").splitlines())


def test_a_missing_file_is_reported_as_unreadable(sqlite_db: Database, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err, sqlite_db.transaction() as conn:
        import_national_file(conn, tmp_path / "nowhere.jsonl.gz", now=NOW)
    assert err.value.code == "catalog.file_unreadable"


def test_lines_may_be_text_or_bytes(sqlite_db: Database) -> None:
    text_lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    with sqlite_db.transaction() as conn:
        report = import_national(conn, [text_lines[0], text_lines[1].encode("utf-8")], now=NOW)
    assert report.created == 2


# --- the HCMC layer -------------------------------------------------------------------------------------


def test_the_city_layer_loads_once(sample_db: Database) -> None:
    with sample_db.transaction() as conn:
        report = load_fixture_layer(conn, now=LATER)
        assert (report.total, report.created, report.updated, report.unchanged, report.retired) == (
            3,
            0,
            0,
            3,
            0,
        )
        assert count(conn, city_procedures) == 3
        stored = conn.execute(
            select(city_procedures.c.time_amount, city_procedures.c.cutoff, city_procedures.c.fee_vnd).where(
                city_procedures.c.code == "2.000815"
            )
        ).one()
        assert tuple(stored) == ("1/2", "15:00", 2000)


def test_a_changed_entry_becomes_a_new_version_from_today(sample_db: Database, tmp_path: Path) -> None:
    def raise_fee(data: dict[str, Any]) -> None:
        data["procedures"][2]["fee"] = {"amount_vnd": 3000, "text": "3.000 đồng/trang"}

    with sample_db.transaction() as conn:
        report = load_fixture_layer(conn, edited_layer(tmp_path, raise_fee), now=LATER)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 2)
    with sample_db.read() as conn:
        assert get_city_procedure(conn, "2.000815").fee_vnd == 3000
        assert get_city_procedure(conn, "2.000815").version == 2
        assert get_city_procedure(conn, "2.000815", on=date(2026, 3, 31)).fee_vnd == 2000
        assert get_city_procedure(conn, "2.000815", on=LATER.date()).fee_vnd == 3000
        with pytest.raises(NotFound):
            get_city_procedure(conn, "2.000815", on=date(2025, 6, 30))  # before the layer took effect


def test_an_entry_removed_from_the_file_is_retired_not_deleted(sample_db: Database, tmp_path: Path) -> None:
    def drop_tam_tru(data: dict[str, Any]) -> None:
        data["procedures"] = [p for p in data["procedures"] if p["code"] != "1.004194"]

    with sample_db.transaction() as conn:
        report = load_fixture_layer(conn, edited_layer(tmp_path, drop_tam_tru), now=LATER)
    assert (report.total, report.retired) == (2, 1)
    with sample_db.read() as conn:
        with pytest.raises(NotFound) as err:
            get_city_procedure(conn, "1.004194")
        assert err.value.code == "procedure.not_offered"
        assert get_city_procedure(conn, "1.004194", on=date(2026, 3, 15)).name == "Đăng ký tạm trú"
        assert get_procedure(conn, "1.004194")["offered"] is False
        assert count(conn, city_procedures) == 3


def test_an_invalid_layer_stores_nothing(db: Database, tmp_path: Path) -> None:
    def break_workflow(data: dict[str, Any]) -> None:
        data["procedures"][1]["workflow"] = "khong-co"

    with db.transaction() as conn:
        import_national_file(conn, SAMPLE, now=NOW)
    with pytest.raises(InvalidInput) as err, db.transaction() as conn:
        load_fixture_layer(conn, edited_layer(tmp_path, break_workflow))
    assert err.value.code == "catalog.unknown_workflow"
    assert "1.004194" in err.value.message
    with db.read() as conn:
        assert count(conn, city_procedures) == 0


def test_the_packaged_city_layer_loads_on_the_packaged_catalog(db: Database) -> None:
    with db.transaction() as conn:
        import_national_file(conn, NATIONAL_FILE, now=NOW)
        first = load_city_layer(conn, workflow_ids=workflow_ids(), now=NOW)
        again = load_city_layer(conn, workflow_ids=workflow_ids(), now=LATER)
    assert first.created == first.total >= 30
    assert (again.unchanged, again.created, again.updated, again.retired) == (first.total, 0, 0, 0)
    with db.read() as conn:
        birth = get_procedure(conn, "1.001193")
        online, _ = search_procedures(conn, online_only=True, limit=100)
    assert birth["offered"] and birth["city"]["form_schema"]["type"] == "object"
    assert all(item["offered"] and item["online"] in ("toan_trinh", "mot_phan") for item in online)


def test_the_city_layer_needs_the_national_catalog_first(sqlite_db: Database) -> None:
    with pytest.raises(InvalidInput) as err, sqlite_db.transaction() as conn:
        load_fixture_layer(conn)
    assert err.value.code == "catalog.national_missing"


def test_a_form_file_that_is_not_json_is_named(sqlite_db: Database, tmp_path: Path) -> None:
    forms = tmp_path / "forms"
    shutil.copytree(FORMS, forms)
    (forms / "tam-tru.schema.json").write_text("{ not json", encoding="utf-8")
    with sqlite_db.transaction() as conn:
        import_national_file(conn, SAMPLE, now=NOW)
    with pytest.raises(InvalidInput) as err, sqlite_db.transaction() as conn:
        load_city_layer(conn, yaml_path=LAYER, forms_dir=forms, workflow_ids=WORKFLOWS, now=NOW)
    assert err.value.code == "catalog.bad_form_json"
    assert "tam-tru.schema.json" in err.value.message


# --- queries on both databases ----------------------------------------------------------------------------


def codes(items: list[dict[str, Any]]) -> list[str]:
    return [item["code"] for item in items]


def test_search_ignores_diacritics_and_puts_online_procedures_first(sample_db: Database) -> None:
    with sample_db.read() as conn:
        items, total = search_procedures(conn, q="dang ky", limit=10)
        # online first (full, then partial), then by accent-folded name: "dang ky thuong tru" < "thu tuc ..."
        assert codes(items) == ["1.001193", "1.004194", "1.004222", "1.000894", "1.000656"]
        assert total == 5
        first = items[0]
        assert first["name"] == "Đăng ký khai sinh" and first["national_name"] == "Thủ tục đăng ký khai sinh"
        assert (first["offered"], first["online"], first["level"]) == (True, "toan_trinh", "xa")
        assert first["time"] == {"amount": "1", "unit": "working_day", "text": "1 ngày làm việc"}
        assert first["fee_text"] == "Miễn lệ phí"
        assert items[2]["offered"] is False and items[2]["time"] is None

        assert codes(search_procedures(conn, q="ĐĂNG KÝ KHAI SINH")[0]) == ["1.001193"]
        assert codes(search_procedures(conn, q="2.0008")[0]) == ["2.000815"]
        assert codes(search_procedures(conn, q="chung thuc ban sao")[0]) == ["2.000815"]
        assert search_procedures(conn, q="ang ky")[1] == 0  # words match from their start
        assert search_procedures(conn, q="%")[1] == 0  # LIKE wildcards are literal


def test_search_filters(sample_db: Database) -> None:
    with sample_db.read() as conn:
        assert codes(search_procedures(conn, online_only=True)[0]) == ["1.001193", "1.004194"]
        assert search_procedures(conn, field="Hộ tịch")[1] == 4
        assert codes(search_procedures(conn, level="tinh")[0]) == ["2.000635"]
        assert search_procedures(conn, level="xa")[1] == 7
        assert search_procedures(conn, ministry="bo-cong-an")[1] == 2
        assert search_procedures(conn, q="khai sinh", field="Hộ tịch", online_only=True)[1] == 1


@pytest.mark.parametrize(
    ("limit", "offset", "level"), [(0, 0, None), (101, 0, None), (10, -1, None), (10, 0, "huyen")]
)
def test_bad_search_parameters_are_refused(
    sample_db: Database, limit: int, offset: int, level: str | None
) -> None:
    with sample_db.read() as conn, pytest.raises(InvalidInput):
        search_procedures(conn, limit=limit, offset=offset, level=level)


def test_a_procedure_shows_the_national_record_and_the_city_layer(sample_db: Database) -> None:
    with sample_db.read() as conn:
        detail = get_procedure(conn, "1.001193")
        assert detail["name"] == "Đăng ký khai sinh"
        assert detail["national"]["decision"] == "163/QĐ-BTP"
        assert detail["offered"] is True
        city = detail["city"]
        assert city["workflow"] == "tieu-chuan"
        assert city["form_schema"]["$id"] == "motcua:form/khai-sinh"
        assert [d["name"] for d in city["documents"]][:2] == [
            "Tờ khai đăng ký khai sinh theo mẫu",
            "Giấy chứng sinh",
        ]
        assert city["time"]["text"] == "1 ngày làm việc"
        assert city["version"] == 1

        national_only = get_procedure(conn, "1.004222")
        assert (national_only["offered"], national_only["city"]) == (False, None)
        assert national_only["field"] == "Đăng ký, quản lý cư trú"
        for missing in ["9.999999", "khai-sinh"]:
            with pytest.raises(NotFound) as err:
                get_procedure(conn, missing)
            assert err.value.code == "procedure.not_found"
            assert missing in err.value.message


def test_fields_are_listed_with_counts(sample_db: Database) -> None:
    with sample_db.read() as conn:
        assert list_fields(conn) == [
            {"field": "Chứng thực", "count": 1, "offered": 1},
            {"field": "Đăng ký, quản lý cư trú", "count": 2, "offered": 1},
            {"field": "Hộ tịch", "count": 4, "offered": 1},
        ]


# --- the whole national catalog (SQLite, imported once for this module) -------------------------------------


@pytest.fixture(scope="module")
def full_catalog(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Database]:
    path = tmp_path_factory.mktemp("catalog") / "catalog.sqlite3"
    shutil.copyfile(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    with database.transaction() as conn:
        import_national_file(conn, NATIONAL_FILE, now=NOW)
        load_fixture_layer(conn)
    yield database
    database.dispose()


def test_searching_the_whole_catalog_without_diacritics_finds_birth_registration(
    full_catalog: Database,
) -> None:
    with full_catalog.read() as conn:
        items, total = search_procedures(conn, q="dang ky khai sinh", limit=10)
    assert items[0]["code"] == "1.001193"  # offered online by the city
    assert total == 13  # 10 hold the phrase; "đăng ký lại khai sinh" ×2 and a land procedure have the words
    assert all("đăng ký khai sinh" in item["national_name"].lower() for item in items)


def test_names_that_start_with_the_query_come_before_scattered_matches(full_catalog: Database) -> None:
    with full_catalog.read() as conn:
        marriage, _ = search_procedures(conn, q="ket hon", limit=3)
        birth, total = search_procedures(conn, q="dang ky khai sinh", limit=20)
    assert marriage[0]["national_name"] == "Thủ tục đăng ký kết hôn"  # not offered by the fixture layer
    starts = [
        i for i, item in enumerate(birth) if item["national_name"].startswith("Thủ tục đăng ký khai sinh")
    ]
    inside = [i for i, item in enumerate(birth) if "Liên thông" in item["national_name"]]
    scattered = [
        i for i, item in enumerate(birth) if "đăng ký khai sinh" not in item["national_name"].lower()
    ]
    assert max(starts) < min(inside) and max(inside) < min(scattered)
    assert len(scattered) == 3 and total == 13  # "đăng ký lại khai sinh" ×2 and one land procedure


def test_pages_cover_the_results_exactly_once(full_catalog: Database) -> None:
    with full_catalog.read() as conn:
        everything, total = search_procedures(conn, q="ho tich", limit=100)
        pages = []
        for offset in range(0, total, 7):
            page, page_total = search_procedures(conn, q="ho tich", limit=7, offset=offset)
            assert page_total == total
            pages.extend(page)
        beyond, _ = search_procedures(conn, q="ho tich", limit=7, offset=total)
    assert 7 < total <= 100
    assert codes(pages) == codes(everything)
    assert len(set(codes(pages))) == total
    assert beyond == []


def test_the_whole_catalog_is_filtered_by_ministry_and_level(full_catalog: Database) -> None:
    with full_catalog.read() as conn:
        assert search_procedures(conn, ministry="toa-an-nhan-dan")[1] == 3
        assert search_procedures(conn, ministry="bo-tu-phap")[1] == 271
        assert search_procedures(conn)[1] == FULL_CATALOG_SIZE
        ministry_level, total = search_procedures(conn, level="bo", limit=100)
        fields = list_fields(conn)
    assert total > 1000 and all("Cấp bộ" in item["levels"] for item in ministry_level)
    assert sum(f["count"] for f in fields) == FULL_CATALOG_SIZE and len(fields) == 140


# --- the command line -------------------------------------------------------------------------------------


@pytest.fixture
def cli_db(sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("MOTCUA_DATABASE_URL", str(sqlite_db.engine.url))
    return sqlite_db


def test_the_import_command_prints_counts_and_rejected_lines(cli_db: Database, tmp_path: Path) -> None:
    path = tmp_path / "sample.jsonl"
    path.write_text(SAMPLE.read_text(encoding="utf-8") + "{oops\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["catalog", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "7 thêm mới, 0 cập nhật (phiên bản mới), 0 không đổi, 1 bị loại" in result.output
    assert "[catalog.bad_json] Dòng 8" in result.output

    result = CliRunner().invoke(cli, ["catalog", "load-city", "--file", str(LAYER), "--forms", str(FORMS)])
    assert result.exit_code == 0, result.output
    assert "3 thêm mới" in result.output

    result = CliRunner().invoke(cli, ["catalog", "search", "dang ky khai sinh"])
    assert "1.001193  Đăng ký khai sinh [trực tuyến toàn trình]" in result.output


def test_the_import_command_fails_on_an_unreadable_file(cli_db: Database, tmp_path: Path) -> None:
    path = tmp_path / "garbage.gz"
    path.write_bytes(b"\x00\x01\x02 not a catalog")
    result = CliRunner().invoke(cli, ["catalog", "import", str(path)])
    assert result.exit_code == 1
    assert "catalog.bad_file" in result.output
    result = CliRunner().invoke(cli, ["catalog", "import", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 1
    assert "catalog.file_unreadable" in result.output
