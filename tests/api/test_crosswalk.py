"""Cross-reference reads: one source key, many keys at once, now and as of a moment."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import Engine, select

from mdm.storage.tables import CrosswalkEntry
from tests.api.conftest import assert_problem

Client = TestClient[Any]


def before_the_split(client: Client, reader: dict[str, str], split_id: str) -> str:
    """A moment between the hub's first identities and the split that ended ``split_id``."""
    ended = client.get(f"/v1/customers/{split_id}", headers=reader).json()["ended_at"]
    return (datetime.fromisoformat(ended) - timedelta(microseconds=1)).isoformat()


def test_a_source_key_answers_with_its_customer_and_the_other_keys(
    client: Client, reader: dict[str, str], small_hub: dict[str, str]
) -> None:
    response = client.get("/v1/crosswalk/crm/3", headers=reader)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["system"], body["source_id"], body["canonical_id"]) == ("crm", "3", small_hub["acme"])
    assert [(key["system"], key["source_id"]) for key in body["other_keys"]] == [("crm", "1")]
    assert body["as_of"] is None


def test_the_times_of_a_lookup_are_the_crosswalks_in_utc(
    client: Client, reader: dict[str, str], small_hub: dict[str, str], engine: Engine
) -> None:
    with engine.connect() as connection:
        rows = connection.execute(
            select(CrosswalkEntry.source_id, CrosswalkEntry.valid_from).where(
                CrosswalkEntry.system == "crm", CrosswalkEntry.valid_to.is_(None)
            )
        )
        since = {row.source_id: row.valid_from for row in rows}

    body = client.get("/v1/crosswalk/crm/3", headers=reader).json()

    assert body["valid_from"].endswith(("Z", "+00:00"))
    assert datetime.fromisoformat(body["valid_from"]) == since["3"]
    assert datetime.fromisoformat(body["other_keys"][0]["valid_from"]) == since["1"]


@pytest.mark.parametrize(
    ("path", "code", "field"),
    [("/v1/crosswalk/crm/99", "not_found", None), ("/v1/crosswalk/nosuch/1", "system.unknown", "system")],
)
def test_unknown_keys_and_systems_are_404(
    client: Client, reader: dict[str, str], small_hub: dict[str, str], path: str, code: str, field: str | None
) -> None:
    assert_problem(client.get(path, headers=reader), 404, code, field)


def test_as_of_answers_as_the_crosswalk_was_then(
    client: Client, reader: dict[str, str], small_hub: dict[str, str]
) -> None:
    moment = before_the_split(client, reader, small_hub["split"])

    then = client.get("/v1/crosswalk/crm/3", params={"as_of": moment}, headers=reader).json()
    now = client.get("/v1/crosswalk/crm/3", headers=reader).json()

    assert then["canonical_id"] == small_hub["split"]
    assert [key["source_id"] for key in then["other_keys"]] == ["4"]
    assert datetime.fromisoformat(then["as_of"]) == datetime.fromisoformat(moment)
    assert now["canonical_id"] == small_hub["acme"]


@pytest.mark.parametrize("as_of", ["2026-03-01T00:00:00", "yesterday", "2026-13-01T00:00:00Z"])
def test_as_of_needs_an_iso_timestamp_with_an_offset(
    client: Client, reader: dict[str, str], small_hub: dict[str, str], as_of: str
) -> None:
    response = client.get("/v1/crosswalk/crm/3", params={"as_of": as_of}, headers=reader)

    assert_problem(response, 422, "request.invalid", "as_of")


def test_before_any_customer_existed_a_key_has_none(
    client: Client, reader: dict[str, str], small_hub: dict[str, str]
) -> None:
    response = client.get(
        "/v1/crosswalk/crm/3", params={"as_of": "2000-01-01T00:00:00+00:00"}, headers=reader
    )

    assert_problem(response, 404, "not_found")


def test_a_batch_lookup_reports_each_key_in_the_order_asked(
    client: Client, reader: dict[str, str], small_hub: dict[str, str]
) -> None:
    keys = [("erp", "2"), ("crm", "99"), ("nosuch", "1"), ("crm", "4"), ("erp", "2")]
    body = {"keys": [{"system": system, "source_id": source_id} for system, source_id in keys]}

    response = client.post("/v1/crosswalk:lookup", json=body, headers=reader)

    assert response.status_code == 200, response.text
    results = [
        (r["system"], r["source_id"], r["canonical_id"], r["problem"]) for r in response.json()["results"]
    ]
    assert results == [
        ("erp", "2", small_hub["crane"], None),
        ("crm", "99", None, "not_found"),
        ("nosuch", "1", None, "system.unknown"),
        ("crm", "4", small_hub["bolt"], None),
        ("erp", "2", small_hub["crane"], None),
    ]


def test_a_batch_lookup_as_of_a_moment(
    client: Client, reader: dict[str, str], small_hub: dict[str, str]
) -> None:
    moment = before_the_split(client, reader, small_hub["split"])
    body = {
        "keys": [{"system": "crm", "source_id": "4"}, {"system": "erp", "source_id": "2"}],
        "as_of": moment,
    }

    results = client.post("/v1/crosswalk:lookup", json=body, headers=reader).json()["results"]

    assert [result["canonical_id"] for result in results] == [small_hub["split"], small_hub["merged"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"keys": [{"system": "crm", "source_id": str(n)} for n in range(1001)]}, "keys"),
        ({"keys": []}, "keys"),
        ({"keys": [{"system": 1, "source_id": "1"}]}, "keys[0].system"),
        ({"keys": [{"system": "crm"}]}, "keys[0]"),
        ({"keys": [{"system": "crm", "source_id": "1"}], "as_of": "2026-01-01T00:00:00"}, "as_of"),
        ({"keys": [{"system": "crm", "source_id": "1"}], "extra": 1}, "extra"),
    ],
)
def test_an_invalid_batch_is_422_with_the_field_at_fault(
    client: Client, reader: dict[str, str], small_hub: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = client.post("/v1/crosswalk:lookup", json=body, headers=reader)

    problem = assert_problem(response, 422, "request.invalid")
    assert any(error["field"].startswith(field) for error in problem["errors"]), problem


@pytest.mark.parametrize("content", [b"{not json", b"", b"[1, 2", "\u00e9".encode("latin-1")])
def test_a_malformed_body_is_a_4xx_problem(
    client: Client, reader: dict[str, str], small_hub: dict[str, str], content: bytes
) -> None:
    response = client.post(
        "/v1/crosswalk:lookup", content=content, headers={**reader, "Content-Type": "application/json"}
    )

    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_body_nested_too_deep_is_malformed_not_a_failure(
    client: Client, reader: dict[str, str], small_hub: dict[str, str]
) -> None:
    content = b"[" * 100_000 + b"]" * 100_000

    response = client.post(
        "/v1/crosswalk:lookup", content=content, headers={**reader, "Content-Type": "application/json"}
    )

    assert_problem(response, 400, "request.malformed")
