"""Constrained clustering at scale: 100,000 records and a million links, in pure Python.

Run: .venv/bin/python bench/clustering.py
"""

from __future__ import annotations

import random
import time

from matching.clustering import Link, cluster


def typo_tolerant(field: str, left: str | None, right: str | None) -> bool:
    """Conflict when both tax ids are present and differ in more than one position."""
    if left is None or right is None or len(left) != len(right):
        return left is not None and right is not None
    return sum(a != b for a, b in zip(left, right, strict=True)) > 1


def main() -> None:
    generator = random.Random(3)
    records = [f"crm/{number:06d}" for number in range(100_000)]
    strong: dict[str, dict[str, str | None]] = {
        record: {"tax_id": f"{generator.randrange(10**8):08d}"} for record in records[::4]
    }
    links = [
        Link(records[left], records[(left + generator.randrange(1, 50)) % 100_000], generator.uniform(0, 20))
        for left in (generator.randrange(100_000) for _ in range(1_000_000))
    ]

    started = time.perf_counter()
    result = cluster(
        records, links, auto_merge=10.0, review=4.0, strong_values=strong, conflicts=typo_tolerant
    )
    seconds = time.perf_counter() - started

    print(f"records: {len(records):,}  links: {len(links):,}")
    print(f"clustering: {seconds:.2f} s  ({len(links) / seconds:,.0f} links/s)")
    print(f"clusters: {len(result.clusters):,}  largest: {max(len(c) for c in result.clusters)}")
    refused = result.counts.refused_chain_guard
    print(f"review items: {len(result.review_items):,}  chain-guard refusals: {refused:,}")


if __name__ == "__main__":
    main()
