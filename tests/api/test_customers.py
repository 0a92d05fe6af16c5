"""Customer reads: golden record with lineage, redirects and splits, source keys, history, search."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from mdm.identity import new_canonical_id
from tests.api.conftest import assert_problem

Client = TestClient[Any]


def walk(client: Client, path: str, headers: dict[str, str], **params: Any) -> list[list[Any]]:
    """Every page of a list, following its cursor to the end."""
    pages: list[list[Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def test_a_customer_answers_with_its_golden_record_lineage_and_keys(
    client: Client, reader: dict[str, str], small_hub: dict[str, str]
) -> None:
    response = client.get(f"/v1/customers/{small_hub['bolt'].lower()}", headers=reader)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["canonical_id"], body["status"], body["kind"]) == (small_hub["bolt"], "live", "organisation")
    assert body["redirected_from"] is None
    lineage = {a["name"]: (a["value"], a["source_key"], a["rule"]) for a in body["golden"]["attributes"]}
    assert lineage["name"] == ("Bolt", "crm/2", "source_priority")
    assert lineage["email"] == ("sales@bolt.example", "crm/4", "most_recent")
    assert [key["source_id"] for key in body["source_keys"]] == ["2", "4"]


def test_a_merged_away_id_answers_with_its_survivor(
    client: Client, reader: dict[str, str], small_hub: dict[str, str]
) -> None:
    body = client.get(f"/v1/customers/{small_hub['merged']}", headers=reader).json()

    assert (body["canonical_id"], body["redirected_from"]) == (small_hub["crane"], small_hub["merged"])
    assert body["status"] == "live"
    assert [(key["system"], key["source_id"]) for key in body["source_keys"]] == [("erp", "1"), ("erp", "2")]


def test_a_split_id_answers_with_its_successors(
    client: Client, reader: dict[str, str], small_hub: dict[str, str]
) -> None:
    body = client.get(f"/v1/customers/{small_hub['split']}", headers=reader).json()

    assert body["status"] == "split"
    assert body["successors"] == sorted([small_hub["acme"], small_hub["bolt"]])
    assert body["source_keys"] == []
    assert body["ended_at"] is not None


def test_as_of_shows_a_split_customer_as_it_was_before_the_split(
    client: Client, reader: dict[str, str], small_hub: dict[str, str]
) -> None:
    ended = datetime.fromisoformat(
        client.get(f"/v1/customers/{small_hub['split']}", headers=reader).json()["ended_at"]
    )
    moment = (ended - timedelta(microseconds=1)).isoformat()

    body = client.get(f"/v1/customers/{small_hub['split']}", params={"as_of": moment}, headers=reader).json()
    merged = client.get(
        f"/v1/customers/{small_hub['merged']}", params={"as_of": moment}, headers=reader
    ).json()

    assert (body["status"], body["ended_at"], body["successors"]) == ("live", None, [])
    assert [key["source_id"] for key in body["source_keys"]] == ["3", "4"]
    assert (merged["canonical_id"], merged["redirected_from"], merged["status"]) == (
        small_hub["merged"],
        None,
        "live",
    )


@pytest.mark.parametrize("suffix", ["", "/crosswalk", "/history"])
def test_a_wrong_check_character_is_422_and_an_unknown_id_404(
    client: Client, reader: dict[str, str], small_hub: dict[str, str], suffix: str
) -> None:
    good = small_hub["acme"]
    wrong = good[:-1] + ("0" if good[-1] != "0" else "1")
    unknown = new_canonical_id()

    assert_problem(client.get(f"/v1/customers/{wrong}{suffix}", headers=reader), 422, "canonical_id.invalid")
    assert_problem(client.get(f"/v1/customers/{unknown}{suffix}", headers=reader), 404, "not_found")


def test_a_customers_crosswalk_pages_without_repeats_or_gaps(
    client: Client, reader: dict[str, str], small_hub: dict[str, str]
) -> None:
    pages = walk(client, f"/v1/customers/{small_hub['merged']}/crosswalk", reader, limit=1)

    assert [[key["source_id"] for key in page] for page in pages] == [["1"], ["2"]]


def test_a_cursor_from_another_list_or_damaged_is_422(
    client: Client, reader: dict[str, str], small_hub: dict[str, str]
) -> None:
    first = client.get(
        f"/v1/customers/{small_hub['crane']}/crosswalk", params={"limit": 1}, headers=reader
    ).json()
    path = f"/v1/customers/{small_hub['bolt']}/crosswalk"

    for cursor in (first["next_cursor"], "not-a-cursor", "e30"):
        response = client.get(path, params={"cursor": cursor}, headers=reader)
        assert_problem(response, 422, "request.invalid", "cursor")


def test_history_lists_identity_changes_newest_first_and_pages(
    client: Client, reader: dict[str, str], small_hub: dict[str, str]
) -> None:
    path = f"/v1/customers/{small_hub['split']}/history"
    whole = client.get(path, headers=reader).json()["items"]
    pages = walk(client, path, reader, limit=1)

    assert whole[0]["change"] == "split"
    assert whole[-1]["change"] == "created"
    assert [change["id"] for change in whole] == sorted((change["id"] for change in whole), reverse=True)
    assert [page[0]["id"] for page in pages] == [change["id"] for change in whole]
    assert all(len(page) == 1 for page in pages)


def test_a_merged_away_ids_history_includes_its_merge(
    client: Client, reader: dict[str, str], small_hub: dict[str, str]
) -> None:
    items = client.get(f"/v1/customers/{small_hub['merged']}/history", headers=reader).json()["items"]

    merge = next(change for change in items if change["change"] == "merged")
    assert (merge["canonical_id"], merge["other_id"]) == (small_hub["crane"], small_hub["merged"])


@pytest.mark.parametrize(
    ("query", "role", "fields"),
    [
        ("ACME GmbH", "acme", ["name"]),
        ("acme", "acme", ["name"]),
        ("SALES@bolt.example", "bolt", ["email"]),
        ("crane.example", "crane", ["domain"]),
    ],
)
def test_search_finds_customers_on_standardised_fields(
    client: Client,
    reader: dict[str, str],
    small_hub: dict[str, str],
    query: str,
    role: str,
    fields: list[str],
) -> None:
    response = client.get("/v1/customers", params={"q": query}, headers=reader)

    assert response.status_code == 200, response.text
    hits = response.json()["items"]
    assert [(hit["canonical_id"], hit["matched_on"]) for hit in hits] == [(small_hub[role], fields)]


def test_search_without_a_query_or_with_nothing_found(
    client: Client, reader: dict[str, str], small_hub: dict[str, str]
) -> None:
    assert_problem(client.get("/v1/customers", headers=reader), 422, "request.invalid", "q")
    assert client.get("/v1/customers", params={"q": "nobody at all"}, headers=reader).json() == {
        "items": [],
        "next_cursor": None,
    }
