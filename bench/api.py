"""Cross-reference lookups over HTTP: the hub's API against a bare handler and plain psycopg.

Builds a hub on PostgreSQL from generated customers (the bulk job, as in production), starts
`mdm serve`, and beside it a bare Litestar handler that runs the same two queries through
psycopg. A separate load process then drives each of them with random live source keys:
closed-loop at 4 and at 50 concurrent connections, and open-loop at 500 requests per second
(latency measured from each request's scheduled start, so a stall is not hidden). The same
lookups also run straight through psycopg, without HTTP. Prints requests per second and p50/p99
latency for each, and the ratios that matter.

    .venv/bin/python bench/api.py [--customers 10000] [--seconds 10]

Limitation: the upsert half of the benchmark waits for the write endpoints.
"""

from __future__ import annotations

import argparse
import asyncio
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
from typing import Any

import httpx
import psycopg
import structlog
import uvicorn
from litestar import Litestar, get
from litestar.exceptions import NotFoundException
from sqlalchemy import make_url, select, text

from matching.profile import load_profile
from mdm.bulk import run_match
from mdm.keys import Role, create_key
from mdm.loading import load_file
from mdm.mappings import read_mappings
from mdm.sample import generate_sample, sample_mappings_dir
from mdm.storage.database import make_engine, upgrade
from mdm.storage.tables import CrosswalkEntry

HERE = Path(__file__).resolve()
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"

# The two statements of a lookup: the key's customer, then that customer's keys.
KEY_QUERY = (
    "SELECT canonical_id, valid_from FROM crosswalk "
    "WHERE system = %s AND source_id = %s AND valid_to IS NULL LIMIT 1"
)
CUSTOMER_KEYS_QUERY = (
    "SELECT system, source_id, valid_from FROM crosswalk "
    "WHERE canonical_id = %s AND valid_to IS NULL ORDER BY system, source_id"
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
        """Send one GET and read the whole answer; a connection the server closed is opened again."""
        for _ in range(2):
            if self.writer is None or self.reader is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.extra}\r\n".encode())
            await self.writer.drain()
            status_line = await self.reader.readline()
            if status_line:
                return await self._rest(int(status_line.split()[1]))
            self.writer.close()
            self.reader = self.writer = None
        raise ConnectionError("the server closed the connection twice")

    async def _rest(self, status: int) -> int:
        assert self.reader is not None
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status


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
                row = connection.execute(KEY_QUERY, (system, source_id)).fetchone()
                if row is not None:
                    connection.execute(CUSTOMER_KEYS_QUERY, (row[0],)).fetchall()
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
    if arguments.direct:
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
        database = connection()
        row = database.execute(KEY_QUERY, (system, source_id)).fetchone()
        if row is None:
            raise NotFoundException()
        others = database.execute(CUSTOMER_KEYS_QUERY, (row[0],)).fetchall()
        return {
            "system": system, "source_id": source_id, "canonical_id": row[0], "valid_from": row[1],
            "other_keys": [{"system": s, "source_id": i, "valid_from": v} for s, i, v in others
                           if (s, i) != (system, source_id)],
        }  # fmt: skip

    uvicorn.run(
        Litestar([lookup]), host="127.0.0.1", port=arguments.port, access_log=False, log_level="warning"
    )


# --- the orchestrating run -------------------------------------------------------------------


def _prepare(customers: int, folder: Path) -> tuple[str, str, list[list[str]]]:
    """A hub database of generated customers matched by the bulk job, a reader key, and live keys."""
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))

    name = f"mdm_bench_api_{os.getpid()}"
    admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    files = generate_sample(folder, customers=customers, seed=3)
    engine = make_engine(url)
    upgrade(engine)
    mappings = read_mappings(sample_mappings_dir())
    for system, file in files.systems.items():
        load_file(engine, file.path, mappings[system])
    run_match(engine, load_profile(None), priorities={s: m.priority for s, m in mappings.items()})
    with engine.begin() as connection:
        key = create_key(connection, Role.READER, None)[1]
        keys = [
            [row.system, row.source_id]
            for row in connection.execute(
                select(CrosswalkEntry.system, CrosswalkEntry.source_id).where(
                    CrosswalkEntry.valid_to.is_(None)
                )
            )
        ]
    engine.dispose()
    return url, key, keys


def _drop(url: str) -> None:
    admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def _wait_until_up(url: str) -> None:
    for _ in range(100):
        try:
            httpx.get(f"{url}/v1/crosswalk/x/y", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"no server answered at {url}")


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
    parser.add_argument("--customers", type=int, default=10_000)
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
        url, key, keys = _prepare(arguments.customers, folder)
        print(f"hub of {arguments.customers:,} customers, {len(keys):,} live source keys, "
              f"built in {time.perf_counter() - started:.0f} s")  # fmt: skip
        keys_file = folder / "keys.json"
        keys_file.write_text(json.dumps(keys), encoding="utf-8")
        plain_url = url.replace("postgresql+psycopg://", "postgresql://")
        environment = {**os.environ, "MDM_DATABASE_URL": url, "MDM_LOG_LEVEL": "warning"}
        servers = [
            subprocess.Popen(
                [str(Path(sys.executable).parent / "mdm"), "serve", "--port", "8701"], env=environment
            ),
            subprocess.Popen(
                [
                    sys.executable,
                    str(HERE),
                    "--bare-server",
                    "--port",
                    "8702",
                    "--database-url",
                    plain_url,
                ]
            ),
        ]
        try:
            for port in (8701, 8702):
                _wait_until_up(f"http://127.0.0.1:{port}")
            _report(keys_file, key, plain_url, arguments.seconds)
        finally:
            for server in servers:
                server.terminate()
                server.wait()
            _drop(url)


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
