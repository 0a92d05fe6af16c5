"""The HTTP API under load: cross-reference lookups and upserts with real-time matching.

Builds a hub on PostgreSQL from generated customers (the bulk job, as in production), keeping a
few thousand CRM and support records out of the bulk load. Starts `mdm serve`, and beside it a
bare Litestar handler that runs the lookup's statement through psycopg. A separate load process
then drives each of them with random live source keys: closed-loop at 4 and at 50 concurrent
connections, and open-loop at 500 requests per second (latency measured from each request's
scheduled start, so a stall is not hidden). The same lookups also run straight through psycopg,
without HTTP. Then 4 writers send the held-back records through the upsert endpoint, each matched
in real time against the whole hub. Prints requests per second and p50/p99 latency for each, the
ratios that matter, the upserts' decisions and the candidates scored per record.

    .venv/bin/python bench/api.py [--customers 100000] [--seconds 10] [--upserts-held-back 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

import httpx
import psycopg
import structlog
import uvicorn
from _servers import wait_until_up
from litestar import Litestar, get
from litestar.exceptions import NotFoundException
from sqlalchemy import make_url, select, text

from matching.profile import load_profile
from mdm.bulk import run_match
from mdm.keys import Role, create_key
from mdm.loading import load_file
from mdm.mappings import SourceMapping, read_mappings
from mdm.sample import generate_sample, sample_mappings_dir
from mdm.storage.database import make_engine, upgrade
from mdm.storage.tables import CrosswalkEntry

HERE = Path(__file__).resolve()
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"

# The statement of a lookup, as the hub runs it (mdm.crossref): the keys of the key's customer.
LOOKUP_QUERY = (
    "SELECT canonical_id, system, source_id, valid_from FROM crosswalk "
    "WHERE canonical_id = (SELECT canonical_id FROM crosswalk "
    "WHERE system = %s AND source_id = %s AND valid_to IS NULL LIMIT 1) "
    "AND valid_to IS NULL ORDER BY system, source_id"
)


def percentile(values: list[float], share: float) -> float:
    """The value at a share (0..1) of the sorted values, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


# --- load process ---------------------------------------------------------------------------


class _Connection:
    """One keep-alive HTTP/1.1 connection: far cheaper per request than a full client library, so
    that the load process measures the server rather than itself."""

    def __init__(self, host: str, port: int, header: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.extra = "".join(f"{name}: {value}\r\n" for name, value in header.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        """Send one GET and read the whole answer; the status."""
        return (await self.send("GET", path))[0]

    async def send(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        """Send one request and read the whole answer; a connection the server closed is opened again."""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.extra}"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        for _ in range(2):
            if self.writer is None or self.reader is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.writer.write(head.encode() + b"\r\n" + body)
            await self.writer.drain()
            status_line = await self.reader.readline()
            if status_line:
                return int(status_line.split()[1]), await self._rest()
            self.writer.close()
            self.reader = self.writer = None
        raise ConnectionError("the server closed the connection twice")

    async def _rest(self) -> bytes:
        assert self.reader is not None
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return await self.reader.readexactly(length)


def _target(url: str) -> tuple[str, int]:
    parsed = httpx.URL(url)
    return parsed.host, int(parsed.port or 80)


async def _closed_loop(
    url: str, keys: list[list[str]], header: dict[str, str], workers: int, seconds: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    host, port = _target(url)

    async def worker(seed: int) -> None:
        nonlocal errors
        rng = random.Random(seed)
        connection = _Connection(host, port, header)
        while time.perf_counter() < deadline:
            system, source_id = rng.choice(keys)
            started = time.perf_counter()
            status = await connection.get(f"/v1/crosswalk/{system}/{source_id}")
            latencies.append(time.perf_counter() - started)
            errors += status != 200

    await asyncio.gather(*(worker(seed) for seed in range(workers)))
    return {"requests": len(latencies), "errors": errors, "seconds": seconds, "latencies": latencies}


async def _open_loop(
    url: str, keys: list[list[str]], header: dict[str, str], rate: float, seconds: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    rng = random.Random(7)
    host, port = _target(url)
    idle: list[_Connection] = []

    async def one(scheduled: float, system: str, source_id: str) -> None:
        nonlocal errors
        connection = idle.pop() if idle else _Connection(host, port, header)
        status = await connection.get(f"/v1/crosswalk/{system}/{source_id}")
        latencies.append(time.perf_counter() - scheduled)
        errors += status != 200
        idle.append(connection)

    start = time.perf_counter()
    tasks = []
    for number in range(int(rate * seconds)):
        scheduled = start + number / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled, *rng.choice(keys))))
    await asyncio.gather(*tasks)
    return {"requests": len(latencies), "errors": errors, "seconds": seconds, "latencies": latencies}


async def _upserts(
    url: str, requests: list[list[Any]], header: dict[str, str], workers: int
) -> dict[str, Any]:
    """Send every upsert once, from ``workers`` connections taking the next one as they finish."""
    latencies: list[float] = []
    candidates: list[int] = []
    decisions: dict[str, int] = {}
    errors = 0
    host, port = _target(url)
    queue = iter(requests)
    started = time.perf_counter()

    async def worker() -> None:
        nonlocal errors
        connection = _Connection(host, port, header)
        for system, source_id, body in queue:
            path = f"/v1/sources/{quote(system, safe='')}/records/{quote(source_id, safe='')}"
            sent = time.perf_counter()
            status, answer = await connection.send("PUT", path, json.dumps(body).encode())
            latencies.append(time.perf_counter() - sent)
            if status != 200:
                errors += 1
                continue
            outcome = json.loads(answer)
            decisions[outcome["decision"]] = decisions.get(outcome["decision"], 0) + 1
            if outcome.get("candidates_scored") is not None:
                candidates.append(outcome["candidates_scored"])

    await asyncio.gather(*(worker() for _ in range(workers)))
    seconds = time.perf_counter() - started
    return {"requests": len(latencies), "errors": errors, "seconds": seconds, "latencies": latencies,
            "decisions": decisions, "candidates": candidates}  # fmt: skip


def _direct(database_url: str, keys: list[list[str]], workers: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        mine = []
        with psycopg.connect(database_url, autocommit=True) as connection:
            while time.perf_counter() < deadline:
                system, source_id = rng.choice(keys)
                started = time.perf_counter()
                connection.execute(LOOKUP_QUERY, (system, source_id)).fetchall()
                mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"requests": len(latencies), "errors": 0, "seconds": seconds, "latencies": latencies}


def run_load(arguments: argparse.Namespace) -> None:
    """The load process: one measurement, printed as JSON on stdout."""
    keys = json.loads(Path(arguments.keys_file).read_text(encoding="utf-8"))
    header = {"Authorization": f"Bearer {arguments.key}"} if arguments.key else {}
    if arguments.upserts:
        result = asyncio.run(_upserts(arguments.url, keys, header, arguments.concurrency))
        result["candidates"] = _distribution(result["candidates"])
    elif arguments.direct:
        result = _direct(arguments.url, keys, arguments.concurrency, arguments.seconds)
    elif arguments.rate:
        result = asyncio.run(_open_loop(arguments.url, keys, header, arguments.rate, arguments.seconds))
    else:
        result = asyncio.run(
            _closed_loop(arguments.url, keys, header, arguments.concurrency, arguments.seconds)
        )
    latencies = result.pop("latencies")
    result.update(
        rps=result["requests"] / result["seconds"],
        p50_ms=statistics.median(latencies) * 1e3,
        p99_ms=percentile(latencies, 0.99) * 1e3,
    )
    print(json.dumps(result))


def _distribution(values: list[int]) -> dict[str, Any]:
    """Candidates per record: percentiles, and how many records fell in each band."""
    if not values:
        return {}
    bands = {"0": 0, "1-9": 0, "10-49": 0, "50-199": 0, "200 (the cap)": 0}
    for value in values:
        band = ("0" if value == 0 else "1-9" if value < 10 else "10-49" if value < 50
                else "50-199" if value < 200 else "200 (the cap)")  # fmt: skip
        bands[band] += 1
    ordered = [float(value) for value in values]
    return {"p50": percentile(ordered, 0.5), "p99": percentile(ordered, 0.99), "max": max(values),
            "mean": round(statistics.fmean(values), 1), "bands": bands}  # fmt: skip


# --- the bare handler ------------------------------------------------------------------------


def run_bare_server(arguments: argparse.Namespace) -> None:
    """A minimal Litestar app running the lookup's two queries through psycopg, one connection a thread."""

    local = threading.local()

    def connection() -> psycopg.Connection[Any]:
        if not hasattr(local, "connection"):
            local.connection = psycopg.connect(arguments.database_url, autocommit=True)
        found: psycopg.Connection[Any] = local.connection
        return found

    @get("/v1/crosswalk/{system:str}/{source_id:str}", sync_to_thread=True)
    def lookup(system: str, source_id: str) -> dict[str, Any]:
        rows = connection().execute(LOOKUP_QUERY, (system, source_id)).fetchall()
        own = next((row for row in rows if (row[1], row[2]) == (system, source_id)), None)
        if own is None:
            raise NotFoundException()
        return {
            "system": system, "source_id": source_id, "canonical_id": own[0], "valid_from": own[3],
            "other_keys": [{"system": s, "source_id": i, "valid_from": v} for _, s, i, v in rows
                           if (s, i) != (system, source_id)],
        }  # fmt: skip

    uvicorn.run(
        Litestar([lookup]), host="127.0.0.1", port=arguments.port, access_log=False, log_level="warning"
    )


# --- the orchestrating run -------------------------------------------------------------------


class Hub(NamedTuple):
    """The benchmark's hub: its database, keys, the live source keys and the held-back records."""

    url: str
    reader_key: str
    admin_key: str
    live_keys: list[list[str]]
    upserts: list[list[Any]]


def _prepare(customers: int, held_back: int, folder: Path) -> Hub:
    """A hub database of generated customers matched by the bulk job, and records held back from it.

    ``held_back`` good rows of the CRM and support exports are taken out of the files before the
    bulk load, to be sent later through the upsert endpoint: some are another system's view of a
    customer already in the hub, some are customers the hub has not seen.
    """
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))

    name = f"mdm_bench_api_{os.getpid()}"
    admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    files = generate_sample(folder, customers=customers, seed=3)
    mappings = read_mappings(sample_mappings_dir())
    upserts = _hold_back(files.truth, {system: files.systems[system].path for system in ("crm", "support")},
                         mappings, held_back)  # fmt: skip
    engine = make_engine(url)
    upgrade(engine)
    for system, file in files.systems.items():
        load_file(engine, file.path, mappings[system])
    run_match(engine, load_profile(None), priorities={s: m.priority for s, m in mappings.items()})
    with engine.begin() as connection:
        reader_key = create_key(connection, Role.READER, None)[1]
        admin_key = create_key(connection, Role.ADMIN, None)[1]
        live = [
            [row.system, row.source_id]
            for row in connection.execute(
                select(CrosswalkEntry.system, CrosswalkEntry.source_id).where(
                    CrosswalkEntry.valid_to.is_(None)
                )
            )
        ]
    engine.dispose()
    return Hub(url, reader_key, admin_key, live, upserts)


def _hold_back(
    truth: Path, exports: dict[str, Path], mappings: dict[str, SourceMapping], count: int
) -> list[list[Any]]:
    """Take ``count`` good rows out of CSV exports (rewritten without them); as upserts in source shape."""
    with truth.open(encoding="utf-8", newline="") as handle:
        good = {(row["system"], row["source_id"]) for row in csv.DictReader(handle)}
    rng = random.Random(11)
    upserts: list[list[Any]] = []
    for system, path in exports.items():
        id_column = mappings[system].source_id
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            columns, rows = list(reader.fieldnames or []), list(reader)
        candidates = [index for index, row in enumerate(rows) if (system, row[id_column]) in good]
        taken = set(rng.sample(candidates, min(len(candidates), count // len(exports))))
        for index in sorted(taken):
            row = rows[index]
            upserts.append([system, row[id_column], {name: value for name, value in row.items() if value}])
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(row for index, row in enumerate(rows) if index not in taken)
    rng.shuffle(upserts)
    return upserts


def _drop(url: str) -> None:
    admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def _measure(extra: list[str], keys_file: Path, seconds: float) -> dict[str, Any]:
    command = [
        sys.executable,
        str(HERE),
        "--load",
        "--keys-file",
        str(keys_file),
        "--seconds",
        str(seconds),
        *extra,
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument(
        "--upserts-held-back",
        type=int,
        default=2_000,
        help="records kept out of the bulk load, then sent through the upsert endpoint",
    )
    parser.add_argument("--upserts", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--direct", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--keys-file", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=4, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.load:
        run_load(arguments)
        return
    if arguments.bare_server:
        run_bare_server(arguments)
        return

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        started = time.perf_counter()
        hub = _prepare(arguments.customers, arguments.upserts_held_back, folder)
        print(f"hub of {arguments.customers:,} customers, {len(hub.live_keys):,} live source keys, "
              f"built in {time.perf_counter() - started:.0f} s")  # fmt: skip
        keys_file, upserts_file = folder / "keys.json", folder / "upserts.json"
        keys_file.write_text(json.dumps(hub.live_keys), encoding="utf-8")
        upserts_file.write_text(json.dumps(hub.upserts), encoding="utf-8")
        plain_url = hub.url.replace("postgresql+psycopg://", "postgresql://")
        environment = {**os.environ, "MDM_DATABASE_URL": hub.url, "MDM_LOG_LEVEL": "warning"}
        servers = [
            subprocess.Popen(
                [str(Path(sys.executable).parent / "mdm"), "serve", "--port", "8701"], env=environment
            ),
            subprocess.Popen(
                [sys.executable, str(HERE), "--bare-server", "--port", "8702", "--database-url", plain_url]
            ),
        ]
        try:
            for port in (8701, 8702):
                wait_until_up(f"http://127.0.0.1:{port}")
            _report(keys_file, hub.reader_key, plain_url, arguments.seconds)
            _report_upserts(upserts_file, hub.admin_key, len(hub.upserts))
        finally:
            for server in servers:
                server.terminate()
                server.wait()
            _drop(hub.url)


def _report_upserts(upserts_file: Path, key: str, count: int) -> None:
    result = _measure(
        ["--upserts", "--url", "http://127.0.0.1:8701", "--key", key, "--concurrency", "4"], upserts_file, 0
    )
    title = f"upsert PUT /v1/sources/{{system}}/records/{{id}}, {count:,} records"
    print(f"{title:<40}")
    print(f"  {'hub API, 4 writers':<38} {result['rps']:>8.0f} {result['p50_ms']:>8.2f} "
          f"{result['p99_ms']:>8.2f} {result['errors']:>7}")  # fmt: skip
    print(f"  decisions: {result['decisions']}")
    print(f"  candidates per record: {result['candidates']}")


def _report(keys_file: Path, key: str, database_url: str, seconds: float) -> None:
    cases = [("4 connections", ["--concurrency", "4"]), ("50 connections", ["--concurrency", "50"]),
             ("open loop 500/s", ["--rate", "500"])]  # fmt: skip
    title = "lookup GET /v1/crosswalk/{system}/{id}"
    print(f"{title:<40} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    results: dict[tuple[str, str], dict[str, Any]] = {}
    for label, extra in cases:
        for name, target in (("hub API", ["--url", "http://127.0.0.1:8701", "--key", key]),
                             ("bare Litestar + psycopg", ["--url", "http://127.0.0.1:8702"])):  # fmt: skip
            result = _measure([*target, *extra], keys_file, seconds)
            results[name, label] = result
            print(f"  {name + ', ' + label:<38} {result['rps']:>8.0f} {result['p50_ms']:>8.2f} "
                  f"{result['p99_ms']:>8.2f} {result['errors']:>7}")  # fmt: skip
    for label, workers in (("4 connections", 4), ("50 connections", 50)):
        result = _measure(
            ["--direct", "--url", database_url, "--concurrency", str(workers)], keys_file, seconds
        )
        results["psycopg", label] = result
        print(f"  {'psycopg, no HTTP, ' + label:<38} {result['rps']:>8.0f} {result['p50_ms']:>8.2f} "
              f"{result['p99_ms']:>8.2f} {result['errors']:>7}")  # fmt: skip
    for label in ("4 connections", "50 connections"):
        hub, bare, direct = (
            results["hub API", label],
            results["bare Litestar + psycopg", label],
            results["psycopg", label],
        )
        print(f"  ratio at {label}: hub / bare handler {hub['rps'] / bare['rps']:.2f}, "
              f"hub / plain psycopg {hub['rps'] / direct['rps']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
