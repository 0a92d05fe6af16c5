"""Batch upserts over HTTP: how many new records a second one request of 1,000 takes in, on PostgreSQL.

Builds a hub in a scratch PostgreSQL database from generated customers (load, then the bulk job,
which trains the models), then sends new customers of another generated sample, in canonical
fields, as one batch of JSON Lines to ``mdm serve``. Prints records per second and what
the lines decided. With ``--profile`` it instead runs the same writes in this thread under
cProfile and prints where the time goes.

    .venv/bin/python bench/batch_upsert.py [--customers 2000] [--records 1000] [--profile]
    .venv/bin/python bench/batch_upsert.py --reuse --seed 98   # new customers, same hub
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from _servers import wait_until_up
from sqlalchemy import make_url, text

from matching.profile import load_profile
from mdm.bulk import run_match
from mdm.intake import prepare_record
from mdm.keys import Role, create_key
from mdm.loading import load_file
from mdm.mappings import SourceMapping, read_mappings
from mdm.readers import iter_rows
from mdm.sample import generate_sample, sample_mappings_dir
from mdm.storage.database import make_engine, upgrade
from mdm.upsert import upsert_record
from mdm.writelocks import lock_keys, source_key_lock

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
DATABASE = "mdm_bench_batch"
PORT = 8702


def scratch_database() -> str:
    """A fresh, migrated database for the run; returns its URL."""
    admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()
    url = make_url(ADMIN_URL).set(database=DATABASE).render_as_string(hide_password=False)
    upgrade(make_engine(url))
    return url


def new_records(
    folder: Path, mappings: dict[str, SourceMapping], count: int, seed: int
) -> list[dict[str, Any]]:
    """Records of customers the hub has not seen, in canonical fields, each with its source id."""
    files = generate_sample(folder, customers=count, seed=seed)
    prefix = f"new{seed}"
    records: list[dict[str, Any]] = []
    for system, file in files.systems.items():
        for row in iter_rows(file.path):
            if row.cells is None or len(records) == count:
                continue
            canonical, errors = mappings[system].canonical(row.cells)
            if errors:
                continue
            # The source's update times are left out: the canonical reader takes its own format.
            fields = {name: value for name, value in canonical.items() if value and name != "updated_at"}
            records.append({"source_id": f"{prefix}-{system}-{row.number}", **fields})
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2_000, help="customers already in the hub")
    parser.add_argument("--records", type=int, default=1_000, help="new records in the batch (at most 1,000)")
    parser.add_argument("--profile", action="store_true", help="profile the writes instead of timing HTTP")
    parser.add_argument("--reuse", action="store_true", help="send to the hub a previous run built")
    parser.add_argument(
        "--seed", type=int, default=97, help="the new customers' sample; another with --reuse"
    )
    arguments = parser.parse_args()

    url = make_url(ADMIN_URL).set(database=DATABASE).render_as_string(hide_password=False)
    if not arguments.reuse:
        url = scratch_database()
    engine = make_engine(url)
    mappings = read_mappings(sample_mappings_dir())
    priorities = {system: mapping.priority for system, mapping in mappings.items()}
    with tempfile.TemporaryDirectory() as folder:
        if not arguments.reuse:
            hub = generate_sample(Path(folder) / "hub", customers=arguments.customers)
            for system, file in hub.systems.items():
                load_file(engine, file.path, mappings[system])
            started = time.perf_counter()
            run_match(engine, load_profile(None), priorities=priorities)
            print(f"hub built: bulk match {time.perf_counter() - started:.1f} s")
        records = new_records(Path(folder) / "new", mappings, arguments.records, arguments.seed)

    if arguments.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for record in records:
            row = prepare_record(mappings["support"], None, record, "canonical")
            with engine.begin() as connection:
                lock_keys(connection, [source_key_lock("support", row.source_id)])
                upsert_record(connection, "support", row, actor="bench", priorities=priorities)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        return

    with engine.begin() as connection:
        _, key = create_key(connection, Role.ADMIN, None)
    body = "".join(json.dumps(record) + "\n" for record in records).encode()
    environment = {**os.environ, "MDM_DATABASE_URL": url, "MDM_LOG_LEVEL": "warning"}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mdm"), "serve", "--port", str(PORT)], env=environment
    )
    try:
        wait_until_up(f"http://127.0.0.1:{PORT}")
        started = time.perf_counter()
        response = httpx.post(
            f"http://127.0.0.1:{PORT}/v1/sources/support/records:batch?shape=canonical",
            content=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/jsonl"},
            timeout=600,
        )
        seconds = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait()
    response.raise_for_status()
    answer = response.json()
    problems = Counter(result["problem"]["code"] for result in answer["results"] if "problem" in result)
    print(
        f"{answer['records']} records ({len(body) / 1024:.0f} KiB) in {seconds:.1f} s: "
        f"{answer['records'] / seconds:.0f} records/s; ok {answer['ok']}, failed {answer['failed']} "
        f"{dict(problems)}; decisions {answer['decisions']}"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
