"""Match model versions in the database: stored, listed, activated; one active model per kind."""

from __future__ import annotations

import hashlib
from datetime import datetime

import msgspec
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from matching.fields import Kind
from matching.training import TrainedModel
from mdm.errors import NotFoundError
from mdm.storage.tables import MatchModel
from mdm.storage.types import utc_now


class ModelVersion(msgspec.Struct, frozen=True):
    """A stored model version as operators see it."""

    id: int
    kind: str
    version: int
    active: bool
    created_at: str
    records: int
    seconds: float


def profile_digest(model: TrainedModel) -> str:
    """A digest of the profile a model was trained from, to tell when it changed."""
    return hashlib.sha256(msgspec.json.encode(model.profile)).hexdigest()


def store_model(connection: Connection, model: TrainedModel, *, activate: bool = False) -> int:
    """Store a trained model as the next version of its kind; returns its id."""
    latest = connection.execute(
        select(func.max(MatchModel.version)).where(MatchModel.kind == model.kind)
    ).scalar_one_or_none()
    result = connection.execute(
        insert(MatchModel).values(
            kind=model.kind,
            version=(latest or 0) + 1,
            created_at=utc_now(),
            active=False,
            profile_sha256=profile_digest(model),
            model_json=model.to_json().decode(),
            report=msgspec.to_builtins(model.report),
        )
    )
    model_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    if activate:
        activate_model(connection, model_id)
    return model_id


_PARSED: dict[tuple[int, datetime], TrainedModel] = {}
_ACTIVE_IN_TRANSACTION = "mdm.active_models"


def activate_model(connection: Connection, model_id: int) -> None:
    """Make a model version the active one of its kind (and the previous one inactive)."""
    kind = connection.execute(select(MatchModel.kind).where(MatchModel.id == model_id)).scalar_one_or_none()
    if kind is None:
        raise NotFoundError(f"no match model with id {model_id}", field="model_id")
    connection.execute(update(MatchModel).where(MatchModel.kind == kind).values(active=False))
    connection.execute(update(MatchModel).where(MatchModel.id == model_id).values(active=True))
    connection.info.pop(_ACTIVE_IN_TRANSACTION, None)


def active_model(connection: Connection, kind: Kind) -> tuple[int, TrainedModel] | None:
    """The active model of a kind with its id, or None when none is active.

    A stored model never changes, so each is read and parsed once per process and then only its
    id is looked up, once per transaction: a real-time write asks for it at every step, and all
    the steps of one write use the same model.
    """
    transaction = connection.get_transaction()
    if transaction is None:
        return _active_model(connection, kind)
    seen: tuple[object, dict[str, tuple[int, TrainedModel] | None]] | None = connection.info.get(
        _ACTIVE_IN_TRANSACTION
    )
    if seen is None or seen[0] is not transaction:
        seen = (transaction, {})
        connection.info[_ACTIVE_IN_TRANSACTION] = seen
    if kind not in seen[1]:
        seen[1][kind] = _active_model(connection, kind)
    return seen[1][kind]


def _active_model(connection: Connection, kind: Kind) -> tuple[int, TrainedModel] | None:
    row = connection.execute(
        select(MatchModel.id, MatchModel.created_at).where(MatchModel.kind == kind, MatchModel.active)
    ).one_or_none()
    if row is None:
        return None
    # The creation time in the key tells apart two models that reused an id in an emptied database.
    key = (int(row.id), row.created_at)
    model = _PARSED.get(key)
    if model is None:
        model = get_model(connection, key[0])
        if len(_PARSED) >= 16:
            _PARSED.clear()
        _PARSED[key] = model
    return key[0], model


def get_model(connection: Connection, model_id: int) -> TrainedModel:
    """A stored model version by id."""
    text = connection.execute(
        select(MatchModel.model_json).where(MatchModel.id == model_id)
    ).scalar_one_or_none()
    if text is None:
        raise NotFoundError(f"no match model with id {model_id}", field="model_id")
    return TrainedModel.from_json(text)


def list_models(connection: Connection) -> list[ModelVersion]:
    """Every stored model version, newest first within each kind."""
    rows = connection.execute(
        select(MatchModel.id, MatchModel.kind, MatchModel.version, MatchModel.active, MatchModel.created_at,
               MatchModel.report)
        .order_by(MatchModel.kind, MatchModel.version.desc())
    ).all()  # fmt: skip
    return [
        ModelVersion(
            id=int(row.id),
            kind=row.kind,
            version=row.version,
            active=bool(row.active),
            created_at=row.created_at.isoformat(),
            records=int(row.report.get("records", 0)),
            seconds=float(row.report.get("seconds", 0.0)),
        )
        for row in rows
    ]
