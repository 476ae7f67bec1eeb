"""Registry adapters against the sandbox over real HTTP: records, retries, timeouts, malformed replies, the
circuit breaker, someone else's data, and who may read whose data."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from motcua.domain.clock import VN_TZ
from motcua.domain.errors import Forbidden
from motcua.domain.registry import Applicant, Identity, IdentityKind, RegistryKind
from motcua.integrations.breaker import BreakerState, CircuitBreaker
from motcua.integrations.gateway import Gateway, GatewayConfig, registry_path
from motcua.integrations.http import EndpointConfig, GatewayError, HttpEndpoint
from motcua.integrations.registries import (
    CivilStatusRegistry,
    EnterpriseRegistry,
    PopulationRegistry,
    SocialInsuranceRegistry,
    TaxRegistry,
)
from tests.integrations.conftest import (
    BUSINESS,
    CONGDAN,
    CONGDAN2,
    FATHER,
    MOTHER,
    SON,
    TOKEN,
    Sandbox,
    make_gateway,
)

AT = datetime(2026, 3, 2, 9, 0, tzinfo=VN_TZ)
PURPOSE = "tthc:1.001193:prefill"
AN = Applicant("cd-" + CONGDAN, personal_id=CONGDAN)
BINH = Applicant("cd-" + CONGDAN2, personal_id=CONGDAN2)
COMPANY = Applicant("dn-" + BUSINESS, tax_code=BUSINESS)


def person(personal_id: str) -> Identity:
    return Identity(IdentityKind.PERSONAL_ID, personal_id)


def population(gateway: Gateway) -> PopulationRegistry:
    return gateway.typed(RegistryKind.POPULATION, PopulationRegistry)


def test_population_record_of_the_demo_citizen(gateway: Gateway) -> None:
    record = population(gateway).fetch(person(CONGDAN), PURPOSE, at=AT)
    assert record.values["full_name"] == "Nguyễn Văn An"
    assert record.values["date_of_birth"] == "1990-05-14"
    assert record.values["sex"] == "Nam"
    assert record.values["spouse_id"] == CONGDAN2
    assert record.values["permanent_address"] == "25 Lê Thánh Tôn, phường Sài Gòn, Thành phố Hồ Chí Minh"
    assert record.fetched_at == AT
    assert record.trace is not None and record.trace.attempts == 1  # type: ignore[attr-defined]
    population(gateway).check_ownership(record, AN)


def test_only_declared_fields_are_kept(gateway: Gateway) -> None:
    record = gateway.registry(RegistryKind.POPULATION).fetch(person(CONGDAN), PURPOSE, at=AT)
    declared = {field.name for field in PopulationRegistry.fields}
    assert set(record.values) == declared
    assert "reference" not in record.values and record.reference == f"CSDLQGDC-{CONGDAN}"


def test_every_registry_answers_for_the_demo_identities(gateway: Gateway) -> None:
    civil = gateway.registry(RegistryKind.CIVIL_STATUS).fetch(person(SON), PURPOSE, at=AT)
    assert civil.values["father_id"] == CONGDAN and civil.values["mother_id"] == CONGDAN2
    insured = gateway.registry(RegistryKind.SOCIAL_INSURANCE).fetch(person(SON), PURPOSE, at=AT)
    assert str(insured.values["health_card_number"]).startswith("TE1")  # a child under 6
    company = gateway.registry(RegistryKind.ENTERPRISE).fetch(
        Identity(IdentityKind.ENTERPRISE_CODE, BUSINESS), PURPOSE, at=AT
    )
    assert company.values["name"] == "Công ty TNHH Một Cửa Sài Gòn"
    assert company.values["legal_representative_id"] == CONGDAN
    tax = gateway.registry(RegistryKind.TAX).fetch(
        Identity(IdentityKind.ENTERPRISE_CODE, BUSINESS), PURPOSE, at=AT
    )
    assert tax.values["outstanding_tax_vnd"] == 0


def test_a_5xx_is_retried_with_backoff_until_it_succeeds(sandbox: Sandbox, gateway: Gateway) -> None:
    sandbox.fault("population", fail_next=2, status=503)
    record = population(gateway).fetch(person(CONGDAN), PURPOSE, at=AT)
    assert record.values["full_name"] == "Nguyễn Văn An"
    assert record.trace.attempts == 3  # type: ignore[attr-defined]
    assert sandbox.requests("population") == 3


def test_a_5xx_that_persists_degrades_with_a_vietnamese_message(sandbox: Sandbox, gateway: Gateway) -> None:
    sandbox.fault("population", fail_next=10, status=502)
    with pytest.raises(GatewayError) as failure:
        population(gateway).fetch(person(CONGDAN), PURPOSE, at=AT)
    assert failure.value.code == "registry.unavailable"
    assert "tự nhập" in failure.value.message
    assert failure.value.trace is not None and failure.value.trace.attempts == 3
    assert failure.value.trace.status == 502
    assert sandbox.requests("population") == 3


def test_a_slow_registry_times_out(sandbox: Sandbox, sandbox_server: object) -> None:
    gateway = make_gateway(sandbox.url, read_timeout=0.2, retries=1)
    sandbox.fault("civil_status", delay_ms=600)
    with pytest.raises(GatewayError) as failure:
        gateway.registry(RegistryKind.CIVIL_STATUS).fetch(person(CONGDAN), PURPOSE, at=AT)
    assert failure.value.code == "registry.unavailable"
    assert failure.value.trace is not None and failure.value.trace.attempts == 2
    assert failure.value.trace.status is None  # no reply at all
    gateway.close()


def test_a_malformed_reply_is_refused_without_retrying(sandbox: Sandbox, gateway: Gateway) -> None:
    sandbox.fault("population", malformed=True)
    with pytest.raises(GatewayError) as failure:
        population(gateway).fetch(person(CONGDAN), PURPOSE, at=AT)
    assert failure.value.code == "registry.bad_reply"
    assert sandbox.requests("population") == 1
    assert failure.value.trace is not None and failure.value.trace.response_hash is not None


def test_a_reply_with_a_wrongly_typed_field_is_a_bad_reply() -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"personal_id": CONGDAN, "full_name": "An", "date_of_birth": 1990})

    endpoint = HttpEndpoint(
        "Dân cư", EndpointConfig(base_url="http://registry"), transport=httpx.MockTransport(reply)
    )
    with pytest.raises(GatewayError) as failure:
        PopulationRegistry(endpoint).fetch(person(CONGDAN), PURPOSE, at=AT)
    assert failure.value.code == "registry.bad_reply"
    endpoint.close()


def test_unknown_person_and_bad_credentials(sandbox: Sandbox, gateway: Gateway) -> None:
    with pytest.raises(GatewayError) as missing:
        population(gateway).fetch(person("999000000000"), PURPOSE, at=AT)  # no such province: no record
    assert missing.value.code == "registry.not_found"
    intruder = make_gateway(sandbox.url, token="wrong")
    with pytest.raises(GatewayError) as refused:
        population(intruder).fetch(person(CONGDAN), PURPOSE, at=AT)
    assert refused.value.code == "registry.refused"
    unconfigured = Gateway(GatewayConfig())
    with pytest.raises(GatewayError) as absent:
        population(unconfigured).fetch(person(CONGDAN), PURPOSE, at=AT)
    assert absent.value.code == "registry.not_configured"
    intruder.close()


def test_someone_elses_data_is_refused(sandbox: Sandbox, gateway: Gateway) -> None:
    sandbox.fault("registries", foreign_data=True)
    for kind, identity in (
        (RegistryKind.POPULATION, person(CONGDAN)),
        (RegistryKind.CIVIL_STATUS, person(CONGDAN)),
        (RegistryKind.SOCIAL_INSURANCE, person(CONGDAN)),
        (RegistryKind.TAX, person(CONGDAN)),
        (RegistryKind.ENTERPRISE, Identity(IdentityKind.ENTERPRISE_CODE, BUSINESS)),
    ):
        with pytest.raises(GatewayError) as failure:
            gateway.registry(kind).fetch(identity, PURPOSE, at=AT)
        assert failure.value.code == "registry.foreign_data", kind
        assert "không phải của người được tra cứu" in failure.value.message


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_circuit_breaker_opens_then_half_opens_against_the_real_registry(sandbox: Sandbox) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=2, reset_after=10.0, clock=clock)
    config = EndpointConfig(
        base_url=sandbox.url + registry_path(RegistryKind.POPULATION), token=TOKEN, retries=0, read_timeout=1
    )
    plugin = PopulationRegistry(HttpEndpoint("Dân cư", config, breaker=breaker))
    sandbox.fault("population", down=True)
    for _ in range(2):
        with pytest.raises(GatewayError) as down:
            plugin.fetch(person(CONGDAN), PURPOSE, at=AT)
        assert down.value.code == "registry.unavailable"
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(GatewayError) as open_:
        plugin.fetch(person(CONGDAN), PURPOSE, at=AT)
    assert open_.value.code == "registry.circuit_open"
    assert sandbox.requests("population") == 2  # the open breaker sent nothing
    clock.now += 10.0
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(GatewayError):
        plugin.fetch(person(CONGDAN), PURPOSE, at=AT)  # the trial fails: open again
    assert breaker.state is BreakerState.OPEN and sandbox.requests("population") == 3
    clock.now += 10.0
    sandbox.clear_faults()
    record = plugin.fetch(person(CONGDAN), PURPOSE, at=AT)  # the trial succeeds: closed
    assert record.values["full_name"] == "Nguyễn Văn An"
    assert breaker.state is BreakerState.CLOSED
    assert plugin.endpoint is not None
    plugin.endpoint.close()


# ---------------------------------------------------------------- whose data is it


@pytest.mark.parametrize(
    ("subject", "reader", "allowed"),
    [
        (CONGDAN, AN, True),  # one's own data
        (SON, AN, True),  # the father of a minor child in his household
        (SON, BINH, True),  # and the mother
        (MOTHER, AN, True),  # a deceased parent (death notified)
        (CONGDAN2, AN, False),  # an adult spouse's data is hers, not his
        (FATHER, BINH, False),  # a living adult in the household: not hers to read
        (CONGDAN, BINH, False),
        (SON, COMPANY, False),  # a business account reads no person's data
    ],
)
def test_population_data_belongs_to_the_applicant_or_someone_they_may_act_for(
    gateway: Gateway, subject: str, reader: Applicant, allowed: bool
) -> None:
    plugin = population(gateway)
    record = plugin.fetch(person(subject), PURPOSE, at=AT)
    if allowed:
        plugin.check_ownership(record, reader)
    else:
        with pytest.raises(Forbidden) as refused:
            plugin.check_ownership(record, reader)
        assert refused.value.code == "registry.not_owner"


def test_civil_status_and_insurance_follow_the_same_rule(gateway: Gateway) -> None:
    civil = gateway.typed(RegistryKind.CIVIL_STATUS, CivilStatusRegistry)
    civil.check_ownership(civil.fetch(person(SON), PURPOSE, at=AT), BINH)
    with pytest.raises(Forbidden):
        civil.check_ownership(civil.fetch(person(CONGDAN2), PURPOSE, at=AT), AN)
    insurance = gateway.typed(RegistryKind.SOCIAL_INSURANCE, SocialInsuranceRegistry)
    insurance.check_ownership(insurance.fetch(person(SON), PURPOSE, at=AT), AN)
    with pytest.raises(Forbidden):
        insurance.check_ownership(insurance.fetch(person(FATHER), PURPOSE, at=AT), BINH)


def test_enterprise_and_tax_data_belong_to_the_business_or_its_legal_representative(gateway: Gateway) -> None:
    code = Identity(IdentityKind.ENTERPRISE_CODE, BUSINESS)
    enterprise = gateway.typed(RegistryKind.ENTERPRISE, EnterpriseRegistry)
    record = enterprise.fetch(code, PURPOSE, at=AT)
    enterprise.check_ownership(record, COMPANY)
    enterprise.check_ownership(record, AN)  # the legal representative
    with pytest.raises(Forbidden):
        enterprise.check_ownership(record, BINH)
    tax = gateway.typed(RegistryKind.TAX, TaxRegistry)
    tax_record = tax.fetch(code, PURPOSE, at=AT)
    tax.check_ownership(tax_record, COMPANY)
    tax.check_ownership(tax_record, AN)
    with pytest.raises(Forbidden):
        tax.check_ownership(tax.fetch(person(CONGDAN), PURPOSE, at=AT), BINH)
