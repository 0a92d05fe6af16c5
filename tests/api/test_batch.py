"""Batch upserts: JSON Lines in, one result per line out; a bad line fails alone, each line its own write."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import Engine, func, select

from matching.training import TrainedModel
from mdm.errors import DatabaseUnavailableError
from mdm.golden import refresh_customers
from mdm.idempotency import ABANDONED_AFTER, IN_PROGRESS, remember, request_digest
from mdm.keys import digest
from mdm.models import store_model
from mdm.storage.tables import ApiKey, CrosswalkEntry, SourceRecord, SourceRecordVersion, StandardisedRecord
from mdm.storage.types import utc_now
from tests.api.conftest import assert_problem
from tests.api.test_writes import ACME, CRM_ROW, headers, row_counts

Client = TestClient[Any]
JSONL = "application/jsonl"


def body_of(*lines: dict[str, Any] | str) -> str:
    """JSON Lines text: objects are encoded, strings go as they are; with a trailing newline."""
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)


def post_batch(
    client: Client, keys: dict[str, str], path: str, body: str, *, role: str = "admin", **extra: str
) -> Any:
    sent = {"Content-Type": JSONL, **extra}
    return client.post(f"/v1/sources/{path}", content=body.encode(), headers=headers(keys, role, **sent))


def live_customers(engine: Engine, system: str) -> dict[str, str]:
    """Each live source id of a system with its customer, read from the crosswalk."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(CrosswalkEntry.source_id, CrosswalkEntry.canonical_id).where(
                CrosswalkEntry.system == system, CrosswalkEntry.valid_to.is_(None)
            )
        ).all()
    return {row.source_id: row.canonical_id for row in rows}


def stored_ids(engine: Engine, system: str) -> set[str]:
    with engine.connect() as connection:
        found = connection.execute(select(SourceRecord.source_id).where(SourceRecord.system == system))
        return set(found.scalars())


def by_line(answer: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {result["line"]: result for result in answer["results"]}


# Whole-request checks: no model is needed, since nothing is matched before them.


def test_only_the_systems_writer_or_an_admin_may_send_a_batch(client: Client, keys: dict[str, str]) -> None:
    body = body_of(dict(ACME, source_id="X-1"))

    for role, system in [("writer", "erp"), ("reader", "crm"), ("steward", "crm")]:
        response = post_batch(client, keys, f"{system}/records:batch?shape=canonical", body, role=role)
        assert_problem(response, 403, "auth.forbidden")
    anonymous = client.post("/v1/sources/crm/records:batch", content=body, headers={"Content-Type": JSONL})
    assert_problem(anonymous, 401, "auth.unauthenticated")
    assert_problem(post_batch(client, keys, "nowhere/records:batch", body), 404, "system.unknown")


def test_a_batch_must_be_json_lines_holding_records(
    engine: Engine, client: Client, keys: dict[str, str]
) -> None:
    json_body = {"Authorization": f"Bearer {keys['admin']}", "Content-Type": "application/json"}
    wrong_type = client.post("/v1/sources/crm/records:batch", content=b"{}", headers=json_body)
    assert_problem(wrong_type, 415, "request.unsupported_media_type")

    assert_problem(post_batch(client, keys, "crm/records:batch", ""), 422, "request.invalid", field="body")
    assert_problem(
        post_batch(client, keys, "crm/records:batch", "\n  \n\n"), 422, "request.invalid", field="body"
    )
    assert stored_ids(engine, "crm") == set()


def test_more_than_a_thousand_records_are_refused_whole(
    engine: Engine, client: Client, keys: dict[str, str]
) -> None:
    body = body_of(
        *({"source_id": f"B-{number}", "kind": "organisation", "name": "x"} for number in range(1_001))
    )

    response = post_batch(client, keys, "crm/records:batch?shape=canonical", body)

    problem = assert_problem(response, 413, "request.too_large", field="body")
    assert "1,001" in problem["detail"]
    assert stored_ids(engine, "crm") == set()


# Batches on a hub with active models.


def test_a_mixed_batch_writes_the_good_lines_and_reports_the_bad_by_line(
    hub: Engine, client: Client, keys: dict[str, str]
) -> None:
    bad_field = dict(CRM_ROW, AccountId="A-2", RecordType="Spaceship")
    no_id = {name: value for name, value in CRM_ROW.items() if name != "AccountId"}
    body = body_of(CRM_ROW, "{not json", "[1, 2]", bad_field, no_id, "", dict(CRM_ROW, AccountId="A-7"))

    response = post_batch(client, keys, "crm/records:batch", body, role="writer")

    assert response.status_code == 200, response.text
    answer = response.json()
    results = by_line(answer)
    assert [result["line"] for result in answer["results"]] == [1, 2, 3, 4, 5, 7]
    assert (answer["records"], answer["ok"], answer["failed"]) == (6, 2, 4)
    assert answer["decisions"] == {"new": 1, "link": 1} and answer["changes"] == {"created": 2}

    first, copy = results[1]["outcome"], results[7]["outcome"]
    assert (first["record"], first["decision"]) == ("created", "new")
    assert (copy["decision"], copy["canonical_id"]) == ("link", first["canonical_id"])
    assert live_customers(hub, "crm") == {"A-1": first["canonical_id"], "A-7": first["canonical_id"]}
    assert stored_ids(hub, "crm") == {"A-1", "A-7"}

    assert (results[2]["problem"]["status"], results[2]["problem"]["code"]) == (400, "request.malformed")
    assert results[2]["problem"]["detail"].startswith("line 2 is not valid JSON")
    assert (results[3]["problem"]["status"], results[3]["problem"]["code"]) == (422, "request.invalid")
    assert results[3]["problem"]["errors"][0]["field"] == "body"
    assert "source_id" not in results[2] and "outcome" not in results[2]

    assert results[4]["source_id"] == "A-2"
    assert results[4]["problem"]["code"] == "record.invalid"
    assert "RecordType" in {error["field"] for error in results[4]["problem"]["errors"]}
    alone = client.put("/v1/sources/crm/records/A-2", json=bad_field, headers=headers(keys, "writer")).json()
    assert {name: alone[name] for name in ("status", "code", "detail", "errors")} == {
        name: results[4]["problem"][name] for name in ("status", "code", "detail", "errors")
    }

    assert "source_id" not in results[5]
    assert results[5]["problem"]["code"] == "record.invalid"
    assert "AccountId" in {error["field"] for error in results[5]["problem"]["errors"]}


def test_canonical_lines_name_their_source_id_and_apply_in_order(
    hub: Engine, client: Client, keys: dict[str, str]
) -> None:
    acme = dict(ACME, source_id="9")
    numbered = {"source_id": 12, "kind": "organisation", "name": "Rennick Vale Cooperative"}
    no_id = {"kind": "organisation", "name": "Nameless Holdings"}
    body = body_of(acme, dict(acme, city="Bonn"), numbered, no_id, dict(acme, city="Hamburg"))

    answer = post_batch(client, keys, "erp/records:batch?shape=canonical", body).json()

    results = by_line(answer)
    changes = [results[line]["outcome"]["record"] for line in (1, 2, 3, 5)]
    assert changes == ["created", "changed", "created", "changed"]
    assert results[3]["source_id"] == "12"
    assert "source_id" in {error["field"] for error in results[4]["problem"]["errors"]}
    assert set(live_customers(hub, "erp")) == {"9", "12"}
    with hub.connect() as connection:
        versions = connection.execute(
            select(func.count()).select_from(SourceRecordVersion).join(SourceRecord)
            .where(SourceRecord.source_id == "9")
        ).scalar_one()  # fmt: skip
        city = connection.execute(
            select(StandardisedRecord.city).join(SourceRecord).where(SourceRecord.source_id == "9")
        ).scalar_one()
    assert (versions, city) == (3, "hamburg")


@pytest.mark.slow
def test_a_thousand_records_go_through(hub: Engine, client: Client, keys: dict[str, str]) -> None:
    body = body_of(
        *({"source_id": f"B-{number}", "kind": "organisation", "name": f"Batch Customer {number:04d}"}
          for number in range(1_000))
    )  # fmt: skip

    answer = post_batch(client, keys, "billing/records:batch?shape=canonical", body).json()

    assert (answer["records"], answer["ok"], answer["failed"]) == (1_000, 1_000, 0)
    assert [result["line"] for result in answer["results"]] == list(range(1, 1_001))
    customers = live_customers(hub, "billing")
    assert len(customers) == 1_000 and len(set(customers.values())) == 1_000


def test_an_idempotency_key_answers_a_repeated_batch_as_the_first_time(
    hub: Engine, client: Client, keys: dict[str, str]
) -> None:
    body = body_of(dict(ACME, source_id="1"), "{not json")
    key = {"Idempotency-Key": "batch-1"}
    first = post_batch(client, keys, "crm/records:batch?shape=canonical", body, **key)
    before = row_counts(hub)

    replay = post_batch(client, keys, "crm/records:batch?shape=canonical", body, **key)
    other = post_batch(
        client, keys, "crm/records:batch?shape=canonical", body_of(dict(ACME, source_id="2")), **key
    )

    assert first.status_code == replay.status_code == 200
    assert replay.json() == first.json() and first.json()["results"][0]["outcome"]["record"] == "created"
    assert_problem(other, 422, "idempotency.key_reused", field="Idempotency-Key")
    assert row_counts(hub) == before
    assert stored_ids(hub, "crm") == {"1"}


def test_a_line_that_fails_while_writing_leaves_nothing_of_itself(
    engine: Engine,
    client: Client,
    keys: dict[str, str],
    trained_models: dict[str, TrainedModel],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The second line is stored, standardised and placed, and then its golden record cannot be
    # written: everything it did rolls back, and the lines around it stay.
    with engine.begin() as connection:
        for model in trained_models.values():
            store_model(connection, model, activate=True)
    calls: list[int] = []

    def refresh_failing_the_second(*arguments: Any, **options: Any) -> tuple[int, int]:
        calls.append(1)
        if len(calls) == 2:
            raise DatabaseUnavailableError("the database went away")
        return refresh_customers(*arguments, **options)

    monkeypatch.setattr("mdm.upsert.refresh_customers", refresh_failing_the_second)
    person = {"source_id": "P-1", "kind": "person", "given_name": "Ilse", "family_name": "Marwick"}
    body = body_of(dict(ACME, source_id="1"), person, dict(ACME, source_id="2", city="Potsdam"))

    answer = post_batch(client, keys, "crm/records:batch?shape=canonical", body).json()

    failed = by_line(answer)[2]
    assert (failed["source_id"], failed["problem"]["status"], failed["problem"]["code"]) == (
        "P-1", 503, "database.unavailable",
    )  # fmt: skip
    assert (answer["ok"], answer["failed"]) == (2, 1)
    assert stored_ids(engine, "crm") == {"1", "2"}
    assert set(live_customers(engine, "crm")) == {"1", "2"}
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(SourceRecordVersion)).scalar_one() == 2
        assert connection.execute(select(func.count()).select_from(StandardisedRecord)).scalar_one() == 2


BATCH = "crm/records:batch?shape=canonical"
HELD = {"Idempotency-Key": "batch-1"}


def _running(engine: Engine, key: str, idempotency_key: str, body: str, *, started_ago: timedelta) -> None:
    """Mark ``idempotency_key`` as held by a batch of ``body`` that started a while ago and runs still."""
    with engine.begin() as connection:
        key_id = connection.execute(select(ApiKey.id).where(ApiKey.key_sha256 == digest(key))).scalar_one()
        batch_digest = request_digest(
            "POST", "crm", "records:batch", "canonical", hashlib.sha256(body.encode()).hexdigest()
        )
        remember(connection, key_id, idempotency_key, batch_digest, IN_PROGRESS, None,
                 now=utc_now() - started_ago)  # fmt: skip


def test_a_batch_under_a_key_that_a_running_batch_holds_writes_nothing(
    hub: Engine, client: Client, keys: dict[str, str]
) -> None:
    body = body_of(dict(ACME, source_id="1"))
    _running(hub, keys["admin"], "batch-1", body, started_ago=timedelta(seconds=5))
    before = row_counts(hub)

    same = post_batch(
        client, keys, "crm/records:batch?shape=canonical", body, **{"Idempotency-Key": "batch-1"}
    )
    other = post_batch(client, keys, "crm/records:batch?shape=canonical", body_of(dict(ACME, source_id="2")),
                       **{"Idempotency-Key": "batch-1"})  # fmt: skip

    assert_problem(same, 409, "idempotency.in_progress", field="Idempotency-Key")
    assert_problem(other, 422, "idempotency.key_reused", field="Idempotency-Key")
    assert row_counts(hub) == before


def test_a_key_held_by_a_batch_that_died_is_taken_over(
    hub: Engine, client: Client, keys: dict[str, str]
) -> None:
    body = body_of(dict(ACME, source_id="1"))
    _running(hub, keys["admin"], "batch-1", body, started_ago=ABANDONED_AFTER * 2)

    answer = post_batch(
        client, keys, "crm/records:batch?shape=canonical", body, **{"Idempotency-Key": "batch-1"}
    )
    replay = post_batch(
        client, keys, "crm/records:batch?shape=canonical", body, **{"Idempotency-Key": "batch-1"}
    )

    assert answer.status_code == 200 and answer.json()["ok"] == 1
    assert replay.json() == answer.json()
    assert stored_ids(hub, "crm") == {"1"}


@pytest.mark.parametrize("media_type", ["application/x-ndjson", "application/jsonl; charset=utf-8"])
def test_ndjson_is_json_lines_too(hub: Engine, client: Client, keys: dict[str, str], media_type: str) -> None:
    response = post_batch(
        client, keys, "crm/records:batch?shape=canonical", body_of(dict(ACME, source_id="1")),
        **{"Content-Type": media_type},
    )  # fmt: skip

    assert response.status_code == 200, response.text
    assert set(live_customers(hub, "crm")) == {"1"}


def test_the_openapi_document_describes_the_json_lines_body(client: Client) -> None:
    operation = client.get("/schema/openapi.json").json()["paths"]["/v1/sources/{system}/records:batch"][
        "post"
    ]

    assert set(operation["requestBody"]["content"]) == {"application/jsonl", "application/x-ndjson"}
    assert {"200", "401", "403", "404", "413", "422"} <= set(operation["responses"])
    assert {parameter["name"] for parameter in operation["parameters"]} >= {"shape", "Idempotency-Key"}
