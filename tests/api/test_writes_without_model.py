"""Writes before any model exists: stored, and placed by exact agreement on the profile's identifiers only."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import Engine, insert, select

from matching.profile import MatchProfile
from matching.training import TrainedModel
from mdm.accuracy import crosswalk_clusters
from mdm.bulk import run_match
from mdm.mappings import SourceMapping
from mdm.models import store_model
from mdm.sample import SampleFiles
from mdm.storage.tables import CrosswalkEntry, Customer, LinkConstraint, SourceRecord, StandardisedRecord
from mdm.storage.types import utc_now
from tests.api.test_writes import ACME, events_of, headers, put, row_counts
from tests.mdm.conftest import load_all

Client = TestClient[Any]

PERSON = {
    "kind": "person", "given_name": "Annika", "family_name": "Lindqvist", "tax_id": "19800401-1234",
    "date_of_birth": "1980-04-01", "email": "annika@example.org", "phone": "+46 8 123 4567", "country": "SE",
}  # fmt: skip
OTHER = {"kind": "organisation", "name": "Borealis Freight AB", "tax_id": "SE556677889901", "country": "SE"}


def live_entry(engine: Engine, key: str) -> tuple[str, int | None]:
    system, _, source_id = key.partition("/")
    with engine.connect() as connection:
        row = connection.execute(
            select(CrosswalkEntry.canonical_id, CrosswalkEntry.model_id).where(
                CrosswalkEntry.system == system, CrosswalkEntry.source_id == source_id,
                CrosswalkEntry.valid_to.is_(None),
            )
        ).one()  # fmt: skip
    return row.canonical_id, row.model_id


def test_a_record_is_stored_standardised_and_a_new_customer_and_the_answer_says_no_model(
    engine: Engine, client: Client, keys: dict[str, str]
) -> None:
    response = put(client, keys, "crm/records/1?shape=canonical", ACME)

    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["record"], answer["decision"], answer["reason"]) == ("created", "new", "no_model")
    assert (answer["model_id"], answer["matched_by"], answer["best"]) == (None, "exact_identifiers", None)
    assert "no organisation model is active" in answer["note"] and "tax_id" in answer["note"]
    assert live_entry(engine, "crm/1") == (answer["canonical_id"], None)
    with engine.connect() as connection:
        assert connection.execute(select(StandardisedRecord.tax_id)).scalar_one() == "811907980"
    assert [event for event, _ in events_of(engine, answer["canonical_id"])] == [
        "customer.created", "customer.golden_record_changed",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("copy", "decision", "reason"),
    [
        ({"name": "QHI Berlin", "email": None, "phone": None}, "link", "exact_identifier"),
        # The country is unknown on one side: it cannot disagree.
        ({"tax_id": "811907980", "country": None, "city": None}, "link", "exact_identifier"),
        # The same number in another country is another company's.
        ({"tax_id": "811907980", "country": "AT", "city": "Wien"}, "new", "no_model"),
        ({"tax_id": "DE811907981"}, "new", "no_model"),
        # Name, e-mail, phone, address and web site all agree, but none of them proves identity.
        ({"tax_id": None}, "new", "no_model"),
    ],
)
def test_only_an_identifier_links_and_in_the_same_country_where_both_know_it(
    engine: Engine, client: Client, keys: dict[str, str], copy: dict[str, Any], decision: str, reason: str
) -> None:
    first = put(client, keys, "crm/records/1?shape=canonical", ACME).json()

    answer = put(client, keys, "erp/records/9?shape=canonical", ACME | copy).json()

    assert (answer["decision"], answer["reason"], answer["model_id"]) == (decision, reason, None)
    assert (answer["canonical_id"] == first["canonical_id"]) is (decision == "link")
    if decision == "link":
        assert answer["identifier"] == {
            "source_key": "crm/1", "canonical_id": first["canonical_id"], "fields": ["tax_id"],
        }  # fmt: skip
        linked = [body for event, body in events_of(engine, first["canonical_id"])
                  if event == "customer.record_linked"]  # fmt: skip
        assert linked == [{"canonical_id": first["canonical_id"], "source_key": "erp/9", "from": None}]
    else:
        assert answer["identifier"] is None


@pytest.mark.parametrize(
    ("copy", "decision", "reason"),
    [
        ({"email": "a.lindqvist@example.com", "phone": None}, "link", "exact_identifier"),
        # Shared contact details are household evidence, not proof.
        ({"given_name": "Annika", "tax_id": None}, "new", "no_model"),
        # A national id with another birth date is a typo or a borrowed number.
        ({"date_of_birth": "1981-04-01"}, "new", "no_model"),
        # The identifier agrees, but the given name conflicts: a strong identifier forbids the join.
        ({"given_name": "Zoltan"}, "new", "chain_guard"),
    ],
)
def test_a_person_needs_national_id_and_birth_date_and_no_strong_conflict(
    engine: Engine, client: Client, keys: dict[str, str], copy: dict[str, Any], decision: str, reason: str
) -> None:
    first = put(client, keys, "crm/records/p1?shape=canonical", PERSON).json()

    answer = put(client, keys, "erp/records/p9?shape=canonical", PERSON | copy).json()

    assert (answer["decision"], answer["reason"]) == (decision, reason)
    assert (answer["canonical_id"] == first["canonical_id"]) is (decision == "link")
    assert "no person model is active" in answer["note"]


def test_records_of_two_customers_agreeing_link_to_neither(
    engine: Engine, client: Client, keys: dict[str, str]
) -> None:
    german = put(client, keys, "crm/records/1?shape=canonical", ACME).json()
    austrian = put(client, keys, "crm/records/2?shape=canonical",
                   ACME | {"tax_id": "811907980", "country": "AT", "city": "Wien"}).json()  # fmt: skip
    assert german["canonical_id"] != austrian["canonical_id"]

    unknown = put(client, keys, "erp/records/9?shape=canonical", {"kind": "organisation", "name": "QHI",
                                                                  "tax_id": "811907980"}).json()  # fmt: skip

    assert (unknown["decision"], unknown["reason"]) == ("new", "ambiguous_identifier")
    assert unknown["canonical_id"] not in (german["canonical_id"], austrian["canonical_id"])


def test_a_changed_record_stays_with_the_other_members_of_its_customer(
    engine: Engine, client: Client, keys: dict[str, str]
) -> None:
    first = put(client, keys, "crm/records/1?shape=canonical", ACME).json()
    put(client, keys, "erp/records/9?shape=canonical", ACME)
    put(client, keys, "billing/records/5?shape=canonical", OTHER)

    changed = put(client, keys, "erp/records/9?shape=canonical", ACME | {"tax_id": OTHER["tax_id"],
                                                                         "country": "SE"}).json()  # fmt: skip

    assert (changed["record"], changed["decision"], changed["reason"]) == ("changed", "stay", "no_model")
    assert changed["canonical_id"] == first["canonical_id"] and changed["moved_from"] is None
    assert live_entry(engine, "erp/9")[0] == first["canonical_id"]


def _cannot_link(engine: Engine, left: str, right: str) -> None:
    with engine.begin() as connection:
        ids = dict(
            connection.execute(
                select(SourceRecord.system + "/" + SourceRecord.source_id, SourceRecord.id)
            ).all()
        )
        connection.execute(
            insert(LinkConstraint).values(
                left_record_id=ids[left], right_record_id=ids[right], constraint="cannot_link",
                created_at=utc_now(), created_by="steward:1",
            )
        )  # fmt: skip


@pytest.mark.parametrize("separated", [False, True])
def test_a_customers_only_record_changing_to_a_known_identifier_merges_unless_a_steward_said_no(
    engine: Engine, client: Client, keys: dict[str, str], separated: bool
) -> None:
    acme = put(client, keys, "crm/records/1?shape=canonical", ACME).json()["canonical_id"]
    other = put(client, keys, "billing/records/5?shape=canonical", OTHER).json()["canonical_id"]
    if separated:
        _cannot_link(engine, "billing/5", "crm/1")

    changed = put(client, keys, "billing/records/5?shape=canonical", ACME | {"name": "QHI"}).json()

    with engine.connect() as connection:
        status, merged_into = connection.execute(
            select(Customer.status, Customer.merged_into).where(Customer.canonical_id == other)
        ).one()
    if separated:
        assert (changed["decision"], changed["reason"], changed["canonical_id"]) == (
            "stay",
            "cannot_link",
            other,
        )
        assert (status, merged_into) == ("live", None)
    else:
        assert (changed["decision"], changed["reason"]) == ("link", "exact_identifier")
        assert (changed["canonical_id"], changed["moved_from"]) == (acme, other)
        assert (status, merged_into) == ("merged", acme)
        assert "customer.merged" in [event for event, _ in events_of(engine, other)]


def test_the_dry_run_answers_identifier_agreements_without_probabilities(
    engine: Engine, client: Client, keys: dict[str, str]
) -> None:
    canonical_id = put(client, keys, "crm/records/1?shape=canonical", ACME).json()["canonical_id"]
    before = row_counts(engine)

    found = client.post("/v1/match", json=ACME | {"name": "QHI"}, headers=headers(keys, "reader"))
    stranger = client.post("/v1/match", json=OTHER, headers=headers(keys, "reader")).json()

    assert found.status_code == 200, found.text
    assert found.json() == {
        "decision": "link", "reason": "exact_identifier", "canonical_id": canonical_id, "model_id": None,
        "candidates": [], "matched_by": "exact_identifiers",
        "identifiers": [{"source_key": "crm/1", "canonical_id": canonical_id, "fields": ["tax_id"]}],
    }  # fmt: skip
    assert (stranger["decision"], stranger["reason"], stranger["identifiers"]) == ("new", "no_model", [])
    assert row_counts(engine) == before


@pytest.mark.slow
def test_the_bulk_job_after_writes_without_a_model_keeps_every_record_and_the_ids(
    engine: Engine,
    client: Client,
    keys: dict[str, str],
    sample_files: SampleFiles,
    sample_mappings: dict[str, SourceMapping],
    profile: MatchProfile,
    trained_models: dict[str, TrainedModel],
) -> None:
    acme = put(client, keys, "crm/records/1?shape=canonical", ACME).json()["canonical_id"]
    assert put(client, keys, "erp/records/9?shape=canonical", ACME).json()["canonical_id"] == acme
    other = put(client, keys, "billing/records/5?shape=canonical", OTHER).json()["canonical_id"]
    person = put(client, keys, "crm/records/p1?shape=canonical", PERSON).json()["canonical_id"]
    assert put(client, keys, "erp/records/p9?shape=canonical", PERSON | {"phone": None}).json()[
        "canonical_id"
    ] == (person)
    load_all(engine, sample_files, sample_mappings)
    # `mdm match` would train these from the same sample; the session's copies save the time.
    with engine.begin() as connection:
        for model in trained_models.values():
            store_model(connection, model, activate=True)

    run_match(engine, profile, priorities={system: m.priority for system, m in sample_mappings.items()})

    after = crosswalk_clusters(engine)
    with engine.connect() as connection:
        live = {
            f"{system}/{source_id}"
            for system, source_id in connection.execute(
                select(SourceRecord.system, SourceRecord.source_id).where(SourceRecord.retired_at.is_(None))
            )
        }
        open_entries = connection.execute(
            select(CrosswalkEntry.record_id).where(CrosswalkEntry.valid_to.is_(None))
        ).scalars().all()  # fmt: skip
    assert set(after) == live and len(open_entries) == len(live)
    assert after["crm/1"] == after["erp/9"] == acme
    assert after["billing/5"] == other
    assert after["crm/p1"] == after["erp/p9"] == person
    # Later writes are scored by the model that the job activated.
    again = put(client, keys, "support/records/7?shape=canonical", ACME).json()
    assert (again["decision"], again["matched_by"], again["canonical_id"]) == ("link", "model", acme)
    assert again["model_id"] is not None and again["note"] is None
