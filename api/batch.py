"""Batches of source records: up to 1,000 upserts in one JSON Lines request, each line its own write.

A batch is a convenience for integrations that send records in small groups; it is not a file
load. Each line is checked and written as its own PUT would be (``api.sources.write_once``: the
same locks, one transaction per line), so a bad line is reported and the others go through.
Larger volumes go through file loads (``mdm load``).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from litestar import Request, post
from litestar.datastructures import State
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, RawBody

from api.auth import ROLE_OPT, require_writer_of
from api.params import require_media_type
from api.problems import PROBLEMS, FieldProblem, Problem, problem, problem_of
from api.sources import (
    IdempotencyKey,
    ShapeParameter,
    WriteRequest,
    actor_of,
    claim_key,
    settle_key,
    system_mapping,
    write_once,
)
from mdm.errors import InvalidRequestError, MdmError, RequestTooLargeError
from mdm.idempotency import request_digest
from mdm.intake import Shape, prepare_record, sent_source_id
from mdm.keys import ApiKeyInfo, Role
from mdm.logs import get_logger
from mdm.mappings import SourceMapping
from mdm.readers import Row, json_line
from mdm.upsert import UpsertOutcome, upsert_record

log = get_logger(__name__)

MAX_BATCH_RECORDS: Final = 1_000
MAX_BATCH_BODY_BYTES: Final = 4 * 1024 * 1024
"""Twice the app's cap: room for 1,000 records of 4 KiB each, so the record count is the limit met."""
JSON_LINES_MEDIA_TYPES: Final = ("application/jsonl", "application/x-ndjson")


class LineResult(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What became of one line of a batch: the upsert's outcome, or the problem that kept it out.

    Attributes:
        line: the line's 1-based number in the body, blank lines counted.
        source_id: the record's source id, when the line names a usable one.
        outcome: what the upsert did, exactly as the PUT of that record answers.
        problem: why the line was not written, as the PUT of that record would have answered.
    """

    line: int
    source_id: str | None = None
    outcome: UpsertOutcome | None = None
    problem: Problem | None = None


class BatchOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What a batch did, line by line in the body's order, with counts.

    Attributes:
        records: how many lines held something other than blanks.
        ok: lines written (including those that changed nothing).
        failed: lines reported with a problem.
        decisions: written lines by the upsert's decision (``link``, ``new``, ``review``, ...).
        changes: written lines by what happened to the record (``created``, ``unchanged``, ...).
        results: one result per line that is not blank.
    """

    records: int
    ok: int
    failed: int
    decisions: dict[str, int]
    changes: dict[str, int]
    results: list[LineResult]


@dataclass
class _JsonLinesOperation(Operation):
    """The batch's operation in the OpenAPI document, with its JSON Lines request body.

    The body is taken raw (Litestar's ``body``), which Litestar does not document, so it is described here.
    """

    def __post_init__(self) -> None:
        schema = Schema(
            type=OpenAPIType.STRING,
            min_length=1,
            description=f"JSON Lines: one record object per line, at most {MAX_BATCH_RECORDS:,} records",
        )
        self.request_body = RequestBody(
            required=True,
            description="The records, in the system's own columns or in canonical fields (`shape`), "
            "each naming its source id",
            content={media_type: OpenAPIMediaType(schema=schema) for media_type in JSON_LINES_MEDIA_TYPES},
        )


@post(
    "/sources/{system:str}/records:batch", tags=["sources"], summary="Upsert a batch of source records",
    opt={ROLE_OPT: Role.WRITER}, status_code=200, sync_to_thread=True, responses=PROBLEMS,
    request_max_body_size=MAX_BATCH_BODY_BYTES,
    operation_class=_JsonLinesOperation,
)  # fmt: skip
def upsert_batch(  # noqa: PLR0917
    state: State,
    request: Request[Any, Any, Any],
    system: FromPath[str],
    body: RawBody,
    shape: ShapeParameter = "source",
    idempotency_key: IdempotencyKey = None,
) -> BatchOutcome:
    """Upsert up to 1,000 records sent as JSON Lines, each line on its own, and answer line by line.

    Each line is one record object naming its source id: in the mapping's source id column, or in
    ``source_id`` for canonical fields. Each is written in its own transaction, as its PUT would be:
    a bad line (not JSON, not an object, no usable source id, invalid fields, or a hub error while
    writing it) is reported with the problem that PUT would have given, and the others go through.
    Lines are written in order, so a source id sent twice ends as its last line has it. Blank lines
    are skipped but counted, so every result keeps its line's number. Larger volumes go through
    file loads.
    """
    info = require_writer_of(request, system)
    mapping = system_mapping(state, system)
    require_media_type(request, JSON_LINES_MEDIA_TYPES, "a batch of JSON Lines")
    rows = _records(body)
    digest = request_digest("POST", system, "records:batch", shape, hashlib.sha256(body).hexdigest())
    batch = WriteRequest(system, None, info.id, idempotency_key, digest)
    first = claim_key(state, batch, BatchOutcome)
    if first is not None:
        return first

    started = time.perf_counter()
    writer = _LineWriter(state, mapping, shape, info)
    try:
        outcome = _summary([writer.write(row) for row in rows])
    except BaseException:
        settle_key(state, batch, None)
        raise
    log.info("batch.upserted", system=system, records=outcome.records, ok=outcome.ok, failed=outcome.failed,
             seconds=round(time.perf_counter() - started, 3))  # fmt: skip
    settle_key(state, batch, outcome)
    return outcome


class _LineWriter:
    """Writes the lines of one batch, one transaction each, as the PUT of each record would."""

    def __init__(self, state: State, mapping: SourceMapping, shape: Shape, info: ApiKeyInfo) -> None:
        self.state, self.mapping, self.shape, self.info = state, mapping, shape, info

    def write(self, row: Row) -> LineResult:
        """Check and upsert one line; what goes wrong is the line's problem, not the batch's."""
        if row.cells is None:
            return LineResult(line=row.number, problem=_unreadable(row))

        source_id = sent_source_id(self.mapping, row.cells, self.shape)
        try:
            record = prepare_record(self.mapping, None, row.cells, self.shape)
            system, priorities, profile = self.mapping.system, self.state.priorities, self.state.profile
            outcome = write_once(
                self.state, WriteRequest(system, record.source_id, self.info.id, None, ""), UpsertOutcome,
                lambda connection: upsert_record(connection, system, record, actor=actor_of(self.info),
                                                 priorities=priorities, profile=profile),
            )  # fmt: skip
        except MdmError as error:
            return LineResult(line=row.number, source_id=source_id, problem=problem_of(error))
        except Exception as error:
            # A fault of the hub fails its line, as it would fail that line's PUT; the others go on.
            log.error("batch.line_failed", system=self.mapping.system, line=row.number,
                      error=type(error).__name__)  # fmt: skip
            failed = problem(500, "internal", "the hub failed to write this line; the failure is logged")
            return LineResult(line=row.number, source_id=source_id, problem=failed)
        return LineResult(line=row.number, source_id=outcome.source_id, outcome=outcome)


def _records(body: bytes) -> list[Row]:
    """The body's lines that are not blank, numbered as in the body, each parsed or with its error.

    Raises:
        InvalidRequestError: the body holds no record (422).
        RequestTooLargeError: it holds more than ``MAX_BATCH_RECORDS`` (413).
    """
    # Bytes that are not UTF-8 come through as lone surrogates, so they fail their own line only.
    lines = body.decode("utf-8-sig", errors="surrogateescape").split("\n")
    count = sum(1 for line in lines if line.strip())
    if count == 0:
        raise InvalidRequestError("the batch holds no records: send one JSON object per line", field="body")
    if count > MAX_BATCH_RECORDS:
        raise RequestTooLargeError(
            f"the batch holds {count:,} records, more than {MAX_BATCH_RECORDS:,}: split it, "
            "or load a file for larger volumes",
            field="body",
        )
    rows = (json_line(number, line) for number, line in enumerate(lines, start=1))
    return [row for row in rows if row is not None]


def _unreadable(row: Row) -> Problem:
    """A line that is no record: 422 like a PUT of a body that is not an object, else 400 like bad JSON."""
    status, code = (422, "request.invalid") if row.not_object else (400, "request.malformed")
    detail = f"line {row.number} {row.error}"
    return problem(status, code, detail, errors=[FieldProblem(field="body", detail=detail, source="body")])


def _summary(results: list[LineResult]) -> BatchOutcome:
    outcomes = [result.outcome for result in results if result.outcome is not None]
    return BatchOutcome(
        records=len(results), ok=len(outcomes), failed=len(results) - len(outcomes),
        decisions=dict(Counter(outcome.decision for outcome in outcomes)),
        changes=dict(Counter(outcome.record for outcome in outcomes)),
        results=results,
    )  # fmt: skip
