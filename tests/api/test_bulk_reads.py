"""The read paths on a hub built by the real bulk job from the generated sample."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import Engine, select

from matching import standardise_record
from matching.profile import MatchProfile
from mdm.bulk import run_match
from mdm.mappings import SourceMapping
from mdm.sample import SampleFiles
from mdm.storage.tables import CrosswalkEntry, StandardisedRecord
from tests.mdm.conftest import load_all

Client = TestClient[Any]


@pytest.mark.slow
def test_reads_agree_with_the_crosswalk_the_bulk_job_wrote(
    hub: Engine,
    client: Client,
    reader: dict[str, str],
    sample_files: SampleFiles,
    sample_mappings: dict[str, SourceMapping],
    profile: MatchProfile,
) -> None:
    load_all(hub, sample_files, sample_mappings)
    run_match(hub, profile, priorities={system: m.priority for system, m in sample_mappings.items()})
    with hub.connect() as connection:
        live = connection.execute(
            select(CrosswalkEntry.system, CrosswalkEntry.source_id, CrosswalkEntry.canonical_id).where(
                CrosswalkEntry.valid_to.is_(None)
            )
        ).all()
        names = connection.execute(
            select(StandardisedRecord.name, CrosswalkEntry.canonical_id)
            .join(CrosswalkEntry, CrosswalkEntry.record_id == StandardisedRecord.record_id)
            .where(CrosswalkEntry.valid_to.is_(None), StandardisedRecord.kind == "organisation")
        ).all()

    # Batch lookups of every live key, 1,000 at a time, give the crosswalk back.
    answered = {}
    for start in range(0, len(live), 1000):
        chunk = [{"system": row.system, "source_id": row.source_id} for row in live[start : start + 1000]]
        response = client.post("/v1/crosswalk:lookup", json={"keys": chunk}, headers=reader)
        assert response.status_code == 200, response.text
        answered.update(
            {(r["system"], r["source_id"]): r["canonical_id"] for r in response.json()["results"]}
        )
    assert answered == {(row.system, row.source_id): row.canonical_id for row in live}

    # A single key answers with its customer and exactly the customer's other keys.
    members = Counter(row.canonical_id for row in live)
    biggest = max(members, key=lambda canonical_id: (members[canonical_id], canonical_id))
    keys = sorted((row.system, row.source_id) for row in live if row.canonical_id == biggest)
    body = client.get(f"/v1/crosswalk/{keys[0][0]}/{keys[0][1]}", headers=reader).json()
    assert body["canonical_id"] == biggest
    assert [(key["system"], key["source_id"]) for key in body["other_keys"]] == keys[1:]

    # Search pages through every customer with a record of the most common name, once each.
    by_name: dict[str, set[str]] = {}
    for name, canonical_id in names:
        if name and standardise_record({"kind": "organisation", "name": name})["name"] == name:
            by_name.setdefault(name, set()).add(canonical_id)
    name, expected = max(by_name.items(), key=lambda item: (len(item[1]), item[0]))
    seen: list[str] = []
    cursor = None
    while True:
        params = {"q": name, "limit": 1, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/customers", params=params, headers=reader).json()
        seen.extend(hit["canonical_id"] for hit in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(expected)
