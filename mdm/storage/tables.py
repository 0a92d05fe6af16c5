"""The hub's tables: source records and their versions, identity, crosswalk, models, review, outbox.

Declared once here; Alembic's migrations in ``migrations/`` create them. History tables are
append-only: a source record version, an issued canonical id, an identity change or an outbox
event is never updated in place except for the columns named as such (validity ends, sequence).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mdm.storage.types import Json, UtcDateTime

# Identity columns as BIGINT on PostgreSQL but INTEGER on SQLite, where only INTEGER PRIMARY KEY
# autoincrements.
Id = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints stably."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: Json, datetime: UtcDateTime()}


class LoadBatch(Base):
    """One file (or API batch) brought in for one source system."""

    __tablename__ = "load_batch"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(Text)
    file_sha256: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)


class SourceRecord(Base):
    """A source key (system, source id) and which of its versions is current."""

    __tablename__ = "source_record"
    __table_args__ = (UniqueConstraint("system", "source_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(16))
    current_version: Mapped[int] = mapped_column(Integer)
    first_seen_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]


class SourceRecordVersion(Base):
    """One version of a source record as the system sent it: raw payload and canonical fields."""

    __tablename__ = "source_record_version"
    __table_args__ = (
        UniqueConstraint("record_id", "version"),
        Index("ix_source_record_version_record_hash", "record_id", "content_sha256"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id"))
    version: Mapped[int] = mapped_column(Integer)
    content_sha256: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    canonical: Mapped[dict[str, Any]]
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source_updated_at: Mapped[datetime | None]
    loaded_at: Mapped[datetime]
    load_id: Mapped[int | None] = mapped_column(ForeignKey("load_batch.id"))


class StandardisedRecord(Base):
    """The standardised fields of a source record's current version, rebuilt by ``restandardise``."""

    __tablename__ = "standardised_record"

    record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(Text, index=True)
    legal_suffix: Mapped[str | None] = mapped_column(Text)
    given_name: Mapped[str | None] = mapped_column(Text)
    family_name: Mapped[str | None] = mapped_column(Text, index=True)
    tax_id: Mapped[str | None] = mapped_column(Text, index=True)
    email: Mapped[str | None] = mapped_column(Text, index=True)
    email_domain: Mapped[str | None] = mapped_column(Text)
    website: Mapped[str | None] = mapped_column(Text)
    domain: Mapped[str | None] = mapped_column(Text, index=True)
    phone: Mapped[str | None] = mapped_column(Text, index=True)
    address_line1: Mapped[str | None] = mapped_column(Text)
    postal_code: Mapped[str | None] = mapped_column(Text, index=True)
    city: Mapped[str | None] = mapped_column(Text)
    region: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(String(2))
    date_of_birth: Mapped[str | None] = mapped_column(String(10), index=True)


class RejectedRow(Base):
    """A row of an input file that was set aside, with where and why."""

    __tablename__ = "rejected_row"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    load_id: Mapped[int] = mapped_column(ForeignKey("load_batch.id"), index=True)
    row_number: Mapped[int] = mapped_column(Integer)
    source_id: Mapped[str | None] = mapped_column(String(256))
    field: Mapped[str | None] = mapped_column(String(128))
    code: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)


class MatchModel(Base):
    """A trained match model version for one kind; at most one per kind is active."""

    __tablename__ = "match_model"
    __table_args__ = (
        UniqueConstraint("kind", "version"),
        Index("uq_match_model_active_kind", "kind", unique=True, sqlite_where=text("active"),
              postgresql_where=text("active")),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    profile_sha256: Mapped[str] = mapped_column(String(64))
    model_json: Mapped[str] = mapped_column(Text)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CanonicalIdIssue(Base):
    """Every canonical id ever issued: the unique key makes reuse impossible."""

    __tablename__ = "canonical_id_issue"

    canonical_id: Mapped[str] = mapped_column(String(14), primary_key=True)
    issued_at: Mapped[datetime]


class Customer(Base):
    """A golden record's identity: live, merged into a survivor, split, or retired."""

    __tablename__ = "customer"

    canonical_id: Mapped[str] = mapped_column(ForeignKey("canonical_id_issue.canonical_id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Id, unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    merged_into: Mapped[str | None] = mapped_column(String(14))
    successors: Mapped[dict[str, Any] | None]


class CrosswalkEntry(Base):
    """A source record's membership of a customer over a validity period; open-ended means current."""

    __tablename__ = "crosswalk"
    __table_args__ = (
        Index("uq_crosswalk_current_record", "record_id", unique=True,
              sqlite_where=text("valid_to IS NULL"), postgresql_where=text("valid_to IS NULL")),
        Index("ix_crosswalk_key", "system", "source_id"),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id"))
    system: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(256))
    canonical_id: Mapped[str] = mapped_column(ForeignKey("customer.canonical_id"), index=True)
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime | None]
    job_id: Mapped[int | None] = mapped_column(ForeignKey("match_job.id"))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("match_model.id"))
    reason: Mapped[str] = mapped_column(String(32))


class GoldenRecord(Base):
    """A version of a customer's golden record, with lineage per attribute."""

    __tablename__ = "golden_record"
    __table_args__ = (UniqueConstraint("canonical_id", "version"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    canonical_id: Mapped[str] = mapped_column(ForeignKey("customer.canonical_id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime | None]
    content_sha256: Mapped[str] = mapped_column(String(64))
    attributes: Mapped[dict[str, Any]]
    lineage: Mapped[dict[str, Any]]


class MatchJob(Base):
    """A bulk match run: its plan, progress and outcome."""

    __tablename__ = "match_job"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    full: Mapped[bool] = mapped_column(Boolean, default=False)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)


class PlanBatch(Base):
    """One self-contained batch of a job's reconciliation plan; applied in its own transaction."""

    __tablename__ = "plan_batch"
    __table_args__ = (UniqueConstraint("job_id", "batch_no"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("match_job.id"))
    batch_no: Mapped[int] = mapped_column(Integer)
    plan: Mapped[dict[str, Any]]
    applied_at: Mapped[datetime | None]


class IdentityChange(Base):
    """The identity-change log: every create, link, unlink, merge, split and retirement."""

    __tablename__ = "identity_change"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    change: Mapped[str] = mapped_column(String(32))
    canonical_id: Mapped[str] = mapped_column(String(14), index=True)
    other_id: Mapped[str | None] = mapped_column(String(14), index=True)
    system: Mapped[str | None] = mapped_column(String(64))
    source_id: Mapped[str | None] = mapped_column(String(256))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("match_job.id"))
    actor: Mapped[str] = mapped_column(String(128))


class OutboxEvent(Base):
    """An event written in the same transaction as its change; the publisher numbers and sends it."""

    __tablename__ = "outbox_event"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    canonical_id: Mapped[str] = mapped_column(String(14), index=True)
    created_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]]
    sequence: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    published_at: Mapped[datetime | None]


class ReviewItem(Base):
    """An ambiguous pair for a steward to decide."""

    __tablename__ = "review_item"
    __table_args__ = (
        Index("uq_review_item_open_pair", "left_record_id", "right_record_id", unique=True,
              sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    reason: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    left_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id"))
    right_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id"))
    match_weight: Mapped[float] = mapped_column(Float)
    match_probability: Mapped[float] = mapped_column(Float)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("match_model.id"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("match_job.id"))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decision: Mapped[str | None] = mapped_column(String(16))


class LinkConstraint(Base):
    """A steward's must-link or cannot-link between two source records."""

    __tablename__ = "link_constraint"
    __table_args__ = (UniqueConstraint("left_record_id", "right_record_id", "constraint"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    left_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id"))
    right_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id"))
    constraint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(128))


class ApiKey(Base):
    """An API key: only its SHA-256 digest is kept, with its role and, for writers, its system."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    system: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class IdempotencyKey(Base):
    """A write answered under a client's ``Idempotency-Key``: the request's digest and the first answer."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("api_key_id", "key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_key.id"))
    key: Mapped[str] = mapped_column(String(256))
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
