"""A small generated sample and models trained on it once per session, for the job tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
import structlog
from sqlalchemy import Engine, insert, select
from typer.testing import CliRunner, Result

from matching.fields import KINDS
from matching.profile import MatchProfile, load_profile
from matching.training import TrainedModel
from mdm.bulk import ensure_model, read_crosswalk, read_live_records
from mdm.cli import app
from mdm.crosswalk import apply_batch
from mdm.golden import refresh_golden_records
from mdm.identity import new_canonical_id
from mdm.loading import load_file
from mdm.mappings import SourceMapping, read_mapping, read_mappings
from mdm.models import store_model
from mdm.reconcile import plan_reconciliation
from mdm.sample import SampleFiles, generate_sample, sample_mappings_dir
from mdm.storage.database import make_engine, upgrade
from mdm.storage.tables import MatchJob, SourceRecord
from mdm.storage.types import utc_now

SAMPLE_CUSTOMERS = 700
SAMPLE_SEED = 11


@pytest.fixture(scope="session")
def profile() -> MatchProfile:
    """The default profile with fewer u-sampling pairs, so that training stays quick."""
    base = load_profile(None)
    return msgspec.structs.replace(
        base,
        **{
            kind: msgspec.structs.replace(
                base.for_kind(kind),
                training=msgspec.structs.replace(base.for_kind(kind).training, u_max_pairs=3e5),
            )
            for kind in KINDS
        },
    )


@pytest.fixture(scope="session")
def sample_files(tmp_path_factory: pytest.TempPathFactory) -> SampleFiles:
    return generate_sample(tmp_path_factory.mktemp("sample"), customers=SAMPLE_CUSTOMERS, seed=SAMPLE_SEED)


@pytest.fixture(scope="session")
def sample_mappings() -> dict[str, SourceMapping]:
    return read_mappings(sample_mappings_dir())


@pytest.fixture(scope="session")
def trained_models(
    sample_files: SampleFiles,
    sample_mappings: dict[str, SourceMapping],
    profile: MatchProfile,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, TrainedModel]:
    """One model per kind, trained once on the sample in a scratch database."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('training') / 'train.db'}")
    upgrade(engine)
    load_all(engine, sample_files, sample_mappings)
    frame = read_live_records(engine).frame
    models = {}
    for kind in KINDS:
        _, model, _ = ensure_model(engine, profile, kind, frame[frame["kind"] == kind], store=False)
        models[kind] = model
    engine.dispose()
    return models


def load_all(engine: Engine, files: SampleFiles, mappings: dict[str, SourceMapping]) -> None:
    """Load every system file of a sample."""
    for system, file in files.systems.items():
        load_file(engine, file.path, mappings[system])


@pytest.fixture
def hub(engine: Engine, trained_models: dict[str, TrainedModel]) -> Engine:
    """An empty hub database with the session's models stored and active."""
    with engine.begin() as connection:
        for model in trained_models.values():
            store_model(connection, model, activate=True)
    return engine


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    """A small CSV file."""
    lines = [",".join(header), *(",".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


SMALL_MAPPING = """
system = "{system}"
source_id = "id"
priority = {priority}

[kind]
constant = "organisation"

[fields]
name = "name"
email = "email"
city = "city"
country = "country"
updated_at = "updated"
"""


def apply_clusters(engine: Engine, clusters: list[list[str]], priorities: dict[str, int]) -> None:
    """Reconcile the crosswalk with hand-made clusters and apply the plan, as a match job would."""
    with engine.connect() as connection:
        current, id_order = read_crosswalk(connection)
        record_ids = {
            f"{system}/{source_id}": record_id
            for record_id, system, source_id in connection.execute(
                select(SourceRecord.id, SourceRecord.system, SourceRecord.source_id)
            )
        }
    plan = plan_reconciliation(current, clusters, id_order, new_canonical_id)
    with engine.begin() as connection:
        job_id = connection.execute(
            insert(MatchJob).values(started_at=utc_now(), status="finished", full=True, counts={})
        ).inserted_primary_key[0]
        apply_batch(connection, plan, job_id, record_ids, dict.fromkeys(record_ids, "organisation"), {})
    refresh_golden_records(engine, priorities)


@pytest.fixture
def small_hub(engine: Engine, tmp_path: Path) -> dict[str, str]:
    """A hub of six records whose identities went through a merge and a split, by hand.

    First ``crm/1``, ``crm/2``, ``crm/3 + crm/4``, ``erp/1`` and ``erp/2`` become five customers;
    then ``crm/1 + crm/3`` and ``crm/2 + crm/4`` split the third, and ``erp/1 + erp/2`` merges
    the fifth into the fourth. Returns the canonical ids by role.
    """
    return build_small_hub(engine, tmp_path)


def build_small_hub(engine: Engine, folder: Path) -> dict[str, str]:
    """Load the small hub of ``small_hub`` into an empty database, writing its files in ``folder``."""
    rows = {
        "crm": [["1", "Acme", "info@acme.example", "Berlin", "DE", "2026-01-05"],
                ["2", "Bolt", "", "Hamburg", "DE", "2026-01-05"],
                ["3", "Acme GmbH", "", "Berlin", "DE", "2026-01-01"],
                ["4", "Bolt AG", "sales@bolt.example", "", "DE", "2026-01-01"]],
        "erp": [["1", "Crane Ltd", "", "Leeds", "GB", "2026-02-01"],
                ["2", "Crane Limited", "hello@crane.example", "Leeds", "GB", "2026-03-01"]],
    }  # fmt: skip
    priorities = {"erp": 1, "crm": 2}
    for system, system_rows in rows.items():
        mapping_path = folder / f"{system}.toml"
        mapping_path.write_text(SMALL_MAPPING.format(system=system, priority=priorities[system]))
        header = ["id", "name", "email", "city", "country", "updated"]
        load_file(
            engine, write_rows(folder / f"{system}.csv", header, system_rows), read_mapping(mapping_path)
        )

    apply_clusters(engine, [["crm/1"], ["crm/2"], ["crm/3", "crm/4"], ["erp/1"], ["erp/2"]], priorities)
    with engine.connect() as connection:
        first, _ = read_crosswalk(connection)
    apply_clusters(engine, [["crm/1", "crm/3"], ["crm/2", "crm/4"], ["erp/1", "erp/2"]], priorities)
    return {
        "acme": first["crm/1"], "bolt": first["crm/2"], "split": first["crm/3"],
        "crane": first["erp/1"], "merged": first["erp/2"],
    }  # fmt: skip


@pytest.fixture
def run_cli(engine: Engine) -> Iterator[Callable[..., Result]]:
    """Run ``mdm`` on the test database; the logging it configures is undone afterwards."""

    def run(*args: str, **env: str) -> Result:
        url = engine.url.render_as_string(hide_password=False)
        return CliRunner().invoke(app, list(args), env={"MDM_DATABASE_URL": url, **env})

    yield run
    structlog.reset_defaults()
