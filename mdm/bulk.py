"""The bulk match job: predict, cluster with constraints, reconcile with today's ids, apply in batches.

A job stores its reconciliation plan as batches before it applies any, and applies each batch in a
transaction of its own; a job cut off half way is completed by the next run, before anything else,
with the ids it had drawn. Re-running on unchanged input finds an empty plan and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import msgspec
import pandas as pd
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased

from matching.clustering import Clustering, Link, cluster
from matching.clustering import ReviewItem as ReviewPair
from matching.comparisons import strong_identifier_conflict
from matching.fields import KINDS, STANDARDISED_FIELDS, Kind
from matching.prediction import predict_pairs
from matching.profile import KindProfile, MatchProfile
from matching.scorer import match_probability
from matching.training import TrainedModel, train_model
from mdm.crosswalk import apply_batch, retire_gone_records
from mdm.golden import refresh_golden_records
from mdm.identity import new_canonical_id
from mdm.logs import get_logger
from mdm.models import active_model, store_model
from mdm.reconcile import ReconciliationPlan, batches, plan_reconciliation
from mdm.storage.database import refresh_statistics
from mdm.storage.tables import (
    CrosswalkEntry,
    Customer,
    LinkConstraint,
    MatchJob,
    PlanBatch,
    ReviewItem,
    SourceRecord,
    StandardisedRecord,
)
from mdm.storage.types import utc_now

log = get_logger(__name__)

BATCH_SIZE = 1_000
MAX_CLUSTER_SIZE = 20


class KindOutcome(msgspec.Struct, kw_only=True):
    """What matching one kind found."""

    kind: str
    model_id: int
    trained: bool
    records: int
    pairs_scored: int
    auto_merge_links: int
    review_items: int
    review_reasons: dict[str, int]
    profile_differs: bool = False


class MatchOutcome(msgspec.Struct, kw_only=True):
    """What a bulk match job did, or (with a plan only) would do."""

    job_id: int | None
    kinds: list[KindOutcome]
    plan: ReconciliationPlan
    records_retired: int = 0
    customers_retired: int = 0
    review_items_opened: int = 0
    golden_records_written: int = 0
    events: int = 0
    resumed_batches: int = 0

    @property
    def changes(self) -> dict[str, int]:
        """The plan's size by kind of change."""
        return {
            "created": len(self.plan.created),
            "moved": sum(1 for move in self.plan.moves if move.from_id is not None),
            "merged": len(self.plan.merges),
            "split": len(self.plan.splits),
        }


class LiveRecords(msgspec.Struct):
    """The live records' standardised fields, and their database ids by source key."""

    frame: pd.DataFrame
    record_ids: dict[str, int]


def run_match(
    engine: Engine,
    profile: MatchProfile,
    *,
    plan_only: bool = False,
    priorities: Mapping[str, int] | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[str, int, int], None] | None = None,
) -> MatchOutcome:
    """Run the bulk match job over every live source record.

    Args:
        engine: the system of record.
        profile: the match profile; a kind without an active model is trained on its records.
        plan_only: compute and return the plan without changing anything.
        priorities: survivorship source priority by system (from the source mappings).
        batch_size: changes per transaction when applying the plan.
        progress: called with (step, done, total) as batches are applied.
    """
    resumed = 0 if plan_only else resume_unfinished(engine)
    retired_records = retired_customers = 0
    if not plan_only:
        retired_records, retired_customers = retire_gone_records(engine)

    live = read_live_records(engine)
    with engine.connect() as connection:
        must_link, cannot_link = read_constraints(connection)
        current, id_order = read_crosswalk(connection)
        former, former_order = read_former_customers(connection)

    kinds: list[KindOutcome] = []
    clusters: list[tuple[str, ...]] = []
    reviews: list[tuple[int, Clustering]] = []
    model_of_kind: dict[str, int] = {}
    for kind in KINDS:
        records = live.frame[live.frame["kind"] == kind]
        if records.empty:
            continue
        model_id, model, trained = ensure_model(engine, profile, kind, records, store=not plan_only)
        model_of_kind[kind] = model_id
        clustering, pairs_scored = cluster_kind(records, model, must_link, cannot_link)
        clusters.extend(clustering.clusters)
        reviews.append((model_id, clustering))
        reasons: dict[str, int] = {}
        for item in clustering.review_items:
            reasons[item.reason] = reasons.get(item.reason, 0) + 1
        kinds.append(
            KindOutcome(
                kind=kind,
                model_id=model_id,
                trained=trained,
                records=len(records),
                pairs_scored=pairs_scored,
                auto_merge_links=clustering.counts.links_used + clustering.counts.must_links_used,
                review_items=len(clustering.review_items),
                review_reasons=reasons,
                profile_differs=_profile_differs(model, profile.for_kind(kind)),
            )
        )

    plan = plan_reconciliation(current, clusters, id_order | former_order, new_canonical_id, former)
    outcome = MatchOutcome(
        job_id=None,
        kinds=kinds,
        plan=plan,
        records_retired=retired_records,
        customers_retired=retired_customers,
        resumed_batches=resumed,
    )
    if plan_only:
        return outcome

    kind_of_key = dict(zip(live.frame["unique_id"], live.frame["kind"], strict=True))
    job_id = _start_job(engine, plan, batch_size)
    outcome.job_id = job_id
    outcome.events = _apply_job(engine, job_id, live.record_ids, kind_of_key, model_of_kind, progress)

    with engine.begin() as connection:
        for model_id, clustering in reviews:
            outcome.review_items_opened += open_review_items(
                connection, clustering.review_items, live.record_ids, model_id, job_id
            )

    written, golden_events = refresh_golden_records(engine, priorities)
    outcome.golden_records_written = written
    outcome.events += golden_events

    with engine.begin() as connection:
        connection.execute(
            update(MatchJob)
            .where(MatchJob.id == job_id)
            .values(status="finished", finished_at=utc_now(), counts=_job_counts(outcome))
        )
    refresh_statistics(engine, ["customer", "crosswalk", "golden_record", "review_item"])
    log.info("match.finished", job_id=job_id, **_job_counts(outcome))
    return outcome


def _profile_differs(model: TrainedModel, configured: KindProfile) -> bool:
    """Whether the configured profile would match differently from the active model's own.

    The active model keeps the profile it was trained with until another version is activated;
    training settings alone make no difference to matching.
    """
    return model.profile != msgspec.structs.replace(configured, training=model.profile.training)


def read_live_records(engine: Engine) -> LiveRecords:
    """The standardised fields of every live source record, keyed ``system/source_id``."""
    columns = [getattr(StandardisedRecord, field) for field in STANDARDISED_FIELDS]
    with engine.connect() as connection:
        rows = connection.execute(
            select(SourceRecord.id, SourceRecord.system, SourceRecord.source_id, StandardisedRecord.kind,
                   *columns)
            .join(StandardisedRecord, StandardisedRecord.record_id == SourceRecord.id)
            .where(SourceRecord.retired_at.is_(None))
            .order_by(SourceRecord.system, SourceRecord.source_id)
        ).all()  # fmt: skip

    keys = [f"{row.system}/{row.source_id}" for row in rows]
    frame = pd.DataFrame(
        {
            "unique_id": keys,
            "source_system": [row.system for row in rows],
            "kind": [row.kind for row in rows],
            **{field: [getattr(row, field) for row in rows] for field in STANDARDISED_FIELDS},
        },
        dtype=object,
    )
    return LiveRecords(
        frame=frame, record_ids={key: int(row.id) for key, row in zip(keys, rows, strict=True)}
    )


def read_constraints(connection: Connection) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Stewards' must-link and cannot-link constraints, as pairs of source keys."""
    left = SourceRecord.__table__.alias("left_record")
    right = SourceRecord.__table__.alias("right_record")
    rows = connection.execute(
        select(LinkConstraint.constraint, left.c.system, left.c.source_id, right.c.system, right.c.source_id)
        .select_from(LinkConstraint)
        .join(left, left.c.id == LinkConstraint.left_record_id)
        .join(right, right.c.id == LinkConstraint.right_record_id)
    ).all()  # fmt: skip
    must = [(f"{r[1]}/{r[2]}", f"{r[3]}/{r[4]}") for r in rows if r[0] == "must_link"]
    cannot = [(f"{r[1]}/{r[2]}", f"{r[3]}/{r[4]}") for r in rows if r[0] == "cannot_link"]
    return must, cannot


def read_crosswalk(connection: Connection) -> tuple[dict[str, str], dict[str, int]]:
    """The live crosswalk (source key -> canonical id) and every live id's creation order."""
    rows = connection.execute(
        select(CrosswalkEntry.system, CrosswalkEntry.source_id, CrosswalkEntry.canonical_id, Customer.seq)
        .join(Customer, Customer.canonical_id == CrosswalkEntry.canonical_id)
        .where(CrosswalkEntry.valid_to.is_(None))
    ).all()  # fmt: skip
    current = {f"{row.system}/{row.source_id}": row.canonical_id for row in rows}
    order = {row.canonical_id: int(row.seq) for row in rows}
    return current, order


def read_former_customers(connection: Connection) -> tuple[dict[str, str], dict[str, int]]:
    """Live records in no customer whose last customer was retired when it emptied, and its order.

    Such a customer can come back for its own returning record instead of a new id being minted
    (see ``mdm.reconcile.plan_reconciliation``). A merged or split customer has successors that
    stand for it, so it never comes back.
    """
    latest = (
        select(CrosswalkEntry.record_id, func.max(CrosswalkEntry.valid_to).label("ended"))
        .group_by(CrosswalkEntry.record_id)
        .subquery()
    )
    live = aliased(CrosswalkEntry)
    live_entry = select(live.id).where(live.record_id == SourceRecord.id, live.valid_to.is_(None))
    rows = connection.execute(
        select(SourceRecord.system, SourceRecord.source_id, Customer.canonical_id, Customer.seq)
        .join(latest, latest.c.record_id == SourceRecord.id)
        .join(CrosswalkEntry, (CrosswalkEntry.record_id == SourceRecord.id)
              & (CrosswalkEntry.valid_to == latest.c.ended))
        .join(Customer, Customer.canonical_id == CrosswalkEntry.canonical_id)
        .where(SourceRecord.retired_at.is_(None), ~live_entry.exists(), Customer.status == "retired",
               Customer.kind == SourceRecord.kind)
    ).all()  # fmt: skip
    former = {f"{row.system}/{row.source_id}": row.canonical_id for row in rows}
    order = {row.canonical_id: int(row.seq) for row in rows}
    return former, order


def ensure_model(
    engine: Engine, profile: MatchProfile, kind: Kind, records: pd.DataFrame, *, store: bool = True
) -> tuple[int, TrainedModel, bool]:
    """The active model of a kind, trained on the records and activated when there is none."""
    with engine.connect() as connection:
        found = active_model(connection, kind)
    if found is not None:
        return found[0], found[1], False

    model = train_model(records, profile, kind)
    if not store:
        return 0, model, True
    with engine.begin() as connection:
        model_id = store_model(connection, model, activate=True)
    return model_id, model, True


def cluster_kind(
    records: pd.DataFrame,
    model: TrainedModel,
    must_link: Iterable[tuple[str, str]],
    cannot_link: Iterable[tuple[str, str]],
) -> tuple[Clustering, int]:
    """Predict the pairs of one kind's records and cluster them under the chain guard."""
    pairs = predict_pairs(records, model, threshold_weight=model.review_weight)
    links = [
        Link(left, right, float(weight))
        for left, right, weight in zip(
            pairs["unique_id_l"], pairs["unique_id_r"], pairs["match_weight"], strict=True
        )
    ]
    strong_fields = model.profile.strong
    strong_values: dict[str, dict[str, str | None]] = {}
    if strong_fields:
        columns = [records[field].tolist() for field in strong_fields]
        for position, key in enumerate(records["unique_id"].tolist()):
            values = {field: columns[i][position] for i, field in enumerate(strong_fields)}
            if any(value is not None for value in values.values()):
                strong_values[key] = values

    keys = set(records["unique_id"])
    clustering = cluster(
        records["unique_id"].tolist(),
        links,
        auto_merge=model.auto_merge_weight,
        review=model.review_weight,
        strong_values=strong_values,
        conflicts=strong_identifier_conflict(model.profile, model.kind),
        must_link=[pair for pair in must_link if pair[0] in keys and pair[1] in keys],
        cannot_link=[pair for pair in cannot_link if pair[0] in keys and pair[1] in keys],
        max_cluster_size=MAX_CLUSTER_SIZE,
    )
    return clustering, len(pairs)


def open_review_items(
    connection: Connection,
    review_items: Sequence[ReviewPair],
    record_ids: Mapping[str, int],
    model_id: int,
    job_id: int | None,
) -> int:
    """Open a review item for each ambiguous pair that has none open yet; returns how many."""
    if not review_items:
        return 0
    open_pairs: set[tuple[int, int]] = {
        (int(left), int(right))
        for left, right in connection.execute(
            select(ReviewItem.left_record_id, ReviewItem.right_record_id).where(ReviewItem.status == "open")
        )
    }
    now = utc_now()
    rows: list[dict[str, Any]] = []
    for item in review_items:
        left, right = sorted((record_ids[item.left], record_ids[item.right]))
        if (left, right) in open_pairs:
            continue
        open_pairs.add((left, right))
        rows.append(
            {"reason": item.reason, "status": "open", "left_record_id": left, "right_record_id": right,
             "match_weight": item.match_weight, "match_probability": match_probability(item.match_weight),
             "model_id": model_id, "job_id": job_id, "created_at": now}
        )  # fmt: skip
    if rows:
        connection.execute(insert(ReviewItem), rows)
    return len(rows)


def _start_job(engine: Engine, plan: ReconciliationPlan, batch_size: int) -> int:
    """Record the job and its whole plan, as batches, before any of it is applied."""
    with engine.begin() as connection:
        job_id = int(
            connection.execute(
                insert(MatchJob).values(started_at=utc_now(), status="applying", full=True, counts={})
            ).inserted_primary_key[0]  # type: ignore[index]
        )
        rows = [
            {"job_id": job_id, "batch_no": number, "plan": msgspec.to_builtins(part), "applied_at": None}
            for number, part in enumerate(batches(plan, batch_size))
        ]
        if rows:
            connection.execute(insert(PlanBatch), rows)
    return job_id


def _apply_job(  # noqa: PLR0917
    engine: Engine,
    job_id: int,
    record_ids: dict[str, int],
    kind_of_key: dict[str, str],
    model_of_kind: dict[str, int],
    progress: Callable[[str, int, int], None] | None,
) -> int:
    """Apply a job's unapplied batches in order, each in its own transaction; returns events written."""
    with engine.connect() as connection:
        pending = connection.execute(
            select(PlanBatch.id, PlanBatch.plan)
            .where(PlanBatch.job_id == job_id, PlanBatch.applied_at.is_(None))
            .order_by(PlanBatch.batch_no)
        ).all()  # fmt: skip

    events = 0
    for done, (batch_id, document) in enumerate(pending, start=1):
        part = msgspec.convert(document, ReconciliationPlan)
        with engine.begin() as connection:
            events += apply_batch(connection, part, job_id, record_ids, kind_of_key, model_of_kind)
            connection.execute(update(PlanBatch).where(PlanBatch.id == batch_id).values(applied_at=utc_now()))
        if progress:
            progress("apply", done, len(pending))
    return events


def resume_unfinished(engine: Engine) -> int:
    """Complete the plan of any job that was cut off while applying; returns batches applied."""
    with engine.connect() as connection:
        job_ids = connection.execute(select(MatchJob.id).where(MatchJob.status == "applying")).scalars().all()
    if not job_ids:
        return 0

    live = read_live_records(engine)
    kind_of_key = dict(zip(live.frame["unique_id"], live.frame["kind"], strict=True))
    with engine.connect() as connection:
        model_of_kind: dict[str, int] = {
            kind: found[0] for kind in KINDS if (found := active_model(connection, kind)) is not None
        }
        pending = connection.execute(
            select(func.count()).where(PlanBatch.job_id.in_(job_ids), PlanBatch.applied_at.is_(None))
        ).scalar_one()
    for job_id in job_ids:
        _apply_job(engine, job_id, live.record_ids, kind_of_key, model_of_kind, None)
        with engine.begin() as connection:
            connection.execute(
                update(MatchJob).where(MatchJob.id == job_id).values(status="finished", finished_at=utc_now())
            )
    log.info("match.resumed", jobs=len(job_ids), batches=int(pending))
    return int(pending)


def _job_counts(outcome: MatchOutcome) -> dict[str, Any]:
    return {
        **outcome.changes,
        "records_retired": outcome.records_retired,
        "customers_retired": outcome.customers_retired,
        "review_items_opened": outcome.review_items_opened,
        "golden_records_written": outcome.golden_records_written,
        "events": outcome.events,
        "auto_merge_links": sum(kind.auto_merge_links for kind in outcome.kinds),
    }
