"""Matching one record as it arrives: candidates through blocking keys, in-process scores, a decision.

The same profile, model, strong identifiers and constraints as the bulk job decide here, one
record at a time: candidates are the live records that agree with it on every field of at least
one blocking rule (at most ``CANDIDATE_LIMIT``), each is scored with the active model, and the
best customer decides. This module writes nothing; the upsert path applies its decision.

Before a kind has an active model, only the configured profile's ``identifiers`` decide: a record
joins the one customer whose live members agree with it exactly on such an identifier, with the
same strong-identifier and cannot-link checks, and is a new customer otherwise. There are no
scores then, so nothing is ever sent to review.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal

import msgspec
from sqlalchemy import Integer, Select, and_, bindparam, case, func, literal, or_, select, union_all
from sqlalchemy.engine import Connection

from matching.comparisons import is_missing, strong_identifier_conflict
from matching.fields import STANDARDISED_FIELDS, Kind
from matching.profile import IdentifierRule, KindProfile
from matching.scorer import PairScore, Scorer
from matching.training import TrainedModel
from mdm.errors import ModelError
from mdm.models import active_model
from mdm.storage.tables import CrosswalkEntry, LinkConstraint, SourceRecord, StandardisedRecord

CANDIDATE_LIMIT = 200

Decision = Literal["link", "review", "new"]
Reason = Literal[
    "auto_merge", "chain_guard", "cannot_link", "must_link", "uncertain", "no_match",
    "exact_identifier", "ambiguous_identifier", "no_model",
]  # fmt: skip
MatchedBy = Literal["model", "exact_identifiers"]


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    """A live record scored against the incoming one, with the customer it belongs to."""

    source_key: str
    canonical_id: str | None
    score: PairScore


class IdentifierAgreement(msgspec.Struct, frozen=True, kw_only=True):
    """Without a model: a live record that agrees exactly with the incoming one on an identifier.

    Attributes:
        source_key: the agreeing record, as ``system/source_id``.
        canonical_id: the customer it belongs to.
        fields: the identifier's fields, all present and equal on both records.
    """

    source_key: str
    canonical_id: str
    fields: tuple[str, ...]


class MatchResult(msgspec.Struct, frozen=True, kw_only=True):
    """What real-time matching found for one record.

    Attributes:
        decision: ``link`` to ``canonical_id``, open a ``review`` item with ``canonical_id``, or
            make a ``new`` customer.
        reason: why: ``auto_merge``; ``chain_guard`` or ``cannot_link`` (the best customer
            reached auto-merge, or agreed on an identifier, but a strong identifier or a steward's
            constraint forbids the join); ``uncertain`` (between the thresholds); ``no_match``.
            Without a model: ``exact_identifier`` (an identifier agreed), ``ambiguous_identifier``
            (records of several customers agreed, so none is joined), ``no_model`` (none agreed).
            ``must_link``: a steward said the record is the same as a live member of the customer.
        canonical_id: the best customer (the agreeing one without a model), when there is one.
        best: the best candidate, whose per-field scores explain the decision; None without a model.
        candidates: every candidate, best first; empty without a model.
        model_id: the model version that scored them; None when the kind has no active model.
        matched_by: ``model``, or ``exact_identifiers`` while the kind has no active model.
        identifiers: without a model, the live records that agreed on an identifier.
    """

    decision: Decision
    reason: Reason
    canonical_id: str | None
    best: Candidate | None
    candidates: tuple[Candidate, ...]
    model_id: int | None
    matched_by: MatchedBy = "model"
    identifiers: tuple[IdentifierAgreement, ...] = ()


def match_record(
    connection: Connection,
    record: Mapping[str, str | None],
    kind: Kind,
    *,
    own_record_id: int | None = None,
    limit: int = CANDIDATE_LIMIT,
    profile: KindProfile | None = None,
) -> MatchResult:
    """Rank the live records that could be the same customer as ``record`` and decide.

    Args:
        connection: the system of record.
        record: standardised fields of the incoming record (missing keys count as missing).
        kind: its kind; only records of the same kind are candidates.
        own_record_id: the record's own id when it is already stored: never its own candidate,
            and the key of the steward's cannot-link constraints that apply to it.
        limit: most candidates fetched.
        profile: the kind's configured profile, whose ``identifiers`` decide while the kind has
            no active model (see ``match_by_identifiers``).

    A steward's must-link between the record and a live record decides before any score: the
    record joins that record's customer, unless a cannot-link ties it to a member of it too.

    Raises:
        ModelError: when the kind has no active model and no profile is given.
    """
    result = _match(connection, record, kind, own_record_id=own_record_id, limit=limit, profile=profile)
    if own_record_id is None:
        return result
    bound = must_link_customer(connection, own_record_id)
    if bound is None or (bound == result.canonical_id and result.decision == "link"):
        return result
    if _cannot_link(connection, own_record_id, bound):
        return msgspec.structs.replace(result, decision="review", reason="cannot_link", canonical_id=bound)
    best = next((candidate for candidate in result.candidates if candidate.canonical_id == bound), None)
    return msgspec.structs.replace(result, decision="link", reason="must_link", canonical_id=bound, best=best)


def _match(
    connection: Connection,
    record: Mapping[str, str | None],
    kind: Kind,
    *,
    own_record_id: int | None,
    limit: int,
    profile: KindProfile | None,
) -> MatchResult:
    found = active_model(connection, kind)
    if found is None:
        if profile is None:
            raise ModelError(f"no active {kind} model: run `mdm match` once to train one", field="kind")
        return match_by_identifiers(
            connection, record, kind, profile, own_record_id=own_record_id, limit=limit
        )
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
        if _conflicts_with_customer(connection, model.profile, kind, record, best.canonical_id):
            decision, reason = "review", "chain_guard"
        elif own_record_id is not None and _cannot_link(connection, own_record_id, best.canonical_id):
            decision, reason = "review", "cannot_link"
    return MatchResult(decision=decision, reason=reason, canonical_id=best.canonical_id, best=best,
                       candidates=tuple(candidates), model_id=model_id)  # fmt: skip


def match_by_identifiers(
    connection: Connection,
    record: Mapping[str, str | None],
    kind: Kind,
    profile: KindProfile,
    *,
    own_record_id: int | None = None,
    limit: int = CANDIDATE_LIMIT,
) -> MatchResult:
    """Decide without a model: join the one customer that an identifier of the profile proves.

    A live record agrees under an identifier rule when every field of the rule is present on both
    records and equal, and every ``same_where_known`` field is equal where both know it. When the
    agreeing records belong to exactly one customer, the record joins it, unless a strong
    identifier conflicts with one of its members or a steward's cannot-link separates them.
    Records not yet in any customer (loaded, never matched) do not count.
    """
    agreements: dict[str, IdentifierAgreement] = {}
    for rule in profile.identifiers:
        for agreement in _identifier_agreements(
            connection, record, kind, profile, rule, own_record_id=own_record_id, limit=limit
        ):
            agreements.setdefault(agreement.source_key, agreement)
    found = tuple(sorted(agreements.values(), key=lambda agreement: agreement.source_key))
    customers = sorted({agreement.canonical_id for agreement in found})

    def result(decision: Decision, reason: Reason) -> MatchResult:
        canonical_id = customers[0] if len(customers) == 1 else None
        return MatchResult(decision=decision, reason=reason, canonical_id=canonical_id, best=None,
                           candidates=(), model_id=None, matched_by="exact_identifiers",
                           identifiers=found)  # fmt: skip

    if not customers:
        return result("new", "no_model")
    if len(customers) > 1:
        return result("new", "ambiguous_identifier")
    if _conflicts_with_customer(connection, profile, kind, record, customers[0]):
        return result("new", "chain_guard")
    if own_record_id is not None and _cannot_link(connection, own_record_id, customers[0]):
        return result("new", "cannot_link")
    return result("link", "exact_identifier")


def _identifier_agreements(
    connection: Connection,
    record: Mapping[str, str | None],
    kind: Kind,
    profile: KindProfile,
    rule: IdentifierRule,
    *,
    own_record_id: int | None,
    limit: int,
) -> list[IdentifierAgreement]:
    """The live, matched records that agree with ``record`` under one identifier rule."""
    compared = {comparison.field: comparison for comparison in profile.comparisons}
    values = {field: record.get(field) for field in rule.fields}
    if any(
        is_missing(compared[field], value) if field in compared else not value
        for field, value in values.items()
    ):
        return []

    agree = [getattr(StandardisedRecord, field) == value for field, value in values.items()]
    for field in rule.same_where_known:
        value = record.get(field)
        if value:
            column = getattr(StandardisedRecord, field)
            agree.append(or_(column.is_(None), column == value))
    query = (
        select(SourceRecord.system, SourceRecord.source_id, CrosswalkEntry.canonical_id)
        .join(StandardisedRecord, StandardisedRecord.record_id == SourceRecord.id)
        .join(
            CrosswalkEntry,
            and_(CrosswalkEntry.record_id == SourceRecord.id, CrosswalkEntry.valid_to.is_(None)),
        )
        .where(SourceRecord.retired_at.is_(None), StandardisedRecord.kind == kind, *agree)
        .order_by(SourceRecord.id)
        .limit(limit)
    )
    if own_record_id is not None:
        query = query.where(SourceRecord.id != own_record_id)
    return [
        IdentifierAgreement(source_key=f"{row.system}/{row.source_id}", canonical_id=row.canonical_id,
                            fields=rule.fields)
        for row in connection.execute(query)
    ]  # fmt: skip


class MemberScore(msgspec.Struct, frozen=True, kw_only=True):
    """How a changed record scores against the other live members of its own customer.

    Attributes:
        best: the best-scoring other member, None when the record is the customer's only one.
        model_id: the model version that scored them.
        auto_merge_weight: the model's auto-merge threshold, as a match weight.
        review_weight: the model's review threshold, as a match weight.
        conflict: whether a strong identifier of the record now conflicts with another member's,
            which forbids keeping it there automatically, whatever the weights.
    """

    best: Candidate | None
    model_id: int
    auto_merge_weight: float
    review_weight: float
    conflict: bool = False


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
    conflict = best is not None and _conflicts_with_customer(
        connection, model.profile, kind, record, canonical_id
    )
    return MemberScore(best=best, model_id=model_id, auto_merge_weight=model.auto_merge_weight,
                       review_weight=model.review_weight, conflict=conflict)  # fmt: skip


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
    connection: Connection,
    profile: KindProfile,
    kind: Kind,
    record: Mapping[str, str | None],
    canonical_id: str,
) -> bool:
    """Whether a strong identifier of ``record`` conflicts with any live member of the customer."""
    strong = profile.strong
    if not strong:
        return False
    conflict = strong_identifier_conflict(profile, kind)
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


def must_link_customer(connection: Connection, record_id: int) -> str | None:
    """The live customer of a record that a steward said is the same as this one, if any."""
    partner = case(
        (LinkConstraint.left_record_id == record_id, LinkConstraint.right_record_id),
        else_=LinkConstraint.left_record_id,
    )
    return connection.execute(
        select(CrosswalkEntry.canonical_id)
        .join(LinkConstraint, CrosswalkEntry.record_id == partner)
        .where(
            LinkConstraint.constraint == "must_link",
            (LinkConstraint.left_record_id == record_id) | (LinkConstraint.right_record_id == record_id),
            CrosswalkEntry.valid_to.is_(None),
            CrosswalkEntry.record_id != record_id,
        )
        .order_by(CrosswalkEntry.canonical_id)
        .limit(1)
    ).scalar_one_or_none()


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
