"""The true customers behind the sample files: who they are, where they live, and their look-alikes.

A population is built before any system sees it, so that every source record can be traced back
to exactly one true customer (its entity id in ``truth.csv``). Hard-negative groups are customers
made to look alike on purpose, yet distinct.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal

from faker import Faker

from matching.fields import Kind
from mdm.sample._countries import COUNTRIES, COUNTRY_WEIGHTS, ENGLISH_DESCRIPTORS, INDUSTRIES, Country
from mdm.sample._variants import LegalSuffix, ascii_slug

SYSTEMS: Final[tuple[str, ...]] = ("crm", "billing", "erp", "support")

PERSON_SHARE: Final = 0.15
HARD_NEGATIVE_SHARE: Final = 0.10

HardNegativeKind = Literal["brand_in_two_countries", "name_in_two_cities", "family", "office_building"]
_GROUP_WEIGHTS: Final[dict[HardNegativeKind, int]] = {
    "brand_in_two_countries": 3,
    "name_in_two_cities": 3,
    "family": 2,
    "office_building": 2,
}

# How likely a customer of each kind is to be known to each system, in SYSTEMS order.
_PRESENCE: Final[dict[Kind, tuple[float, ...]]] = {
    "organisation": (0.70, 0.55, 0.55, 0.25),
    "person": (0.55, 0.70, 0.15, 0.40),
}
_STALE_ADDRESS_SHARE: Final = 0.06
_RENAMED_SHARE: Final = 0.04
_DUPLICATE_SHARE: Final = 0.03

_EPOCH: Final = datetime(2012, 1, 1, tzinfo=UTC)
LAST_CHANGE: Final = datetime(2025, 6, 30, 18, 0, tzinfo=UTC)

_MAIL_PROVIDERS: Final[dict[str, tuple[str, ...]]] = {
    "com": ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "aol.com"),
    "co.uk": ("gmail.com", "hotmail.co.uk", "btinternet.com", "outlook.com"),
    "de": ("gmx.de", "web.de", "t-online.de", "gmail.com"),
    "at": ("gmx.at", "aon.at", "gmail.com"),
    "fr": ("orange.fr", "free.fr", "gmail.com", "laposte.net"),
    "es": ("gmail.com", "hotmail.es", "telefonica.net"),
    "nl": ("ziggo.nl", "kpnmail.nl", "gmail.com"),
    "it": ("libero.it", "virgilio.it", "gmail.com"),
    "pl": ("wp.pl", "onet.pl", "gmail.com"),
    "se": ("telia.com", "gmail.com", "hotmail.se"),
}
# Neighbours that share a language, for a brand that trades in two countries.
_SISTER_COUNTRIES: Final[dict[str, tuple[str, ...]]] = {
    "US": ("GB",),
    "GB": ("US",),
    "DE": ("AT",),
    "AT": ("DE",),
    "FR": ("ES", "IT"),
    "ES": ("FR", "IT"),
    "NL": ("DE",),
    "IT": ("FR", "ES"),
    "PL": ("DE",),
    "SE": ("NL",),
}


@dataclass(frozen=True, slots=True)
class Address:
    """A postal address as the customer would write it."""

    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str


@dataclass(slots=True)
class Customer:
    """One true customer: the clean facts that every system renders in its own way.

    ``stale_system`` is the system that still holds ``former_address`` and ``former_brand`` (an
    old address, or a company's name before it was renamed); its record is older than the rest.
    """

    kind: Kind
    country: Country
    address: Address
    phone: str
    email: str
    created: datetime
    changed: datetime
    industry: str
    brand: str = ""
    suffix: LegalSuffix | None = None
    tax_number: str | None = None
    domain: str | None = None
    contact_given_name: str = ""
    contact_family_name: str = ""
    given_name: str = ""
    family_name: str = ""
    date_of_birth: date | None = None
    entity_id: str = ""
    systems: tuple[str, ...] = ()
    duplicate_in: str | None = None
    stale_system: str | None = None
    former_address: Address | None = None
    former_brand: str | None = None
    group: str | None = None
    group_kind: HardNegativeKind | None = None
    former_phone: str | None = None

    @property
    def full_name(self) -> str:
        """A person's name as written on a letter; an organisation's trading name."""
        return f"{self.given_name} {self.family_name}" if self.kind == "person" else self.brand


class PopulationFactory:
    """Makes customers from one seed: Faker gives the words, ``random.Random`` every choice."""

    def __init__(self, rng: random.Random, seed: int) -> None:
        self.rng = rng
        self._fakers: dict[str, Faker] = {}
        for index, country in enumerate(COUNTRIES):
            faker = Faker(country.locale)
            faker.seed_instance(seed * 100 + index)
            _fix_word_order(faker)
            self._fakers[country.alpha2] = faker
        self._brands: set[str] = set()

    def country(self) -> Country:
        """A country drawn by the weight of its customer base."""
        return self.rng.choices(COUNTRIES, weights=COUNTRY_WEIGHTS)[0]

    def address(self, country: Country) -> Address:
        """A fresh address in the country; a second line for about a quarter of them."""
        faker = self._fakers[country.alpha2]
        line2 = country.line2_pattern.format(n=self.rng.randint(1, 40)) if self.rng.random() < 0.25 else None
        region = str(getattr(faker, country.region_provider)())
        street = ", ".join(part.strip() for part in faker.street_address().splitlines())
        return Address(street, line2, faker.city(), region, faker.postcode())

    def brand(self, country: Country) -> str:
        """A trading name not used by any other customer so far."""
        faker = self._fakers[country.alpha2]
        local = country.descriptors
        candidate = ""
        for _ in range(30):
            descriptor = (
                self.rng.choice(local)
                if local and self.rng.random() < 0.5
                else self.rng.choice(ENGLISH_DESCRIPTORS)
            )
            pattern = self.rng.random()
            if pattern < 0.45:
                candidate = f"{faker.last_name()} {descriptor}"
            elif pattern < 0.65:
                candidate = f"{faker.last_name()} & {faker.last_name()}"
            elif pattern < 0.85:
                candidate = f"{faker.last_name()}-{faker.last_name()} {descriptor}"
            else:
                candidate = f"{faker.city()} {descriptor}"
            if candidate.casefold() not in self._brands:
                break
        self._brands.add(candidate.casefold())
        return candidate

    def organisation(
        self, country: Country, *, brand: str | None = None, address: Address | None = None
    ) -> Customer:
        """A company with its legal form, tax number, web domain and one contact person."""
        faker = self._fakers[country.alpha2]
        brand = brand or self.brand(country)
        suffix = self.rng.choices(country.suffixes, weights=country.suffix_weights)[0]
        created, changed = self._history()
        domain = f"{ascii_slug(brand)[:30]}.{country.tld}"
        return Customer(
            kind="organisation",
            country=country,
            address=address or self.address(country),
            phone=country.phone_e164(self.rng),
            email=f"{self.rng.choice(('info', 'office', 'contact', 'hello'))}@{domain}",
            created=created,
            changed=changed,
            industry=self.rng.choice(INDUSTRIES),
            brand=brand,
            suffix=suffix,
            tax_number=country.tax_id(self.rng) if self.rng.random() < 0.95 else None,
            domain=domain,
            contact_given_name=faker.first_name(),
            contact_family_name=faker.last_name(),
        )

    def person(
        self,
        country: Country,
        *,
        family_name: str | None = None,
        address: Address | None = None,
        phone: str | None = None,
        born_near: date | None = None,
    ) -> Customer:
        """An individual; family members are made by passing the shared name, address and phone."""
        faker = self._fakers[country.alpha2]
        given_name = faker.first_name()
        family_name = family_name or faker.last_name()
        if born_near is None:
            born = date(1940, 1, 1) + timedelta(days=self.rng.randrange(65 * 365))
        else:
            gap = self.rng.choice((-1, 1)) * self.rng.choice(
                (self.rng.randint(400, 4000), self.rng.randint(9000, 13000))
            )
            born = born_near + timedelta(days=gap)
        created, changed = self._history()
        number = str(self.rng.randint(1, 99)) if self.rng.random() < 0.4 else ""
        provider = self.rng.choice(_MAIL_PROVIDERS[country.tld])
        return Customer(
            kind="person",
            country=country,
            address=address or self.address(country),
            phone=phone or country.phone_e164(self.rng),
            email=f"{ascii_slug(given_name)}.{ascii_slug(family_name)}{number}@{provider}",
            created=created,
            changed=changed,
            industry="Consumer",
            given_name=given_name,
            family_name=family_name,
            date_of_birth=born,
        )

    def hard_negative_group(self, group_kind: HardNegativeKind) -> list[Customer]:
        """Two (or three) distinct customers that look alike in the way ``group_kind`` names."""
        country = self.country()
        if group_kind == "brand_in_two_countries":
            sister_code = self.rng.choice(_SISTER_COUNTRIES[country.alpha2])
            sister = next(candidate for candidate in COUNTRIES if candidate.alpha2 == sister_code)
            first = self.organisation(country)
            return [first, self.organisation(sister, brand=first.brand)]
        if group_kind == "name_in_two_cities":
            first = self.organisation(country)
            second = self.organisation(country, brand=first.brand)
            second.suffix = first.suffix
            second.domain = f"{ascii_slug(first.brand)}-{ascii_slug(second.address.city)}.{country.tld}"
            second.email = f"info@{second.domain}"
            return [first, second]
        if group_kind == "family":
            first = self.person(country)
            assert first.date_of_birth is not None
            members = [first]
            for _ in range(self.rng.choice((1, 1, 2))):
                members.append(
                    self.person(
                        country,
                        family_name=first.family_name,
                        address=first.address,
                        phone=first.phone,
                        born_near=first.date_of_birth,
                    )
                )
            return members
        building = self.address(country)
        firms = []
        for _ in range(self.rng.choice((2, 2, 3))):
            floor = country.line2_pattern.format(n=self.rng.randint(1, 40))
            firms.append(self.organisation(country, address=replace(building, line2=floor)))
        return firms

    def _history(self) -> tuple[datetime, datetime]:
        """When the customer was first recorded and when its facts last changed."""
        span = int((LAST_CHANGE - _EPOCH).total_seconds())
        created = _EPOCH + timedelta(seconds=self.rng.randrange(span * 4 // 5))
        changed = created + timedelta(
            seconds=self.rng.randrange(int((LAST_CHANGE - created).total_seconds()))
        )
        return created, changed


def _fix_word_order(faker: Faker) -> None:
    """Sort the city lists that Faker builds from a set, so that a seed gives the same words.

    Faker's ``it_IT`` address provider (Faker 40) collects its cities with a set comprehension,
    whose order changes with ``PYTHONHASHSEED``; a sorted copy on the instance fixes the order.
    """
    for provider in faker.get_providers():
        cities = getattr(provider, "cities", None)
        if isinstance(cities, list):
            provider.cities = sorted(cities)


def build_population(customers: int, rng: random.Random, seed: int) -> list[Customer]:
    """The true customers, shuffled and numbered, with systems, duplicates and history assigned.

    Args:
        customers: How many true customers to make.
        rng: The source of every random choice.
        seed: Seeds the Faker instances (one per country).

    Returns:
        Customers with entity ids ``E000001`` and up, in a random order.
    """
    factory = PopulationFactory(rng, seed)
    persons_wanted = round(customers * PERSON_SHARE)
    organisations_wanted = customers - persons_wanted
    hard_negatives_wanted = round(customers * HARD_NEGATIVE_SHARE)

    population: list[Customer] = []
    counts: dict[Kind, int] = {"organisation": 0, "person": 0}
    wanted: dict[Kind, int] = {"organisation": organisations_wanted, "person": persons_wanted}
    group_number = 0
    kinds = list(_GROUP_WEIGHTS)
    while sum(counts.values()) < hard_negatives_wanted:
        group_kind = rng.choices(kinds, weights=list(_GROUP_WEIGHTS.values()))[0]
        kind: Kind = "person" if group_kind == "family" else "organisation"
        if counts[kind] + 3 > wanted[kind]:
            if counts["organisation"] + 3 > wanted["organisation"]:
                break
            continue
        group_number += 1
        for member in factory.hard_negative_group(group_kind):
            member.group = f"H{group_number:05d}"
            member.group_kind = group_kind
            population.append(member)
            counts[member.kind] += 1

    for _ in range(wanted["organisation"] - counts["organisation"]):
        population.append(factory.organisation(factory.country()))
    for _ in range(wanted["person"] - counts["person"]):
        population.append(factory.person(factory.country()))

    rng.shuffle(population)
    for index, customer in enumerate(population, start=1):
        customer.entity_id = f"E{index:06d}"
        _assign_systems(customer, factory)
    return population


def _assign_systems(customer: Customer, factory: PopulationFactory) -> None:
    """Choose the systems that know the customer, and where its data is stale or duplicated."""
    rng = factory.rng
    chances = _PRESENCE[customer.kind]
    systems = tuple(system for system, chance in zip(SYSTEMS, chances, strict=True) if rng.random() < chance)
    customer.systems = systems or (rng.choices(SYSTEMS, weights=chances)[0],)

    if rng.random() < _DUPLICATE_SHARE:
        customer.duplicate_in = rng.choice(customer.systems)
    if len(customer.systems) < 2:
        return
    if rng.random() < _STALE_ADDRESS_SHARE:
        customer.stale_system = rng.choice(customer.systems)
        customer.former_address = factory.address(customer.country)
        if rng.random() < 0.5:
            customer.former_phone = customer.country.phone_e164(rng)
    if customer.kind == "organisation" and customer.group is None and rng.random() < _RENAMED_SHARE:
        customer.stale_system = customer.stale_system or rng.choice(customer.systems)
        customer.former_brand = factory.brand(customer.country)
