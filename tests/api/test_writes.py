"""Write paths: upsert with real-time matching, retire, idempotency, auth and validation, the dry run."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import Engine, func, select

from mdm.bulk import MatchOutcome
from mdm.storage.tables import (
    Base,
    CrosswalkEntry,
    Customer,
    GoldenRecord,
    OutboxEvent,
    ReviewItem,
    SourceRecord,
    SourceRecordVersion,
    StandardisedRecord,
)
from tests.api.conftest import assert_problem
from tests.mdm.test_bulk import matched  # noqa: F401  (fixture)

Client = TestClient[Any]

ACME = {
    "kind": "organisation", "name": "Quillon Harbour Instruments GmbH", "tax_id": "DE811907980",
    "email": "info@quillon-harbour.example", "website": "quillon-harbour.example", "phone": "+49 30 1234567",
    "address_line1": "Hafenstrasse 12", "postal_code": "10115", "city": "Berlin", "country": "DE",
}  # fmt: skip
CRM_ROW = {"AccountId": "A-1", "RecordType": "Business", "AccountName": "Quillon Harbour Instruments GmbH",
           "VAT": "DE811907980", "BillingCity": "Berlin", "BillingCountry": "Germany"}  # fmt: skip


def headers(keys: dict[str, str], role: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys[role]}", **extra}


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }


def events_of(engine: Engine, canonical_id: str) -> list[tuple[str, dict[str, Any]]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(OutboxEvent.event_type, OutboxEvent.payload)
            .where(OutboxEvent.canonical_id == canonical_id)
            .order_by(OutboxEvent.id)
        ).all()
    return [(row.event_type, row.payload) for row in rows]


def put(client: Client, keys: dict[str, str], path: str, body: dict[str, Any], **extra: str) -> Any:
    return client.put(f"/v1/sources/{path}", json=body, headers=headers(keys, "admin", **extra))


# Validation, auth: no model is needed, since both are checked before anything is matched.


@pytest.mark.parametrize(
    ("role", "system", "status"), [("writer", "erp", 403), ("reader", "crm", 403), ("steward", "crm", 403)]
)
def test_only_the_systems_writer_or_an_admin_may_write(
    client: Client, keys: dict[str, str], role: str, system: str, status: int
) -> None:
    path = f"/v1/sources/{system}/records/X-1?shape=canonical"
    assert_problem(client.put(path, json=ACME, headers=headers(keys, role)), status, "auth.forbidden")
    assert_problem(client.delete(f"/v1/sources/{system}/records/X-1", headers=headers(keys, role)), status,
                   "auth.forbidden")  # fmt: skip
    assert_problem(client.put(path, json=ACME), 401, "auth.unauthenticated")


def test_bad_bodies_are_422_naming_every_field(client: Client, keys: dict[str, str]) -> None:
    bad = {"kind": "planet", "date_of_birth": "31/02/1990", "colour": "red", "source_id": "other"}
    body = assert_problem(put(client, keys, "crm/records/X-1?shape=canonical", bad), 422, "record.invalid")
    assert {error["field"] for error in body["errors"]} >= {"kind", "date_of_birth", "colour", "source_id"}

    crm = dict(CRM_ROW, RecordType="Spaceship", PersonBirthdate="1990-13-45")
    body = assert_problem(put(client, keys, "crm/records/A-1", crm), 422, "record.invalid")
    assert {error["field"] for error in body["errors"]} >= {"RecordType", "PersonBirthdate"}

    assert_problem(put(client, keys, "nowhere/records/X-1", CRM_ROW), 404, "system.unknown")
    response = client.put("/v1/sources/crm/records/A-1", content=b"{not json", headers=headers(keys, "admin"))
    assert 400 <= response.status_code < 500


# Writes on a hub with active models.


def test_writer_of_its_own_system_upserts_in_its_shape(
    hub: Engine, client: Client, keys: dict[str, str]
) -> None:
    response = client.put("/v1/sources/crm/records/A-1", json=CRM_ROW, headers=headers(keys, "writer"))

    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["record"], answer["decision"], answer["reason"]) == ("created", "new", "no_match")
    assert [event for event, _ in events_of(hub, answer["canonical_id"])] == [
        "customer.created", "customer.golden_record_changed",
    ]  # fmt: skip


def test_unchanged_put_changes_nothing_and_a_copy_links(
    hub: Engine, client: Client, keys: dict[str, str]
) -> None:
    first = put(client, keys, "crm/records/1?shape=canonical", ACME).json()
    before = row_counts(hub)

    again = put(client, keys, "crm/records/1?shape=canonical", ACME).json()

    assert row_counts(hub) == before
    assert (again["record"], again["decision"], again["canonical_id"]) == (
        "unchanged",
        "none",
        first["canonical_id"],
    )

    copy = put(client, keys, "erp/records/9?shape=canonical", ACME).json()
    assert (copy["decision"], copy["reason"], copy["canonical_id"]) == (
        "link",
        "auto_merge",
        first["canonical_id"],
    )
    assert copy["match_probability"] > 0.99 and copy["best"]["source_key"] == "crm/1"
    assert copy["candidates_scored"] == 1
    assert {field["comparison"] for field in copy["best"]["score"]["fields"]} >= {"name", "tax_id"}
    linked = [
        body for event, body in events_of(hub, first["canonical_id"]) if event == "customer.record_linked"
    ]
    assert linked == [{"canonical_id": first["canonical_id"], "source_key": "erp/9", "from": None}]


def test_a_record_sent_back_to_its_earlier_content_becomes_that_content_again(
    hub: Engine, client: Client, keys: dict[str, str]
) -> None:
    moved = dict(ACME, city="Hamburg", postal_code="20457")
    statuses = [put(client, keys, "crm/records/1?shape=canonical", body).json()["record"]
                for body in (ACME, moved, ACME)]  # fmt: skip

    assert statuses == ["created", "changed", "changed"]
    with hub.connect() as connection:
        city = connection.execute(
            select(StandardisedRecord.city)
            .join(SourceRecord, SourceRecord.id == StandardisedRecord.record_id)
            .where(SourceRecord.system == "crm", SourceRecord.source_id == "1")
        ).scalar_one()
        versions = connection.execute(select(func.count()).select_from(SourceRecordVersion)).scalar_one()
    assert city == "berlin"
    assert versions == 3


def test_an_older_version_is_stored_but_not_current(
    hub: Engine, client: Client, keys: dict[str, str]
) -> None:
    put(client, keys, "crm/records/1?shape=canonical", dict(ACME, updated_at="2026-03-01T00:00:00Z"))
    older = put(
        client,
        keys,
        "crm/records/1?shape=canonical",
        dict(ACME, city="Hamburg", updated_at="2026-01-01T00:00:00Z"),
    )

    assert older.json()["record"] == "stale"
    with hub.connect() as connection:
        versions = connection.execute(select(func.count()).select_from(SourceRecordVersion)).scalar_one()
        current = connection.execute(select(SourceRecord.current_version)).scalar_one()
    assert (versions, current) == (2, 1)


def test_idempotency_key_replays_or_refuses(hub: Engine, client: Client, keys: dict[str, str]) -> None:
    first = put(client, keys, "crm/records/1?shape=canonical", ACME, **{"Idempotency-Key": "k-1"})
    before = row_counts(hub)

    replay = put(client, keys, "crm/records/1?shape=canonical", ACME, **{"Idempotency-Key": "k-1"})
    other = put(
        client, keys, "crm/records/1?shape=canonical", dict(ACME, city="Bonn"), **{"Idempotency-Key": "k-1"}
    )

    assert replay.status_code == 200 and replay.json() == first.json()
    assert_problem(other, 422, "idempotency.key_reused", field="Idempotency-Key")
    assert row_counts(hub) == before


def test_delete_retires_and_recomputes_without_splitting(
    hub: Engine, client: Client, keys: dict[str, str]
) -> None:
    canonical_id = put(client, keys, "crm/records/1?shape=canonical", ACME).json()["canonical_id"]
    put(client, keys, "erp/records/9?shape=canonical", dict(ACME, email="sales@quillon-harbour.example"))
    with hub.connect() as connection:
        golden_versions = connection.execute(
            select(func.count()).select_from(GoldenRecord).where(GoldenRecord.canonical_id == canonical_id)
        ).scalar_one()

    gone = client.delete("/v1/sources/erp/records/9", headers=headers(keys, "admin")).json()

    assert gone == {"system": "erp", "source_id": "9", "retired": True, "canonical_id": canonical_id,
                    "customer_retired": False}  # fmt: skip
    with hub.connect() as connection:
        assert (
            connection.execute(
                select(func.count())
                .select_from(GoldenRecord)
                .where(GoldenRecord.canonical_id == canonical_id)
            ).scalar_one()
            == golden_versions + 1
        )
    last = client.delete("/v1/sources/crm/records/1", headers=headers(keys, "admin")).json()
    assert last["customer_retired"] is True
    with hub.connect() as connection:
        status = connection.execute(
            select(Customer.status).where(Customer.canonical_id == canonical_id)
        ).scalar_one()
        live = connection.execute(select(CrosswalkEntry.id).where(CrosswalkEntry.valid_to.is_(None))).all()
    assert (status, live) == ("retired", [])
    kinds = [event for event, _ in events_of(hub, canonical_id)]
    assert kinds.count("customer.record_unlinked") == 2 and kinds[-1] == "customer.retired"
    assert (
        client.delete("/v1/sources/crm/records/1", headers=headers(keys, "admin")).json()["retired"] is False
    )
    assert_problem(
        client.delete("/v1/sources/crm/records/404", headers=headers(keys, "admin")), 404, "not_found"
    )


def test_match_dry_run_ranks_and_writes_nothing(hub: Engine, client: Client, keys: dict[str, str]) -> None:
    canonical_id = put(client, keys, "crm/records/1?shape=canonical", ACME).json()["canonical_id"]
    before = row_counts(hub)

    response = client.post("/v1/match", json=dict(ACME, city="Berlin-Mitte"), headers=headers(keys, "reader"))

    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["decision"], answer["canonical_id"]) == ("link", canonical_id)
    assert answer["candidates"][0]["score"]["match_probability"] > 0.9
    assert answer["candidates"][0]["score"]["fields"]
    assert row_counts(hub) == before
    in_crm = client.post("/v1/match?system=crm", json=CRM_ROW, headers=headers(keys, "reader")).json()
    assert in_crm["candidates"][0]["canonical_id"] == canonical_id
    assert row_counts(hub) == before


# Writes on a hub built by the real bulk job from the generated sample.


def _shared_organisation(engine: Engine) -> dict[str, Any]:
    """A live organisation with a tax id in a customer of several records: its canonical fields."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(CrosswalkEntry.canonical_id, SourceRecordVersion.canonical)
            .join(SourceRecord, SourceRecord.id == CrosswalkEntry.record_id)
            .join(SourceRecordVersion, (SourceRecordVersion.record_id == SourceRecord.id)
                  & (SourceRecordVersion.version == SourceRecord.current_version))
            .join(StandardisedRecord, StandardisedRecord.record_id == SourceRecord.id)
            .where(CrosswalkEntry.valid_to.is_(None), StandardisedRecord.kind == "organisation",
                   StandardisedRecord.tax_id.is_not(None))
            .order_by(SourceRecord.id)
        ).all()  # fmt: skip
    sizes: dict[str, int] = {}
    for row in rows:
        sizes[row.canonical_id] = sizes.get(row.canonical_id, 0) + 1
    row = next(row for row in rows if sizes[row.canonical_id] >= 3)
    fields = {
        name: value for name, value in row.canonical.items() if value is not None and name != "updated_at"
    }
    return {"canonical_id": row.canonical_id, "fields": fields}


@pytest.mark.slow
def test_upserts_on_a_matched_hub(
    hub: Engine,
    matched: MatchOutcome,  # noqa: F811
    client: Client,
    keys: dict[str, str],
) -> None:
    known = _shared_organisation(hub)

    copy = put(client, keys, "crm/records/copy-1?shape=canonical", known["fields"]).json()
    assert (copy["decision"], copy["canonical_id"]) == ("link", known["canonical_id"])
    assert any(body.get("source_key") == "crm/copy-1" for _, body in events_of(hub, known["canonical_id"]))

    stranger = {
        "kind": "organisation",
        "name": "Xylophage Quasar Tooling",
        "country": "IS",
        "tax_id": "IS7651234",
    }
    new = put(client, keys, "crm/records/stranger-1?shape=canonical", stranger).json()
    assert new["decision"] == "new" and new["canonical_id"] != known["canonical_id"]
    assert next(event for event, _ in events_of(hub, new["canonical_id"])) == "customer.created"

    conflict = put(
        client, keys, "crm/records/copy-2?shape=canonical", dict(known["fields"], tax_id="ZZ999999999")
    ).json()
    assert (conflict["decision"], conflict["reason"], conflict["review_opened"]) == (
        "review",
        "chain_guard",
        True,
    )
    assert conflict["canonical_id"] != known["canonical_id"]
    with hub.connect() as connection:
        reasons = (
            connection.execute(select(ReviewItem.reason).where(ReviewItem.job_id.is_(None))).scalars().all()
        )
    assert reasons == ["chain_guard"]

    before = row_counts(hub)
    dry = client.post("/v1/match", json=known["fields"], headers=headers(keys, "reader")).json()
    assert dry["canonical_id"] == known["canonical_id"] and len(dry["candidates"]) >= 2
    assert row_counts(hub) == before

    moved = put(
        client, keys, "crm/records/copy-1?shape=canonical", stranger | {"name": "Xylophage Quasar Tools"}
    )
    assert moved.json()["moved_from"] == known["canonical_id"]
    assert moved.json()["canonical_id"] == new["canonical_id"]


@pytest.mark.parametrize(
    ("change", "field", "fault"),
    [
        ({"tax_id": "x9" * 1_500}, "tax_id", "1,000"),
        ({"name": "Ctrl\u001b[31mRed"}, "name", "U+001B"),
        ({"name": "Acme \u202egnihtemos"}, "name", "U+202E"),
        ({"tax_id": True}, "tax_id", "true or false"),
    ],
)
def test_values_that_cannot_be_stored_are_422_naming_the_field(
    hub: Engine, client: Client, keys: dict[str, str], change: dict[str, Any], field: str, fault: str
) -> None:
    before = row_counts(hub)

    response = put(client, keys, "crm/records/1?shape=canonical", ACME | change)

    body = assert_problem(response, 422, "record.invalid", field)
    assert fault in next(error["detail"] for error in body["errors"] if error["field"] == field)
    assert row_counts(hub) == before


@pytest.mark.parametrize("placeholder", ["0", "000000000", "TRUE", "n/a", "12"])
def test_a_placeholder_tax_id_never_links_two_companies(
    engine: Engine, client: Client, keys: dict[str, str], placeholder: str
) -> None:
    # No model: only identifiers could link these two, and a placeholder is none.
    first = put(
        client,
        keys,
        "crm/records/1?shape=canonical",
        {"kind": "organisation", "name": "Alder Mills", "country": "DE", "tax_id": placeholder},
    ).json()
    other = put(
        client,
        keys,
        "erp/records/2?shape=canonical",
        {"kind": "organisation", "name": "Birch Foods", "country": "DE", "tax_id": placeholder},
    ).json()

    assert (first["decision"], other["decision"]) == ("new", "new")
    assert first["canonical_id"] != other["canonical_id"]


@pytest.mark.parametrize("media_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_record_sent_as_anything_but_json_is_415(
    hub: Engine, client: Client, keys: dict[str, str], media_type: str | None
) -> None:
    sent = {} if media_type is None else {"Content-Type": media_type}
    before = row_counts(hub)

    stored = client.put("/v1/sources/crm/records/1?shape=canonical", content=json.dumps(ACME),
                        headers=headers(keys, "admin", **sent))  # fmt: skip
    dry = client.post("/v1/match", content=json.dumps(ACME), headers=headers(keys, "reader", **sent))

    assert_problem(stored, 415, "request.unsupported_media_type")
    assert_problem(dry, 415, "request.unsupported_media_type")
    assert row_counts(hub) == before


def test_an_empty_body_says_a_body_is_required(hub: Engine, client: Client, keys: dict[str, str]) -> None:
    response = client.put("/v1/sources/crm/records/1?shape=canonical", content=b"",
                          headers=headers(keys, "admin", **{"Content-Type": "application/json"}))  # fmt: skip

    body = assert_problem(response, 422, "request.invalid", "body")
    assert body["errors"][0]["detail"] == "a JSON body is required"
