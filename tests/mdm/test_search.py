"""A search query is standardised as records are, so a value as the hub shows it finds its customer."""

from __future__ import annotations

import pytest

from mdm.search import query_values


@pytest.mark.parametrize(
    ("query", "tax_id"),
    [("GB788004897", "788004897"), ("DE 811 907 980", "811907980"), ("811907980", "811907980")],
)
def test_a_vat_number_with_its_country_finds_the_stored_number(query: str, tax_id: str) -> None:
    assert tax_id in query_values(query)["tax_id"]


def test_a_name_is_not_read_as_a_country_prefix() -> None:
    # "AC" is no country prefix to strip, and a word without digits is no tax id at all.
    assert query_values("Acme").get("tax_id", set()) == set()
    assert query_values("Acme 4711")["tax_id"] == {"ACME4711"}


def test_an_email_is_looked_up_as_an_email_only() -> None:
    assert query_values("Info@Acme.example") == {"email": {"info@acme.example"}}


@pytest.mark.parametrize(
    ("query", "region", "phone"),
    [("020 7946 0000", "GB", "+442079460000"), ("030 1234567", "DE", "+49301234567"),
     ("+44 20 7946 0000", "DE", "+442079460000"), ("0044 20 7946 0000", "GB", "+442079460000")],
)  # fmt: skip
def test_a_national_phone_number_is_read_in_the_default_region(query: str, region: str, phone: str) -> None:
    assert phone in query_values(query, region=region)["phone"]


def test_without_a_region_a_national_phone_number_is_no_phone() -> None:
    assert "phone" not in query_values("020 7946 0000")
