"""How each source system writes a customer: its own columns, formats, habits and mistakes.

A ``SystemWriter`` turns one true customer into one row (a dict of column to value) of a system's
export. Values that a careless clerk could mistype pass through ``Noise``, which also counts them,
so the sample can report the typo rate it actually produced.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import phonenumbers

from mdm.sample._population import LAST_CHANGE, Address, Customer
from mdm.sample._variants import abbreviate, add_typo, strip_diacritics, transliterate, typo_eligible

Row = dict[str, object]

TYPO_RATE: Final = 0.05

# Column order of every export; the mappings in mdm/sample/mappings name these columns.
COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "crm": (
        "AccountId", "RecordType", "AccountName", "FirstName", "LastName", "VAT", "Email", "Website",
        "Phone", "BillingStreet", "BillingCity", "BillingState", "BillingPostalCode", "BillingCountry",
        "PersonBirthdate", "Industry", "Owner", "CreatedDate", "LastModifiedDate",
    ),
    "billing": (
        "customer_id", "customer_type", "name", "tax_id", "email", "phone", "address_line1",
        "address_line2", "address_city", "address_state", "address_postal_code", "address_country",
        "date_of_birth", "currency", "delinquent", "created", "updated",
    ),
    "erp": (
        "KUNNR", "KTOKD", "NAME1", "NAME_LEGAL", "NAME_FIRST", "NAME_LAST", "STCEG", "STRAS",
        "STR_SUPPL1", "ORT01", "REGIO", "PSTLZ", "LAND1", "TELF1", "SMTP_ADDR", "GBDAT", "BRSCH",
        "WAERS", "ERDAT", "CHANGED_AT",
    ),
    "support": (
        "contact_id", "segment", "display_name", "contact_name", "email", "phone", "city", "country",
        "plan", "created_at", "updated_at",
    ),
}  # fmt: skip

# Zones of the naive timestamps each system writes (crm and billing write UTC with a marker).
ZONES: Final[dict[str, ZoneInfo]] = {
    "crm": ZoneInfo("UTC"),
    "billing": ZoneInfo("UTC"),
    "erp": ZoneInfo("Europe/Berlin"),
    "support": ZoneInfo("Europe/London"),
}

_COUNTRY_SPELLINGS: Final[dict[str, tuple[str, ...]]] = {
    "US": ("USA", "United States of America", "U.S."),
    "GB": ("UK", "Great Britain", "England"),
    "DE": ("Deutschland", "Federal Republic of Germany"),
    "AT": ("Österreich", "Oesterreich"),
    "FR": ("République française", "France"),
    "ES": ("España", "Espana"),
    "NL": ("Nederland", "The Netherlands", "Holland"),
    "IT": ("Italia",),
    "PL": ("Polska",),
    "SE": ("Sverige",),
}
_OWNERS: Final = ("Dana Whitfield", "Marco Bianchi", "Lena Vogt", "Sam Okafor", "Ines Duarte", "Tom Berg")
_PHONE_FORMATS: Final = (
    phonenumbers.PhoneNumberFormat.NATIONAL,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.E164,
)


class Noise:
    """Typos and gaps at fixed rates, counted so that the sample reports what it did."""

    def __init__(self, rng: random.Random, typo_rate: float = TYPO_RATE) -> None:
        self.rng = rng
        self.typo_rate = typo_rate
        self.eligible_values = 0
        self.typos = 0

    def typed(self, value: str | None) -> str | None:
        """The value as a person typed it: with one keyboard typo at the typo rate."""
        if value is None or not typo_eligible(value):
            return value
        self.eligible_values += 1
        if self.rng.random() >= self.typo_rate:
            return value
        self.typos += 1
        return add_typo(value, self.rng)

    def kept(self, value: str | None, rate: float) -> str | None:
        """The value, or None at ``1 - rate``: systems leave optional fields empty."""
        return value if self.rng.random() < rate else None


class SystemWriter:
    """Renders customers as rows of the crm, billing, erp and support exports."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.noise = Noise(rng)
        self._used_ids: dict[str, set[str]] = {system: set() for system in COLUMNS}
        self._renderers: dict[str, Callable[[Customer, bool], Row]] = {
            "crm": self._crm,
            "billing": self._billing,
            "erp": self._erp,
            "support": self._support,
        }

    def row(self, system: str, customer: Customer) -> Row:
        """One record of the customer in the system, as of that system's last update."""
        stale = customer.stale_system == system
        return self._renderers[system](customer, stale)

    def source_id(self, system: str) -> str:
        """A new record id in the style of the system, unique within it."""
        used = self._used_ids[system]
        while True:
            if system == "crm":
                candidate = "001" + "".join(self.rng.choices(string.ascii_letters + string.digits, k=15))
            elif system == "billing":
                candidate = "cus_" + "".join(self.rng.choices(string.ascii_letters + string.digits, k=14))
            elif system == "erp":
                candidate = f"{self.rng.randrange(1_000_000, 9_999_999):010d}"
            else:
                candidate = str(self.rng.randrange(10_000_000, 99_999_999))
            if candidate not in used:
                used.add(candidate)
                return candidate

    def _crm(self, customer: Customer, stale: bool) -> Row:
        noise = self.noise
        rng = self.rng
        address = _address(customer, stale)
        updated = self._updated(customer, stale)
        organisation = customer.kind == "organisation"

        if organisation:
            name = _brand(customer, stale)
            if rng.random() < 0.35:
                name = f"{name} {_suffix_spelling(customer, rng)}"
            account_name = noise.typed(_casing(name, rng))
            record_type = rng.choice(("Business", "Business", "Company"))
        else:
            account_name = noise.typed(_casing(customer.full_name, rng))
            record_type = rng.choice(("Individual", "Individual", "Consumer"))

        if organisation and rng.random() < 0.3:
            email = f"{_mailbox(customer)}@{customer.domain}"
        else:
            email = customer.email
        street = (
            address.line1
            if address.line2 is None or rng.random() < 0.5
            else f"{address.line1}, {address.line2}"
        )
        country = customer.country
        birthdate = (
            customer.date_of_birth.isoformat() if customer.date_of_birth and rng.random() < 0.6 else None
        )
        modified = f"{updated:%Y-%m-%dT%H:%M:%S}.{rng.randrange(1000):03d}Z" if rng.random() < 0.2 else None
        return {
            "AccountId": self.source_id("crm"),
            "RecordType": record_type,
            "AccountName": account_name,
            "FirstName": noise.typed(customer.given_name) if not organisation else None,
            "LastName": noise.typed(customer.family_name) if not organisation else None,
            "VAT": noise.kept(_tax_id(customer, rng), 0.2) if organisation else None,
            "Email": noise.typed(noise.kept(email, 0.85)),
            "Website": noise.kept(f"www.{customer.domain}", 0.6) if organisation else None,
            "Phone": noise.kept(
                _phone(_phone_of(customer, stale), phonenumbers.PhoneNumberFormat.NATIONAL), 0.85
            ),
            "BillingStreet": noise.typed(street),
            "BillingCity": noise.typed(address.city),
            "BillingState": noise.kept(address.region, 0.6),
            "BillingPostalCode": noise.kept(address.postal_code, 0.95),
            "BillingCountry": rng.choice(_COUNTRY_SPELLINGS[country.alpha2])
            if rng.random() < 0.1
            else country.name,
            "PersonBirthdate": birthdate,
            "Industry": customer.industry if organisation else None,
            "Owner": rng.choice(_OWNERS),
            "CreatedDate": customer.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "LastModifiedDate": modified or f"{updated:%Y-%m-%dT%H:%M:%SZ}",
        }

    def _billing(self, customer: Customer, stale: bool) -> Row:
        noise = self.noise
        rng = self.rng
        address = _address(customer, stale)
        organisation = customer.kind == "organisation"

        if organisation:
            legal = f"{_brand(customer, stale)} {_suffix_spelling(customer, rng)}"
            legal = abbreviate(legal) if rng.random() < 0.25 else legal
            legal = strip_diacritics(legal) if rng.random() < 0.5 else legal
            name = noise.typed(legal.upper()[:40].rstrip())
            email = f"{rng.choice(('billing', 'accounts', 'invoices', 'ap'))}@{customer.domain}"
        else:
            name = (
                customer.full_name if rng.random() < 0.9 else f"{customer.family_name}, {customer.given_name}"
            )
            name = noise.typed(name)
            email = customer.email
        street = abbreviate(address.line1) if rng.random() < 0.3 else address.line1
        country = customer.country
        birth = customer.date_of_birth
        updated = self._updated(customer, stale)
        return {
            "customer_id": self.source_id("billing"),
            "customer_type": "business" if organisation else "individual",
            "name": name,
            "tax_id": noise.kept(_tax_id(customer, rng), 0.85) if organisation else None,
            "email": noise.typed(noise.kept(email, 0.95)),
            "phone": noise.kept(_phone_of(customer, stale), 0.8),
            "address_line1": noise.typed(street),
            "address_line2": address.line2,
            "address_city": noise.typed(address.city),
            "address_state": noise.kept(address.region, 0.5),
            "address_postal_code": address.postal_code,
            "address_country": country.alpha3 if rng.random() < 0.3 else country.alpha2,
            "date_of_birth": birth.strftime("%d/%m/%Y") if birth and rng.random() < 0.3 else None,
            "currency": country.currency,
            "delinquent": rng.random() < 0.04,
            "created": customer.created.isoformat(timespec="seconds"),
            "updated": updated.isoformat(timespec="seconds"),
        }

    def _erp(self, customer: Customer, stale: bool) -> Row:
        noise = self.noise
        rng = self.rng
        address = _address(customer, stale)
        organisation = customer.kind == "organisation"
        zone = ZONES["erp"]

        if organisation:
            brand = _brand(customer, stale)
            suffix = (
                customer.suffix.canonical
                if customer.suffix and rng.random() < 0.8
                else _suffix_spelling(customer, rng)
            )
            trading = abbreviate(brand) if rng.random() < 0.2 else brand
            legal = noise.typed(f"{brand} {suffix}")
            trading_name = noise.typed(trading)
        else:
            legal = None
            trading_name = noise.typed(customer.full_name)
        street = abbreviate(address.line1) if rng.random() < 0.3 else address.line1
        birth = customer.date_of_birth
        email = customer.email if not organisation or rng.random() < 0.6 else None
        return {
            "KUNNR": self.source_id("erp"),
            "KTOKD": "ZORG" if organisation else "ZPER",
            "NAME1": trading_name,
            "NAME_LEGAL": legal,
            "NAME_FIRST": None if organisation else noise.typed(customer.given_name),
            "NAME_LAST": None if organisation else noise.typed(customer.family_name),
            "STCEG": noise.kept(_tax_id(customer, rng, prefixed=True), 0.9) if organisation else None,
            "STRAS": noise.typed(street),
            "STR_SUPPL1": address.line2,
            "ORT01": noise.typed(address.city.upper() if rng.random() < 0.3 else address.city),
            "REGIO": noise.kept(address.region, 0.7),
            "PSTLZ": _odd_spacing(address.postal_code, rng),
            "LAND1": customer.country.alpha2,
            "TELF1": noise.kept(
                _phone(_phone_of(customer, stale), phonenumbers.PhoneNumberFormat.INTERNATIONAL), 0.8
            ),
            "SMTP_ADDR": noise.typed(email),
            "GBDAT": birth.strftime("%Y%m%d") if birth and rng.random() < 0.5 else None,
            "BRSCH": customer.industry[:4].upper() if organisation else None,
            "WAERS": customer.country.currency,
            "ERDAT": customer.created.astimezone(zone).strftime("%Y%m%d"),
            "CHANGED_AT": self._updated(customer, stale).astimezone(zone).strftime("%Y%m%d%H%M%S"),
        }

    def _support(self, customer: Customer, stale: bool) -> Row:
        noise = self.noise
        rng = self.rng
        address = _address(customer, stale)
        organisation = customer.kind == "organisation"
        zone = ZONES["support"]

        contact = f"{customer.contact_given_name} {customer.contact_family_name}"
        if organisation:
            display = contact if rng.random() < 0.1 else _informal(_brand(customer, stale), rng)
            given = transliterate(customer.contact_given_name).lower().replace(" ", "")
            family = transliterate(customer.contact_family_name).lower().replace(" ", "")
            email = f"{given}.{family}@{customer.domain}"
        else:
            display = _informal_person(customer, rng)
            email = customer.email
        country = customer.country
        spelling = rng.choice(
            (country.name, country.alpha2, country.alpha3, *_COUNTRY_SPELLINGS[country.alpha2])
        )
        phone_format = rng.choice(_PHONE_FORMATS)
        return {
            "contact_id": self.source_id("support"),
            "segment": "B2B" if organisation else "B2C",
            "display_name": noise.typed(display),
            "contact_name": noise.typed(contact) if organisation else None,
            "email": noise.typed(noise.kept(email, 0.97)),
            "phone": noise.kept(_phone(_phone_of(customer, stale), phone_format), 0.4),
            "city": noise.typed(noise.kept(address.city, 0.6)),
            "country": noise.kept(spelling, 0.7),
            "plan": rng.choice(("Basic", "Pro", "Enterprise")) if organisation else "Personal",
            "created_at": customer.created.astimezone(zone).strftime("%d/%m/%Y %H:%M"),
            "updated_at": self._updated(customer, stale).astimezone(zone).strftime("%d/%m/%Y %H:%M"),
        }

    def _updated(self, customer: Customer, stale: bool) -> datetime:
        """When this system last touched the record: before the last change if it is stale."""
        if stale:
            start, end = customer.created, customer.changed
        else:
            start, end = customer.changed, LAST_CHANGE
        seconds = max(int((end - start).total_seconds()), 1)
        return start + timedelta(seconds=self.rng.randrange(seconds))


def _brand(customer: Customer, stale: bool) -> str:
    return customer.former_brand if stale and customer.former_brand else customer.brand


def _address(customer: Customer, stale: bool) -> Address:
    return customer.former_address if stale and customer.former_address else customer.address


def _phone_of(customer: Customer, stale: bool) -> str:
    return customer.former_phone if stale and customer.former_phone else customer.phone


def _mailbox(customer: Customer) -> str:
    """The contact person's work mailbox, as the sales team types it."""
    given = transliterate(customer.contact_given_name).lower().replace(" ", "")
    family = transliterate(customer.contact_family_name).lower().replace(" ", "")
    return f"{given[:1]}{family}" if len(given) + len(family) > 14 else f"{given}.{family}"


def _suffix_spelling(customer: Customer, rng: random.Random) -> str:
    """One of the ways to write the company's legal form, usually the ordinary one."""
    assert customer.suffix is not None
    forms = customer.suffix.forms
    return forms[0] if rng.random() < 0.6 else rng.choice(forms)


def _tax_id(customer: Customer, rng: random.Random, *, prefixed: bool = False) -> str | None:
    """The tax number with the national prefix (always when ``prefixed``), now and then spaced."""
    if customer.tax_number is None:
        return None
    prefix = customer.country.vat_prefix
    with_prefix = prefixed or rng.random() < 0.6
    value = f"{prefix}{customer.tax_number}" if with_prefix else customer.tax_number
    if not prefixed and rng.random() < 0.15:
        value = " ".join(value[i : i + 3] for i in range(0, len(value), 3))
    return value


def _phone(e164: str, number_format: int) -> str:
    return phonenumbers.format_number(phonenumbers.parse(e164), number_format)


def _casing(value: str, rng: random.Random) -> str:
    """Names as CRM users type them: mostly as written, sometimes shouted or all lower case."""
    draw = rng.random()
    if draw < 0.08:
        return value.upper()
    if draw < 0.13:
        return value.lower()
    return value


def _odd_spacing(postal_code: str, rng: random.Random) -> str:
    """Postal codes as an old ERP keeps them: spaces dropped, added, doubled or padded."""
    draw = rng.random()
    if draw < 0.1:
        return postal_code.replace(" ", "")
    if draw < 0.2 and len(postal_code) > 3:
        cut = rng.randint(1, len(postal_code) - 1)
        return f"{postal_code[:cut]} {postal_code[cut:]}"
    if draw < 0.27:
        return f" {postal_code}  "
    if draw < 0.32:
        return postal_code.replace(" ", "  ").lower()
    return postal_code


def _informal(brand: str, rng: random.Random) -> str:
    """A company as a support agent writes it: no legal form, maybe short, lower case or ASCII."""
    name = brand
    draw = rng.random()
    if draw < 0.2:
        name = abbreviate(name)
    elif draw < 0.3:
        name = name.replace(" & ", " and ")
    if rng.random() < 0.3:
        name = transliterate(name)
    if rng.random() < 0.15:
        name = name.lower()
    return name


def _informal_person(customer: Customer, rng: random.Random) -> str:
    """A person as a support agent writes them: full name, initial of the family name, or lower case."""
    draw = rng.random()
    if draw < 0.15:
        return f"{customer.given_name} {customer.family_name[:1]}."
    if draw < 0.3:
        return customer.full_name.lower()
    if draw < 0.4:
        return transliterate(customer.full_name)
    return customer.full_name
