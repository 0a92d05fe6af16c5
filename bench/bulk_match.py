"""The bulk match job on generated customers, against raw Splink with the same model and input.

Generates the sample (about 2.09 source records per customer, so the default 48,000 customers give
about 100,000 records), loads every system file into a fresh database, and runs the bulk match job,
timing its phases. Then, in a separate process, Splink's own predict and connected-components
clustering run with the hub's trained Splink settings on the same standardised records (raw Splink
computes term frequencies from them, where the hub uses the model's frozen tables). Prints
records per second for load and match, peak memory, accuracy against the truth, and the ratio of
the hub's predict plus clustering to raw Splink's: the figure that matters.

    .venv/bin/python bench/bulk_match.py [--customers 48000] [--seed 7] [--database-url URL]

With a PostgreSQL URL (the default, the local server) the benchmark creates a database of its own on
that server and drops it at the end. With a SQLite URL it uses that file, which must not exist yet;
``sqlite://`` alone puts the file in the benchmark's temporary folder.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pyarrow.parquet as pq
from sqlalchemy import Engine, make_url, text

import mdm.bulk
from matching._splink import records_table
from matching.fields import KINDS
from matching.profile import MatchProfile, load_profile
from mdm.accuracy import hub_accuracy
from mdm.evaluate import Evaluation, evaluate, read_truth
from mdm.loading import load_file
from mdm.logs import configure_logging
from mdm.mappings import read_mappings
from mdm.models import active_model
from mdm.sample import generate_sample, sample_mappings_dir
from mdm.storage.database import make_engine, upgrade

# Seed 7 gives 2,078 records from 1,000 customers and 6,273 from 3,000.
RECORDS_PER_CUSTOMER = 2.09
DEFAULT_CUSTOMERS = int(round(100_000 / RECORDS_PER_CUSTOMER, -3))
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# The steps of ``mdm.bulk.run_match`` that the clock times, by the names the job calls them by,
# with their labels; an indented label is a step inside the one above it.
PHASES: dict[str, str] = {
    "retire_gone_records": "retire gone records",
    "read_live_records": "read live records",
    "ensure_model": "train and store model",
    "cluster_kind": "predict + cluster",
    "predict_pairs": "  predict (Splink, frozen tf)",
    "cluster": "  cluster (chain guard)",
    "plan_reconciliation": "reconcile: plan",
    "_start_job": "reconcile: store plan",
    "_apply_job": "apply plan in batches",
    "open_review_items": "open review items",
    "refresh_golden_records": "golden records",
}


class RawKindJob(msgspec.Struct, frozen=True, kw_only=True):
    """What the raw Splink process does for one kind: its input files and thresholds."""

    kind: str
    records: str
    settings: str
    predict_weight: float
    cluster_weight: float


class RawKindResult(msgspec.Struct, frozen=True, kw_only=True):
    """Raw Splink's figures for one kind; ``clusters`` is a Parquet file of cluster_id, unique_id."""

    kind: str
    records: int
    pairs: int
    clusters: str
    predict_seconds: float
    cluster_seconds: float


class RawResult(msgspec.Struct, frozen=True, kw_only=True):
    """What the raw Splink process reports, with its own peak resident memory."""

    kinds: list[RawKindResult]
    peak_rss_mb: float


class PhaseClock:
    """Wall time of the bulk job's steps, taken by wrapping the functions the job calls.

    The job looks its helpers up in its module's namespace at call time, so wrapping them there
    times every call without any change to the library; a renamed step fails loudly here.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def watching(self, module: ModuleType, names: list[str]) -> Iterator[None]:
        """Time calls of ``module.<name>`` for each name while the block runs."""
        originals = {name: getattr(module, name) for name in names}
        try:
            for name, function in originals.items():
                setattr(module, name, self._timed(name, function))
            yield
        finally:
            for name, function in originals.items():
                setattr(module, name, function)

    def _timed(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started

        return timed


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory in MB of this process, or of its waited-for children.

    On Linux a child's ``ru_maxrss`` starts from its parent's peak at the time it was spawned, so
    the children's figure is never below this process's peak at that time.
    """
    return resource.getrusage(who).ru_maxrss / 1024


def own_peak_rss_mb() -> float:
    """Peak resident memory in MB of this process's own address space (Linux ``VmHWM``).

    Unlike ``ru_maxrss``, it starts afresh when a process is spawned, so it measures a child alone.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return peak_rss_mb()


@contextmanager
def bench_database(url: str, scratch: Path) -> Iterator[Engine]:
    """A fresh, migrated database: its own on a PostgreSQL server (dropped after), or a new SQLite file."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database) if parsed.database else scratch / "bench.db"
        if path.exists():
            raise SystemExit(f"{path} exists; the benchmark needs a database of its own")
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()
        return

    name = f"mdm_bench_{os.getpid()}"
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(parsed.set(database=name).render_as_string(hide_password=False))
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def export_raw_jobs(engine: Engine, profile: MatchProfile, folder: Path) -> list[RawKindJob]:
    """Write each kind's standardised records (Parquet) and its active model's Splink settings (JSON)."""
    live = mdm.bulk.read_live_records(engine)
    jobs: list[RawKindJob] = []
    for kind in KINDS:
        with engine.connect() as connection:
            found = active_model(connection, kind)
        records = live.frame[live.frame["kind"] == kind]
        if found is None or records.empty:
            continue

        model = found[1]
        # The very table the hub hands to Splink: same columns, same types, same nulls.
        table = records_table(records, profile.for_kind(kind), kind)
        records_path = folder / f"{kind}_records.parquet"
        pq.write_table(table, records_path)
        settings_path = folder / f"{kind}_settings.json"
        settings_path.write_text(json.dumps(model.splink_settings), encoding="utf-8")
        jobs.append(
            RawKindJob(
                kind=kind,
                records=str(records_path),
                settings=str(settings_path),
                predict_weight=model.review_weight,
                cluster_weight=model.auto_merge_weight,
            )
        )
    return jobs


def run_raw_splink(folder: Path) -> None:
    """The separate process: Splink's predict and clustering per kind, as a Splink user would run them."""
    from splink import DuckDBAPI, Linker  # noqa: PLC0415 - only the raw process needs Splink's API

    jobs = msgspec.json.decode((folder / "raw_jobs.json").read_bytes(), type=list[RawKindJob])
    results: list[RawKindResult] = []
    for job in jobs:
        settings = json.loads(Path(job.settings).read_text(encoding="utf-8"))

        started = time.perf_counter()
        table = pq.read_table(job.records)
        db_api = DuckDBAPI()
        records = db_api.register(table, dataset_display_name=f"{job.kind}_records")
        linker = Linker(records, settings, log_level=None)
        predictions = linker.inference.predict(
            threshold_match_weight=job.predict_weight, warning_mode="never"
        )
        predicted = time.perf_counter()

        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_weight=job.cluster_weight
        )
        assignment = clusters.query_sql("select cluster_id, unique_id from {this}")
        table_of_clusters = assignment.as_pyarrow_table()  # type: ignore[no-untyped-call]
        clustered = time.perf_counter()

        pairs = predictions.query_sql("select count(*) as pairs from {this}").as_record_list()[0]["pairs"]
        clusters_path = folder / f"{job.kind}_raw_clusters.parquet"
        pq.write_table(table_of_clusters, clusters_path)
        results.append(
            RawKindResult(
                kind=job.kind,
                records=table.num_rows,
                pairs=int(pairs),
                clusters=str(clusters_path),
                predict_seconds=predicted - started,
                cluster_seconds=clustered - predicted,
            )
        )

    result = RawResult(kinds=results, peak_rss_mb=own_peak_rss_mb())
    (folder / "raw_result.json").write_bytes(msgspec.json.encode(result))


def raw_splink_in_subprocess(folder: Path, jobs: list[RawKindJob]) -> tuple[RawResult, float]:
    """Run ``run_raw_splink`` in a fresh interpreter; returns its result and the wall time of the process."""
    (folder / "raw_jobs.json").write_bytes(msgspec.json.encode(jobs))
    started = time.perf_counter()
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--raw-splink", str(folder)], check=True)
    seconds = time.perf_counter() - started
    return msgspec.json.decode((folder / "raw_result.json").read_bytes(), type=RawResult), seconds


def raw_accuracy(result: RawResult, truth: dict[str, str]) -> Evaluation:
    """Score raw Splink's connected components against the truth; kinds never share a cluster."""
    predicted: dict[str, str] = {}
    for kind in result.kinds:
        assignment = pq.read_table(kind.clusters).to_pydict()
        for cluster_id, key in zip(assignment["cluster_id"], assignment["unique_id"], strict=True):
            predicted[key] = f"{kind.kind}:{cluster_id}"
    return evaluate(predicted, truth)


def _row(label: str, value: str) -> None:
    print(f"  {label:<44} {value}")


def _accuracy_line(evaluation: Evaluation) -> str:
    return (
        f"precision {evaluation.precision:.4f}, recall {evaluation.recall:.4f}, F1 {evaluation.f1:.4f} "
        f"({evaluation.false_positive_pairs:,} false pairs, {evaluation.false_negative_pairs:,} missed)"
    )


def main() -> None:
    """Generate, load, match, run raw Splink apart, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--customers",
        type=int,
        default=DEFAULT_CUSTOMERS,
        help="true customers to generate (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=7, help="the sample's seed (default %(default)s)")
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="a PostgreSQL server to create the bench database on, or a new SQLite file",
    )
    parser.add_argument("--raw-splink", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.raw_splink is not None:
        run_raw_splink(arguments.raw_splink)
        return

    configure_logging("warning", "console")
    # Splink warns of every comparison level that EM did not observe while training.
    logging.getLogger("splink").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="mdm-bench-") as scratch_name:
        scratch = Path(scratch_name)
        started = time.perf_counter()
        files = generate_sample(scratch / "sample", customers=arguments.customers, seed=arguments.seed)
        generated = time.perf_counter() - started
        print(f"sample: {arguments.customers:,} customers, {files.records:,} records in {generated:.1f} s")

        with bench_database(arguments.database_url, scratch) as engine:
            print(f"database: {engine.url.render_as_string(hide_password=True)}")
            mappings = read_mappings(sample_mappings_dir())
            rows_read = loaded = 0
            started = time.perf_counter()
            for system, file in files.systems.items():
                report = load_file(engine, file.path, mappings[system], rejects_dir=scratch / "rejects")
                rows_read += report.rows_read
                loaded += report.inserted
            load_seconds = time.perf_counter() - started
            load_rss = peak_rss_mb()
            print(f"loaded {loaded:,} of {rows_read:,} rows in {load_seconds:.1f} s")

            profile = load_profile()
            priorities = {system: mapping.priority for system, mapping in mappings.items()}
            clock = PhaseClock()
            started = time.perf_counter()
            with clock.watching(mdm.bulk, list(PHASES)):
                outcome = mdm.bulk.run_match(engine, profile, priorities=priorities)
            match_seconds = time.perf_counter() - started
            match_rss = peak_rss_mb()
            records = sum(kind.records for kind in outcome.kinds)
            print(f"matched {records:,} records in {match_seconds:.1f} s")

            accuracy = hub_accuracy(engine, read_truth(files.truth))
            jobs = export_raw_jobs(engine, profile, scratch)

        raw, raw_process_seconds = raw_splink_in_subprocess(scratch, jobs)
        raw_evaluation = raw_accuracy(raw, read_truth(files.truth))

    raw_predict = sum(kind.predict_seconds for kind in raw.kinds)
    raw_cluster = sum(kind.cluster_seconds for kind in raw.kinds)
    ours = clock.seconds["cluster_kind"]
    measured = sum(seconds for name, seconds in clock.seconds.items() if not PHASES[name].startswith(" "))

    size = f"{records:,} records, {arguments.customers:,} customers, seed {arguments.seed}"
    print(f"\nbulk match benchmark: {size}, {engine.dialect.name}")
    _row("load", f"{load_seconds:8.1f} s  {rows_read / load_seconds:10,.0f} records/s")
    _row("match, whole job", f"{match_seconds:8.1f} s  {records / match_seconds:10,.0f} records/s")
    for name, label in PHASES.items():
        _row(f"  {label}", f"{clock.seconds.get(name, 0.0):8.1f} s")
    _row("  other (reads, constraints, crosswalk)", f"{match_seconds - measured:8.1f} s")
    for kind in outcome.kinds:
        _row(
            f"  {kind.kind}",
            f"{kind.records:,} records, {kind.pairs_scored:,} pairs, {kind.auto_merge_links:,} links, "
            f"{kind.review_items:,} review items",
        )
    changes = ", ".join(f"{name} {count:,}" for name, count in outcome.changes.items())
    _row("  outcome", f"{changes}; {outcome.golden_records_written:,} golden, {outcome.events:,} events")
    _row("raw Splink predict + cluster", f"{raw_predict + raw_cluster:8.1f} s  (separate process)")
    _row("  predict (register + predict)", f"{raw_predict:8.1f} s")
    _row("  cluster (connected components + fetch)", f"{raw_cluster:8.1f} s")
    _row("  pairs", ", ".join(f"{kind.kind} {kind.pairs:,}" for kind in raw.kinds))
    _row("  whole process, imports included", f"{raw_process_seconds:8.1f} s")
    _row("RATIO ours / raw Splink, predict + cluster", f"{ours / (raw_predict + raw_cluster):8.2f} x")
    _row("  predict alone", f"{clock.seconds['predict_pairs'] / raw_predict:8.2f} x")
    _row("  clustering alone", f"{clock.seconds['cluster'] / raw_cluster:8.2f} x")
    _row("  whole match job / raw predict + cluster", f"{match_seconds / (raw_predict + raw_cluster):8.2f} x")
    _row("peak memory, this process after load", f"{load_rss:8,.0f} MB")
    _row("peak memory, this process after match", f"{match_rss:8,.0f} MB")
    _row("peak memory, raw Splink process (VmHWM)", f"{raw.peak_rss_mb:8,.0f} MB")
    _row(
        "peak memory, children ru_maxrss (>= ours)",
        f"{peak_rss_mb(resource.RUSAGE_CHILDREN):8,.0f} MB",
    )
    _row("accuracy, hub auto-merge", _accuracy_line(accuracy.auto_merge))
    _row("accuracy, hub auto-merge + review", _accuracy_line(accuracy.with_review))
    _row("  review items", f"{accuracy.review_items:,} = {accuracy.review_share:.2%} of records")
    _row("accuracy, raw Splink at auto-merge", _accuracy_line(raw_evaluation))


if __name__ == "__main__":
    main()
