"""Matching one record as it arrives: candidates through blocking keys, in-process scores, a decision.

The same profile, model, strong identifiers and constraints as the bulk job decide here, one
record at a time: candidates are the live records that agree with it on every field of at least
one blocking rule (at most ``CANDIDATE_LIMIT``), each is scored with the active model, and the
best customer decides. This module writes nothing; the upsert path applies its decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal

import msgspec
from sqlalchemy import Integer, Select, and_, bindparam, func, literal, select, union_all
from sqlalchemy.engine import Connection

from matching.comparisons import strong_identifier_conflict
from matching.fields import STANDARDISED_FIELDS, Kind
from matching.scorer import PairScore, Scorer
from matching.training import TrainedModel
from mdm.errors import ModelError
from mdm.models import active_model
from mdm.storage.tables import CrosswalkEntry, LinkConstraint, SourceRecord, StandardisedRecord

CANDIDATE_LIMIT = 200

Decision = Literal["link", "review", "new"]
Reason = Literal["auto_merge", "chain_guard", "cannot_link", "uncertain", "no_match"]


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    """A live record scored against the incoming one, with the customer it belongs to."""

    source_key: str
    canonical_id: str | None
    score: PairScore


class MatchResult(msgspec.Struct, frozen=True, kw_only=True):
    """What real-time matching found for one record.

    Attributes:
        decision: ``link`` to ``canonical_id``, open a ``review`` item with ``canonical_id``, or
            make a ``new`` customer.
        reason: why: ``auto_merge``; ``chain_guard`` or ``cannot_link`` (the best customer
            reached auto-merge but a strong identifier or a steward's constraint forbids the
            join); ``uncertain`` (between the thresholds); ``no_match``.
        canonical_id: the best customer, when any candidate reached the review threshold.
        best: the best candidate, whose per-field scores explain the decision.
        candidates: every candidate, best first.
        model_id: the model version that scored them.
    """

    decision: Decision
    reason: Reason
    canonical_id: str | None
    best: Candidate | None
    candidates: tuple[Candidate, ...]
    model_id: int


def match_record(
    connection: Connection,
    record: Mapping[str, str | None],
    kind: Kind,
    *,
    own_record_id: int | None = None,
    limit: int = CANDIDATE_LIMIT,
) -> MatchResult:
    """Rank the live records that could be the same customer as ``record`` and decide.

    Args:
        connection: the system of record.
        record: standardised fields of the incoming record (missing keys count as missing).
        kind: its kind; only records of the same kind are candidates.
        own_record_id: the record's own id when it is already stored: never its own candidate,
            and the key of the steward's cannot-link constraints that apply to it.
        limit: most candidates fetched.

    Raises:
        ModelError: when the kind has no active model yet (run the bulk job first).
    """
    found = active_model(connection, kind)
    if found is None:
        raise ModelError(f"no active {kind} model: run `mdm match` once to train one", field="kind")
    model_id, model = found
    scorer = _scorer(model_id, model)

    rows = _candidate_rows(connection, model, record, own_record_id=own_record_id, limit=limit)
    candidates = sorted(
        (Candidate(source_key=key, canonical_id=canonical_id, score=scorer.score(record, values))
         for key, canonical_id, values in rows),
        key=lambda candidate: (-candidate.score.match_weight, candidate.source_key),
    )  # fmt: skip
    best = candidates[0] if candidates else None
    if best is None or best.score.match_weight < model.review_weight:
        return MatchResult(decision="new", reason="no_match", canonical_id=None, best=best,
                           candidates=tuple(candidates), model_id=model_id)  # fmt: skip

    decision: Decision = "review"
    reason: Reason = "uncertain"
    if best.score.match_weight >= model.auto_merge_weight and best.canonical_id is not None:
        decision, reason = "link", "auto_merge"
        if _conflicts_with_customer(connection, model, record, best.canonical_id):
            decision, reason = "review", "chain_guard"
        elif own_record_id is not None and _cannot_link(connection, own_record_id, best.canonical_id):
            decision, reason = "review", "cannot_link"
    return MatchResult(decision=decision, reason=reason, canonical_id=best.canonical_id, best=best,
                       candidates=tuple(candidates), model_id=model_id)  # fmt: skip


class MemberScore(msgspec.Struct, frozen=True, kw_only=True):
    """How a changed record scores against the other live members of its own customer.

    Attributes:
        best: the best-scoring other member, None when the record is the customer's only one.
        model_id: the model version that scored them.
        auto_merge_weight: the model's auto-merge threshold, as a match weight.
        review_weight: the model's review threshold, as a match weight.
    """

    best: Candidate | None
    model_id: int
    auto_merge_weight: float
    review_weight: float


def score_against_customer(
    connection: Connection,
    record: Mapping[str, str | None],
    kind: Kind,
    canonical_id: str,
    own_record_id: int,
) -> MemberScore:
    """Score a stored record against every other live member of a customer, with the active model.

    Raises:
        ModelError: when the kind has no active model yet.
    """
    found = active_model(connection, kind)
    if found is None:
        raise ModelError(f"no active {kind} model: run `mdm match` once to train one", field="kind")
    model_id, model = found
    scorer = _scorer(model_id, model)

    columns = [getattr(StandardisedRecord, field) for field in STANDARDISED_FIELDS]
    members = connection.execute(
        select(SourceRecord.system, SourceRecord.source_id, *columns)
        .join(StandardisedRecord, StandardisedRecord.record_id == SourceRecord.id)
        .join(CrosswalkEntry, CrosswalkEntry.record_id == SourceRecord.id)
        .where(CrosswalkEntry.canonical_id == canonical_id, CrosswalkEntry.valid_to.is_(None),
               SourceRecord.id != own_record_id, SourceRecord.retired_at.is_(None))
    ).all()  # fmt: skip
    scored = [
        Candidate(
            source_key=f"{row.system}/{row.source_id}",
            canonical_id=canonical_id,
            score=scorer.score(record, {field: getattr(row, field) for field in STANDARDISED_FIELDS}),
        )
        for row in members
    ]
    best = min(scored, key=lambda c: (-c.score.match_weight, c.source_key), default=None)
    return MemberScore(best=best, model_id=model_id, auto_merge_weight=model.auto_merge_weight,
                       review_weight=model.review_weight)  # fmt: skip


_SCORERS: dict[int, tuple[TrainedModel, Scorer]] = {}


def _scorer(model_id: int, model: TrainedModel) -> Scorer:
    """The scorer of a model, built once: ``mdm.models.active_model`` gives the same object each time."""
    cached = _SCORERS.get(model_id)
    if cached is not None and cached[0] is model:
        return cached[1]
    scorer = Scorer(model)
    if len(_SCORERS) >= 8:
        _SCORERS.clear()
    _SCORERS[model_id] = (model, scorer)
    return scorer


def _candidate_rows(
    connection: Connection,
    model: TrainedModel,
    record: Mapping[str, str | None],
    *,
    own_record_id: int | None,
    limit: int,
) -> list[tuple[str, str | None, dict[str, str | None]]]:
    """Live records agreeing with ``record`` on every field of a blocking rule, with their customers.

    One statement for all the rules that the record has every field of (see ``_candidates_statement``).
    """
    rules = tuple(
        tuple(rule)
        for rule in model.profile.blocking
        if all(record.get(field) not in (None, "") for field in rule)
    )
    if not rules:
        return []
    parameters: dict[str, Any] = {"kind": model.kind, "own": -1 if own_record_id is None else own_record_id,
                                  "limit": limit}  # fmt: skip
    for number, rule in enumerate(rules):
        parameters.update({f"r{number}_{field}": record.get(field) for field in rule})
    rows = connection.execute(_candidates_statement(rules), parameters)
    return [
        (f"{row.system}/{row.source_id}", row.canonical_id,
         {field: getattr(row, field) for field in STANDARDISED_FIELDS})
        for row in rows
    ]  # fmt: skip


@lru_cache(maxsize=256)
def _candidates_statement(rules: tuple[tuple[str, ...], ...]) -> Select[Any]:
    """The live records of a kind that agree on every field of at least one of ``rules``.

    Each rule's records come through the indexes on the standardised fields (at most ``:limit`` a
    rule), then the first ``:limit`` of them, those found by an earlier rule first: a profile lists
    its rules from the most telling. Built once for each set of rules, with the values as bound
    parameters: building and keying a statement of a dozen subqueries cost more than running it.
    """
    limit = bindparam("limit", type_=Integer)
    found_by_rule = []
    for number, rule in enumerate(rules):
        agree = [getattr(StandardisedRecord, field) == bindparam(f"r{number}_{field}") for field in rule]
        found = (
            select(StandardisedRecord.record_id)
            .join(SourceRecord, SourceRecord.id == StandardisedRecord.record_id)
            .where(StandardisedRecord.kind == bindparam("kind"), SourceRecord.retired_at.is_(None),
                   StandardisedRecord.record_id != bindparam("own"), *agree)
            .limit(limit)
            .subquery()
        )  # fmt: skip
        found_by_rule.append(select(found.c.record_id, literal(number).label("rule")))
    candidates = union_all(*found_by_rule).subquery()
    first = (
        select(candidates.c.record_id, func.min(candidates.c.rule).label("rule"))
        .group_by(candidates.c.record_id)
        .order_by(func.min(candidates.c.rule), candidates.c.record_id)
        .limit(limit)
        .subquery()
    )
    columns = [getattr(StandardisedRecord, field) for field in STANDARDISED_FIELDS]
    return (
        select(SourceRecord.system, SourceRecord.source_id, CrosswalkEntry.canonical_id, *columns)
        .join(first, first.c.record_id == SourceRecord.id)
        .join(StandardisedRecord, StandardisedRecord.record_id == SourceRecord.id)
        .outerjoin(CrosswalkEntry, and_(CrosswalkEntry.record_id == SourceRecord.id,
                                        CrosswalkEntry.valid_to.is_(None)))
        .order_by(first.c.rule, SourceRecord.id)
    )  # fmt: skip


def _conflicts_with_customer(
    connection: Connection, model: TrainedModel, record: Mapping[str, str | None], canonical_id: str
) -> bool:
    """Whether a strong identifier of ``record`` conflicts with any live member of the customer."""
    strong = model.profile.strong
    if not strong:
        return False
    conflict = strong_identifier_conflict(model.profile, model.kind)
    members = connection.execute(
        select(*(getattr(StandardisedRecord, field) for field in strong))
        .join(CrosswalkEntry, CrosswalkEntry.record_id == StandardisedRecord.record_id)
        .where(CrosswalkEntry.canonical_id == canonical_id, CrosswalkEntry.valid_to.is_(None))
    ).all()
    return any(
        conflict(field, record.get(field), None if value is None else str(value))
        for member in members
        for field, value in zip(strong, member, strict=True)
    )


def _cannot_link(connection: Connection, record_id: int, canonical_id: str) -> bool:
    """Whether a steward said the record is not the same as some live member of the customer."""
    members = select(CrosswalkEntry.record_id).where(
        CrosswalkEntry.canonical_id == canonical_id, CrosswalkEntry.valid_to.is_(None)
    )
    found = connection.execute(
        select(LinkConstraint.id)
        .where(
            LinkConstraint.constraint == "cannot_link",
            ((LinkConstraint.left_record_id == record_id) & LinkConstraint.right_record_id.in_(members))
            | ((LinkConstraint.right_record_id == record_id) & LinkConstraint.left_record_id.in_(members)),
        )
        .limit(1)
    ).first()
    return found is not None
