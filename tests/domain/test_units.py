import dataclasses
from collections import Counter
from datetime import date

import pytest

from motcua.domain.errors import DomainError, InvalidInput, NotFound
from motcua.domain.identifiers import parse_agency_code, read_units_data
from motcua.domain.units import Unit, UnitDirectory, UnitKind, load_registry, parse_selector

START = date(2025, 7, 1)
DAY = date(2026, 1, 15)
REGISTRY = load_registry()


@pytest.fixture(scope="module")
def hcmc() -> UnitDirectory:
    return UnitDirectory(REGISTRY, DAY)


def unit(unit_id: str, **changes: object) -> Unit:
    base = Unit(
        id=unit_id,
        agency_code="000.00.00.H29",
        name="Thành phố Hồ Chí Minh",
        kind=UnitKind.CITY,
        parent_id=None,
        area_id=None,
        gso_code=None,
        valid_from=START,
        valid_to=None,
    )
    return dataclasses.replace(base, **changes)


def raises_code(error: type[DomainError], call: object, *args: object, **kwargs: object) -> str:
    assert callable(call)
    with pytest.raises(error) as caught:
        call(*args, **kwargs)
    return caught.value.code


# --- the shipped registry ---


def test_registry_has_the_168_commune_level_units(hcmc: UnitDirectory) -> None:
    kinds = Counter(u.kind for u in hcmc if u.gso_code is not None)
    assert kinds == {UnitKind.WARD: 113, UnitKind.COMMUNE: 54, UnitKind.SPECIAL_ZONE: 1}
    assert hcmc.get("dac-khu-con-dao").gso_code == "26732"
    assert hcmc.get("phuong-sai-gon").gso_code == "26740"
    assert all(hcmc.parent(u.id) == hcmc.get("thanh-pho-ho-chi-minh") for u in hcmc if u.gso_code)


def test_every_commune_has_one_police_unit_serving_it(hcmc: UnitDirectory) -> None:
    police = [u for u in hcmc if u.kind == UnitKind.COMMUNE_POLICE]
    communes = {u.id for u in hcmc if u.gso_code is not None}
    assert len(police) == 168
    assert sorted(p.area_id for p in police) == sorted(communes)
    assert {p.parent_id for p in police} == {"cong-an-thanh-pho"}
    assert hcmc.get("cong-an-phuong-sai-gon").name == "Công an phường Sài Gòn"
    assert hcmc.get("cong-an-dac-khu-con-dao").name == "Công an đặc khu Côn Đảo"


def test_city_bodies_and_their_placeholder_agency_codes(hcmc: UnitDirectory) -> None:
    expected = {
        "thanh-pho-ho-chi-minh": "000.00.00.H29",
        "so-tu-phap": "000.00.15.H29",
        "so-xay-dung": "000.00.17.H29",
        "so-cong-thuong": "000.00.02.H29",
        "so-giao-duc-va-dao-tao": "000.00.03.H29",
        "so-y-te": "000.00.18.H29",
        "so-noi-vu": "000.00.09.H29",
        "so-nong-nghiep-va-moi-truong": "000.00.13.H29",
        "so-tai-chinh": "000.00.05.H29",
        "cong-an-thanh-pho": "000.00.29.G01",
    }
    assert {unit_id: hcmc.get(unit_id).agency_code for unit_id in expected} == expected
    assert hcmc.get("trung-tam-phuc-vu-hanh-chinh-cong").kind == UnitKind.CENTER
    assert hcmc.get("ban-quan-ly-cac-khu-che-xuat-va-cong-nghiep").kind == UnitKind.BOARD
    assert sum(u.kind == UnitKind.DEPARTMENT for u in hcmc) == 12
    old_numbers = {"02", "03", "05", "09", "13", "15", "17", "18"}
    bodies = [u for u in hcmc if u.parent_id == "thanh-pho-ho-chi-minh" and u.agency_code.endswith(".H29")]
    numbers = [parse_agency_code(u.agency_code).level2 for u in bodies if u.gso_code is None]
    assert len(numbers) == 16
    assert all(number in old_numbers or int(number) >= 80 for number in numbers)


def test_commune_codes_follow_the_documented_scheme(hcmc: UnitDirectory) -> None:
    communes = sorted((u for u in hcmc if u.gso_code is not None), key=lambda u: u.gso_code or "")
    assert [u.agency_code for u in communes[:2]] == ["001.00.70.H29", "002.00.70.H29"]
    assert communes[-1].agency_code == "168.00.70.H29"
    assert hcmc.get("cong-an-" + communes[-1].id).agency_code == "168.00.29.G01"


def test_registry_codes_are_unique_four_level_and_all_valid_from_merger(hcmc: UnitDirectory) -> None:
    assert len(REGISTRY) == len(hcmc) == 1 + 17 + 168 + 168
    assert len({u.agency_code for u in REGISTRY}) == len(REGISTRY)
    assert not any(parse_agency_code(u.agency_code).legacy for u in REGISTRY)
    assert {u.valid_from for u in REGISTRY} == {START}
    assert {u.valid_to for u in REGISTRY} == {None}


def test_look_alike_commune_names_get_distinct_ids(hcmc: UnitDirectory) -> None:
    assert hcmc.get("xa-thanh-an-25807").name == "Xã Thanh An"
    assert hcmc.get("xa-thanh-an-27676").name == "Xã Thạnh An"


def test_registry_header_says_agency_codes_are_placeholders() -> None:
    header = read_units_data("hcmc_units.yaml").split("valid_from:")[0]
    assert "PLACEHOLDER" in header
    assert "replaces them with its official table" in header


# --- lookups ---


def test_lookups_by_id_code_parent_and_ancestors(hcmc: UnitDirectory) -> None:
    assert hcmc.by_agency_code("000.00.15.H29").id == "so-tu-phap"
    assert hcmc.parent("thanh-pho-ho-chi-minh") is None
    assert [u.id for u in hcmc.ancestors("cong-an-phuong-sai-gon")] == [
        "cong-an-thanh-pho",
        "thanh-pho-ho-chi-minh",
    ]
    assert raises_code(NotFound, hcmc.get, "quan-1") == "unit.not_found"
    assert raises_code(NotFound, hcmc.by_agency_code, "00.41.H29") == "unit.not_found"


def test_nothing_is_valid_before_the_merger() -> None:
    before = UnitDirectory(REGISTRY, date(2025, 6, 30))
    assert len(before) == 0
    assert raises_code(NotFound, before.get, "phuong-sai-gon") == "unit.not_found"


# --- effective dating ---


def test_each_date_sees_the_version_valid_on_it() -> None:
    change = date(2026, 3, 1)
    old = unit("thanh-pho-ho-chi-minh", valid_to=change)
    new = unit(
        "thanh-pho-ho-chi-minh",
        valid_from=change,
        name="Thành phố Hồ Chí Minh mới",
        agency_code="000.00.01.H29",
    )
    assert UnitDirectory([old, new], date(2026, 2, 28)).get(old.id) == old
    assert UnitDirectory([old, new], change).get(old.id) == new
    assert UnitDirectory([old, new], date(2026, 2, 28)).by_agency_code("000.00.00.H29") == old
    assert raises_code(NotFound, UnitDirectory([old, new], change).by_agency_code, "000.00.00.H29")


@pytest.mark.parametrize(
    "units",
    [
        [unit("a"), unit("a", name="Khác", agency_code="000.00.01.H29")],  # two open versions
        [unit("a"), unit("b", agency_code="000.00.00.H29")],  # duplicate agency code
        [unit("a", parent_id="missing")],
        [unit("a", parent_id="b"), unit("b", parent_id="a", agency_code="000.00.01.H29")],  # cycle
    ],
)
def test_inconsistent_registries_are_refused(units: list[Unit]) -> None:
    assert raises_code(InvalidInput, UnitDirectory, units, DAY) == "unit.bad_data"


@pytest.mark.parametrize(
    "changes",
    [
        {"id": "Phuong Sai Gon"},
        {"name": "Phường  Sài Gòn"},
        {"name": ""},
        {"gso_code": "2674"},
        {"valid_to": START},
        {"kind": "phuong"},
    ],
)
def test_unit_versions_validate_their_fields(changes: dict[str, object]) -> None:
    assert raises_code(InvalidInput, unit, "a", **changes) == "unit.bad_data"


def test_unit_agency_code_must_be_well_formed() -> None:
    assert raises_code(InvalidInput, unit, "a", agency_code="H29") == "agency_code.invalid"


# --- selectors ---


def resolve(
    hcmc: UnitDirectory, selector: str, receiving: str = "phuong-sai-gon", competent: str | None = None
) -> str:
    return hcmc.resolve(selector, receiving_id=receiving, competent_id=competent).id


def test_plain_selectors(hcmc: UnitDirectory) -> None:
    assert resolve(hcmc, "receiving") == "phuong-sai-gon"
    assert resolve(hcmc, "competent", competent="so-tu-phap") == "so-tu-phap"
    assert resolve(hcmc, "parent") == "thanh-pho-ho-chi-minh"
    assert resolve(hcmc, "unit:so-y-te") == "so-y-te"


def test_kind_selector_prefers_the_unit_serving_the_receiving_area(hcmc: UnitDirectory) -> None:
    assert resolve(hcmc, "kind:cong_an_xa") == "cong-an-phuong-sai-gon"
    assert resolve(hcmc, "kind:cong_an_xa", receiving="xa-can-gio") == "cong-an-xa-can-gio"


def test_kind_selector_falls_back_to_self_or_nearest_ancestor(hcmc: UnitDirectory) -> None:
    assert resolve(hcmc, "kind:phuong") == "phuong-sai-gon"
    assert resolve(hcmc, "kind:cong_an_tp", receiving="cong-an-phuong-sai-gon") == "cong-an-thanh-pho"
    assert resolve(hcmc, "kind:thanh_pho", receiving="cong-an-xa-can-gio") == "thanh-pho-ho-chi-minh"


def test_kind_selector_falls_back_to_the_only_city_wide_unit(hcmc: UnitDirectory) -> None:
    assert resolve(hcmc, "kind:trung_tam") == "trung-tam-phuc-vu-hanh-chinh-cong"
    assert resolve(hcmc, "kind:cong_an_tp", receiving="so-tu-phap") == "cong-an-thanh-pho"


@pytest.mark.parametrize(
    ("selector", "receiving", "competent"),
    [
        ("competent", "phuong-sai-gon", None),
        ("parent", "thanh-pho-ho-chi-minh", None),
        ("kind:so", "phuong-sai-gon", None),  # twelve departments: ambiguous
        ("kind:xa", "phuong-sai-gon", None),  # 54 communes, none serving this ward
        ("kind:cong_an_xa", "so-tu-phap", None),  # commune police serve communes, not departments
    ],
)
def test_unresolvable_selectors_say_so(
    hcmc: UnitDirectory, selector: str, receiving: str, competent: str | None
) -> None:
    call = hcmc.resolve
    with pytest.raises(InvalidInput) as caught:
        call(selector, receiving_id=receiving, competent_id=competent)
    assert caught.value.code == "unit.selector_unresolved"


def test_selector_naming_a_missing_unit_is_not_found(hcmc: UnitDirectory) -> None:
    with pytest.raises(NotFound):
        hcmc.resolve("unit:quan-1", receiving_id="phuong-sai-gon", competent_id=None)
    with pytest.raises(NotFound):
        hcmc.resolve("receiving", receiving_id="quan-1", competent_id=None)


@pytest.mark.parametrize(
    "selector",
    ["", "receiver", "RECEIVING", "kind:quan", "kind:", "unit:", "unit:Sở Y tế", "unit", "kind:so:x"],
)
def test_bad_selector_syntax_is_rejected_at_load_time(hcmc: UnitDirectory, selector: str) -> None:
    assert raises_code(InvalidInput, parse_selector, selector) == "workflow.bad_selector"
    with pytest.raises(InvalidInput) as caught:
        hcmc.resolve(selector, receiving_id="phuong-sai-gon", competent_id=None)
    assert caught.value.code == "workflow.bad_selector"


def test_parse_selector_returns_its_parts() -> None:
    assert parse_selector("kind:cong_an_xa").argument == UnitKind.COMMUNE_POLICE
    assert parse_selector("unit:so-tu-phap").kind == "unit"
    assert parse_selector("parent").argument is None


# --- loading data files ---


def registry_with(**replacements: tuple[str, str]) -> tuple[Unit, ...]:
    """The shipped registry with text replaced in the named data files."""

    def read(name: str) -> str:
        text = read_units_data(name)
        old, new = replacements.get(name.replace(".", "_"), ("", ""))
        assert not old or old in text
        return text.replace(old, new) if old else text

    return load_registry(read)


def test_double_spaces_in_source_names_are_normalised() -> None:
    loaded = registry_with(hcmc_units_2025_tsv=("Phường Sài Gòn", "Phường  Sài  Gòn"))
    assert {u.id: u.name for u in loaded}["phuong-sai-gon"] == "Phường Sài Gòn"
    assert {u.id: u.name for u in loaded}["cong-an-phuong-sai-gon"] == "Công an phường Sài Gòn"


@pytest.mark.parametrize(
    "replacement",
    [
        {"hcmc_units_yaml": ('agency_code: "000.00.02.H29"', 'agency_code: "000.00.15.H29"')},
        {"hcmc_units_yaml": ("kind: so,", "kind: quan,")},
        {"hcmc_units_yaml": ("police_parent: cong-an-thanh-pho", "police_parent: cong-an-tp")},
        {"hcmc_commune_codes_tsv": ("26740\tphuong-sai-gon", "99999\tphuong-sai-gon")},
        {"hcmc_units_2025_tsv": ("Phường Sài Gòn\tPhường", "Phường Sài Gòn\tQuận")},
        {"hcmc_units_yaml": ("\ncommunes:\n", "\ncommune:\n")},
        {"hcmc_units_yaml": ('"000.00.82.H29"}', '"000.00.82.H29", predecessors: so-van-hoa}')},
        {"hcmc_units_yaml": ("valid_from: 2025-07-01", "valid_from: July 2025")},
    ],
)
def test_broken_data_files_are_refused_on_load(replacement: dict[str, tuple[str, str]]) -> None:
    with pytest.raises(InvalidInput) as caught:
        registry_with(**replacement)
    assert caught.value.code == "unit.bad_data"


def test_successor_links_can_be_declared_in_the_data_file() -> None:
    loaded = registry_with(
        hcmc_units_yaml=(
            '"000.00.82.H29"}',
            '"000.00.82.H29", predecessors: [so-van-hoa-the-thao-va-du-lich]}',
        )
    )
    assert {u.id: u.predecessors for u in loaded}["so-du-lich"] == ("so-van-hoa-the-thao-va-du-lich",)
