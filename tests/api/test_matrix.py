"""The error and auth matrix: every route, under every kind of key and every kind of bad request.

``ROUTES`` names each route the app serves, with an example request and the least role it needs;
a route the app serves without a row here fails ``test_the_table_covers_every_route``. One app
and one set of keys serve the whole module, once per database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from api import create_app
from api.app import MAX_BODY_BYTES
from matching.training import TrainedModel
from mdm.keys import KEY_PREFIX, Role, create_key, revoke_key
from mdm.settings import Settings
from tests.api.conftest import assert_problem, module_hub

Client = TestClient[Any]

ACME = {
    "kind": "organisation", "name": "Quillon Harbour Instruments GmbH", "tax_id": "DE811907980",
    "email": "info@quillon-harbour.example", "phone": "+44 20 7946 0000", "city": "London", "country": "GB",
}  # fmt: skip


@dataclass(frozen=True)
class Route:
    """One route: an example request that succeeds with the right key, and who may send it.

    ``least`` is the least role the route needs (None: no key at all); ``system`` is the source
    system whose writer, besides an admin, alone may send it.
    """

    method: str
    template: str
    path: str
    least: Role | None = Role.READER
    body: Any = None
    system: str | None = None
    success: int = 200
    lines: bytes | None = None  # a JSON Lines body, sent as application/jsonl

    @property
    def id(self) -> str:
        return f"{self.method} {self.template}"


LOOKUP = {"keys": [{"system": "crm", "source_id": "1"}]}
ROUTES = [
    Route("GET", "/v1/crosswalk/{system}/{source_id}", "/v1/crosswalk/crm/1"),
    Route("POST", "/v1/crosswalk:lookup", "/v1/crosswalk:lookup", body=LOOKUP),
    Route("GET", "/v1/customers", "/v1/customers?q=acme"),
    Route("GET", "/v1/customers/{canonical_id}", "/v1/customers/{acme}"),
    Route("GET", "/v1/customers/{canonical_id}/crosswalk", "/v1/customers/{acme}/crosswalk"),
    Route("GET", "/v1/customers/{canonical_id}/history", "/v1/customers/{acme}/history"),
    Route("PUT", "/v1/sources/{system}/records/{source_id}",
          "/v1/sources/crm/records/matrix-1?shape=canonical",
          least=Role.WRITER, body=ACME, system="crm"),
    # Retiring a retired record answers 200 too, so every allowed key may retire it again.
    Route("DELETE", "/v1/sources/{system}/records/{source_id}", "/v1/sources/crm/records/matrix-2",
          least=Role.WRITER, system="crm"),
    Route("POST", "/v1/match", "/v1/match", body=ACME),
    # Its bad lines are tested in test_batch.py: each is a result of its own, not the request's.
    Route("POST", "/v1/sources/{system}/records:batch", "/v1/sources/crm/records:batch?shape=canonical",
          least=Role.WRITER, system="crm", lines=json.dumps({**ACME, "source_id": "matrix-3"}).encode()),
    Route("GET", "/health", "/health", least=None),
    Route("GET", "/health/ready", "/health/ready", least=None),
    Route("GET", "/metrics", "/metrics", least=None),
    Route("GET", "/schema", "/schema", least=None),
    Route("GET", "/schema/openapi.json", "/schema/openapi.json", least=None),
    # Any other path under /schema is the documentation's own 404.
    Route("GET", "/schema/{path}", "/schema/nothing-here", least=None, success=404),
]  # fmt: skip

#: Kinds of key that are no key at all, each with the Authorization header it sends (None: none).
UNAUTHENTICATED: dict[str, str | None] = {
    "no key": None,
    "another scheme": "Basic dXNlcjpwYXNz",
    "empty bearer": "Bearer ",
    "unknown key": f"Bearer {KEY_PREFIX}not-a-key-the-hub-made",
    "revoked key": "revoked",
}
#: Kinds of live key: each role, and a writer of another system than the routes'.
KEYED = [*(role.value for role in Role), "writer of erp"]


@dataclass
class Hub:
    """The module's app client, its keys by kind, and the canonical ids of the small hub."""

    client: Client
    keys: dict[str, str]
    ids: dict[str, str]
    dialect: str
    roles: dict[str, tuple[Role, str | None]] = field(default_factory=dict)

    def headers(self, kind: str) -> dict[str, str]:
        if kind in UNAUTHENTICATED:
            header = UNAUTHENTICATED[kind]
            if header == "revoked":
                header = f"Bearer {self.keys['revoked']}"
            return {} if header is None else {"Authorization": header}
        return {"Authorization": f"Bearer {self.keys[kind]}"}

    def send(self, route: Route, kind: str = "admin", **overrides: Any) -> Any:
        path = route.path.format(**self.ids)
        arguments: dict[str, Any] = {"headers": self.headers(kind)}
        if route.body is not None and "content" not in overrides and "json" not in overrides:
            arguments["json"] = route.body
        if route.lines is not None:
            arguments.update(
                content=route.lines, headers={**arguments["headers"], "Content-Type": "application/jsonl"}
            )
        arguments.update(overrides)
        return self.client.request(route.method, path, **arguments)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def hub(
    request: pytest.FixtureRequest,
    trained_models: dict[str, TrainedModel],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Hub]:
    engine, ids = module_hub(request, trained_models, tmp_path_factory.mktemp("matrix"))

    keys, roles = {}, {}
    with engine.begin() as connection:
        for role in Role:
            system = "crm" if role is Role.WRITER else None
            _, keys[role.value] = create_key(connection, role, system)
            roles[role.value] = (role, system)
        _, keys["writer of erp"] = create_key(connection, Role.WRITER, "erp")
        roles["writer of erp"] = (Role.WRITER, "erp")
        revoked, keys["revoked"] = create_key(connection, Role.READER)
        revoke_key(connection, revoked.id)

    app = create_app(Settings(default_region="GB"), engine=engine, key_cache_seconds=0)
    with TestClient(app) as client:
        served = Hub(client=client, keys=keys, ids=ids, dialect=request.param, roles=roles)
        assert served.send(ROUTES[6]).status_code == 200
        assert served.client.put(
            "/v1/sources/crm/records/matrix-2?shape=canonical", json=dict(ACME, name="Matrix Two"),
            headers=served.headers("admin"),
        ).status_code == 200  # fmt: skip
        yield served


def expected(route: Route, hub: Hub, kind: str) -> tuple[int, str | None]:
    """The status a route answers a kind of key with, and the problem code when it refuses."""
    if route.least is None:
        return route.success, None
    if kind in UNAUTHENTICATED:
        return 401, "auth.unauthenticated"
    role, system = hub.roles[kind]
    if not role.allows(route.least):
        return 403, "auth.forbidden"
    if route.system is not None and role is not Role.ADMIN and system != route.system:
        return 403, "auth.forbidden"
    return route.success, None


# The matrix: every route under every kind of key.


@pytest.mark.parametrize("kind", [*UNAUTHENTICATED, *KEYED])
@pytest.mark.parametrize("route", ROUTES, ids=[route.id for route in ROUTES])
def test_every_route_answers_every_kind_of_key_as_its_role_allows(hub: Hub, route: Route, kind: str) -> None:
    status, code = expected(route, hub, kind)

    response = hub.send(route, kind)

    if code is None:
        assert response.status_code == status, response.text
    else:
        assert_problem(response, status, code)
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


def _template(path: str) -> str:
    """A route map path as OpenAPI writes it: ``{source_id:path}`` becomes ``{source_id}``."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def test_the_table_covers_every_route(hub: Hub) -> None:
    served = {
        f"{method} {_template(route.path)}"
        for route in hub.client.app.routes
        if isinstance(route, HTTPRoute)
        for method in route.methods - {"OPTIONS", "HEAD"}
    }

    assert served == {route.id for route in ROUTES}


@pytest.mark.parametrize("route", ROUTES, ids=[route.id for route in ROUTES])
def test_an_unserved_method_is_405_with_allow_and_options_lists_the_methods(hub: Hub, route: Route) -> None:
    path = route.path.format(**hub.ids)
    methods = {other.method for other in ROUTES if other.template == route.template} | {"OPTIONS"}

    refused = hub.client.request("PATCH", path, headers=hub.headers("admin"))
    options = hub.client.options(path)

    assert_problem(refused, 405, "method.not_allowed")
    assert {method.strip() for method in refused.headers["allow"].split(",")} == methods
    assert options.status_code == 204
    assert {method.strip() for method in options.headers["allow"].split(",")} == methods


# Bad requests: 4xx problem documents that name the field at fault, never a 500.

BODY_ROUTES = [route for route in ROUTES if route.body is not None]
WRONG_TYPES = {
    "POST /v1/crosswalk:lookup":
        ({"keys": [{"system": "crm", "source_id": 1}]}, "request.invalid", "keys[0].source_id"),
    "PUT /v1/sources/{system}/records/{source_id}":
        ({"kind": "planet", "name": "x"}, "record.invalid", "kind"),
    "POST /v1/match": ({"kind": 5, "name": "x"}, "record.invalid", "kind"),
}  # fmt: skip
UNKNOWN_FIELDS = {
    "POST /v1/crosswalk:lookup": ({**LOOKUP, "colour": "red"}, "request.invalid"),
    "PUT /v1/sources/{system}/records/{source_id}": ({**ACME, "colour": "red"}, "record.invalid"),
    "POST /v1/match": ({**ACME, "colour": "red"}, "record.invalid"),
}  # fmt: skip
BAD_PARAMETERS = [
    ("GET", "/v1/crosswalk/crm/1?as_of=yesterday", "as_of"),
    ("POST", "/v1/crosswalk:lookup", "as_of"),
    ("GET", "/v1/customers?q=acme&limit=many", "limit"),
    ("GET", "/v1/customers?q=", "q"),
    ("GET", "/v1/customers?q=acme&cursor=!", "cursor"),
    ("GET", "/v1/customers/{acme}?as_of=2026-03-01T00:00:00", "as_of"),
    ("GET", "/v1/customers/C000000", "canonical_id"),
    ("GET", "/v1/customers/{acme}/crosswalk?limit=0", "limit"),
    ("GET", "/v1/customers/{acme}/history?limit=501", "limit"),
    ("PUT", "/v1/sources/crm/records/matrix-1?shape=columns", "shape"),
    ("DELETE", "/v1/sources/crm/records/a%00b", "source_id"),
    ("POST", "/v1/match?limit=0", "limit"),
]


def test_every_body_route_has_its_bad_bodies() -> None:
    assert {route.id for route in BODY_ROUTES} == set(WRONG_TYPES) == set(UNKNOWN_FIELDS)


@pytest.mark.parametrize("route", BODY_ROUTES, ids=[route.id for route in BODY_ROUTES])
def test_bad_bodies_are_problems_naming_the_field(hub: Hub, route: Route) -> None:
    headers = {**hub.headers("admin"), "Content-Type": "application/json"}
    wrong, wrong_code, wrong_field = WRONG_TYPES[route.id]
    unknown, unknown_code = UNKNOWN_FIELDS[route.id]

    assert_problem(hub.send(route, content=b'{"keys": [', headers=headers), 400, "request.malformed", "body")
    assert_problem(hub.send(route, json=wrong), 422, wrong_code, wrong_field)
    assert_problem(hub.send(route, json=unknown), 422, unknown_code, "colour")
    assert_problem(hub.send(route, json=[ACME]), 422, "request.invalid", "body")
    oversize = b'{"name": "' + b"x" * MAX_BODY_BYTES + b'"}'
    assert_problem(hub.send(route, content=oversize, headers=headers), 413, "request.too_large", "body")


@pytest.mark.parametrize(("method", "path", "field"), BAD_PARAMETERS)
def test_bad_parameters_are_422_naming_the_parameter(hub: Hub, method: str, path: str, field: str) -> None:
    body = {"keys": [{"system": "crm", "source_id": "1"}], "as_of": "soon"} if "lookup" in path else None
    response = hub.client.request(method, path.format(**hub.ids), json=body, headers=hub.headers("admin"))

    assert response.status_code == 422, response.text
    assert_problem(response, 422, response.json()["code"], field)


# Source ids with slashes, spaces, percent signs and letters beyond ASCII, in paths.

AWKWARD_IDS = ["a/b", "a b", "100%", "Zoë/ß", "/leading", "trailing/", "a//b", "what?#", "50%25"]


@pytest.mark.parametrize("source_id", AWKWARD_IDS)
def test_awkward_source_ids_round_trip_through_put_get_and_delete(hub: Hub, source_id: str) -> None:
    path = f"crm/{quote(source_id, safe='')}"
    admin = hub.headers("admin")

    stored = hub.client.put(f"/v1/sources/{path.replace('/', '/records/', 1)}?shape=canonical",
                            json=dict(ACME, name=f"Awkward {source_id}"), headers=admin)  # fmt: skip
    found = hub.client.get(f"/v1/crosswalk/{path}", headers=admin)
    looked_up = hub.client.post(
        "/v1/crosswalk:lookup", json={"keys": [{"system": "crm", "source_id": source_id}]}, headers=admin
    )
    retired = hub.client.delete(f"/v1/sources/{path.replace('/', '/records/', 1)}", headers=admin)
    gone = hub.client.get(f"/v1/crosswalk/{path}", headers=admin)

    assert stored.status_code == 200, stored.text
    assert (found.json()["source_id"], found.json()["canonical_id"]) == (
        source_id,
        stored.json()["canonical_id"],
    )
    assert looked_up.json()["results"][0]["canonical_id"] == stored.json()["canonical_id"]
    assert (retired.json()["source_id"], retired.json()["retired"]) == (source_id, True)
    assert_problem(gone, 404, "not_found")


def test_an_unencoded_slash_is_part_of_the_source_id(hub: Hub) -> None:
    admin = hub.headers("admin")
    stored = hub.client.put("/v1/sources/crm/records/plain/slash?shape=canonical", json=ACME, headers=admin)

    found = hub.client.get("/v1/crosswalk/crm/plain%2Fslash", headers=admin)

    assert stored.status_code == 200 and found.json()["source_id"] == "plain/slash"


# Search by phone in national format, read in the hub's default region (GB here).


@pytest.mark.parametrize("query", ["020 7946 0000", "(020) 7946-0000", "+44 20 7946 0000", "00442079460000"])
def test_a_phone_number_in_national_format_finds_its_customer(hub: Hub, query: str) -> None:
    phonebox = dict(ACME, name="Phonebox Ltd", tax_id="GB980780684")
    found = hub.client.put(
        "/v1/sources/erp/records/phone-1?shape=canonical", json=phonebox, headers=hub.headers("admin")
    )
    canonical_id = found.json()["canonical_id"]

    hits = hub.client.get("/v1/customers", params={"q": query}, headers=hub.headers("reader")).json()["items"]

    assert canonical_id in [hit["canonical_id"] for hit in hits]
    assert next(hit for hit in hits if hit["canonical_id"] == canonical_id)["matched_on"] == ["phone"]


def test_a_problem_never_echoes_a_huge_request_back(hub: Hub) -> None:
    response = hub.client.get(f"/v1/customers?q={'x' * 60_000}", headers=hub.headers("reader"))

    body = assert_problem(response, 422, response.json()["code"], "q")
    assert len(response.content) < 3_000
    assert all(len(error["detail"]) <= 500 for error in body["errors"]) and len(body["detail"]) <= 500
