"""The bulk match job on both databases: one customer per key, stable ids, events, resumption."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select, update

import mdm.bulk
from matching.prediction import predict_pairs
from matching.profile import MatchProfile, load_profile
from matching.training import train_model
from mdm.accuracy import crosswalk_clusters
from mdm.bulk import MatchOutcome, read_live_records, run_match
from mdm.identity import parse_canonical_id
from mdm.loading import load_file
from mdm.mappings import SourceMapping
from mdm.sample import SampleFiles, generate_sample
from mdm.storage.database import make_engine, upgrade
from mdm.storage.tables import (
    CrosswalkEntry,
    Customer,
    GoldenRecord,
    IdentityChange,
    LinkConstraint,
    OutboxEvent,
    ReviewItem,
    SourceRecord,
)
from mdm.storage.types import utc_now
from tests.mdm.conftest import load_all

CHECKED_TABLES = (
    CrosswalkEntry,
    Customer,
    GoldenRecord,
    IdentityChange,
    OutboxEvent,
    ReviewItem,
    SourceRecord,
)


def match(
    engine: Engine, profile: MatchProfile, mappings: dict[str, SourceMapping], **options: Any
) -> MatchOutcome:
    priorities = {system: mapping.priority for system, mapping in mappings.items()}
    return run_match(engine, profile, priorities=priorities, **options)


# The live crosswalk as source key -> canonical id, as the accuracy report reads it.
crosswalk = crosswalk_clusters


def customers(engine: Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        return {row.canonical_id: row for row in connection.execute(select(Customer)).all()}


def checksums(engine: Engine) -> dict[str, str]:
    """A digest of every row of the identity tables (the job log itself is left out)."""
    digests = {}
    with engine.connect() as connection:
        for table in CHECKED_TABLES:
            rows = connection.execute(select(table.__table__).order_by(*table.__table__.primary_key)).all()
            text = json.dumps([list(row) for row in rows], default=str, sort_keys=True)
            digests[table.__tablename__] = hashlib.sha256(text.encode()).hexdigest()
    return digests


@pytest.fixture
def matched(
    hub: Engine, sample_files: SampleFiles, sample_mappings: dict[str, SourceMapping], profile: MatchProfile
) -> MatchOutcome:
    load_all(hub, sample_files, sample_mappings)
    return match(hub, profile, sample_mappings)


def test_every_live_key_belongs_to_exactly_one_live_customer(hub: Engine, matched: MatchOutcome) -> None:
    with hub.connect() as connection:
        live_records = connection.execute(
            select(func.count()).select_from(SourceRecord).where(SourceRecord.retired_at.is_(None))
        ).scalar_one()
        open_entries = (
            connection.execute(select(CrosswalkEntry.record_id).where(CrosswalkEntry.valid_to.is_(None)))
            .scalars()
            .all()
        )
    assert len(open_entries) == len(set(open_entries)) == live_records

    everyone = customers(hub)
    ids = set(crosswalk(hub).values())
    assert all(everyone[canonical_id].status == "live" for canonical_id in ids)
    assert all(parse_canonical_id(canonical_id) == canonical_id for canonical_id in ids)
    assert len(ids) == len(matched.plan.created)


def test_every_identity_change_has_its_event(hub: Engine, matched: MatchOutcome) -> None:
    with hub.connect() as connection:
        events = connection.execute(select(OutboxEvent.event_type, OutboxEvent.payload)).all()
        changes = Counter(connection.execute(select(IdentityChange.change)).scalars())
        golden = connection.execute(
            select(func.count()).select_from(GoldenRecord).where(GoldenRecord.valid_to.is_(None))
        ).scalar_one()

    by_type = Counter(event_type for event_type, _ in events)
    assert by_type["customer.created"] == changes["created"] == len(matched.plan.created)
    assert by_type["customer.golden_record_changed"] == golden == len(matched.plan.created)
    announced = [
        key for event_type, body in events if event_type == "customer.created" for key in body["source_keys"]
    ]
    assert sorted(announced) == sorted(crosswalk(hub))
    assert matched.events == len(events)


def test_a_rerun_on_unchanged_input_changes_nothing(
    hub: Engine, matched: MatchOutcome, sample_mappings: dict[str, SourceMapping], profile: MatchProfile
) -> None:
    before = checksums(hub)

    again = match(hub, profile, sample_mappings)

    assert again.plan.is_empty
    assert (again.events, again.review_items_opened, again.golden_records_written) == (0, 0, 0)
    assert checksums(hub) == before


def test_the_plan_alone_writes_nothing(
    hub: Engine, sample_files: SampleFiles, sample_mappings: dict[str, SourceMapping], profile: MatchProfile
) -> None:
    load_all(hub, sample_files, sample_mappings)
    before = checksums(hub)

    plan = match(hub, profile, sample_mappings, plan_only=True)

    assert plan.job_id is None
    assert len(plan.plan.created) > 0
    assert checksums(hub) == before


def test_ids_stay_put_when_records_are_added(
    hub: Engine,
    sample_files: SampleFiles,
    sample_mappings: dict[str, SourceMapping],
    profile: MatchProfile,
    tmp_path: Path,
) -> None:
    for system in ("crm", "billing", "erp"):
        load_file(hub, sample_files.systems[system].path, sample_mappings[system])
    match(hub, profile, sample_mappings)
    first = crosswalk(hub)

    # A twin of an existing CRM record under a source id lower than every other joins its customer.
    crm = sample_files.systems["crm"].path
    with crm.open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        twin_of = next(reader)
    twin = dict(twin_of, AccountId="0")
    lower = tmp_path / "crm-twin.csv"
    with lower.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerow(twin)
    load_file(hub, lower, sample_mappings["crm"])
    load_file(hub, sample_files.systems["support"].path, sample_mappings["support"])
    match(hub, profile, sample_mappings)
    second = crosswalk(hub)

    everyone = customers(hub)
    for key, old_id in first.items():
        new_id = second[key]
        assert new_id == old_id or everyone[old_id].merged_into == new_id, key
    kept = sum(1 for key, old_id in first.items() if second[key] == old_id)
    assert kept / len(first) > 0.97
    assert second["crm/0"] == second[f"crm/{twin_of['AccountId']}"] == first[f"crm/{twin_of['AccountId']}"]


def _record_ids(engine: Engine, keys: list[str]) -> list[int]:
    with engine.connect() as connection:
        found = {
            f"{system}/{source_id}": record_id
            for record_id, system, source_id in connection.execute(
                select(SourceRecord.id, SourceRecord.system, SourceRecord.source_id)
            )
        }
    return [found[key] for key in keys]


def _add_constraint(engine: Engine, left: str, right: str, kind: str) -> None:
    left_id, right_id = _record_ids(engine, [left, right])
    with engine.begin() as connection:
        connection.execute(
            insert(LinkConstraint).values(
                left_record_id=left_id, right_record_id=right_id, constraint=kind,
                created_at=utc_now(), created_by="steward:test",
            )
        )  # fmt: skip


def test_a_must_link_merges_into_the_older_id_and_the_other_redirects(
    hub: Engine, matched: MatchOutcome, sample_mappings: dict[str, SourceMapping], profile: MatchProfile
) -> None:
    keys_of: dict[str, list[str]] = {}
    for key, canonical_id in crosswalk(hub).items():
        keys_of.setdefault(canonical_id, []).append(key)
    everyone = customers(hub)
    singles = sorted(
        (everyone[cid].seq, cid)
        for cid, keys in keys_of.items()
        if len(keys) == 1 and everyone[cid].kind == "organisation"
    )
    (_, older), (_, younger) = singles[0], singles[-1]
    _add_constraint(hub, keys_of[younger][0], keys_of[older][0], "must_link")

    outcome = match(hub, profile, sample_mappings)

    assert [(m.loser, m.survivor) for m in outcome.plan.merges] == [(younger, older)]
    now = customers(hub)
    assert now[younger].status == "merged" and now[younger].merged_into == older
    assert crosswalk(hub)[keys_of[younger][0]] == older
    with hub.connect() as connection:
        merged = (
            connection.execute(
                select(OutboxEvent.canonical_id).where(OutboxEvent.event_type == "customer.merged")
            )
            .scalars()
            .all()
        )
    assert sorted(merged) == sorted([older, younger])


def test_a_cannot_link_separates_records_and_the_id_stays_with_one_side(
    hub: Engine, matched: MatchOutcome, sample_mappings: dict[str, SourceMapping], profile: MatchProfile
) -> None:
    keys_of: dict[str, list[str]] = {}
    for key, canonical_id in crosswalk(hub).items():
        keys_of.setdefault(canonical_id, []).append(key)
    canonical_id, keys = next((cid, sorted(keys)) for cid, keys in sorted(keys_of.items()) if len(keys) == 2)
    _add_constraint(hub, keys[0], keys[1], "cannot_link")

    match(hub, profile, sample_mappings)

    after = crosswalk(hub)
    assert after[keys[0]] != after[keys[1]]
    assert canonical_id in (after[keys[0]], after[keys[1]])


def test_retired_records_leave_their_customer_and_empty_customers_retire(
    hub: Engine, matched: MatchOutcome, sample_mappings: dict[str, SourceMapping], profile: MatchProfile
) -> None:
    keys_of: dict[str, list[str]] = {}
    for key, canonical_id in crosswalk(hub).items():
        keys_of.setdefault(canonical_id, []).append(key)
    lonely = next(cid for cid, keys in sorted(keys_of.items()) if len(keys) == 1)
    (record_id,) = _record_ids(hub, keys_of[lonely])
    with hub.begin() as connection:
        connection.execute(
            update(SourceRecord).where(SourceRecord.id == record_id).values(retired_at=utc_now())
        )

    outcome = match(hub, profile, sample_mappings)

    assert (outcome.records_retired, outcome.customers_retired) == (1, 1)
    assert customers(hub)[lonely].status == "retired"
    assert keys_of[lonely][0] not in crosswalk(hub)


def test_a_job_cut_off_half_way_is_completed_by_the_next_run(
    hub: Engine,
    sample_files: SampleFiles,
    sample_mappings: dict[str, SourceMapping],
    profile: MatchProfile,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    load_all(hub, sample_files, sample_mappings)
    real_apply = mdm.bulk.apply_batch
    calls = {"n": 0}

    def crash_after_two(*args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] > 2:
            raise RuntimeError("machine lost power")
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(mdm.bulk, "apply_batch", crash_after_two)
    with pytest.raises(RuntimeError):
        match(hub, profile, sample_mappings, batch_size=100)
    partial = crosswalk(hub)
    monkeypatch.setattr(mdm.bulk, "apply_batch", real_apply)

    outcome = match(hub, profile, sample_mappings)

    assert outcome.resumed_batches > 0
    assert outcome.plan.is_empty
    final = crosswalk(hub)
    assert all(final[key] == canonical_id for key, canonical_id in partial.items())
    with hub.connect() as connection:
        live = connection.execute(select(func.count()).select_from(SourceRecord)).scalar_one()
    assert len(final) == live


@pytest.mark.slow
def test_an_em_pass_that_underflows_is_abandoned_and_training_goes_on(
    tmp_path: Path, sample_mappings: dict[str, SourceMapping]
) -> None:
    # Seed 5 at 2,000 customers: the persons' pass blocked on given and family name drives a
    # level's m to zero, which Splink refuses.
    files = generate_sample(tmp_path, customers=2000, seed=5)
    engine = make_engine(f"sqlite:///{tmp_path / 'mdm.db'}")
    upgrade(engine)
    load_all(engine, files, sample_mappings)
    frame = read_live_records(engine).frame
    engine.dispose()
    persons = frame[frame["kind"] == "person"]

    model = train_model(persons, load_profile(None), "person")

    abandoned = [em_pass for em_pass in model.report.em_passes if em_pass.abandoned]
    assert [em_pass.blocking for em_pass in abandoned] == [("given_name", "family_name")]
    compared = [comparison["output_column_name"] for comparison in model.splink_settings["comparisons"]]
    assert compared == [comparison.field for comparison in model.profile.comparisons]
    pairs = predict_pairs(persons, model)
    assert len(pairs) > 0 and pairs["gamma_given_name"].notna().all()
