"""Organisation names: legal forms split off the end, common words folded to one spelling."""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Final

from matching._text import CACHE_SIZE, clean_text, collapse_acronyms, match_key

# Canonical legal form code -> the spellings systems use for it. Each spelling goes through the
# same folding as the names themselves (acronyms joined, "&" read as "and", match key), so
# "G.m.b.H." and "GmbH", or "S.à r.l." and "S.a r.l.", land on the same tokens.
_LEGAL_FORMS: Final[dict[str, tuple[str, ...]]] = {
    "gmbh": ("GmbH", "Gesellschaft mit beschränkter Haftung", "Ges.m.b.H.", "Gesellschaft mbH", "mbH"),
    "gmbh_co_kg": ("GmbH & Co. KG", "GmbH und Co. KG", "GmbH u. Co. KG", "GmbH Co KG"),
    "ag_co_kg": ("AG & Co. KG", "AG und Co. KG", "AG u. Co. KG"),
    "ug": ("UG", "UG (haftungsbeschränkt)", "Unternehmergesellschaft"),
    "ag": ("AG", "Aktiengesellschaft"),
    "kg": ("KG", "Kommanditgesellschaft"),
    "ohg": ("OHG", "offene Handelsgesellschaft"),
    "gbr": ("GbR", "Gesellschaft bürgerlichen Rechts"),
    "ev": ("e.V.", "eingetragener Verein"),
    "se": ("SE", "Societas Europaea"),
    "ltd": ("Ltd", "Limited", "Limited Company"),
    "plc": ("PLC", "Public Limited Company", "public limited co"),
    "llp": ("LLP", "Limited Liability Partnership"),
    "lp": ("LP", "Limited Partnership"),
    "inc": ("Inc", "Incorporated"),
    "llc": ("LLC", "Limited Liability Company", "Limited Liability Co"),
    "corp": ("Corp", "Corporation"),
    "pty_ltd": ("Pty Ltd", "Pty Limited", "Proprietary Limited"),
    "pte_ltd": ("Pte Ltd", "Pte Limited"),
    "pvt_ltd": ("Pvt Ltd", "Private Limited", "Private Limited Company"),
    "sdn_bhd": ("Sdn Bhd", "Sendirian Berhad"),
    "sa": ("SA", "S.A.", "Société Anonyme", "Sociedad Anónima", "SAU", "Sociedade Anónima"),
    "sa_de_cv": ("SA de CV", "Sociedad Anónima de Capital Variable"),
    "sarl": ("SARL", "S.à r.l.", "Société à responsabilité limitée", "Sàrl"),
    "sas": ("SAS", "Société par actions simplifiée", "SASU"),
    "sl": ("SL", "Sociedad Limitada", "SLU", "Sociedad de Responsabilidad Limitada"),
    "ltda": ("Ltda", "Limitada"),
    "bv": ("BV", "Besloten Vennootschap", "BVBA"),
    "nv": ("NV", "Naamloze Vennootschap"),
    "spa": ("SpA", "Società per Azioni"),
    "srl": ("Srl", "Società a responsabilità limitata"),
    "sp_zoo": ("Sp. z o.o.", "Spółka z o.o.", "Spółka z ograniczoną odpowiedzialnością", "Sp. z o. o."),
    "ab": ("AB", "Aktiebolag", "Aktiebolaget", "AB (publ)"),
    "oy": ("Oy", "Osakeyhtiö"),
    "oyj": ("Oyj", "Julkinen osakeyhtiö"),
    "as": ("A/S", "AS", "Aktieselskab", "Aksjeselskap"),
    "asa": ("ASA", "Allmennaksjeselskap"),
    "aps": ("ApS", "Anpartsselskab"),
    "kk": ("KK", "K.K.", "Kabushiki Kaisha", "Kabushiki Gaisha"),
    "sro": ("s.r.o.", "spol. s r.o.", "společnost s ručením omezeným"),
}

# "Co"/"Company" is left out of the table above: it is as often part of the name ("Smith & Co")
# as a legal form, and "Trading Company Ltd" must agree with "Trading Co Ltd".
_COMPANY_WORDS: Final[frozenset[str]] = frozenset({"co", "company", "cie", "compagnie"})

# Long and short spellings of the words that legacy systems abbreviate; both sides fold to one.
_WORD_FORMS: Final[dict[str, tuple[str, ...]]] = {
    "and": ("and",),
    "intl": ("international", "intl", "internat"),
    "tech": ("technologies", "technology", "tech", "techn", "technol"),
    "mfg": ("manufacturing", "mfg", "manufacturers", "mfrs", "manufacturer", "mfr"),
    "svcs": ("services", "service", "svcs", "svc", "serv", "srvcs"),
    "eng": ("engineering", "eng", "engg", "engr"),
    "sys": ("systems", "system", "sys"),
    "bros": ("brothers", "bros", "bro"),
    "assoc": ("associates", "associated", "association", "assoc", "assn"),
    "inds": ("industries", "industrial", "inds", "ind", "indus"),
    "mgmt": ("management", "mgmt", "mgt"),
    "dist": ("distribution", "distributors", "distributor", "dist", "distr", "distrib"),
    "hldgs": ("holdings", "holding", "hldgs", "hldg"),
    "grp": ("group", "grp", "gruppe", "groep", "groupe", "gruppo"),
    "natl": ("national", "natl"),
    "dept": ("department", "dept"),
    "univ": ("university", "univ"),
    "lab": ("laboratories", "laboratory", "labs", "lab"),
    "ctr": ("center", "centre", "ctr", "cntr"),
    "st": ("saint", "st", "sankt"),
    "co": ("company", "co", "cie", "compagnie"),
    "corp": ("corporation", "corp"),
    "ltd": ("limited", "ltd"),
    "inc": ("incorporated", "inc"),
}
_WORD_FOLD: Final[dict[str, str]] = {
    spelling: canonical for canonical, spellings in _WORD_FORMS.items() for spelling in spellings
}


def name_tokens(text: str | None) -> tuple[str, ...]:
    """Split an organisation name into match-key tokens, with acronyms joined and "&" as "and"."""
    cleaned = clean_text(text)
    if cleaned is None:
        return ()

    normalised = unicodedata.normalize("NFKC", cleaned).replace("&", " and ").replace("+", " and ")
    key = match_key(collapse_acronyms(normalised))
    return tuple(key.split()) if key else ()


_SUFFIX_CODES: Final[dict[tuple[str, ...], str]] = {
    name_tokens(spelling): code for code, spellings in _LEGAL_FORMS.items() for spelling in spellings
}
_LONGEST_SUFFIX: Final[int] = max(len(tokens) for tokens in _SUFFIX_CODES)


def _fold_words(tokens: tuple[str, ...]) -> str | None:
    """Fold abbreviations and drop a leading "the" that leaves a name behind."""
    folded = [_WORD_FOLD.get(token, token) for token in tokens]
    if len(folded) > 1 and folded[0] == "the":
        folded = folded[1:]
    return " ".join(folded) or None


@lru_cache(maxsize=CACHE_SIZE)
def split_organisation_name(text: str | None) -> tuple[str | None, str | None]:
    """Split an organisation name into its match key and its canonical legal form.

    The longest known legal form at the end of the name is split off, then a trailing "Co" or
    "Company" unless "and" precedes it ("Smith & Co" keeps it). Nothing is split off when it is
    the whole name. The rest has its common abbreviations folded ("Intl" and "International"
    both become "intl") and a leading "the" dropped.

    Args:
        text: A raw organisation name, or None.

    Returns:
        The name's match key and the legal form code (e.g. "gmbh", "ltd"), each None when absent.

    Examples:
        >>> split_organisation_name("Acme Technologies GmbH")
        ('acme tech', 'gmbh')
        >>> split_organisation_name("GmbH")
        ('gmbh', None)
    """
    tokens = name_tokens(text)
    if not tokens:
        return None, None

    # Limitation: only legal forms at the end are recognised; forms written first (Russian "OOO",
    # Indonesian "PT") stay part of the name.
    suffix: str | None = None
    for length in range(min(_LONGEST_SUFFIX, len(tokens) - 1), 0, -1):
        code = _SUFFIX_CODES.get(tokens[-length:])
        if code is not None:
            suffix = code
            tokens = tokens[:-length]
            break

    if len(tokens) > 1 and tokens[-1] in _COMPANY_WORDS and tokens[-2] != "and":
        tokens = tokens[:-1]
        suffix = suffix or "co"

    return _fold_words(tokens), suffix


def organisation_name(text: str | None) -> str | None:
    """The match key of an organisation name without its legal form."""
    return split_organisation_name(text)[0]


def legal_suffix(text: str | None) -> str | None:
    """The canonical legal form code at the end of an organisation name, or None."""
    return split_organisation_name(text)[1]


def clear_caches() -> None:
    """Empty this module's caches."""
    split_organisation_name.cache_clear()
