"""Health, readiness, metrics, the OpenAPI document and docs page, and Litestar's own errors."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from api import create_app
from mdm.settings import Settings
from mdm.storage.database import make_engine
from tests.api.conftest import assert_problem

Client = TestClient[Any]


def test_health_and_readiness_need_no_key(client: Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/health/ready").json() == {"status": "ready"}


def test_readiness_is_503_when_the_database_does_not_answer() -> None:
    engine = make_engine("postgresql://nobody@127.0.0.1:9/none", connect_args={"connect_timeout": 1})
    with TestClient(create_app(Settings(), engine=engine)) as client:
        assert client.get("/health").status_code == 200
        assert_problem(client.get("/health/ready"), 503, "database.unavailable")
    engine.dispose()


def test_metrics_count_requests_by_route_template_and_status(
    client: Client, reader: dict[str, str], small_hub: dict[str, str]
) -> None:
    client.get(f"/v1/customers/{small_hub['acme']}", headers=reader)
    client.get("/v1/crosswalk/crm/99", headers=reader)
    client.get("/no/such/route")

    text = client.get("/metrics").text

    assert (
        'mdm_http_requests_total{method="GET",route="/v1/customers/{canonical_id}",status="200"} 1.0' in text
    )
    assert 'route="/v1/crosswalk/{system}/{source_id}",status="404"} 1.0' in text
    assert "/no/such/route" not in text
    assert "mdm_http_request_duration_seconds_bucket" in text
    assert small_hub["acme"] not in text


def test_the_openapi_document_is_3_1_and_lists_the_read_paths(client: Client) -> None:
    document = client.get("/schema/openapi.json").json()

    assert document["openapi"].startswith("3.1")
    assert {
        "/v1/crosswalk/{system}/{source_id}", "/v1/crosswalk:lookup", "/v1/customers/{canonical_id}",
        "/v1/customers/{canonical_id}/crosswalk", "/v1/customers/{canonical_id}/history", "/v1/customers",
        "/health", "/health/ready", "/metrics",
    } <= set(document["paths"])  # fmt: skip
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "text/html" in client.get("/schema").headers["content-type"]


def test_unknown_routes_wrong_methods_and_oversize_bodies_are_problems(
    client: Client, reader: dict[str, str], small_hub: dict[str, str]
) -> None:
    assert_problem(client.get("/v2/nothing"), 404, "route.not_found")
    assert_problem(client.delete("/health"), 405, "method.not_allowed")
    big = b'{"keys": [' + b'{"system": "crm", "source_id": "1"},' * 80_000 + b"]}"
    response = client.post(
        "/v1/crosswalk:lookup", content=big, headers={**reader, "Content-Type": "application/json"}
    )
    assert_problem(response, 413, "request.too_large")
