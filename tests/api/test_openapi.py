"""The OpenAPI document a client developer starts from."""

from __future__ import annotations

import json

from tests.api.conftest import DossierApi

DOCUMENTED = {
    "/api/v1/auth/token": {"post"},
    "/api/v1/me": {"get"},
    "/api/v1/units": {"get"},
    "/api/v1/procedures": {"get"},
    "/api/v1/procedures/fields": {"get"},
    "/api/v1/procedures/{code}": {"get"},
    "/api/v1/dossiers": {"get", "post"},
    "/api/v1/dossiers/{code}": {"get"},
    "/api/v1/dossiers/{code}/actions": {"post"},
    "/api/v1/track/{code}": {"get"},
}


def test_openapi_is_valid_json_listing_every_route(api: DossierApi) -> None:
    response = api.client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = json.loads(response.text)
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "motcua API"
    for path, methods in DOCUMENTED.items():
        assert methods <= set(document["paths"][path]), path
    assert "bearer" in document["components"]["securitySchemes"]
    action_body = json.dumps(document["components"]["schemas"], ensure_ascii=False)
    assert "request_supplement" in action_body  # the action names a client may send
