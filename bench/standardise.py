"""Standardisation throughput: a million rows built from 50,000 distinct customers.

Prints rows per second for the frame path (distinct values, cold and warm caches) and for a naive
row-by-row loop over ``standardise_record`` on a slice, and the ratio between the two.

    .venv/bin/python bench/standardise.py [--rows 1000000] [--distinct 50000] [--naive-rows 50000]
"""

from __future__ import annotations

import argparse
import random
import time

import pandas as pd
from faker import Faker

from matching import clear_caches, standardise_frame, standardise_record

_COUNTRIES = {
    "de_DE": ("DE", "Germany", "deu"),
    "en_GB": ("GB", "United Kingdom", "UK"),
    "en_US": ("US", "USA", "United States"),
    "fr_FR": ("FR", "France", "fra"),
}
_SUFFIXES = {"de_DE": "GmbH", "en_GB": "Ltd", "en_US": "Inc.", "fr_FR": "S.A."}


def build_customers(distinct: int, seed: int) -> list[dict[str, str | None]]:
    """Distinct customers with values in the shapes that source systems send."""
    rng = random.Random(seed)
    fakers = {locale: Faker(locale) for locale in _COUNTRIES}
    for number, faker in enumerate(fakers.values()):
        faker.seed_instance(seed + number)

    customers: list[dict[str, str | None]] = []
    for number in range(distinct):
        locale = rng.choice(list(_COUNTRIES))
        faker = fakers[locale]
        kind = "person" if rng.random() < 0.4 else "organisation"
        company = f"{faker.last_name()} {rng.choice(['Tech', 'International', 'Mfg', 'Services'])}"
        customers.append(
            {
                "kind": kind,
                "name": f"{faker.first_name()} {faker.last_name()}" if kind == "person" else company,
                "legal_name": f"{company} {_SUFFIXES[locale]}" if kind == "organisation" else None,
                "tax_id": f"{rng.randrange(10**8, 10**9)}" if kind == "organisation" else None,
                "email": f"contact{number}@{faker.domain_name()}",
                "website": f"https://www.{faker.domain_name()}/about" if kind == "organisation" else None,
                "phone": faker.phone_number(),
                "address_line1": faker.street_address(),
                "city": faker.city(),
                "postal_code": faker.postcode(),
                "country": rng.choice(_COUNTRIES[locale]),
                "date_of_birth": faker.date_of_birth().isoformat() if kind == "person" else None,
            }
        )
    return customers


def build_frame(customers: list[dict[str, str | None]], rows: int, seed: int) -> pd.DataFrame:
    """A frame of ``rows`` records, each a copy of one of the customers."""
    rng = random.Random(seed)
    picks = rng.choices(range(len(customers)), k=rows)
    frame = pd.DataFrame([customers[pick] for pick in picks])
    frame.insert(0, "unique_id", [f"crm/{number}" for number in range(rows)])
    frame.insert(1, "source_system", "crm")
    return frame


def main() -> None:
    """Build the frame, time both paths and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--distinct", type=int, default=50_000)
    parser.add_argument("--naive-rows", type=int, default=50_000)
    arguments = parser.parse_args()

    started = time.perf_counter()
    customers = build_customers(arguments.distinct, seed=1)
    frame = build_frame(customers, arguments.rows, seed=2)
    built = time.perf_counter() - started
    print(f"built {len(frame):,} rows from {arguments.distinct:,} customers in {built:.1f} s")

    clear_caches()
    started = time.perf_counter()
    standardise_frame(frame)
    cold = time.perf_counter() - started
    print(f"frame, cold caches: {cold:.2f} s, {len(frame) / cold:,.0f} rows/s")

    started = time.perf_counter()
    standardise_frame(frame)
    warm = time.perf_counter() - started
    print(f"frame, warm caches: {warm:.2f} s, {len(frame) / warm:,.0f} rows/s")

    # The naive path runs every row through standardise_record with its caches emptied and
    # disabled in effect: each row's values go through the field functions on their own.
    naive_rows = frame.iloc[: arguments.naive_rows].to_dict("records")
    started = time.perf_counter()
    for row in naive_rows:
        clear_caches()
        standardise_record(row)
    naive = time.perf_counter() - started
    naive_rate = len(naive_rows) / naive
    print(f"naive row by row, no cache reuse: {naive_rate:,.0f} rows/s on {len(naive_rows):,} rows")
    print(f"distinct vs naive: {len(frame) / cold / naive_rate:.1f}x faster with cold caches")

    clear_caches()
    started = time.perf_counter()
    for row in naive_rows:
        standardise_record(row)
    per_row = len(naive_rows) / (time.perf_counter() - started)
    print(f"row by row with the caches (the real-time path): {per_row:,.0f} rows/s")


if __name__ == "__main__":
    main()
