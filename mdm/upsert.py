"""Real-time writes of one source record: store, match, change identity, refresh the golden record.

Everything here runs in the caller's transaction, so the new version, the crosswalk change, its
identity-change log entries, its outbox events, any review item and the refreshed golden records
commit together or not at all. Identity changes are applied as one-record reconciliation plans
through ``mdm.crosswalk.apply_batch``, exactly as the bulk job applies its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, cast, get_args

import msgspec
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from matching.clustering import ReviewItem as ReviewPair
from matching.clustering import ReviewReason
from matching.fields import STANDARDISED_FIELDS, Kind
from mdm.bulk import open_review_items
from mdm.crosswalk import apply_batch, unlink_retired_records
from mdm.errors import NotFoundError
from mdm.golden import refresh_customers
from mdm.identity import new_canonical_id
from mdm.loading import GoodRow, LoadReport, store_rows
from mdm.models import active_model
from mdm.realtime import Candidate, MatchResult, match_record, score_against_customer
from mdm.reconcile import CreatedCustomer, KeyMove, Merge, ReconciliationPlan
from mdm.standardised import standardise_records
from mdm.storage.tables import CrosswalkEntry, SourceRecord, StandardisedRecord
from mdm.storage.types import utc_now
from mdm.writelocks import blocking_locks, lock_keys

RecordChange = Literal["created", "changed", "reactivated", "unchanged", "stale"]
UpsertDecision = Literal["link", "new", "review", "stay", "none"]


class UpsertOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What an upsert did.

    Attributes:
        system: the record's source system.
        source_id: its id there.
        record: ``created``, ``changed`` or ``reactivated`` (stored and current), ``unchanged``
            (already stored: nothing done), or ``stale`` (stored, but older than the current version).
        canonical_id: the customer the record belongs to now.
        decision: ``link`` (joined an existing customer), ``new`` (a new customer), ``review`` (a
            review item was opened), ``stay`` (a changed record still belongs where it was), or
            ``none`` (nothing was matched).
        reason: why: the match's reason (``auto_merge``, ``uncertain``, ``chain_guard``,
            ``cannot_link``, ``no_match``), ``drift`` for a changed record between the thresholds,
            or the record change for ``none``.
        moved_from: the customer a changed record left, if it moved.
        match_probability: the best candidate's probability, when one was scored.
        match_weight: its match weight.
        best: the best candidate, with the per-field contributions to its match weight.
        model_id: the model version that scored the record.
        review_opened: whether a review item was opened.
    """

    system: str
    source_id: str
    record: RecordChange
    canonical_id: str | None
    decision: UpsertDecision
    reason: str
    moved_from: str | None = None
    match_probability: float | None = None
    match_weight: float | None = None
    best: Candidate | None = None
    model_id: int | None = None
    review_opened: bool = False


class RetireOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What retiring a source record did: its former customer, and whether that customer was retired."""

    system: str
    source_id: str
    retired: bool
    canonical_id: str | None
    customer_retired: bool


def upsert_record(
    connection: Connection, system: str, row: GoodRow, *, actor: str, priorities: Mapping[str, int]
) -> UpsertOutcome:
    """Store one checked record as a new version and place it: link, new customer, review, or stay."""
    report = LoadReport(load_id=0, system=system, file="", mode="api")
    touched = store_rows(connection, system, None, [row], report)
    record_id, stored_kind = connection.execute(
        select(SourceRecord.id, SourceRecord.kind).where(
            SourceRecord.system == system, SourceRecord.source_id == row.source_id
        )
    ).one()
    current = _current_customer(connection, record_id)
    if not touched:
        change: RecordChange = "stale" if report.stale else "unchanged"
        return UpsertOutcome(system=system, source_id=row.source_id, record=change, canonical_id=current,
                             decision="none", reason=change)  # fmt: skip

    change = "created" if report.inserted else "reactivated" if report.reactivated else "changed"
    standardise_records(connection, [record_id])
    values = _standardised(connection, record_id)
    kind: Kind = "person" if stored_kind == "person" else "organisation"
    found = active_model(connection, kind)
    if found is not None:
        # Writes that could be each other's candidates take turns from here (see mdm.writelocks).
        lock_keys(connection, blocking_locks(found[1].profile, kind, values))
    place = _Placement(connection, f"{system}/{row.source_id}", record_id, kind, actor)
    if current is None:
        outcome = place.new_record(match_record(connection, values, kind, own_record_id=record_id))
    else:
        outcome = place.changed_record(values, current)
    affected = {canonical_id for canonical_id in (current, outcome.canonical_id) if canonical_id is not None}
    refresh_customers(connection, affected, priorities)
    return msgspec.structs.replace(outcome, system=system, source_id=row.source_id, record=change)


def retire_record(
    connection: Connection, system: str, source_id: str, *, actor: str, priorities: Mapping[str, int]
) -> RetireOutcome:
    """Retire a source record: close its crosswalk entry, refresh its customer, retire it if empty.

    Raises:
        NotFoundError: the hub holds no such record.
    """
    found = connection.execute(
        select(SourceRecord.id, SourceRecord.retired_at).where(
            SourceRecord.system == system, SourceRecord.source_id == source_id
        )
    ).first()
    if found is None:
        raise NotFoundError(f"no record {system}/{source_id} is stored", field="source_id")
    if found.retired_at is not None:
        return RetireOutcome(system=system, source_id=source_id, retired=False, canonical_id=None,
                             customer_retired=False)  # fmt: skip

    former = _current_customer(connection, found.id)
    connection.execute(update(SourceRecord).where(SourceRecord.id == found.id).values(retired_at=utc_now()))
    lost, emptied = unlink_retired_records(connection, [found.id], actor=actor)
    refresh_customers(connection, lost, priorities)
    return RetireOutcome(system=system, source_id=source_id, retired=True, canonical_id=former,
                         customer_retired=former in emptied)  # fmt: skip


class _Placement:
    """Applies the identity change that a match calls for, for one record."""

    def __init__(self, connection: Connection, key: str, record_id: int, kind: Kind, actor: str) -> None:
        self.connection, self.key, self.record_id, self.kind, self.actor = (
            connection, key, record_id, kind, actor,
        )  # fmt: skip

    def new_record(self, result: MatchResult) -> UpsertOutcome:
        """A record in no customer yet: link it, or give it a new customer (and a review item)."""
        if result.decision == "link" and result.canonical_id is not None:
            self._move(None, result.canonical_id, result.model_id)
            return self._outcome(result.canonical_id, "link", result.reason, result.best, result.model_id)
        created = self._create(None, result.model_id)
        opened = result.decision == "review" and self._review(result.best, result.reason, result.model_id)
        decision: UpsertDecision = "review" if opened else "new"
        return self._outcome(created, decision, result.reason, result.best, result.model_id, review=opened)

    def changed_record(self, values: Mapping[str, str | None], current: str) -> UpsertOutcome:
        """A changed record: it stays, opens a ``drift`` review, or moves out of its customer."""
        members = score_against_customer(self.connection, values, self.kind, current, self.record_id)
        best, model_id = members.best, members.model_id
        if best is not None and best.score.match_weight >= members.auto_merge_weight:
            return self._outcome(current, "stay", "auto_merge", best, model_id)
        if best is not None and best.score.match_weight >= members.review_weight:
            opened = self._review(best, "drift", model_id)
            return self._outcome(current, "review", "drift", best, model_id, review=opened)

        result = match_record(self.connection, values, self.kind, own_record_id=self.record_id)
        elsewhere = result.canonical_id not in (None, current)
        if best is None:
            # The customer's only record: joining another customer merges this one into it.
            if result.decision == "link" and elsewhere:
                assert result.canonical_id is not None
                self._move(current, result.canonical_id, result.model_id, merge=True)
                return self._outcome(result.canonical_id, "link", result.reason, result.best, result.model_id,
                                     moved_from=current)  # fmt: skip
            opened = result.decision == "review" and elsewhere and self._review(result.best, result.reason,
                                                                               result.model_id)  # fmt: skip
            return self._outcome(current, "review" if opened else "stay", result.reason, result.best,
                                 result.model_id, review=opened)  # fmt: skip

        if result.decision == "link" and elsewhere:
            assert result.canonical_id is not None
            self._move(current, result.canonical_id, result.model_id)
            return self._outcome(result.canonical_id, "link", result.reason, result.best, result.model_id,
                                 moved_from=current)  # fmt: skip
        created = self._create(current, result.model_id)
        opened = result.decision == "review" and elsewhere and self._review(result.best, result.reason,
                                                                           result.model_id)  # fmt: skip
        return self._outcome(created, "review" if opened else "new", result.reason, result.best,
                             result.model_id, review=opened, moved_from=current)  # fmt: skip

    def _create(self, from_id: str | None, model_id: int) -> str:
        canonical_id = new_canonical_id()
        plan = ReconciliationPlan(
            created=[CreatedCustomer(canonical_id, (self.key,))],
            moves=[KeyMove(self.key, from_id, canonical_id)],
        )
        self._apply(plan, model_id)
        return canonical_id

    def _move(self, from_id: str | None, to_id: str, model_id: int, *, merge: bool = False) -> None:
        merges = [Merge(loser=from_id, survivor=to_id)] if merge and from_id is not None else []
        self._apply(ReconciliationPlan(moves=[KeyMove(self.key, from_id, to_id)], merges=merges), model_id)

    def _apply(self, plan: ReconciliationPlan, model_id: int) -> None:
        apply_batch(self.connection, plan, None, {self.key: self.record_id}, {self.key: self.kind},
                    {self.kind: model_id}, actor=self.actor)  # fmt: skip

    def _review(self, best: Candidate | None, reason: str, model_id: int) -> bool:
        """Open a review item between this record and the best candidate; False when one is open."""
        if best is None:
            return False
        system, _, source_id = best.source_key.partition("/")
        other = self.connection.execute(
            select(SourceRecord.id).where(SourceRecord.system == system, SourceRecord.source_id == source_id)
        ).scalar_one()
        known = reason in get_args(ReviewReason)
        pair = ReviewPair(left=self.key, right=best.source_key, match_weight=best.score.match_weight,
                          reason=cast(ReviewReason, reason) if known else "uncertain")  # fmt: skip
        record_ids = {self.key: self.record_id, best.source_key: other}
        return open_review_items(self.connection, [pair], record_ids, model_id, None) > 0

    def _outcome(
        self,
        canonical_id: str,
        decision: UpsertDecision,
        reason: str,
        best: Candidate | None,
        model_id: int,
        *,
        review: bool = False,
        moved_from: str | None = None,
    ) -> UpsertOutcome:
        return UpsertOutcome(
            system="", source_id="", record="created", canonical_id=canonical_id, decision=decision,
            reason=reason, moved_from=moved_from, best=best, model_id=model_id, review_opened=review,
            match_probability=best.score.match_probability if best else None,
            match_weight=best.score.match_weight if best else None,
        )  # fmt: skip


def _current_customer(connection: Connection, record_id: int) -> str | None:
    return connection.execute(
        select(CrosswalkEntry.canonical_id).where(
            CrosswalkEntry.record_id == record_id, CrosswalkEntry.valid_to.is_(None)
        )
    ).scalar_one_or_none()


def _standardised(connection: Connection, record_id: int) -> dict[str, str | None]:
    columns = [getattr(StandardisedRecord, field) for field in STANDARDISED_FIELDS]
    row = connection.execute(select(*columns).where(StandardisedRecord.record_id == record_id)).one()
    return {field: getattr(row, field) for field in STANDARDISED_FIELDS}
