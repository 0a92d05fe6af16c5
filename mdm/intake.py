"""One record sent through the API: checked with its system's mapping, or in canonical fields.

The checks are those of file loads (``mdm.loading.good_row``), so a record is stored the same way
whether it came in a file or one at a time. Every field at fault is reported at once, named as the
sender named it: the system's own column, or the canonical field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from matching.fields import CANONICAL_FIELDS, KINDS
from mdm.errors import InvalidRecordError
from mdm.loading import MAX_SOURCE_ID, GoodRow, good_row, source_id_of
from mdm.mappings import KindRule, SourceMapping, plain_row

Shape = Literal["source", "canonical"]

#: The column that carries the source id in a canonical-shape body (optional where the path names it).
CANONICAL_SOURCE_ID = "source_id"


def canonical_mapping(mapping: SourceMapping) -> SourceMapping:
    """A mapping that reads canonical fields as they are named, for the same system and priority."""
    return SourceMapping(
        system=mapping.system,
        source_id=CANONICAL_SOURCE_ID,
        kind=KindRule(column="kind", values={kind: [] for kind in KINDS}),
        fields={field: field for field in CANONICAL_FIELDS if field != "kind"},
        priority=mapping.priority,
    ).check()


def sent_source_id(mapping: SourceMapping, body: Mapping[str, Any], shape: Shape) -> str | None:
    """The source id a record names itself, read as file loads read it; None when it has no usable one."""
    column = CANONICAL_SOURCE_ID if shape == "canonical" else mapping.source_id
    source_id = source_id_of(body.get(column))
    return source_id if source_id is not None and len(source_id) <= MAX_SOURCE_ID else None


def prepare_record(
    mapping: SourceMapping, source_id: str | None, body: Mapping[str, Any], shape: Shape
) -> GoodRow:
    """Check one record and turn it into a row to store.

    Args:
        mapping: the system's source mapping.
        source_id: the record's id in its system, from the request path; None when the body must
            name it, in the mapping's source id column or in ``source_id`` for canonical fields.
        body: the record as sent: the system's own columns, or canonical fields.
        shape: ``source`` applies the mapping; ``canonical`` reads canonical fields.

    Raises:
        InvalidRecordError: naming every field at fault.
    """
    used = canonical_mapping(mapping) if shape == "canonical" else mapping
    faults: list[tuple[str, str]] = []
    if shape == "canonical":
        known = {*CANONICAL_FIELDS, CANONICAL_SOURCE_ID}
        faults.extend((name, "not a canonical field") for name in body if name not in known)

    cells = dict(body)
    sent_id = cells.get(used.source_id)
    if source_id is not None:
        if sent_id is not None and str(sent_id).strip() != source_id:
            faults.append((used.source_id, "differs from the source id in the path"))
        cells[used.source_id] = source_id if sent_id is None else sent_id

    outcome = good_row(1, cells, plain_row(cells), used)
    if isinstance(outcome, list):
        faults.extend(
            (_sent_name(used, rejection.field), rejection.reason.removeprefix("row 1: "))
            for rejection in outcome
        )
    if faults:
        names = ", ".join(dict.fromkeys(name for name, _ in faults))
        raise InvalidRecordError(
            f"the record cannot be stored; fields at fault: {names}",
            record=f"{mapping.system}/{source_id or sent_source_id(mapping, body, shape) or ''}",
            faults=faults,
        )
    assert not isinstance(outcome, list)
    return outcome


def _sent_name(mapping: SourceMapping, field: str | None) -> str:
    """The name the sender used for a canonical field: its mapped column where there is one."""
    if field is None:
        return "body"
    if field == "kind" and mapping.kind.column:
        return mapping.kind.column
    if field == "source_id":
        return mapping.source_id
    return mapping.fields.get(field, field)
