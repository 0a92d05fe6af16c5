"""A small generated sample and models trained on it once per session, for the job tests."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from sqlalchemy import Engine

from matching.fields import KINDS
from matching.profile import MatchProfile, load_profile
from matching.training import TrainedModel
from mdm.bulk import ensure_model, read_live_records
from mdm.loading import load_file
from mdm.mappings import SourceMapping, read_mappings
from mdm.models import store_model
from mdm.sample import SampleFiles, generate_sample, sample_mappings_dir
from mdm.storage.database import make_engine, upgrade

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
