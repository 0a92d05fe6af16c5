"""Standardisation: each rule on real cases, and the frame path agreeing with the record path."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable

import pandas as pd
import pytest

from matching import clear_caches, standardise, standardise_frame, standardise_record
from matching.fields import CANONICAL_FIELDS, KEY_COLUMNS, STANDARDISED_FIELDS
from matching.standardise import split_person_name


def organisation(**fields: str | None) -> dict[str, str | None]:
    return standardise_record({"kind": "organisation", **fields})


def person(**fields: str | None) -> dict[str, str | None]:
    return standardise_record({"kind": "person", **fields})


def test_record_has_exactly_the_standardised_fields() -> None:
    assert tuple(organisation(name="Acme")) == STANDARDISED_FIELDS
    assert tuple(person(name="Ann Lee")) == STANDARDISED_FIELDS


@pytest.mark.parametrize("family_name", ["Muñoz", "Mun\u0303oz", "MUNOZ"])
def test_three_munoz_forms_agree(family_name: str) -> None:
    standardised = person(given_name="José", family_name=family_name)

    assert standardised["family_name"] == "munoz"
    assert standardised["name"] == "jose munoz"


@pytest.mark.parametrize("street", ["Hauptstraße 5", "Hauptstrasse 5", "HAUPTSTR. 5", "Haupt-Straße 5"])
def test_sharp_s_and_strasse_agree(street: str) -> None:
    assert organisation(address_line1=street)["address_line1"] == "hauptstr 5"


def test_sharp_s_in_names_folds_to_ss() -> None:
    assert person(family_name="Weiß")["family_name"] == person(family_name="WEISS")["family_name"] == "weiss"


@pytest.mark.parametrize(
    ("name", "expected_name", "expected_suffix"),
    [
        ("Acme Technologies GmbH", "acme tech", "gmbh"),
        ("Acme Technologies G.m.b.H.", "acme tech", "gmbh"),
        ("Acme Technologies Gesellschaft mit beschränkter Haftung", "acme tech", "gmbh"),
        ("Acme Tech GmbH & Co. KG", "acme tech", "gmbh_co_kg"),
        ("Acme Tech GmbH u. Co. KG", "acme tech", "gmbh_co_kg"),
        ("Deutsche Acme AG", "deutsche acme", "ag"),
        ("Deutsche Acme Aktiengesellschaft", "deutsche acme", "ag"),
        ("Acme Ltd", "acme", "ltd"),
        ("Acme Ltd.", "acme", "ltd"),
        ("Acme Limited", "acme", "ltd"),
        ("Acme PLC", "acme", "plc"),
        ("Acme Public Limited Company", "acme", "plc"),
        ("Acme, Inc.", "acme", "inc"),
        ("Acme Incorporated", "acme", "inc"),
        ("Acme LLC", "acme", "llc"),
        ("Acme, L.L.C.", "acme", "llc"),
        ("Acme Corp.", "acme", "corp"),
        ("Acme Corporation", "acme", "corp"),
        ("Acme S.A.", "acme", "sa"),
        ("Acme SARL", "acme", "sarl"),
        ("Acme S.à r.l.", "acme", "sarl"),
        ("Acme SAS", "acme", "sas"),
        ("Acme Sociedad Limitada", "acme", "sl"),
        ("Acme S.L.", "acme", "sl"),
        ("Acme B.V.", "acme", "bv"),
        ("Acme Besloten Vennootschap", "acme", "bv"),
        ("Acme N.V.", "acme", "nv"),
        ("Acme S.p.A.", "acme", "spa"),
        ("Acme Società per Azioni", "acme", "spa"),
        ("Acme S.r.l.", "acme", "srl"),
        ("Acme Sp. z o.o.", "acme", "sp_zoo"),
        ("Acme Spółka z ograniczoną odpowiedzialnością", "acme", "sp_zoo"),
        ("Acme AB", "acme", "ab"),
        ("Acme Aktiebolag", "acme", "ab"),
        ("Acme Oy", "acme", "oy"),
        ("Acme A/S", "acme", "as"),
        ("Acme ApS", "acme", "aps"),
        ("Acme K.K.", "acme", "kk"),
        ("Acme Pty Ltd", "acme", "pty_ltd"),
        ("Acme Pty. Ltd.", "acme", "pty_ltd"),
    ],
)
def test_legal_suffixes_split_off(name: str, expected_name: str, expected_suffix: str) -> None:
    standardised = organisation(name=name)

    assert standardised["name"] == expected_name
    assert standardised["legal_suffix"] == expected_suffix


@pytest.mark.parametrize("name", ["GmbH", "Limited", "Aktiengesellschaft", "S.A.", "Co"])
def test_suffix_that_is_the_whole_name_stays(name: str) -> None:
    standardised = organisation(name=name)

    assert standardised["name"] is not None
    assert standardised["legal_suffix"] is None


@pytest.mark.parametrize(
    ("name", "expected_name", "expected_suffix"),
    [
        ("Smith & Co", "smith and co", None),
        ("Smith and Company Ltd", "smith and co", "ltd"),
        ("Acme Trading Company Ltd", "acme trading", "ltd"),
        ("Acme Trading Co. Ltd.", "acme trading", "ltd"),
        ("The Acme Company", "acme", "co"),
    ],
)
def test_company_word_is_split_with_care(name: str, expected_name: str, expected_suffix: str | None) -> None:
    standardised = organisation(name=name)

    assert standardised["name"] == expected_name
    assert standardised["legal_suffix"] == expected_suffix


@pytest.mark.parametrize(
    ("short", "long"),
    [
        ("Acme Intl GmbH", "Acme International GmbH"),
        ("Acme Tech Ltd", "Acme Technologies Limited"),
        ("Acme Mfg Inc", "Acme Manufacturing Incorporated"),
        ("Smith & Jones LLC", "Smith and Jones LLC"),
        ("Smith+Jones LLC", "SMITH AND JONES L.L.C."),
        ("Acme Svcs Corp", "Acme Services Corporation"),
    ],
)
def test_abbreviations_fold_to_one_form(short: str, long: str) -> None:
    assert organisation(name=short)["name"] == organisation(name=long)["name"]


def test_organisation_prefers_legal_name_and_falls_back_for_the_suffix() -> None:
    both = organisation(name="ACME", legal_name="Acme Technologies GmbH")
    trading_only = organisation(name="Acme Technologies AG")
    legal_without_suffix = organisation(name="Acme Technologies AG", legal_name="Acme Technologies")

    assert (both["name"], both["legal_suffix"]) == ("acme tech", "gmbh")
    assert (trading_only["name"], trading_only["legal_suffix"]) == ("acme tech", "ag")
    assert (legal_without_suffix["name"], legal_without_suffix["legal_suffix"]) == ("acme tech", "ag")


def test_organisation_keeps_contact_names_without_splitting() -> None:
    standardised = organisation(name="Acme Ltd", given_name="Ann")

    assert standardised["given_name"] == "ann"
    assert standardised["family_name"] is None


@pytest.mark.parametrize(
    ("name", "given", "family"),
    [
        ("John Smith", "john", "smith"),
        ("Smith, John", "john", "smith"),
        ("SMITH, John Paul", "john paul", "smith"),
        ("Dr. Anna Maria Weiß", "anna maria", "weiss"),
        ("Ludwig van Beethoven", "ludwig", "van beethoven"),
        ("Maria de la Cruz", "maria", "de la cruz"),
        ("Robert Downey Jr.", "robert", "downey"),
        ("Madonna", None, "madonna"),
    ],
)
def test_full_person_names_split(name: str, given: str | None, family: str | None) -> None:
    assert split_person_name(name) == (given, family)

    standardised = person(name=name)
    assert (standardised["given_name"], standardised["family_name"]) == (given, family)
    assert standardised["name"] == " ".join(part for part in (given, family) if part)


def test_person_fields_win_over_the_split_name() -> None:
    standardised = person(name="J. Smith-Jones", given_name="Jane", family_name=None)

    assert standardised["given_name"] == "jane"
    assert standardised["family_name"] == "jones"
    assert standardised["name"] == "jane jones"
    assert standardised["legal_suffix"] is None


@pytest.mark.parametrize(
    ("phone", "country", "expected"),
    [
        ("030 12345678", "DE", "+493012345678"),
        ("0049 30 12345678", "Germany", "+493012345678"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "USA", "+14155552671"),
        ("020 7946 0958", "United Kingdom", "+442079460958"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("02 1234 5678", "ITA", "+390212345678"),
        ("08-123 456 78", "SE", "+46812345678"),
        ("+49 30 12345678", None, "+493012345678"),
        ("0049 30 12345678", None, "+493012345678"),
    ],
)
def test_phones_become_e164(phone: str, country: str | None, expected: str) -> None:
    assert organisation(phone=phone, country=country)["phone"] == expected


@pytest.mark.parametrize(
    ("phone", "country"),
    [
        ("12", "DE"),
        ("030 12345678", None),
        ("call me", "US"),
        ("555-0000", "US"),
        ("+99 123", None),
        ("n/a", "GB"),
    ],
)
def test_invalid_phones_become_none(phone: str, country: str | None) -> None:
    assert organisation(phone=phone, country=country)["phone"] is None


@pytest.mark.parametrize(
    ("country", "expected"),
    [
        ("Germany", "DE"),
        ("Deutschland", "DE"),
        ("DEU", "DE"),
        ("de", "DE"),
        ("United Kingdom", "GB"),
        ("UK", "GB"),
        ("gbr", "GB"),
        ("USA", "US"),
        ("U.S.A.", "US"),
        ("United States of America", "US"),
        ("Österreich", "AT"),
        ("Côte d'Ivoire", "CI"),
        ("cote divoire", "CI"),
        ("NA", "NA"),
        ("Narnia", None),
        ("", None),
        ("unknown", None),
    ],
)
def test_countries_become_alpha_2(country: str, expected: str | None) -> None:
    assert organisation(country=country)["country"] == expected


@pytest.mark.parametrize(
    ("email", "expected", "domain"),
    [
        ("  John.Smith@Example.COM ", "john.smith@example.com", "example.com"),
        ("mailto:info@acme.de", "info@acme.de", "acme.de"),
        ("<sales@acme.co.uk>", "sales@acme.co.uk", "acme.co.uk"),
        ("no-at-sign.example.com", None, None),
        ("two@@example.com", None, None),
        ("a@b@example.com", None, None),
        ("john@localhost", None, None),
        ("john smith@example.com", None, None),
        ("@example.com", None, None),
        ("john@example..com", None, None),
    ],
)
def test_emails_lowercased_and_loosely_validated(
    email: str, expected: str | None, domain: str | None
) -> None:
    standardised = organisation(email=email)

    assert standardised["email"] == expected
    assert standardised["email_domain"] == domain


@pytest.mark.parametrize(
    ("website", "expected"),
    [
        ("http://www.Acme.de/contact", "acme.de"),
        ("https://acme.co.uk:8443/en/?q=1#top", "acme.co.uk"),
        ("WWW.ACME.COM", "acme.com"),
        ("acme.com/", "acme.com"),
        ("//www2.acme.fr", "acme.fr"),
        ("https://user@shop.acme.de.", "shop.acme.de"),
        ("acme", None),
        ("http://", None),
        ("10.0.0.1", None),
        ("not a website", None),
    ],
)
def test_websites_become_bare_domains(website: str, expected: str | None) -> None:
    assert organisation(website=website)["website"] == expected


@pytest.mark.parametrize(
    ("website", "email", "expected"),
    [
        ("www.acme.de", "info@acme-gruppe.de", "acme.de"),
        (None, "Info@Acme.de", "acme.de"),
        (None, "acme.sales@gmail.com", None),
        (None, "j.doe@hotmail.co.uk", None),
        ("https://acme.fr", "acme@orange.fr", "acme.fr"),
        (None, None, None),
    ],
)
def test_an_organisations_domain_is_its_website_or_its_own_mail_domain(
    website: str | None, email: str | None, expected: str | None
) -> None:
    assert organisation(website=website, email=email)["domain"] == expected


def test_persons_have_no_organisation_domain() -> None:
    assert person(name="Ann Lee", email="ann@lee-family.example", website="lee.example")["domain"] is None


@pytest.mark.parametrize(
    ("postal_code", "country", "expected"),
    [
        ("sw1a 1aa", "GB", "SW1A1AA"),
        ("1234 ab", "NL", "1234AB"),
        ("D-80331", "DE", "80331"),
        ("01067", "DE", "01067"),
        ("1067", "Germany", "01067"),
        ("2134", "US", "02134"),
        ("02134-1234", "US", "02134"),
        ("123 45", "SE", "12345"),
        ("1010", "AT", "1010"),
        ("--", "DE", None),
    ],
)
def test_postal_codes(postal_code: str, country: str, expected: str | None) -> None:
    assert organisation(postal_code=postal_code, country=country)["postal_code"] == expected


@pytest.mark.parametrize(
    ("tax_id", "country", "expected"),
    [
        ("DE 123 456 789", "DE", "123456789"),
        ("123456789", "DE", "123456789"),
        ("de123456789", "Germany", "123456789"),
        ("ATU12345678", "AT", "12345678"),
        ("GB 123 4567 89", "GB", "123456789"),
        ("FR12345678901", "FR", "12345678901"),
        ("ESB12345678", "ES", "B12345678"),
        ("NL123456789B01", "NL", "123456789B01"),
        ("IT12345678901", "IT", "12345678901"),
        ("PL 123-456-78-90", "PL", "1234567890"),
        ("SE556677889901", "SE", "556677889901"),
        ("IE1234567T", "DE", "IE1234567T"),
        ("DE123456789", None, "DE123456789"),
        ("n/a", "DE", None),
    ],
)
def test_tax_ids(tax_id: str, country: str | None, expected: str | None) -> None:
    assert organisation(tax_id=tax_id, country=country)["tax_id"] == expected


@pytest.mark.parametrize(
    ("street", "other"),
    [
        ("123 Main Street", "123 MAIN ST."),
        ("5 Park Avenue", "5 Park Ave"),
        ("10 Downing Road", "10 Downing Rd."),
        ("Storgatan 3", "Storg. 3"),
        ("Calle Mayor 3", "C/ Mayor 3"),
    ],
)
def test_street_types_fold(street: str, other: str) -> None:
    assert (
        organisation(address_line1=street)["address_line1"]
        == organisation(address_line1=other)["address_line1"]
    )


def test_city_and_region_match_keys() -> None:
    saint = organisation(city="Saint-Étienne", region="Auvergne-Rhône-Alpes")
    short = organisation(city="ST ETIENNE", region="auvergne rhone alpes")
    state = organisation(region="California", country="US")
    code = organisation(region="CA", country="USA")

    assert saint["city"] == short["city"] == "st etienne"
    assert saint["region"] == short["region"] == "auvergne rhone alpes"
    assert state["region"] == code["region"] == "ca"


@pytest.mark.parametrize(
    ("value", "expected"), [("1980-02-29", "1980-02-29"), ("1981-02-29", None), ("", None)]
)
def test_dates_of_birth(value: str, expected: str | None) -> None:
    assert person(name="Ann Lee", date_of_birth=value)["date_of_birth"] == expected


@pytest.mark.parametrize("blank", [None, "", "   ", "N/A", "null", "-", "(none)"])
def test_missing_stays_missing(blank: str | None) -> None:
    record = {field: blank for field in CANONICAL_FIELDS if field != "kind"}

    for kind in ("organisation", "person"):
        standardised = standardise_record({**record, "kind": kind})
        assert all(value is None for value in standardised.values()), standardised


@pytest.mark.parametrize("kind", [None, "", "company"])
def test_unknown_kind_is_refused(kind: str | None) -> None:
    with pytest.raises(ValueError, match="kind"):
        standardise_record({"kind": kind, "name": "Acme"})


_SAMPLES: dict[str, list[str | None]] = {
    "name": ["Acme Technologies GmbH", "Smith, John", "Muñoz García", "ACME INTL LTD", "José Muñoz", "GmbH"],
    "given_name": ["Ann", "JOSÉ", "n/a", "Weiß"],
    "family_name": ["Muñoz", "Mun\u0303oz", "van Beethoven", ""],
    "legal_name": ["Acme Technologies Gesellschaft mit beschränkter Haftung", "Acme S.p.A.", "null"],
    "tax_id": ["DE 123 456 789", "123456789", "ATU12345678", "GB123456789", "-"],
    "email": ["Info@Acme.DE", "bad@", "a@b.co.uk", " "],
    "website": ["http://www.Acme.de/contact", "acme", "https://shop.acme.co.uk:80/x"],
    "phone": ["030 12345678", "+44 20 7946 0958", "(415) 555-2671", "12", "06 12 34 56 78"],
    "address_line1": ["Hauptstraße 5", "123 Main St.", "Storgatan 3", "unknown"],
    "city": ["München", "Saint-Étienne", "N/A"],
    "region": ["Bayern", "CA", "California", "Île-de-France"],
    "postal_code": ["1067", "D-80331", "sw1a 1aa", "02134-1234"],
    "country": ["Germany", "DE", "deu", "UK", "USA", "France", "Narnia", ""],
    "date_of_birth": ["1980-02-29", "1981-02-29", "2001-12-31"],
}


def _random_records(count: int, seed: int) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = []
    for number in range(count):
        row: dict[str, str | None] = {
            "unique_id": f"crm/{number}",
            "source_system": rng.choice(["crm", "billing"]),
            "kind": rng.choice(["organisation", "person"]),
        }
        for field, values in _SAMPLES.items():
            row[field] = rng.choice([*values, None])
        rows.append(row)
    return pd.DataFrame(rows)


def test_frame_agrees_with_records() -> None:
    frame = _random_records(400, seed=7)
    clear_caches()

    standardised = standardise_frame(frame)

    assert list(standardised.columns) == [*KEY_COLUMNS, *STANDARDISED_FIELDS]
    assert standardised["unique_id"].tolist() == frame["unique_id"].tolist()
    for row, expected_row in zip(frame.to_dict("records"), standardised.to_dict("records"), strict=True):
        expected = standardise_record(row)
        assert {field: expected_row[field] for field in STANDARDISED_FIELDS} == expected


def test_frame_treats_missing_columns_as_none_and_never_writes_empty_strings() -> None:
    frame = pd.DataFrame(
        {
            "unique_id": ["crm/1", "crm/2", "crm/3"],
            "source_system": ["crm"] * 3,
            "kind": ["person", "organisation", "person"],
            "name": ["Ann Lee", "", float("nan")],
            "phone": [None, "030 12345678", "   "],
            "country": ["DE", "DE", None],
        },
        index=[10, 11, 12],
    ).astype({"name": "string", "country": "string[pyarrow]"})

    standardised = standardise_frame(frame)

    values = standardised[list(STANDARDISED_FIELDS)].to_numpy().ravel().tolist()
    assert "" not in values
    assert standardised.index.tolist() == [10, 11, 12]
    assert standardised["email"].tolist() == [None, None, None]
    assert standardised["name"].tolist() == ["ann lee", None, None]
    assert standardised["phone"].tolist() == [None, "+493012345678", None]


def test_frame_refuses_missing_key_columns() -> None:
    with pytest.raises(ValueError, match="source_system"):
        standardise_frame(pd.DataFrame({"unique_id": ["crm/1"], "kind": ["person"]}))


def _distinct_heavy_records(rows: int, distinct: int, seed: int) -> pd.DataFrame:
    """Rows drawn from ``distinct`` customers, each with its own name, phone, website and so on."""
    rng = random.Random(seed)
    countries = ["DE", "Germany", "deu", "UK", "FR"]
    customers = [rng.randrange(distinct) for _ in range(rows)]
    return pd.DataFrame(
        {
            "unique_id": [f"crm/{number}" for number in range(rows)],
            "source_system": "crm",
            "kind": ["person" if customer % 3 == 0 else "organisation" for customer in customers],
            "name": [f"{_SAMPLES['name'][customer % 6]} {customer}" for customer in customers],
            "phone": [f"030 {10_000_000 + customer * 37}" for customer in customers],
            "website": [f"http://www.firm{customer}.de/contact" for customer in customers],
            "email": [f"info{customer}@firm.de" for customer in customers],
            "address_line1": [f"Hauptstraße {customer}" for customer in customers],
            "postal_code": [str(customer % 100_000) for customer in customers],
            "country": [countries[customer % 5] for customer in customers],
        }
    )


def test_frame_runs_field_functions_once_per_distinct_value(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = 200_000
    frame = _distinct_heavy_records(rows, distinct=20_000, seed=3)
    calls: Counter[str] = Counter()

    def counted(function: Callable[..., str | None]) -> Callable[..., str | None]:
        def count(*values: str | None) -> str | None:
            calls[function.__name__] += 1
            return function(*values)

        return count

    for function in (standardise.standardise_phone, standardise.standardise_website):
        monkeypatch.setattr(standardise, function.__name__, counted(function))
    clear_caches()

    started = time.perf_counter()
    standardised = standardise_frame(frame)
    elapsed = time.perf_counter() - started

    print(f"standardised {rows:,} rows in {elapsed:.2f} s ({rows / elapsed:,.0f} rows/s)")
    assert len(standardised) == rows
    assert calls["standardise_phone"] == len(frame[["phone", "country"]].drop_duplicates())
    assert calls["standardise_website"] == frame["website"].nunique()
    assert standardised["phone"].str.startswith("+4930").sum() > rows / 3
    monkeypatch.undo()
    sample = frame.sample(n=50, random_state=5)
    expected = [standardise_record(row) for row in sample.to_dict("records")]
    assert standardised.loc[sample.index, list(STANDARDISED_FIELDS)].to_dict("records") == expected
