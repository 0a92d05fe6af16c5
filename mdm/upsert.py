"""Real-time writes of one source record: store, match, change identity, refresh the golden record.

Everything here runs in the caller's transaction, so the new version, the crosswalk change, its
identity-change log entries, its outbox events, any review item and the refreshed golden records
commit together or not at all. Identity changes are applied as one-record reconciliation plans
through ``mdm.crosswalk.apply_batch``, exactly as the bulk job applies its own.

While a kind has no active model, records are still stored and placed, by exact agreement on the
configured profile's identifiers only (``mdm.realtime.match_by_identifiers``); the answer says so.

A record sent again after it was retired comes back to its former customer when that customer
was retired only because it emptied and the record now matches no other customer: the former id
is revived rather than a new one minted, so that a source key keeps its canonical id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, cast, get_args

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from matching.clustering import ReviewItem as ReviewPair
from matching.clustering import ReviewReason
from matching.fields import Kind
from matching.profile import KindProfile, MatchProfile, load_profile
from mdm.bulk import open_review_items
from mdm.crosswalk import apply_batch, revive_customer, unlink_retired_records
from mdm.errors import NotFoundError
from mdm.golden import refresh_customers
from mdm.identity import new_canonical_id
from mdm.loading import GoodRow, LoadReport, store_rows
from mdm.models import active_model
from mdm.realtime import (
    Candidate,
    IdentifierAgreement,
    MatchedBy,
    MatchResult,
    match_record,
    must_link_customer,
    score_against_customer,
)
from mdm.reconcile import CreatedCustomer, KeyMove, Merge, ReconciliationPlan
from mdm.standardised import standardise_one
from mdm.storage.tables import CrosswalkEntry, Customer, SourceRecord
from mdm.storage.types import utc_now
from mdm.writelocks import blocking_locks, identifier_locks, lock_keys

RecordChange = Literal["created", "changed", "reactivated", "unchanged", "stale"]
UpsertDecision = Literal["link", "new", "review", "stay", "revived", "none"]


class UpsertOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What an upsert did.

    Attributes:
        system: the record's source system.
        source_id: its id there.
        record: ``created``, ``changed`` or ``reactivated`` (stored and current), ``unchanged``
            (already stored: nothing done), or ``stale`` (stored, but older than the current version).
        canonical_id: the customer the record belongs to now.
        decision: ``link`` (joined an existing customer), ``new`` (a new customer), ``review`` (a
            review item was opened), ``stay`` (a changed record still belongs where it was),
            ``revived`` (a re-sent record brought its former, retired customer back), or ``none``
            (nothing was matched).
        reason: why: the match's reason (``auto_merge``, ``uncertain``, ``chain_guard``,
            ``cannot_link``, ``no_match``), ``drift`` for a changed record between the thresholds,
            or the record change for ``none``. Without a model: ``exact_identifier`` (an
            identifier agreed), ``ambiguous_identifier`` (records of several customers agreed),
            ``no_model`` (none agreed, or a changed record stays where it is).
        moved_from: the customer a changed record left, if it moved.
        match_probability: the best candidate's probability, when one was scored.
        match_weight: its match weight.
        best: the best candidate, with the per-field contributions to its match weight.
        model_id: the model version that scored the record; None when no model is active.
        review_opened: whether a review item was opened.
        matched_by: ``model``, or ``exact_identifiers`` when the kind has no active model and
            only exact agreement on the profile's identifiers was looked at; None when nothing
            was matched.
        identifier: without a model, the record whose identifier agreed, and on which fields.
        note: a sentence for people when the answer needs one, e.g. that no model is active.
        candidates_scored: how many candidate records the model scored (at most 200), when it
            looked for candidates.
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
    matched_by: MatchedBy | None = None
    identifier: IdentifierAgreement | None = None
    note: str | None = None
    candidates_scored: int | None = None


class RetireOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What retiring a source record did: its former customer, and whether that customer was retired."""

    system: str
    source_id: str
    retired: bool
    canonical_id: str | None
    customer_retired: bool


def upsert_record(
    connection: Connection,
    system: str,
    row: GoodRow,
    *,
    actor: str,
    priorities: Mapping[str, int],
    profile: MatchProfile | None = None,
) -> UpsertOutcome:
    """Store one checked record as a new version and place it: link, new customer, review, or stay.

    Args:
        connection: the caller's transaction.
        system: the record's source system.
        row: the checked record.
        actor: who writes, for the identity-change log.
        priorities: survivorship source priority by system.
        profile: the configured match profile, used while the record's kind has no active model
            (its ``identifiers`` then decide); the built-in default when None.
    """
    retired_before = connection.execute(
        select(SourceRecord.retired_at).where(
            SourceRecord.system == system, SourceRecord.source_id == row.source_id
        )
    ).scalar_one_or_none()
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

    # A retired record sent again is reactivated, whether or not its content changed.
    returned = report.reactivated or (retired_before is not None and not report.stale)
    change = "created" if report.inserted else "reactivated" if returned else "changed"
    values = standardise_one(connection, record_id)
    kind: Kind = "person" if stored_kind == "person" else "organisation"
    found = active_model(connection, kind)
    # Writes that could be each other's candidates take turns from here (see mdm.writelocks).
    if found is not None:
        kind_profile = found[1].profile
        lock_keys(connection, blocking_locks(kind_profile, kind, values))
    else:
        kind_profile = (profile or load_profile()).for_kind(kind)
        lock_keys(connection, identifier_locks(kind_profile, kind, values))

    place = _Placement(connection, f"{system}/{row.source_id}", record_id, kind, actor, kind_profile)
    # Organisations and persons are never one customer: a record that changed kind leaves its
    # customer, or, as its only record, takes the customer along to the new kind.
    kind_changed = current is not None and _kind_of(connection, current) != kind
    if kind_changed and current is not None and _live_members(connection, current) == 1:
        connection.execute(update(Customer).where(Customer.canonical_id == current).values(kind=kind))
        kind_changed = False
    if current is None or kind_changed:
        result = match_record(connection, values, kind, own_record_id=record_id, profile=kind_profile)
        outcome = place.new_record(result) if current is None else place.left_customer(result, current)
    elif found is None:
        outcome = place.changed_record_without_model(values, current)
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

    def __init__(  # noqa: PLR0917
        self, connection: Connection, key: str, record_id: int, kind: Kind, actor: str, profile: KindProfile
    ) -> None:
        self.connection, self.key, self.record_id, self.kind, self.actor, self.profile = (
            connection, key, record_id, kind, actor, profile,
        )  # fmt: skip

    def new_record(self, result: MatchResult) -> UpsertOutcome:
        """A record in no customer yet: link it, revive its former customer, or give it a new one."""
        if result.decision == "link" and result.canonical_id is not None:
            self._move(None, result.canonical_id, result.model_id)
            return self._outcome(result.canonical_id, "link", result)

        former = _former_customer(self.connection, self.record_id, self.kind)
        if former is not None:
            revive_customer(self.connection, former, actor=self.actor)
            self._move(None, former, result.model_id)
            opened = result.decision == "review" and self._review(result.best, result.reason, result.model_id)
            return self._outcome(former, "review" if opened else "revived", result, review=opened)

        created = self._create(None, result.model_id)
        opened = result.decision == "review" and self._review(result.best, result.reason, result.model_id)
        return self._outcome(created, "review" if opened else "new", result, review=opened)

    def changed_record(self, values: Mapping[str, str | None], current: str) -> UpsertOutcome:
        """A changed record: it stays, opens a ``drift`` review, or moves out of its customer.

        A strong identifier that now conflicts with another member's moves the record out whatever
        the weights, as the bulk job's chain guard would, with a ``chain_guard`` review item.
        """
        members = score_against_customer(self.connection, values, self.kind, current, self.record_id)
        best, model_id = members.best, members.model_id
        if must_link_customer(self.connection, self.record_id) == current:
            # A steward said it belongs with a member: it stays, whatever the change did to the scores.
            return self._outcome(current, "stay", None, reason="must_link", best=best, model_id=model_id)
        weight = best.score.match_weight if best is not None else None
        # Kept back by the chain guard alone: the weights would have kept it in the customer.
        guarded = members.conflict and weight is not None and weight >= members.review_weight
        if weight is not None and not guarded and weight >= members.auto_merge_weight:
            return self._outcome(current, "stay", None, reason="auto_merge", best=best, model_id=model_id)
        if weight is not None and not guarded and weight >= members.review_weight:
            opened = self._review(best, "drift", model_id)
            return self._outcome(current, "review", None, reason="drift", best=best, model_id=model_id,
                                 review=opened)  # fmt: skip

        result = match_record(self.connection, values, self.kind, own_record_id=self.record_id)
        elsewhere = result.canonical_id not in (None, current)
        if best is None:
            return self._only_record_changed(result, current)

        if result.decision == "link" and elsewhere:
            assert result.canonical_id is not None
            self._move(current, result.canonical_id, result.model_id)
            return self._outcome(result.canonical_id, "link", result, moved_from=current)
        created = self._create(current, result.model_id)
        opened = result.decision == "review" and elsewhere and self._review(result.best, result.reason,
                                                                           result.model_id)  # fmt: skip
        if guarded:
            opened = self._review(best, "chain_guard", model_id) or opened
            return self._outcome(created, "review" if opened else "new", result, reason="chain_guard",
                                 review=opened, moved_from=current)  # fmt: skip
        return self._outcome(
            created, "review" if opened else "new", result, review=opened, moved_from=current
        )

    def left_customer(self, result: MatchResult, current: str) -> UpsertOutcome:
        """The record leaves its customer: to the customer it matches, or to a new one."""
        if result.decision == "link" and result.canonical_id not in (None, current):
            assert result.canonical_id is not None
            self._move(current, result.canonical_id, result.model_id)
            return self._outcome(result.canonical_id, "link", result, moved_from=current)
        created = self._create(current, result.model_id)
        opened = result.decision == "review" and self._review(result.best, result.reason, result.model_id)
        return self._outcome(
            created, "review" if opened else "new", result, review=opened, moved_from=current
        )

    def changed_record_without_model(self, values: Mapping[str, str | None], current: str) -> UpsertOutcome:
        """A changed record while its kind has no model: it stays, unless it is its customer's only record.

        Without scores nothing can tell whether the change took the record away from the other
        members, so it stays with them (reason ``no_model``) until the bulk job looks again. A
        customer's only record may join another customer that an identifier proves: a merge.
        """
        if _live_members(self.connection, current) > 1:
            stay = MatchResult(decision="new", reason="no_model", canonical_id=None, best=None, candidates=(),
                               model_id=None, matched_by="exact_identifiers")  # fmt: skip
            return self._outcome(current, "stay", stay)
        result = match_record(self.connection, values, self.kind, own_record_id=self.record_id,
                              profile=self.profile)  # fmt: skip
        return self._only_record_changed(result, current)

    def _only_record_changed(self, result: MatchResult, current: str) -> UpsertOutcome:
        """The customer's only record changed: joining another customer merges this one into it."""
        elsewhere = result.canonical_id not in (None, current)
        if result.decision == "link" and elsewhere:
            assert result.canonical_id is not None
            self._move(current, result.canonical_id, result.model_id, merge=True)
            return self._outcome(result.canonical_id, "link", result, moved_from=current)
        opened = result.decision == "review" and elsewhere and self._review(result.best, result.reason,
                                                                           result.model_id)  # fmt: skip
        return self._outcome(current, "review" if opened else "stay", result, review=opened)

    def _create(self, from_id: str | None, model_id: int | None) -> str:
        canonical_id = new_canonical_id()
        plan = ReconciliationPlan(
            created=[CreatedCustomer(canonical_id, (self.key,))],
            moves=[KeyMove(self.key, from_id, canonical_id)],
        )
        self._apply(plan, model_id)
        return canonical_id

    def _move(self, from_id: str | None, to_id: str, model_id: int | None, *, merge: bool = False) -> None:
        merges = [Merge(loser=from_id, survivor=to_id)] if merge and from_id is not None else []
        self._apply(ReconciliationPlan(moves=[KeyMove(self.key, from_id, to_id)], merges=merges), model_id)

    def _apply(self, plan: ReconciliationPlan, model_id: int | None) -> None:
        models: dict[str, int] = {self.kind: model_id} if model_id is not None else {}
        apply_batch(self.connection, plan, None, {self.key: self.record_id}, {self.key: self.kind}, models,
                    actor=self.actor)  # fmt: skip

    def _review(self, best: Candidate | None, reason: str, model_id: int | None) -> bool:
        """Open a review item between this record and the best candidate; False when one is open."""
        if best is None or model_id is None:
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
        result: MatchResult | None,
        *,
        reason: str | None = None,
        best: Candidate | None = None,
        model_id: int | None = None,
        review: bool = False,
        moved_from: str | None = None,
    ) -> UpsertOutcome:
        """The answer, from a match result (``reason`` overrides its reason) or from its parts."""
        if result is not None:
            reason, best, model_id = reason or result.reason, result.best, result.model_id
        matched_by: MatchedBy = result.matched_by if result is not None else "model"
        identifier = None
        if result is not None and result.identifiers and canonical_id == result.canonical_id:
            identifier = result.identifiers[0]
        note = None
        if matched_by == "exact_identifiers":
            fields = (
                " or ".join("+".join(rule.fields) for rule in self.profile.identifiers) or "none configured"
            )
            note = (f"no {self.kind} model is active: matched by exact identifiers only ({fields}); "
                    "run `mdm match` to train one")  # fmt: skip
        return UpsertOutcome(
            system="", source_id="", record="created", canonical_id=canonical_id, decision=decision,
            reason=reason or "", moved_from=moved_from, best=best, model_id=model_id, review_opened=review,
            match_probability=best.score.match_probability if best else None,
            match_weight=best.score.match_weight if best else None,
            matched_by=matched_by, identifier=identifier, note=note,
            candidates_scored=len(result.candidates) if result is not None and result.model_id else None,
        )  # fmt: skip


def _current_customer(connection: Connection, record_id: int) -> str | None:
    return connection.execute(
        select(CrosswalkEntry.canonical_id).where(
            CrosswalkEntry.record_id == record_id, CrosswalkEntry.valid_to.is_(None)
        )
    ).scalar_one_or_none()


def _former_customer(connection: Connection, record_id: int, kind: Kind) -> str | None:
    """The customer a returning record last belonged to, when it can be revived for it.

    That is when the customer was retired only because its records were retired (never merged
    or split, so no other id stands for it now) and it is of the record's kind.
    """
    former = connection.execute(
        select(CrosswalkEntry.canonical_id)
        .where(CrosswalkEntry.record_id == record_id, CrosswalkEntry.valid_to.is_not(None))
        .order_by(CrosswalkEntry.valid_to.desc(), CrosswalkEntry.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if former is None:
        return None
    status, customer_kind = connection.execute(
        select(Customer.status, Customer.kind).where(Customer.canonical_id == former)
    ).one()
    return former if status == "retired" and customer_kind == kind else None


def _kind_of(connection: Connection, canonical_id: str) -> str:
    return str(
        connection.execute(select(Customer.kind).where(Customer.canonical_id == canonical_id)).scalar_one()
    )


def _live_members(connection: Connection, canonical_id: str) -> int:
    return int(
        connection.execute(
            select(func.count()).where(
                CrosswalkEntry.canonical_id == canonical_id, CrosswalkEntry.valid_to.is_(None)
            )
        ).scalar_one()
    )
