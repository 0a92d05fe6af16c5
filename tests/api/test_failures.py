"""A failure the hub did not foresee is logged with where it happened, never with its message."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError

from api.problems import failure_context
from mdm.storage.tables import CanonicalIdIssue
from mdm.storage.types import utc_now


def _fail_with_a_personal_value() -> None:
    raise ValueError("Jane Doe, born 1980-02-03, is not allowed here")


def test_the_context_names_the_hubs_frames_and_not_the_message() -> None:
    with pytest.raises(ValueError, match="Jane") as caught:
        _fail_with_a_personal_value()

    context = failure_context(caught.value)

    assert context["at"][-1].startswith("test_failures.py:")
    assert context["at"][-1].endswith("_fail_with_a_personal_value")
    assert "Jane" not in repr(context)


@pytest.mark.postgres
def test_a_database_refusal_names_its_sqlstate_and_constraint(pg_engine: Engine) -> None:
    row = {"canonical_id": "C0000000000001", "issued_at": utc_now()}
    with pytest.raises(IntegrityError) as caught, pg_engine.begin() as connection:
        connection.execute(insert(CanonicalIdIssue), [row, row])

    context = failure_context(caught.value)

    assert context["sqlstate"] == "23505"
    assert context["constraint"] == "pk_canonical_id_issue"
    assert "C0000000000001" not in repr(context)
