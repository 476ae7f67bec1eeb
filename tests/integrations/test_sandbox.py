"""The sandbox's synthetic national data: valid identifiers, consistent families, deterministic from the
numbers; its credential check, idempotent requests and fault switches; and how motcua finds it."""

from __future__ import annotations

import os
from datetime import date

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.vn import mst

from motcua.cli.sandbox import start_development_services
from motcua.domain.identifiers import load_province_codes, parse_cccd
from motcua.domain.registry import RegistryKind
from motcua.integrations.gateway import GatewayConfig
from motcua.integrations.sandbox import data
from motcua.integrations.sandbox.data import World
from tests.integrations.conftest import BUSINESS, CONGDAN, CONGDAN2, MOTHER, SON, TOKEN, Sandbox

TODAY = date(2026, 3, 2)


def test_every_person_in_the_world_has_a_valid_personal_id_matching_their_birth() -> None:
    world = World()
    assert len(world.people) > 100
    for person in world.people.values():
        info = parse_cccd(person.personal_id, today=TODAY)
        assert info.birth_year == person.date_of_birth.year
        assert info.sex == ("nam" if person.sex == "Nam" else "nữ")


def test_the_world_is_the_same_for_the_same_seed() -> None:
    first, second = World(), World()
    assert data.citizen_reply(first, first.people[CONGDAN]) == data.citizen_reply(
        second, second.people[CONGDAN]
    )
    assert list(first.people) == list(second.people)
    assert list(World(seed=7).people)[5:] != list(first.people)[5:]


def test_families_are_consistent_both_ways() -> None:
    world = World()
    for person in world.people.values():
        if person.spouse_id:
            assert world.people[person.spouse_id].spouse_id == person.personal_id
        for child_id in person.children_ids:
            child = world.people[child_id]
            assert person.personal_id in (child.father_id, child.mother_id)
        assert person.personal_id in world.household_of(person).member_ids


def test_the_demo_identities() -> None:
    world = World()
    an = data.citizen_reply(world, world.people[CONGDAN])
    assert (an["full_name"], an["spouse_name"], an["children_ids"]) == (
        "Nguyễn Văn An",
        "Trần Thị Bình",
        [SON],
    )
    assert world.people[CONGDAN2].full_name == "Trần Thị Bình"
    mother = data.citizen_reply(world, world.people[MOTHER])
    assert mother["alive"] is False and mother["died_on"] == "2026-02-20"
    assert (
        data.civil_status_reply(world, world.people[MOTHER])["death_registration_number"] is None
    )  # not yet
    company = world.enterprise(BUSINESS)
    assert company is not None and company.representative_id == CONGDAN


@settings(max_examples=60, deadline=None)
@given(
    province=st.sampled_from(sorted(load_province_codes())),
    year=st.integers(min_value=1930, max_value=2025),
    female=st.booleans(),
    serial=st.integers(min_value=0, max_value=999_999),
)
def test_any_valid_personal_id_gets_a_record_that_agrees_with_the_number(
    province: str, year: int, female: bool, serial: int
) -> None:
    personal_id = data.make_personal_id(province, date(year, 6, 1), "Nữ" if female else "Nam", serial)
    world = World(households=0)
    person = world.person(personal_id)
    assert person is not None
    assert person.date_of_birth.year == year and person.sex == ("Nữ" if female else "Nam")
    again = World(households=0).person(personal_id)
    assert again is not None and again.full_name == person.full_name  # deterministic from the number
    assert data.social_insurance_reply(world, person, TODAY)["personal_id"] == personal_id


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10**9))
def test_generated_enterprise_codes_have_valid_check_digits(seed: int) -> None:
    import random

    code = data.make_enterprise_code(random.Random(seed))
    assert mst.is_valid(code) and code.startswith("03")
    enterprise = World(households=0).enterprise(code)
    assert enterprise is not None and enterprise.code == code
    assert parse_cccd(enterprise.representative_id, today=TODAY)


def test_invalid_numbers_have_no_record() -> None:
    world = World(households=0)
    assert world.person("999000000000") is None  # no such province
    assert world.enterprise("0100109107") is None  # wrong check digit


def test_the_credential_is_required(sandbox: Sandbox) -> None:
    url = f"{sandbox.url}/registries/population/citizens/{CONGDAN}"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_faults_can_be_set_per_target_and_per_request(sandbox: Sandbox) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{sandbox.url}/registries/tax/taxpayers/{BUSINESS}"
    sandbox.fault("tax", error_rate=1.0, status=500)
    assert httpx.get(url, headers=headers).status_code == 500
    sandbox.clear_faults()
    assert httpx.get(url, headers=headers).status_code == 200
    assert httpx.get(url, headers=headers, params={"fault_status": "504"}).status_code == 504
    assert (
        httpx.get(url, headers=headers, params={"fault_malformed": "1"}).content == b'{"personal_id": "0790'
    )
    bad = sandbox.admin.put("/admin/faults", json={"target": "weather", "down": True})
    assert bad.status_code == 400


def test_the_health_card_request_is_idempotent(sandbox: Sandbox) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "bundle-1:the_bhyt"}
    url = f"{sandbox.url}/registries/social-insurance/health-insurance-cards"
    first = httpx.post(url, headers=headers, json={"personal_id": SON})
    second = httpx.post(url, headers=headers, json={"personal_id": SON})
    assert first.status_code == second.status_code == 201 and first.json() == second.json()
    too_old = httpx.post(url, headers={"Authorization": f"Bearer {TOKEN}"}, json={"personal_id": CONGDAN})
    assert too_old.status_code == 422


def test_configuration_from_the_environment() -> None:
    config = GatewayConfig.from_env(
        {
            "MOTCUA_REGISTRY_URL": "http://lgsp.example:8080/",
            "MOTCUA_REGISTRY_TOKEN": "secret",
            "MOTCUA_REGISTRY_TIMEOUT": "3.5",
            "MOTCUA_REGISTRY_TAX_URL": "https://thue.example/api",
        }
    )
    population = config.registries[RegistryKind.POPULATION]
    assert population.base_url == "http://lgsp.example:8080/registries/population"
    assert (population.token, population.read_timeout) == ("secret", 3.5)
    assert config.registries[RegistryKind.TAX].base_url == "https://thue.example/api"
    assert config.registries[RegistryKind.CIVIL_STATUS].base_url.endswith("/registries/civil-status")
    assert config.portal is not None and config.portal.base_url == "http://lgsp.example:8080/portal"
    assert config.portal.retries == 0  # the outbox retries deliveries
    assert GatewayConfig.from_env({}).registries == {}


def test_serve_starts_the_sandbox_and_the_worker_when_no_platform_is_configured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.delenv("MOTCUA_REGISTRY_URL", raising=False)
    monkeypatch.delenv("MOTCUA_SANDBOX", raising=False)
    monkeypatch.setenv("MOTCUA_DATABASE_URL", f"sqlite:///{tmp_path}/empty.sqlite3")
    services = start_development_services()
    try:
        url = os.environ["MOTCUA_REGISTRY_URL"]
        assert url.startswith("http://127.0.0.1:")
        assert (
            httpx.get(f"{url}/registries/population/citizens/{CONGDAN}").json()["full_name"]
            == "Nguyễn Văn An"
        )
    finally:
        for service in services:
            service.stop()
        monkeypatch.delenv("MOTCUA_REGISTRY_URL", raising=False)
    monkeypatch.setenv("MOTCUA_REGISTRY_URL", "http://elsewhere")
    assert start_development_services() == []
