"""Writes of source records: upsert one record with real-time matching, retire one, match a dry run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, NamedTuple, TypeVar

import msgspec
from litestar import Request, delete, post, put
from litestar.datastructures import State
from litestar.params import HeaderParameter, JSONBody, QueryParameter
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from api.auth import ROLE_OPT, require_writer_of
from api.params import JSON, SOURCE_ID, SYSTEM, path_tail, require_media_type
from api.problems import PROBLEMS
from matching import standardise_record
from matching.fields import Kind
from mdm.errors import InvalidRecordError
from mdm.idempotency import complete, recall, release, remember, request_digest, reserve
from mdm.intake import CANONICAL_SOURCE_ID, Shape, prepare_record
from mdm.keys import ApiKeyInfo, Role
from mdm.mappings import SourceMapping, mapping_for
from mdm.realtime import Candidate, Decision, IdentifierAgreement, MatchedBy, Reason, match_record
from mdm.upsert import RetireOutcome, UpsertOutcome, retire_record, upsert_record
from mdm.writelocks import lock_keys, one_writer_on_sqlite, source_key_lock

MATCH_LIMIT = 10

Outcome = TypeVar("Outcome", bound=msgspec.Struct)

ShapeParameter = Annotated[
    Literal["source", "canonical"],
    QueryParameter(
        description="`source`: the system's own columns (its mapping applies); `canonical`: canonical fields"
    ),
]
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(name="Idempotency-Key", min_length=1, max_length=256,
              description="repeat a write safely: the same key and body answer as the first time"),
]  # fmt: skip


class MatchResponse(msgspec.Struct, frozen=True, kw_only=True):
    """A dry run's answer: what an upsert would decide, and the ranked candidates with explanations.

    Attributes:
        decision: ``link``, ``review`` or ``new``, as an upsert of the record would decide.
        reason: why, as ``mdm.realtime.MatchResult.reason``.
        canonical_id: the best customer, when there is one.
        model_id: the model that scored the candidates; None when the kind has no active model.
        candidates: the scored candidates, best first; empty without a model.
        matched_by: ``model``, or ``exact_identifiers`` when the kind has no active model.
        identifiers: without a model, the live records that agree exactly on an identifier of
            the configured profile; there are no probabilities then.
    """

    decision: Decision
    reason: Reason
    canonical_id: str | None
    model_id: int | None
    candidates: list[Candidate]
    matched_by: MatchedBy = "model"
    identifiers: list[IdentifierAgreement] = msgspec.field(default_factory=list)


@put(
    "/sources/{system:str}/records/{source_id:path}", tags=["sources"], summary="Upsert a source record",
    opt={ROLE_OPT: Role.WRITER}, sync_to_thread=True, responses=PROBLEMS,
)  # fmt: skip
def upsert(  # noqa: PLR0917
    state: State,
    request: Request[Any, Any, Any],
    system: Annotated[str, SYSTEM],
    source_id: Annotated[str, SOURCE_ID],
    data: JSONBody[dict[str, Any]],
    shape: ShapeParameter = "source",
    idempotency_key: IdempotencyKey = None,
) -> UpsertOutcome:
    """Store a record as a new version, match it in real time, and link it, open review or create a customer.

    A writer key may write its own system's records only; an admin any system's. An unchanged record
    changes nothing and answers the current state; one older than the current version is stored but
    does not become current.
    """
    source_id = path_tail(request, "source_id")
    info = require_writer_of(request, system)
    require_media_type(request, JSON, "a record")
    mapping = system_mapping(state, system)
    row = prepare_record(mapping, source_id, data, shape)
    digest = request_digest("PUT", system, source_id, shape, data)

    return write_once(
        state, WriteRequest(system, source_id, info.id, idempotency_key, digest), UpsertOutcome,
        lambda connection: upsert_record(connection, system, row, actor=actor_of(info),
                                         priorities=state.priorities, profile=state.profile),
    )  # fmt: skip


@delete(
    "/sources/{system:str}/records/{source_id:path}", tags=["sources"], summary="Retire a source record",
    opt={ROLE_OPT: Role.WRITER}, status_code=200, sync_to_thread=True, responses=PROBLEMS,
)  # fmt: skip
def retire(
    state: State,
    request: Request[Any, Any, Any],
    system: Annotated[str, SYSTEM],
    source_id: Annotated[str, SOURCE_ID],
    idempotency_key: IdempotencyKey = None,
) -> RetireOutcome:
    """Retire a record: its crosswalk entry closes, its golden record is rebuilt, an empty customer retires.

    The customer's other records stay together: retiring a record never splits a customer.
    """
    source_id = path_tail(request, "source_id")
    info = require_writer_of(request, system)
    system_mapping(state, system)
    digest = request_digest("DELETE", system, source_id)

    return write_once(
        state, WriteRequest(system, source_id, info.id, idempotency_key, digest), RetireOutcome,
        lambda connection: retire_record(connection, system, source_id, actor=actor_of(info),
                                         priorities=state.priorities),
    )  # fmt: skip


@post(
    "/match",
    tags=["sources"],
    responses=PROBLEMS,
    summary="Match a record without storing it",
    status_code=200,
    sync_to_thread=True,
)
def match(
    state: State,
    request: Request[Any, Any, Any],
    data: JSONBody[dict[str, Any]],
    system: Annotated[
        str | None, QueryParameter(description="read the body in this system's own shape")
    ] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=200, description="most candidates returned")] = MATCH_LIMIT,
) -> MatchResponse:
    """A dry run for duplicate checks: the ranked candidates, their probabilities and explanations.

    The body holds canonical fields, or a system's own columns with ``system``. Nothing is written.
    While the record's kind has no active model, the answer is what an upsert would do then: the
    records that agree exactly on an identifier of the configured profile, without probabilities.
    """
    require_media_type(request, JSON, "a record")
    shape: Shape = "source" if system is not None else "canonical"
    mapping = system_mapping(state, system) if system is not None else _any_mapping(state)
    body = {
        name: value for name, value in data.items() if name not in (mapping.source_id, CANONICAL_SOURCE_ID)
    }
    row = prepare_record(mapping, "match", body, shape)
    kind: Kind = "person" if row.kind == "person" else "organisation"

    engine: Engine = state.engine
    with engine.connect() as connection:
        result = match_record(connection, standardise_record(row.canonical), kind,
                              profile=state.profile.for_kind(kind))  # fmt: skip
    return MatchResponse(
        decision=result.decision, reason=result.reason, canonical_id=result.canonical_id,
        model_id=result.model_id, candidates=list(result.candidates[:limit]), matched_by=result.matched_by,
        identifiers=list(result.identifiers[:limit]),
    )  # fmt: skip


def system_mapping(state: State, system: str) -> SourceMapping:
    """The mapping of a configured source system.

    Raises:
        UnknownSystemError: no such system is configured (404).
    """
    mappings: dict[str, SourceMapping] = state.mappings
    return mapping_for(mappings, system)


def _any_mapping(state: State) -> SourceMapping:
    """Canonical fields need no system's columns; any mapping gives the canonical reader its shape."""
    mappings: dict[str, SourceMapping] = state.mappings
    if not mappings:
        raise InvalidRecordError(
            "no source system is configured", record="match", faults=[("system", "none")]
        )
    return next(iter(mappings.values()))


def actor_of(info: ApiKeyInfo) -> str:
    """How the audit trail names a write made with an API key."""
    return f"api_key:{info.id}"


class WriteRequest(NamedTuple):
    """What identifies one write: the record (None for a batch), the API key, the client's idempotency key."""

    system: str
    source_id: str | None
    key_id: int
    idempotency_key: str | None
    digest: str


def write_once(
    state: State, request: WriteRequest, answer_type: type[Outcome], write: Callable[[Connection], Outcome]
) -> Outcome:
    """Run a write in one transaction, after the locks that keep racing writes apart (mdm.writelocks).

    With an idempotency key, a repeat answers as the first time and the first answer is kept.
    """
    locks = [] if request.source_id is None else [source_key_lock(request.system, request.source_id)]
    if request.idempotency_key is not None:
        locks.append(_idempotency_lock(request))

    engine: Engine = state.engine
    with one_writer_on_sqlite(engine), engine.begin() as connection:
        lock_keys(connection, locks)
        if request.idempotency_key is not None:
            first = recall(connection, request.key_id, request.idempotency_key, request.digest)
            if first is not None:
                return msgspec.convert(first[1], answer_type)
        outcome = write(connection)
        if request.idempotency_key is not None:
            remember(connection, request.key_id, request.idempotency_key, request.digest, 200, outcome)
    return outcome


def claim_key(state: State, request: WriteRequest, answer_type: type[Outcome]) -> Outcome | None:
    """For a request of several transactions: claim its idempotency key, or the key's first answer.

    The claim commits at once, so the same key arriving while the request runs is 409 (another
    body: 422) instead of running alongside it. None: the request runs (or has no key).
    """
    if request.idempotency_key is None:
        return None
    engine: Engine = state.engine
    with one_writer_on_sqlite(engine), engine.begin() as connection:
        lock_keys(connection, [_idempotency_lock(request)])
        first = reserve(connection, request.key_id, request.idempotency_key, request.digest)
    return None if first is None else msgspec.convert(first[1], answer_type)


def settle_key(state: State, request: WriteRequest, answer: Any | None) -> None:
    """Keep the answer of a request that ``claim_key`` let run; None gives the claim up (it failed)."""
    if request.idempotency_key is None:
        return
    engine: Engine = state.engine
    with one_writer_on_sqlite(engine), engine.begin() as connection:
        if answer is None:
            release(connection, request.key_id, request.idempotency_key)
        else:
            complete(connection, request.key_id, request.idempotency_key, 200, answer)


def _idempotency_lock(request: WriteRequest) -> str:
    return f"idempotency\x1f{request.key_id}\x1f{request.idempotency_key}"
