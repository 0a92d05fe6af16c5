"""Records of one new customer written at the same moment end in one customer, never two.

With a model, writes take turns on their blocking values; before one exists, on their identifiers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import Engine, select

from api import create_app
from matching.training import TrainedModel
from mdm.keys import Role, create_key
from mdm.models import store_model
from mdm.settings import Settings
from mdm.storage.tables import CrosswalkEntry, Customer

WRITERS = 8
ROUNDS = 50


def company(round_number: int) -> dict[str, Any]:
    """A company no other round shares: its own name, tax id, domain and phone."""
    return {
        "kind": "organisation", "name": f"Parallax Harbour Works {round_number:03d} GmbH",
        "tax_id": f"DE9{round_number:08d}", "email": f"info@parallax{round_number:03d}.example",
        "phone": f"+49 30 5{round_number:06d}", "address_line1": f"Kaistrasse {round_number + 1}",
        "postal_code": "20457", "city": "Hamburg", "country": "DE",
    }  # fmt: skip


def race(write: Callable[[threading.Barrier, int], None]) -> None:
    """Run ``write`` on ``WRITERS`` threads that all pass one barrier before writing, and wait for them."""
    barrier = threading.Barrier(WRITERS)
    threads = [threading.Thread(target=write, args=(barrier, writer)) for writer in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _put_company(
    client: TestClient[Any], barrier: threading.Barrier, key: str, source_id: str, number: int
) -> Any:
    """Once every writer is at the barrier, PUT company ``number`` as ``crm/source_id``."""
    barrier.wait()
    return client.put(
        f"/v1/sources/crm/records/{source_id}?shape=canonical",
        json=company(number),
        headers={"Authorization": f"Bearer {key}"},
    )


def _write(
    client: TestClient[Any],
    barrier: threading.Barrier,
    key: str,
    round_number: int,
    writer: int,
    failures: list[str],
) -> None:
    response = _put_company(client, barrier, key, f"r{round_number:03d}-w{writer}", round_number)
    if response.status_code != 200:
        failures.append(f"round {round_number}, writer {writer}: {response.status_code} {response.text}")


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("with_model", [True, False], ids=["model", "no_model"])
def test_eight_writers_of_one_new_customer_make_one_customer(
    pg_engine: Engine, request: pytest.FixtureRequest, with_model: bool
) -> None:
    trained_models: dict[str, TrainedModel] = request.getfixturevalue("trained_models") if with_model else {}
    with pg_engine.begin() as connection:
        for model in trained_models.values():
            store_model(connection, model, activate=True)
        _, admin = create_key(connection, Role.ADMIN)
    failures: list[str] = []
    # One client serves every thread: requests run the app's handlers in worker threads, each on
    # its own database connection, so the writes really race.
    with TestClient(create_app(Settings(), engine=pg_engine, key_cache_seconds=0)) as client:
        for round_number in range(ROUNDS):
            race(lambda barrier, writer, number=round_number: _write(client, barrier, admin, number, writer,
                                                                     failures))  # fmt: skip

    assert failures == []
    with pg_engine.connect() as connection:
        rows = connection.execute(
            select(CrosswalkEntry.source_id, CrosswalkEntry.canonical_id).where(
                CrosswalkEntry.system == "crm", CrosswalkEntry.valid_to.is_(None)
            )
        ).all()
    customers_of_round: dict[str, set[str]] = {}
    for source_id, canonical_id in rows:
        customers_of_round.setdefault(source_id.split("-")[0], set()).add(canonical_id)
    assert len(customers_of_round) == ROUNDS
    split_rounds = {name: ids for name, ids in customers_of_round.items() if len(ids) > 1}
    assert split_rounds == {}


def _write_company(
    client: TestClient[Any], barrier: threading.Barrier, key: str, number: int, failures: list[str]
) -> None:
    response = _put_company(client, barrier, key, f"apart-{number:03d}", number)
    if response.status_code != 200 or response.json()["decision"] != "new":
        failures.append(f"company {number}: {response.status_code} {response.text}")


@pytest.mark.postgres
def test_writers_of_different_new_customers_never_wait_for_or_collide_with_each_other(
    pg_engine: Engine, trained_models: dict[str, TrainedModel]
) -> None:
    """New customers created at the same moment each get their own order number (it decides merges)."""
    with pg_engine.begin() as connection:
        for model in trained_models.values():
            store_model(connection, model, activate=True)
        _, admin = create_key(connection, Role.ADMIN)
    failures: list[str] = []
    with TestClient(create_app(Settings(), engine=pg_engine, key_cache_seconds=0)) as client:
        for batch in range(3):
            first = batch * WRITERS
            race(lambda barrier, writer, first=first: _write_company(client, barrier, admin, first + writer,
                                                                     failures))  # fmt: skip

    assert failures == []
    with pg_engine.connect() as connection:
        seqs = connection.execute(select(Customer.seq)).scalars().all()
    assert len(seqs) == 3 * WRITERS == len(set(seqs))
