"""The catalog's registry bindings: every `x-registry` of an e-form and every `satisfied_by` of a document
names a real registry field or record section, the values the sandbox returns fit the forms, and the catalog
accepts the new document key without changing the content hash of entries that do not use it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

import motcua
from motcua.domain.catalog import CityDocument, parse_city_layer
from motcua.domain.errors import InvalidInput
from motcua.domain.registry import (
    FormBinding,
    RegistryKind,
    form_bindings,
    parse_binding,
    parse_requirement_source,
)
from motcua.integrations.registries import PLUGINS
from motcua.integrations.sandbox import data as sandbox_data
from tests.integrations.conftest import BUSINESS, CONGDAN, MOTHER

CATALOG = Path(motcua.__file__).parent / "data" / "catalog"
PLUGIN = {plugin.kind: plugin for plugin in PLUGINS}
FORMS = sorted(path.name.removesuffix(".schema.json") for path in (CATALOG / "forms").glob("*.schema.json"))


def _schema(slug: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        (CATALOG / "forms" / f"{slug}.schema.json").read_text(encoding="utf-8")
    )
    return schema


def _leaf(schema: dict[str, Any], binding: FormBinding) -> dict[str, Any]:
    node = schema
    for step in binding.path:
        node = node["properties"][step]
    return node


def test_most_forms_are_bound_to_a_registry() -> None:
    bound = [slug for slug in FORMS if form_bindings(_schema(slug))]
    assert len(bound) >= 25, bound


@pytest.mark.parametrize("slug", FORMS)
def test_every_binding_names_a_registry_field_of_a_matching_type(slug: str) -> None:
    schema = _schema(slug)
    for binding in form_bindings(schema):
        spec = next((f for f in PLUGIN[binding.source].fields if f.name == binding.field), None)
        assert spec is not None, f"{slug} {binding.dotted}: {binding.source}.{binding.field} does not exist"
        leaf = _leaf(schema, binding)
        assert leaf["type"] == "string" and spec.type in ("string", "date"), (slug, binding.dotted)
        if spec.type == "date":
            assert leaf.get("format") == "date", (slug, binding.dotted)


def _sandbox_values(kind: RegistryKind, identity: str) -> dict[str, Any]:
    world = sandbox_data.World()
    if kind is RegistryKind.ENTERPRISE:
        enterprise = world.enterprise(identity)
        assert enterprise is not None
        return sandbox_data.enterprise_reply(world, enterprise)
    person = world.person(identity)
    assert person is not None
    replies = {
        RegistryKind.POPULATION: sandbox_data.citizen_reply,
        RegistryKind.CIVIL_STATUS: sandbox_data.civil_status_reply,
    }
    return replies[kind](world, person)


@pytest.mark.parametrize("slug", FORMS)
def test_the_demo_citizens_registry_values_fit_the_bound_fields(slug: str) -> None:
    """What auto-fill puts in a field must pass that field's own rules (patterns, enums, lengths, dates)."""
    schema = _schema(slug)
    for binding in form_bindings(schema):
        identity = {"applicant": BUSINESS if binding.source is RegistryKind.ENTERPRISE else CONGDAN}
        identity["related"] = MOTHER
        value = _sandbox_values(binding.source, identity[binding.subject])[binding.field]
        validator = Draft202012Validator(
            _leaf(schema, binding), format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        errors = [error.message for error in validator.iter_errors(value)]
        assert not errors, (slug, binding.dotted, value, errors)


def test_every_satisfied_by_names_a_record_section() -> None:
    layer = yaml.safe_load((CATALOG / "hcmc_procedures.yaml").read_text(encoding="utf-8"))
    found = 0
    for entry in layer["procedures"]:
        for document in entry.get("documents", []):
            if "satisfied_by" not in document:
                continue
            found += 1
            requirement = parse_requirement_source(document["satisfied_by"])
            sections = {section.name for section in PLUGIN[requirement.source].sections}
            assert requirement.section in sections, (entry["code"], document["satisfied_by"])
    assert found >= 10


def test_the_birth_record_replaces_the_copy_of_the_birth_certificate() -> None:
    layer = yaml.safe_load((CATALOG / "hcmc_procedures.yaml").read_text(encoding="utf-8"))
    re_registration = next(entry for entry in layer["procedures"] if entry["code"] == "1.004884")
    copy = next(d for d in re_registration["documents"] if d["name"].startswith("Bản sao Giấy khai sinh"))
    assert copy["satisfied_by"] == "civil_status.birth"


# ---------------------------------------------------------------- the catalog accepts satisfied_by


def _layer(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 1,
        "valid_from": "2025-07-01",
        "procedures": [
            {
                "code": "1.001193",
                "name": "Đăng ký khai sinh",
                "level": "xa",
                "receiving_kinds": ["phuong"],
                "competent": "receiving",
                "workflow": "tieu-chuan",
                "time": {"amount": 1, "unit": "working_day"},
                "online": "khong",
                "channels": ["truc_tiep"],
                "fee": {"amount_vnd": 0, "text": "Miễn lệ phí"},
                "documents": [document],
                "results": ["Giấy khai sinh"],
            }
        ],
    }


def _parse(document: dict[str, Any]) -> CityDocument:
    [procedure] = parse_city_layer(
        _layer(document), national_codes={"1.001193"}, form_schemas={}, workflow_ids={"tieu-chuan"}
    )
    [parsed] = procedure.documents
    return parsed


def test_a_document_may_name_the_registry_data_that_replaces_it() -> None:
    document = {
        "name": "Giấy tờ tùy thân",
        "required": True,
        "quantity": "1",
        "satisfied_by": "population.citizen",
    }
    assert _parse(document).satisfied_by == "population.citizen"
    related = {**document, "satisfied_by": "related:civil_status.birth"}
    assert _parse(related).satisfied_by == "related:civil_status.birth"


def test_a_malformed_satisfied_by_is_refused_in_vietnamese() -> None:
    document = {"name": "Giấy tờ tùy thân", "required": True, "quantity": "1", "satisfied_by": "dân cư"}
    with pytest.raises(InvalidInput) as refused:
        _parse(document)
    assert refused.value.details["field"] == "documents[0].satisfied_by"


def test_documents_without_satisfied_by_keep_their_stored_shape() -> None:
    plain = CityDocument("Giấy chứng sinh", True, "1 bản chính")
    assert plain.to_dict() == {"name": "Giấy chứng sinh", "required": True, "quantity": "1 bản chính"}
    bound = CityDocument("Giấy tờ tùy thân", True, "1", "population.citizen")
    assert bound.to_dict()["satisfied_by"] == "population.citizen"


def test_bindings_and_requirements_are_checked() -> None:
    with pytest.raises(InvalidInput):
        parse_binding({"source": "population"}, ("a",), "A")
    with pytest.raises(InvalidInput):
        parse_binding({"source": "weather", "field": "x"}, ("a",), "A")
    with pytest.raises(InvalidInput):
        parse_binding({"source": "population", "field": "x", "subject": "neighbour"}, ("a",), "A")
    with pytest.raises(InvalidInput):
        parse_requirement_source("weather.today")
    assert parse_requirement_source("related:population.death").subject == "related"
