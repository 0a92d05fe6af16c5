"""Changed records on a hub with models (stay, drift, move out, merge), and retired records sent again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import Engine, insert, select

from matching.fields import CANONICAL_FIELDS
from matching.profile import load_profile
from mdm.accuracy import crosswalk_clusters
from mdm.bulk import run_match
from mdm.intake import canonical_mapping
from mdm.loading import load_file
from mdm.mappings import read_mappings
from mdm.sample import sample_mappings_dir
from mdm.storage.tables import (
    CrosswalkEntry,
    Customer,
    IdentityChange,
    LinkConstraint,
    ReviewItem,
    SourceRecord,
)
from mdm.storage.types import utc_now
from tests.api.test_writes import ACME, events_of, headers, put

Client = TestClient[Any]

BOREALIS = {
    "kind": "organisation", "name": "Borealis Freight Lines AB", "tax_id": "SE556677889901",
    "email": "info@borealis-freight.example", "phone": "+46 8 765 4321", "address_line1": "Hamngatan 4",
    "postal_code": "11147", "city": "Stockholm", "country": "SE",
}  # fmt: skip
STRANGER = {
    "kind": "organisation",
    "name": "Xylophage Quasar Tooling",
    "country": "IS",
    "tax_id": "IS7651234",
}


def changes(engine: Engine, key: str | None = None) -> list[tuple[str, str, str | None]]:
    """The identity-change log as (change, canonical id, other id), oldest first, of one key or all."""
    query = select(IdentityChange.change, IdentityChange.canonical_id, IdentityChange.other_id)
    if key is not None:
        system, _, source_id = key.partition("/")
        query = query.where(IdentityChange.system == system, IdentityChange.source_id == source_id)
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query.order_by(IdentityChange.id))]  # type: ignore[misc]


def open_reviews(engine: Engine) -> list[tuple[str, set[str]]]:
    """Open review items as (reason, the two source keys)."""
    with engine.connect() as connection:
        keys = {
            record_id: f"{system}/{source_id}"
            for record_id, system, source_id in connection.execute(
                select(SourceRecord.id, SourceRecord.system, SourceRecord.source_id)
            )
        }
        rows = connection.execute(
            select(ReviewItem.reason, ReviewItem.left_record_id, ReviewItem.right_record_id).where(
                ReviewItem.status == "open"
            )
        ).all()
    return [(row.reason, {keys[row.left_record_id], keys[row.right_record_id]}) for row in rows]


def status_of(engine: Engine, canonical_id: str) -> tuple[str, str | None]:
    with engine.connect() as connection:
        row = connection.execute(
            select(Customer.status, Customer.merged_into).where(Customer.canonical_id == canonical_id)
        ).one()
    return row.status, row.merged_into


@pytest.fixture
def acme_twice(hub: Engine, client: Client, keys: dict[str, str]) -> str:
    """``crm/1`` and its copy ``erp/9`` in one customer, and ``billing/5`` (another firm) alone."""
    acme = put(client, keys, "crm/records/1?shape=canonical", ACME).json()["canonical_id"]
    assert put(client, keys, "erp/records/9?shape=canonical", ACME).json()["canonical_id"] == acme
    put(client, keys, "billing/records/5?shape=canonical", BOREALIS)
    return acme


def test_a_change_that_still_reaches_auto_merge_stays(
    hub: Engine, client: Client, keys: dict[str, str], acme_twice: str
) -> None:
    before = changes(hub)

    answer = put(client, keys, "erp/records/9?shape=canonical", ACME | {"city": "Berlin-Mitte"}).json()

    assert (answer["record"], answer["decision"], answer["reason"]) == ("changed", "stay", "auto_merge")
    assert (answer["canonical_id"], answer["moved_from"]) == (acme_twice, None)
    assert answer["best"]["source_key"] == "crm/1"
    assert changes(hub) == before and open_reviews(hub) == []


def test_a_change_between_the_thresholds_stays_and_opens_a_drift_review(
    hub: Engine, client: Client, keys: dict[str, str], acme_twice: str
) -> None:
    before = changes(hub)
    thin = {"kind": "organisation", "name": ACME["name"], "country": "DE"}

    answer = put(client, keys, "erp/records/9?shape=canonical", thin).json()
    again = put(client, keys, "erp/records/9?shape=canonical", thin | {"name": ACME["name"] + " "}).json()

    assert (answer["decision"], answer["reason"], answer["review_opened"]) == ("review", "drift", True)
    assert answer["canonical_id"] == acme_twice
    assert open_reviews(hub) == [("drift", {"crm/1", "erp/9"})]
    assert changes(hub) == before
    # The same pair is not queued twice.
    assert again["record"] == "unchanged" or again["review_opened"] is False


def test_a_change_below_review_moves_the_record_to_the_customer_it_now_matches(
    hub: Engine, client: Client, keys: dict[str, str], acme_twice: str
) -> None:
    borealis = crosswalk_clusters(hub)["billing/5"]

    answer = put(client, keys, "erp/records/9?shape=canonical", BOREALIS).json()

    assert (answer["decision"], answer["reason"]) == ("link", "auto_merge")
    assert (answer["canonical_id"], answer["moved_from"]) == (borealis, acme_twice)
    assert crosswalk_clusters(hub) == {"crm/1": acme_twice, "erp/9": borealis, "billing/5": borealis}
    assert changes(hub, "erp/9")[-2:] == [
        ("unlinked", acme_twice, borealis),
        ("linked", borealis, acme_twice),
    ]
    assert status_of(hub, acme_twice) == ("live", None)
    assert [body for event, body in events_of(hub, borealis) if event == "customer.record_linked"] == [
        {"canonical_id": borealis, "source_key": "erp/9", "from": acme_twice}
    ]


def test_a_change_below_review_that_matches_nothing_makes_a_new_customer(
    hub: Engine, client: Client, keys: dict[str, str], acme_twice: str
) -> None:
    answer = put(client, keys, "erp/records/9?shape=canonical", STRANGER).json()

    new = answer["canonical_id"]
    assert (answer["decision"], answer["reason"], answer["moved_from"]) == ("new", "no_match", acme_twice)
    assert new not in (acme_twice, crosswalk_clusters(hub)["billing/5"])
    assert crosswalk_clusters(hub)["erp/9"] == new and crosswalk_clusters(hub)["crm/1"] == acme_twice
    assert changes(hub, "erp/9")[-2:] == [("unlinked", acme_twice, new), ("linked", new, acme_twice)]
    assert ("created", new, None) in changes(hub)
    assert next(event for event, _ in events_of(hub, new)) == "customer.created"


def test_a_strong_identifier_conflict_moves_the_record_out_whatever_the_weights(
    hub: Engine, client: Client, keys: dict[str, str], acme_twice: str
) -> None:
    # Name, e-mail, phone and address still agree, far above auto-merge; the tax id now differs.
    answer = put(client, keys, "erp/records/9?shape=canonical", ACME | {"tax_id": "DE918273645"}).json()

    assert (answer["decision"], answer["reason"], answer["review_opened"]) == ("review", "chain_guard", True)
    assert answer["moved_from"] == acme_twice and answer["canonical_id"] != acme_twice
    assert crosswalk_clusters(hub)["erp/9"] == answer["canonical_id"]
    assert open_reviews(hub) == [("chain_guard", {"crm/1", "erp/9"})]


def test_a_customers_only_record_joining_another_customer_merges_it_there(
    hub: Engine, client: Client, keys: dict[str, str], acme_twice: str
) -> None:
    borealis = crosswalk_clusters(hub)["billing/5"]

    answer = put(client, keys, "billing/records/5?shape=canonical", ACME).json()

    assert (answer["decision"], answer["reason"]) == ("link", "auto_merge")
    assert (answer["canonical_id"], answer["moved_from"]) == (acme_twice, borealis)
    assert status_of(hub, borealis) == ("merged", acme_twice)
    assert changes(hub)[-3:] == [
        ("unlinked", borealis, acme_twice),
        ("linked", acme_twice, borealis),
        ("merged", acme_twice, borealis),
    ]
    assert client.get(f"/v1/customers/{borealis}", headers=headers(keys, "reader")).json()[
        "canonical_id"
    ] == (acme_twice)


# A record retired by its system and then sent again.


@pytest.mark.parametrize("with_model", [True, False], ids=["model", "no_model"])
def test_a_record_sent_again_revives_its_emptied_former_customer(
    engine: Engine, client: Client, keys: dict[str, str], request: pytest.FixtureRequest, with_model: bool
) -> None:
    if with_model:
        request.getfixturevalue("hub")
    first = put(client, keys, "crm/records/1?shape=canonical", ACME).json()["canonical_id"]
    client.delete("/v1/sources/crm/records/1", headers=headers(keys, "admin"))
    assert status_of(engine, first) == ("retired", None)
    with engine.connect() as connection:
        retired_at = connection.execute(
            select(IdentityChange.at).where(IdentityChange.change == "retired")
        ).scalar_one()

    again = put(client, keys, "crm/records/1?shape=canonical", ACME | {"city": "Berlin-Mitte"}).json()

    assert (again["record"], again["decision"], again["canonical_id"]) == ("reactivated", "revived", first)
    assert status_of(engine, first) == ("live", None)
    assert crosswalk_clusters(engine) == {"crm/1": first}
    assert [change for change, _, _ in changes(engine)] == [
        "created", "linked", "unlinked", "retired", "reactivated", "linked",
    ]  # fmt: skip
    assert [event for event, _ in events_of(engine, first)][-3:] == [
        "customer.reactivated", "customer.record_linked", "customer.golden_record_changed",
    ]  # fmt: skip
    lookup = client.get("/v1/crosswalk/crm/1", headers=headers(keys, "reader")).json()
    assert lookup["canonical_id"] == first
    # While it was retired, it read as retired.
    then = client.get(f"/v1/customers/{first}", params={"as_of": retired_at.isoformat()},
                      headers=headers(keys, "reader")).json()  # fmt: skip
    assert then["status"] == "retired"


def test_a_record_sent_again_returns_to_its_customer_that_lived_on(
    hub: Engine, client: Client, keys: dict[str, str], acme_twice: str
) -> None:
    client.delete("/v1/sources/crm/records/1", headers=headers(keys, "admin"))

    again = put(client, keys, "crm/records/1?shape=canonical", ACME).json()

    assert (again["record"], again["decision"], again["canonical_id"]) == ("reactivated", "link", acme_twice)


def test_a_record_sent_again_that_matches_another_customer_joins_it_and_its_old_id_stays_retired(
    hub: Engine, client: Client, keys: dict[str, str]
) -> None:
    first = put(client, keys, "crm/records/1?shape=canonical", ACME).json()["canonical_id"]
    client.delete("/v1/sources/crm/records/1", headers=headers(keys, "admin"))
    later = put(client, keys, "erp/records/9?shape=canonical", ACME).json()["canonical_id"]

    again = put(client, keys, "crm/records/1?shape=canonical", ACME).json()

    assert (again["decision"], again["canonical_id"]) == ("link", later)
    assert status_of(hub, first) == ("retired", None)


def _must_link(engine: Engine, left: str, right: str) -> None:
    """A steward's must-link between two stored records (the steward screens come later)."""
    with engine.begin() as connection:
        ids = {
            f"{system}/{source_id}": record_id
            for record_id, system, source_id in connection.execute(
                select(SourceRecord.id, SourceRecord.system, SourceRecord.source_id)
            )
        }
        connection.execute(
            insert(LinkConstraint).values(
                left_record_id=ids[left], right_record_id=ids[right], constraint="must_link",
                created_at=utc_now(), created_by="steward:test",
            )
        )  # fmt: skip


def test_a_stewards_must_link_joins_and_keeps_a_record_whatever_the_scores(
    hub: Engine, client: Client, keys: dict[str, str], acme_twice: str
) -> None:
    apart = put(client, keys, "support/records/7?shape=canonical", STRANGER).json()
    assert apart["decision"] == "new"
    _must_link(hub, "crm/1", "support/7")

    joined = put(client, keys, "support/records/7?shape=canonical", STRANGER | {"city": "Reykjavik"}).json()
    kept = put(client, keys, "support/records/7?shape=canonical", STRANGER | {"city": "Akureyri"}).json()

    assert (joined["decision"], joined["reason"], joined["canonical_id"]) == ("link", "must_link", acme_twice)
    assert joined["moved_from"] == apart["canonical_id"]
    assert (kept["decision"], kept["reason"], kept["canonical_id"]) == ("stay", "must_link", acme_twice)
    live = crosswalk_clusters(hub)
    assert [live[key] for key in ("crm/1", "erp/9", "support/7")] == [acme_twice] * 3


def test_a_record_coming_back_in_a_file_revives_its_emptied_customer_in_the_bulk_job(
    hub: Engine, client: Client, keys: dict[str, str], tmp_path: Path
) -> None:
    first = put(client, keys, "support/records/7?shape=canonical", STRANGER).json()["canonical_id"]
    client.delete("/v1/sources/support/records/7", headers=headers(keys, "admin"))
    mapping = canonical_mapping(read_mappings(sample_mappings_dir())["support"])
    file = tmp_path / "support.jsonl"
    row = dict.fromkeys(CANONICAL_FIELDS) | STRANGER | {"source_id": "7", "city": "Reykjavik"}
    file.write_text(json.dumps(row) + "\n", encoding="utf-8")

    loaded = load_file(hub, file, mapping)
    outcome = run_match(hub, load_profile(None))

    assert loaded.reactivated + loaded.changed == 1
    assert crosswalk_clusters(hub) == {"support/7": first}
    assert status_of(hub, first) == ("live", None)
    assert outcome.plan.revived == [first] and outcome.plan.created == []
    with hub.connect() as connection:
        revival = connection.execute(
            select(IdentityChange.job_id).where(IdentityChange.change == "reactivated")
        ).scalar_one()
    assert revival == outcome.job_id
    assert run_match(hub, load_profile(None)).plan.is_empty


@pytest.mark.parametrize("with_model", [True, False], ids=["model", "no_model"])
def test_a_record_that_changes_kind_never_leaves_a_customer_of_two_kinds(
    engine: Engine, client: Client, keys: dict[str, str], request: pytest.FixtureRequest, with_model: bool
) -> None:
    if with_model:
        request.getfixturevalue("hub")
    pair = put(client, keys, "crm/records/1?shape=canonical", ACME).json()["canonical_id"]
    assert put(client, keys, "erp/records/9?shape=canonical", ACME).json()["canonical_id"] == pair
    alone = put(client, keys, "billing/records/5?shape=canonical", BOREALIS).json()["canonical_id"]
    person = {"kind": "person", "given_name": "Otto", "family_name": "Quillon", "country": "DE"}

    left = put(client, keys, "erp/records/9?shape=canonical", person).json()
    turned = put(client, keys, "billing/records/5?shape=canonical", person | {"given_name": "Ada"}).json()

    assert left["canonical_id"] != pair and left["moved_from"] == pair
    assert turned["canonical_id"] == alone
    with engine.connect() as connection:
        kinds = dict(connection.execute(select(Customer.canonical_id, Customer.kind)).all())
        members = connection.execute(
            select(CrosswalkEntry.canonical_id, SourceRecord.kind)
            .join(SourceRecord, SourceRecord.id == CrosswalkEntry.record_id)
            .where(CrosswalkEntry.valid_to.is_(None))
        ).all()
    assert all(kinds[canonical_id] == kind for canonical_id, kind in members)
    assert (kinds[pair], kinds[left["canonical_id"]], kinds[alone]) == ("organisation", "person", "person")
