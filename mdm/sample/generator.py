"""Sample exports of four source systems, with the truth that says which records are one customer.

``generate_sample`` writes ``crm.csv``, ``billing.jsonl``, ``erp.parquet`` and ``support.csv``
the way those systems would export the same customers, each with its own columns, formats,
habits and mistakes, plus ``truth.csv`` (system, source_id, entity_id) for evaluation and
``hard_negatives.csv`` (group_id, group_kind, entity_id): customers that look alike on purpose.
The same seed gives byte-identical files.
"""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Final

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from mdm.errors import ConfigurationError
from mdm.sample._population import SYSTEMS, Customer, build_population
from mdm.sample._systems import COLUMNS, Row, SystemWriter

BAD_ROW_SHARE: Final = 0.003

FILE_NAMES: Final[dict[str, str]] = {
    "crm": "crm.csv",
    "billing": "billing.jsonl",
    "erp": "erp.parquet",
    "support": "support.csv",
}
_SOURCE_ID_COLUMNS: Final = {
    "crm": "AccountId",
    "billing": "customer_id",
    "erp": "KUNNR",
    "support": "contact_id",
}
_KIND_COLUMNS: Final = {"crm": "RecordType", "billing": "customer_type", "erp": "KTOKD", "support": "segment"}
_UPDATED_COLUMNS: Final = {
    "crm": "LastModifiedDate",
    "billing": "updated",
    "erp": "CHANGED_AT",
    "support": "updated_at",
}
_UNKNOWN_KINDS: Final = {"crm": "Partner", "billing": "reseller", "erp": "ZCPD", "support": "Partner"}
_BAD_DATES: Final = {
    "crm": "2024-13-41T25:61:00Z",
    "billing": "yesterday",
    "erp": "00000000000000",
    "support": "31/02/2024 10:00",
}
DEFECTS: Final = ("missing_source_id", "unparseable_date", "unknown_kind")


class SystemFile(msgspec.Struct, frozen=True, kw_only=True):
    """One system's export in the sample.

    Attributes:
        system: The source system's name.
        path: Where the file was written.
        records: Rows in the file, bad rows included.
        bad_records: Rows a loader must reject (not in the truth).
        entities: Distinct true customers the system knows.
        duplicates: Customers the system holds twice under different source ids.
    """

    system: str
    path: Path
    records: int
    bad_records: int
    entities: int
    duplicates: int


class SampleFiles(msgspec.Struct, frozen=True, kw_only=True):
    """What ``generate_sample`` wrote, with the counts that ``mdm sample`` reports.

    Attributes:
        out_dir: The folder holding every file.
        truth: ``truth.csv``: system, source_id, entity_id of every good row.
        hard_negatives: ``hard_negatives.csv``: group_id, group_kind, entity_id.
        systems: The four exports by system name.
        customers: True customers (entities).
        organisations: Customers of kind organisation.
        persons: Customers of kind person.
        multi_system_customers: Customers known to two or more systems.
        hard_negative_customers: Customers in a hard-negative group.
        stale_address_customers: Customers whose old address one system still holds.
        renamed_customers: Organisations whose old name one system still holds.
        typo_rate: Share of typo-eligible values written with a typo.
        seed: The seed that reproduces these files.
    """

    out_dir: Path
    truth: Path
    hard_negatives: Path
    systems: dict[str, SystemFile]
    customers: int
    organisations: int
    persons: int
    multi_system_customers: int
    hard_negative_customers: int
    stale_address_customers: int
    renamed_customers: int
    typo_rate: float
    seed: int

    @property
    def records(self) -> int:
        """Rows over all four files, bad rows included."""
        return sum(file.records for file in self.systems.values())

    def summary_lines(self) -> list[str]:
        """Human-readable lines for the command line."""
        lines = [
            f"{self.customers} customers: {self.organisations} organisations, {self.persons} persons",
            f"{self.multi_system_customers} in two or more systems",
            f"{self.hard_negative_customers} in hard-negative groups",
            f"{self.stale_address_customers} with a stale address, {self.renamed_customers} renamed",
            f"typo rate {self.typo_rate:.1%}",
        ]
        for file in self.systems.values():
            lines.append(
                f"{file.system:<8} {file.path.name:<14} {file.records:>8} records, {file.bad_records} bad, "
                f"{file.entities} customers, {file.duplicates} duplicated"
            )
        lines.append(f"truth    {self.truth.name}, seed {self.seed}")
        return lines


def sample_mappings_dir() -> Path:
    """The folder of the source mappings (``<system>.toml``) that read the sample files.

    Raises:
        ConfigurationError: When the package is installed in a form without real files (a zip).
    """
    folder = resources.files("mdm.sample") / "mappings"
    # Limitation: zipped installs are not supported; the loader reads mappings from a real folder.
    if not isinstance(folder, Path) or not folder.is_dir():
        raise ConfigurationError(f"sample mappings are not a folder on disk: {folder}")
    return folder


def generate_sample(out_dir: Path, *, customers: int = 3000, seed: int = 7) -> SampleFiles:
    """Write the four system exports, ``truth.csv`` and ``hard_negatives.csv`` into ``out_dir``.

    Args:
        out_dir: Folder to write into; created when missing, files in it are overwritten.
        customers: How many true customers (85% organisations, 15% persons).
        seed: Seeds Faker and ``random.Random``: the same seed gives byte-identical files.

    Returns:
        The paths written and their counts.
    """
    if customers < 1:
        raise ConfigurationError("a sample needs at least one customer", field="customers")
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    population = build_population(customers, rng, seed)
    writer = SystemWriter(rng)

    rows: dict[str, list[Row]] = {system: [] for system in SYSTEMS}
    truth: list[tuple[str, str, str]] = []
    for customer in population:
        for system in customer.systems:
            copies = 2 if customer.duplicate_in == system else 1
            for _ in range(copies):
                row = writer.row(system, customer)
                rows[system].append(row)
                truth.append((system, str(row[_SOURCE_ID_COLUMNS[system]]), customer.entity_id))
    typo_rate = writer.noise.typos / max(writer.noise.eligible_values, 1)

    bad_counts = {system: _add_bad_rows(rows[system], system, population, writer, rng) for system in SYSTEMS}
    for system in SYSTEMS:
        rng.shuffle(rows[system])

    paths = {system: out_dir / FILE_NAMES[system] for system in SYSTEMS}
    _write_csv(paths["crm"], COLUMNS["crm"], _cells(rows["crm"], COLUMNS["crm"]))
    _write_jsonl(paths["billing"], COLUMNS["billing"], rows["billing"])
    _write_parquet(paths["erp"], COLUMNS["erp"], rows["erp"])
    _write_csv(paths["support"], COLUMNS["support"], _cells(rows["support"], COLUMNS["support"]))

    truth_path = out_dir / "truth.csv"
    _write_csv(truth_path, ("system", "source_id", "entity_id"), sorted(truth))
    hard_path = out_dir / "hard_negatives.csv"
    groups = sorted(
        (customer.group, customer.group_kind, customer.entity_id) for customer in population if customer.group
    )
    _write_csv(hard_path, ("group_id", "group_kind", "entity_id"), groups)

    return _summary(
        out_dir,
        paths=paths,
        truth_path=truth_path,
        hard_path=hard_path,
        population=population,
        rows=rows,
        bad_counts=bad_counts,
        typo_rate=typo_rate,
        seed=seed,
    )


def _add_bad_rows(
    rows: list[Row], system: str, population: list[Customer], writer: SystemWriter, rng: random.Random
) -> int:
    """Append rows that a loader must reject, one defect each; they stay out of the truth."""
    count = max(1, round(len(rows) * BAD_ROW_SHARE))
    for index in range(count):
        row = writer.row(system, rng.choice(population))
        defect = DEFECTS[index % len(DEFECTS)]
        if defect == "missing_source_id":
            row[_SOURCE_ID_COLUMNS[system]] = None
        elif defect == "unparseable_date":
            row[_UPDATED_COLUMNS[system]] = _BAD_DATES[system]
        else:
            row[_KIND_COLUMNS[system]] = _UNKNOWN_KINDS[system]
        rows.append(row)
    return count


def _summary(
    out_dir: Path,
    *,
    paths: dict[str, Path],
    truth_path: Path,
    hard_path: Path,
    population: list[Customer],
    rows: dict[str, list[Row]],
    bad_counts: dict[str, int],
    typo_rate: float,
    seed: int,
) -> SampleFiles:
    kinds = Counter(customer.kind for customer in population)
    files = {
        system: SystemFile(
            system=system,
            path=paths[system],
            records=len(rows[system]),
            bad_records=bad_counts[system],
            entities=sum(system in customer.systems for customer in population),
            duplicates=sum(customer.duplicate_in == system for customer in population),
        )
        for system in SYSTEMS
    }
    return SampleFiles(
        out_dir=out_dir,
        truth=truth_path,
        hard_negatives=hard_path,
        systems=files,
        customers=len(population),
        organisations=kinds["organisation"],
        persons=kinds["person"],
        multi_system_customers=sum(len(customer.systems) >= 2 for customer in population),
        hard_negative_customers=sum(customer.group is not None for customer in population),
        stale_address_customers=sum(customer.former_address is not None for customer in population),
        renamed_customers=sum(customer.former_brand is not None for customer in population),
        typo_rate=typo_rate,
        seed=seed,
    )


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _cells(rows: list[Row], columns: tuple[str, ...]) -> list[list[object]]:
    return [[row[column] for column in columns] for row in rows]


def _write_csv(path: Path, columns: tuple[str, ...], rows: Iterable[Sequence[object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(columns)
        for row in rows:
            out.writerow([_text(value) for value in row])


def _write_jsonl(path: Path, columns: tuple[str, ...], rows: list[Row]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            handle.write(json.dumps({column: row[column] for column in columns}, ensure_ascii=False))
            handle.write("\n")


def _write_parquet(path: Path, columns: tuple[str, ...], rows: list[Row]) -> None:
    arrays = [pa.array([row[column] for row in rows], type=pa.string()) for column in columns]
    pq.write_table(pa.Table.from_arrays(arrays, names=list(columns)), path, compression="zstd")
