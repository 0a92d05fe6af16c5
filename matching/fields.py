"""The field vocabulary shared by standardisation, the match profile and the scorers.

Canonical fields are what a source mapping produces from a system's own columns. Standardised
fields are what record linkage compares: one column each in the data frames that ``matching``
works on, next to ``unique_id`` (the source key as ``system/source_id``) and ``source_system``.
"""

from __future__ import annotations

from typing import Final, Literal

Kind = Literal["organisation", "person"]
KINDS: Final[tuple[Kind, ...]] = ("organisation", "person")

CANONICAL_FIELDS: Final[tuple[str, ...]] = (
    "kind",
    "name",
    "given_name",
    "family_name",
    "legal_name",
    "tax_id",
    "email",
    "website",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country",
    "date_of_birth",
    "updated_at",
)

# Columns of a standardised data frame, besides unique_id, source_system and kind. Every value is
# a string or None (missing); None never agrees with anything, itself included.
STANDARDISED_FIELDS: Final[tuple[str, ...]] = (
    "name",  # organisation: match key of the name without its legal suffix; person: given + family
    "legal_suffix",  # canonical legal form of an organisation, e.g. "gmbh", "ltd", "inc"
    "given_name",  # match key
    "family_name",  # match key
    "tax_id",  # upper-case alphanumerics, national prefix removed when it is the record's country
    "email",  # lower-cased address
    "email_domain",
    "website",  # bare domain, no scheme, no "www.", no path
    "domain",  # organisation: the website, else the e-mail domain unless a free mail provider's
    "phone",  # E.164
    "address_line1",  # match key of the street line
    "postal_code",  # upper case, no spaces or dashes
    "city",  # match key
    "region",  # match key
    "country",  # ISO 3166-1 alpha-2
    "date_of_birth",  # ISO 8601 date
)

KEY_COLUMNS: Final[tuple[str, ...]] = ("unique_id", "source_system", "kind")
