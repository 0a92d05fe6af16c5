"""Real-time scoring: one record against 200 candidates, in process and through Splink on DuckDB.

Generates a sample of 2,000 customers, loads it into a scratch SQLite file, trains the organisation
model through the bulk job, then scores 50 records against 200 candidates each: with the in-process
scorer, and with Splink's own prediction on a 201-record table whose one blocking rule admits every
pair with the new record (what a per-request call to Splink would cost). Prints time per request
and per pair, and the ratio.

Run: .venv/bin/python bench/scorer.py
"""

from __future__ import annotations

import logging
import random
import statistics
import tempfile
import time
from pathlib import Path

import msgspec
import structlog

from matching.prediction import predict_pairs
from matching.profile import load_profile
from matching.scorer import Scorer
from mdm.bulk import read_live_records, run_match
from mdm.loading import load_file
from mdm.mappings import read_mappings
from mdm.models import active_model
from mdm.sample import generate_sample, sample_mappings_dir
from mdm.storage.database import make_engine, upgrade

REQUESTS = 50
CANDIDATES = 200


def main() -> None:
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        files = generate_sample(folder, customers=2000, seed=5)
        engine = make_engine(f"sqlite:///{folder / 'mdm.db'}")
        upgrade(engine)
        mappings = read_mappings(sample_mappings_dir())
        for system, file in files.systems.items():
            load_file(engine, file.path, mappings[system])
        run_match(engine, load_profile(None), priorities={s: m.priority for s, m in mappings.items()})
        with engine.connect() as connection:
            found = active_model(connection, "organisation")
        assert found is not None
        model = found[1]
        frame = read_live_records(engine).frame
        engine.dispose()

    records = frame[frame["kind"] == "organisation"].reset_index(drop=True)
    rows = records.to_dict("records")
    rng = random.Random(1)

    started = time.perf_counter()
    scorer = Scorer(model)
    build = time.perf_counter() - started

    settings = dict(model.splink_settings)
    settings["blocking_rules_to_generate_predictions"] = [
        {"blocking_rule": "l.unique_id = 'new' OR r.unique_id = 'new'", "sql_dialect": "duckdb"}
    ]
    one_against_many = msgspec.structs.replace(model, splink_settings=settings)

    ours, splink = [], []
    for _ in range(REQUESTS):
        chosen = rng.sample(range(len(rows)), CANDIDATES + 1)
        new = dict(rows[chosen[0]], unique_id="new")
        candidates = [rows[index] for index in chosen[1:]]

        started = time.perf_counter()
        for candidate in candidates:
            scorer.score(new, candidate)
        ours.append(time.perf_counter() - started)

        table = records.iloc[chosen[1:]].copy()
        table.loc[len(table) + 10**6] = new
        started = time.perf_counter()
        pairs = predict_pairs(table, one_against_many, threshold_weight=-1e9)
        splink.append(time.perf_counter() - started)
        assert len(pairs) == CANDIDATES

    ours_ms, splink_ms = statistics.median(ours) * 1e3, statistics.median(splink) * 1e3
    print(f"scorer built from the model's JSON in {build * 1e3:.0f} ms")
    print(f"one record against {CANDIDATES} candidates, median of {REQUESTS} requests:")
    print(f"  in-process scorer       {ours_ms:8.2f} ms  ({ours_ms * 1e3 / CANDIDATES:.1f} us a pair)")
    print(f"  Splink on DuckDB        {splink_ms:8.2f} ms")
    print(f"  ratio Splink / ours     {splink_ms / ours_ms:8.1f} x")


if __name__ == "__main__":
    main()
