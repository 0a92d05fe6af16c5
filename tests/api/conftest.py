"""An API client on the test database, and one key of each role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import Engine

from api import create_app
from matching.training import TrainedModel
from mdm.keys import Role, create_key
from mdm.models import store_model
from mdm.settings import Settings
from tests.conftest import _empty
from tests.mdm.conftest import (  # noqa: F401  (fixtures shared with the domain tests)
    build_small_hub,
    hub,
    profile,
    run_cli,
    sample_files,
    sample_mappings,
    small_hub,
    trained_models,
)


def module_hub(
    request: pytest.FixtureRequest, models: dict[str, TrainedModel], folder: Path
) -> tuple[Engine, dict[str, str]]:
    """For a module-scoped fixture parametrised by dialect: its emptied engine with the trained
    models active and the small hub built on it, and the hub's canonical ids."""
    engine: Engine = request.getfixturevalue(f"{request.param}_engine")
    _empty(engine)
    with engine.begin() as connection:
        for model in models.values():
            store_model(connection, model, activate=True)
    return engine, build_small_hub(engine, folder)


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient[Any]]:
    """A client of an app that serves the test database and checks the key on every request."""
    with TestClient(create_app(Settings(), engine=engine, key_cache_seconds=0)) as test_client:
        yield test_client


@pytest.fixture
def keys(engine: Engine) -> dict[str, str]:
    """A live key of each role; the writer's is bound to ``crm``."""
    made = {}
    with engine.begin() as connection:
        for role in Role:
            _, made[role.value] = create_key(connection, role, "crm" if role is Role.WRITER else None)
    return made


@pytest.fixture
def reader(keys: dict[str, str]) -> dict[str, str]:
    """The headers of a request with the reader's key."""
    return {"Authorization": f"Bearer {keys['reader']}"}


def assert_problem(response: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """Check that a response is a problem document of this status and code; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:mdm:problem:{code}"
    assert (body["status"], body["code"]) == (status, code)
    assert body["title"] and body["detail"]
    if field is not None:
        assert field in [error["field"] for error in body["errors"]], body
    return body
