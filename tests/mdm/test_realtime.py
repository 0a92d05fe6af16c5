"""Real-time matching decides as the bulk job would: link, review or new, with the reasons."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from matching.fields import STANDARDISED_FIELDS
from mdm.bulk import MatchOutcome
from mdm.errors import ModelError
from mdm.realtime import match_record
from mdm.storage.tables import CrosswalkEntry, LinkConstraint, StandardisedRecord
from mdm.storage.types import utc_now
from tests.mdm.test_bulk import matched  # noqa: F401  (fixture)


def _organisation_in_a_shared_customer(engine: Engine) -> dict[str, Any]:
    """A live organisation record with a tax id whose customer has other members too."""
    fields = [getattr(StandardisedRecord, field) for field in STANDARDISED_FIELDS]
    with engine.connect() as connection:
        rows = connection.execute(
            select(StandardisedRecord.record_id, CrosswalkEntry.canonical_id, *fields)
            .join(CrosswalkEntry, CrosswalkEntry.record_id == StandardisedRecord.record_id)
            .where(CrosswalkEntry.valid_to.is_(None), StandardisedRecord.kind == "organisation",
                   StandardisedRecord.tax_id.is_not(None))
            .order_by(StandardisedRecord.record_id)
        ).all()  # fmt: skip
    sizes: dict[str, int] = {}
    for row in rows:
        sizes[row.canonical_id] = sizes.get(row.canonical_id, 0) + 1
    row = next(row for row in rows if sizes[row.canonical_id] >= 2)
    values = {field: getattr(row, field) for field in STANDARDISED_FIELDS}
    return {"record_id": row.record_id, "canonical_id": row.canonical_id, "values": values}


def test_a_copy_of_a_known_record_links_to_its_customer(hub: Engine, matched: MatchOutcome) -> None:  # noqa: F811
    known = _organisation_in_a_shared_customer(hub)

    with hub.connect() as connection:
        result = match_record(connection, known["values"], "organisation")

    assert (result.decision, result.reason, result.canonical_id) == (
        "link",
        "auto_merge",
        known["canonical_id"],
    )
    assert result.best is not None and result.best.score.match_probability > 0.99
    weights = [candidate.score.match_weight for candidate in result.candidates]
    assert weights == sorted(weights, reverse=True)
    assert {field.comparison for field in result.best.score.fields} >= {"name", "tax_id", "address"}


def test_a_record_is_never_its_own_candidate(hub: Engine, matched: MatchOutcome) -> None:  # noqa: F811
    known = _organisation_in_a_shared_customer(hub)

    with hub.connect() as connection:
        result = match_record(connection, known["values"], "organisation", own_record_id=known["record_id"])

    own = {f"{c.source_key}" for c in result.candidates}
    with hub.connect() as connection:
        key = connection.execute(
            select(CrosswalkEntry.system, CrosswalkEntry.source_id).where(
                CrosswalkEntry.record_id == known["record_id"], CrosswalkEntry.valid_to.is_(None)
            )
        ).one()
    assert f"{key.system}/{key.source_id}" not in own


def test_a_conflicting_tax_id_goes_to_review_not_into_the_customer(
    hub: Engine,
    matched: MatchOutcome,  # noqa: F811
) -> None:
    known = _organisation_in_a_shared_customer(hub)
    values = dict(known["values"], tax_id="ZZ999999999999")

    with hub.connect() as connection:
        result = match_record(connection, values, "organisation")

    assert result.canonical_id == known["canonical_id"]
    assert (result.decision, result.reason) == ("review", "chain_guard")


def test_a_cannot_link_keeps_a_record_out(hub: Engine, matched: MatchOutcome) -> None:  # noqa: F811
    known = _organisation_in_a_shared_customer(hub)
    with hub.begin() as connection:
        other = (
            connection.execute(
                select(CrosswalkEntry.record_id).where(
                    CrosswalkEntry.canonical_id == known["canonical_id"],
                    CrosswalkEntry.valid_to.is_(None),
                    CrosswalkEntry.record_id != known["record_id"],
                )
            )
            .scalars()
            .first()
        )
        connection.execute(
            insert(LinkConstraint).values(left_record_id=known["record_id"], right_record_id=other,
                                          constraint="cannot_link", created_at=utc_now(), created_by="test")
        )  # fmt: skip

    with hub.connect() as connection:
        result = match_record(connection, known["values"], "organisation", own_record_id=known["record_id"])

    assert (result.decision, result.reason) == ("review", "cannot_link")


def test_a_stranger_is_new(hub: Engine, matched: MatchOutcome) -> None:  # noqa: F811
    values = dict.fromkeys(STANDARDISED_FIELDS)
    values.update(name="zzyzx quantum widgets", country="IS", domain="zzyzx-quantum.example")

    with hub.connect() as connection:
        result = match_record(connection, values, "organisation")

    assert (result.decision, result.reason, result.canonical_id) == ("new", "no_match", None)


def test_without_a_model_matching_says_what_to_do(engine: Engine) -> None:
    with engine.connect() as connection, pytest.raises(ModelError, match="mdm match"):
        match_record(connection, {"name": "acme"}, "organisation")
