"""The countries sample customers live in: names, codes, legal forms, tax ids and phone plans."""

from __future__ import annotations

import random
from dataclasses import dataclass

import phonenumbers

from mdm.sample._variants import LegalSuffix

_GMBH = LegalSuffix(("GmbH", "G.m.b.H.", "Gesellschaft mit beschränkter Haftung"))
_AG = LegalSuffix(("AG", "Aktiengesellschaft"))
_KG = LegalSuffix(("GmbH & Co. KG", "GmbH & Co KG", "GmbH u. Co. KG"))
_LTD = LegalSuffix(("Ltd", "Ltd.", "Limited"))
_PLC = LegalSuffix(("PLC", "plc", "Public Limited Company"))
_INC = LegalSuffix(("Inc", "Inc.", "Incorporated"))
_LLC = LegalSuffix(("LLC", "L.L.C."))
_CORP = LegalSuffix(("Corp", "Corp.", "Corporation"))
_SA = LegalSuffix(("SA", "S.A."))
_SARL = LegalSuffix(("SARL", "S.A.R.L.", "S.à r.l."))
_SAS = LegalSuffix(("SAS", "S.A.S."))
_SL = LegalSuffix(("SL", "S.L.", "Sociedad Limitada"))
_BV = LegalSuffix(("BV", "B.V.", "Besloten Vennootschap"))
_NV = LegalSuffix(("NV", "N.V."))
_SPA = LegalSuffix(("SpA", "S.p.A.", "Società per Azioni"))
_SRL = LegalSuffix(("Srl", "S.r.l."))
_SPZOO = LegalSuffix(("Sp. z o.o.", "sp. z o.o.", "Spółka z ograniczoną odpowiedzialnością"))
_AB = LegalSuffix(("AB", "Aktiebolag"))


@dataclass(frozen=True, slots=True)
class Country:
    """Everything the generator needs to make a plausible customer of one country."""

    alpha2: str
    alpha3: str
    name: str
    locale: str
    weight: int
    currency: str
    tld: str
    vat_prefix: str
    vat_pattern: str
    suffixes: tuple[LegalSuffix, ...]
    suffix_weights: tuple[int, ...]
    descriptors: tuple[str, ...]
    line2_pattern: str
    phone_plans: tuple[tuple[str, int], ...]
    region_provider: str = "administrative_unit"

    def tax_id(self, rng: random.Random) -> str:
        """A national tax number without the country prefix: ``#`` is a digit, ``@`` a letter."""
        return "".join(
            str(rng.randrange(10)) if char == "#" else rng.choice("ABCDEFGHJ") if char == "@" else char
            for char in self.vat_pattern
        )

    def phone_e164(self, rng: random.Random) -> str:
        """A valid E.164 number from one of the country's area or mobile prefixes."""
        code = phonenumbers.country_code_for_region(self.alpha2)
        candidate = ""
        for _ in range(40):
            prefix, length = rng.choice(self.phone_plans)
            digits = "".join(str(rng.randrange(10)) for _ in range(length))
            candidate = f"+{code}{prefix}{digits}"
            if phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
                break
        return candidate


_ENGLISH_DESCRIPTORS = (
    "Technologies",
    "International",
    "Trading Company",
    "Systems",
    "Solutions",
    "Consulting",
    "Logistics",
    "Manufacturing",
    "Engineering",
    "Services",
    "Holdings",
    "Industries",
    "Foods",
    "Partners",
    "Brothers",
    "Associates",
    "Software",
    "Energy",
    "Media",
    "Management",
    "Technologies International",
    "International Distribution",
)

COUNTRIES: tuple[Country, ...] = (
    Country(
        "US", "USA", "United States", "en_US", 20, "USD", "com", "", "##-#######",
        (_INC, _LLC, _CORP), (5, 3, 2), (), "Suite {n}",
        (("212", 7), ("312", 7), ("415", 7), ("617", 7), ("305", 7), ("512", 7), ("206", 7), ("404", 7)),
        "state_abbr",
    ),
    Country(
        "GB", "GBR", "United Kingdom", "en_GB", 15, "GBP", "co.uk", "GB", "#########",
        (_LTD, _PLC), (8, 2), (), "Unit {n}",
        (("207", 7), ("203", 7), ("161", 7), ("121", 7), ("74", 8), ("77", 8)),
    ),
    Country(
        "DE", "DEU", "Germany", "de_DE", 18, "EUR", "de", "DE", "#########",
        (_GMBH, _AG, _KG), (6, 2, 2), ("Maschinenbau", "Handel", "Logistik", "Bau"), "{n}. OG",
        (("30", 8), ("89", 8), ("40", 8), ("221", 7), ("151", 8), ("176", 8)),
    ),
    Country(
        "AT", "AUT", "Austria", "de_AT", 5, "EUR", "at", "ATU", "########",
        (_GMBH, _AG), (8, 2), ("Handel", "Bau"), "Top {n}",
        (("1", 7), ("316", 6), ("664", 7), ("676", 7)),
    ),
    Country(
        "FR", "FRA", "France", "fr_FR", 10, "EUR", "fr", "FR", "###########",
        (_SA, _SARL, _SAS), (3, 3, 4), ("Conseil", "Distribution"), "Bâtiment {n}",
        (("1", 8), ("4", 8), ("6", 8), ("7", 8)),
    ),
    Country(
        "ES", "ESP", "Spain", "es_ES", 8, "EUR", "es", "ES", "@########",
        (_SA, _SL), (4, 6), ("Construcciones", "Distribuciones"), "Planta {n}",
        (("91", 7), ("93", 7), ("6", 8)),
    ),
    Country(
        "NL", "NLD", "Netherlands", "nl_NL", 8, "EUR", "nl", "NL", "#########B##",
        (_BV, _NV), (8, 2), ("Groep",), "{n}e verdieping",
        (("20", 7), ("10", 7), ("30", 7), ("6", 8)),
    ),
    Country(
        "IT", "ITA", "Italy", "it_IT", 8, "EUR", "it", "IT", "###########",
        (_SRL, _SPA), (6, 4), ("Costruzioni", "Distribuzione"), "Piano {n}",
        (("02", 8), ("06", 8), ("33", 8), ("34", 8)),
    ),
    Country(
        "PL", "POL", "Poland", "pl_PL", 4, "PLN", "pl", "PL", "##########",
        (_SPZOO, _SA), (8, 2), ("Handel",), "lok. {n}",
        (("22", 7), ("12", 7), ("50", 7), ("60", 7)),
    ),
    Country(
        "SE", "SWE", "Sweden", "sv_SE", 4, "SEK", "se", "SE", "##########01",
        (_AB,), (1,), ("Bygg",), "vån {n}",
        (("8", 7), ("31", 7), ("70", 7), ("73", 7)),
    ),
)  # fmt: skip

COUNTRY_WEIGHTS: tuple[int, ...] = tuple(country.weight for country in COUNTRIES)
ENGLISH_DESCRIPTORS: tuple[str, ...] = _ENGLISH_DESCRIPTORS
INDUSTRIES: tuple[str, ...] = (
    "Manufacturing",
    "Retail",
    "Technology",
    "Finance",
    "Healthcare",
    "Logistics",
    "Energy",
    "Construction",
    "Hospitality",
    "Education",
    "Media",
    "Agriculture",
)
