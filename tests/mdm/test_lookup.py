"""Looking customers up by canonical id or source key, with lineage, redirects and successors."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine
from typer.testing import Result

from mdm.errors import InvalidCanonicalIdError, NotFoundError
from mdm.identity import new_canonical_id
from mdm.lookup import CustomerLookup, look_up


def find(engine: Engine, text: str) -> CustomerLookup:
    with engine.connect() as connection:
        return look_up(connection, text)


def test_a_customer_shows_its_golden_record_with_lineage_and_crosswalk(
    engine: Engine, small_hub: dict[str, str]
) -> None:
    found = find(engine, small_hub["bolt"])

    customer = found.customer
    assert (found.source_key, found.survivor) == (None, None)
    assert (customer.canonical_id, customer.status, customer.kind) == (
        small_hub["bolt"],
        "live",
        "organisation",
    )
    assert [key.key for key in customer.crosswalk] == ["crm/2", "crm/4"]
    lineage = {a.name: (a.value, a.source_key, a.rule) for a in customer.attributes}
    assert lineage["name"] == ("Bolt", "crm/2", "source_priority")
    assert lineage["email"] == ("sales@bolt.example", "crm/4", "most_recent")
    assert lineage["city"] == ("Hamburg", "crm/2", "most_recent")
    assert "website" not in lineage


def test_survivorship_follows_source_priority_across_systems(
    engine: Engine, small_hub: dict[str, str]
) -> None:
    attributes = {a.name: a for a in find(engine, small_hub["crane"]).customer.attributes}

    assert (attributes["name"].value, attributes["name"].source_key) == ("Crane Ltd", "erp/1")
    assert (attributes["email"].value, attributes["email"].source_key) == ("hello@crane.example", "erp/2")
    assert attributes["email"].source_version == 1


def test_ids_are_read_case_insensitively_and_source_keys_find_their_customer(
    engine: Engine, small_hub: dict[str, str]
) -> None:
    assert find(engine, f"  {small_hub['acme'].lower()} ").customer.canonical_id == small_hub["acme"]

    by_key = find(engine, "crm/3")

    assert by_key.source_key == "crm/3"
    assert by_key.customer.canonical_id == small_hub["acme"]


def test_a_merged_away_id_redirects_to_its_survivor(engine: Engine, small_hub: dict[str, str]) -> None:
    found = find(engine, small_hub["merged"])

    assert found.customer.status == "merged"
    assert found.customer.merged_into == small_hub["crane"]
    assert found.customer.crosswalk == []
    assert found.survivor is not None
    assert found.survivor.canonical_id == small_hub["crane"]
    assert [key.key for key in found.survivor.crosswalk] == ["erp/1", "erp/2"]


def test_a_split_id_lists_its_successors(engine: Engine, small_hub: dict[str, str]) -> None:
    found = find(engine, small_hub["split"])

    assert found.customer.status == "split"
    assert found.customer.successors == sorted([small_hub["acme"], small_hub["bolt"]])
    assert found.customer.golden_valid_to is not None
    assert found.survivor is None


@pytest.mark.parametrize(
    ("text", "error", "code"),
    [
        ("crm/99", NotFoundError, "not_found"),
        ("nosuch/1", NotFoundError, "not_found"),
        ("/1", InvalidCanonicalIdError, "canonical_id.invalid"),
        ("C123", InvalidCanonicalIdError, "canonical_id.invalid"),
        ("unissued", NotFoundError, "not_found"),
    ],
)
def test_unknown_ids_and_keys_are_clear_errors(
    engine: Engine, small_hub: dict[str, str], text: str, error: type[Exception], code: str
) -> None:
    text = new_canonical_id() if text == "unissued" else text

    with pytest.raises(error) as raised:
        find(engine, text)

    assert raised.value.code == code  # type: ignore[attr-defined]


def test_show_prints_the_customer_and_its_survivor(
    run_cli: Callable[..., Result], small_hub: dict[str, str]
) -> None:
    result = run_cli("show", small_hub["merged"])

    assert result.exit_code == 0, result.output
    assert f"{small_hub['merged']} redirects to its survivor {small_hub['crane']}" in result.output
    assert "Crane Ltd" in result.output
    assert "erp/1 v1" in result.output
    assert "source_priority" in result.output


def test_show_names_a_split_ids_successors(run_cli: Callable[..., Result], small_hub: dict[str, str]) -> None:
    result = run_cli("show", small_hub["split"])

    assert result.exit_code == 0, result.output
    assert "split into " + ", ".join(sorted([small_hub["acme"], small_hub["bolt"]])) in result.output


def test_show_of_an_unknown_key_exits_with_2(
    run_cli: Callable[..., Result], small_hub: dict[str, str]
) -> None:
    result = run_cli("show", "crm/99")

    assert result.exit_code == 2
    assert "[not_found]" in result.output
