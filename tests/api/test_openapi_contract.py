"""Schemathesis over the app's own OpenAPI document: no 5xx, and every answer as the document says.

The app runs in process (schemathesis's ASGI transport) on the SQLite test database, holding the
small hub and the session's trained models, with an admin key, so that every operation can reach
its success path as well as its refusals.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from litestar import Litestar
from sqlalchemy import create_engine

from api import create_app
from api.batch import JSON_LINES_MEDIA_TYPES
from matching.training import TrainedModel
from mdm.keys import Role, create_key
from mdm.settings import Settings
from tests.api.conftest import module_hub

pytestmark = pytest.mark.slow


class Served:
    """The app under test and the admin key it accepts."""

    def __init__(self, app: Litestar, key: str) -> None:
        self.app = app
        self.key = key


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def served(
    request: pytest.FixtureRequest,
    trained_models: dict[str, TrainedModel],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    engine, _ = module_hub(request, trained_models, tmp_path_factory.mktemp("contract"))
    with engine.begin() as connection:
        _, key = create_key(connection, Role.ADMIN)
    yield Served(create_app(Settings(), engine=engine, key_cache_seconds=60), key)


ACCEPTED = ["2xx", "401", "403", "404"]
#: Where a schema-valid request may still be refused with 422 by design, because JSON Schema cannot
#: say what is wrong: a canonical id's check character, a cursor this API never gave out, a record
#: whose fields the system's mapping refuses. Elsewhere 422 for a schema-valid request fails the run.
SEMANTIC_REFUSALS = [
    {"include-path-regex": "^/v1/customers/", "reason": "the check character of a canonical id"},
    {"include-path-regex": "^/v1/customers$", "reason": "a cursor the API never gave out"},
    {"include-path-regex": "^/v1/(match|sources/)", "reason": "a record the mapping refuses"},
]


@schemathesis.serializer(*JSON_LINES_MEDIA_TYPES)
def _json_lines(_context: Any, value: Any) -> bytes:
    """A JSON Lines body is text: the document describes it as a string, sent as UTF-8."""
    if isinstance(value, str):
        return value.encode()
    # A generator breaking the schema on purpose sends another JSON value: as its JSON text.
    return json.dumps(value).encode()


CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261204,
        "generation": {"max-examples": 25},
        "operations": [
            {
                "include-path-regex": refusal["include-path-regex"],
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "422"]}},
            }
            for refusal in SEMANTIC_REFUSALS
        ],
    }
)

# The document does not depend on the data, so an app on an empty in-memory database serves it at
# collection time (schemathesis's lazy loading from a fixture does not run under pytest 9); the
# requests go to the app on the test database.
schema = schemathesis.openapi.from_asgi(
    "/schema/openapi.json", create_app(Settings(), engine=create_engine("sqlite://")), config=CONFIG
)


@schema.parametrize()
def test_the_api_keeps_its_openapi_promises(case: schemathesis.Case, served: Served) -> None:
    case.call_and_validate(app=served.app, headers={"Authorization": f"Bearer {served.key}"})
