"""Bearer API keys: 401 without a valid key, 403 below the route's role, keys never in logs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar, get
from litestar.testing import TestClient
from sqlalchemy import Engine, select
from typer.testing import Result

from api.auth import KeyCache, require_role
from api.problems import EXCEPTION_HANDLERS
from mdm.keys import KEY_PREFIX, Role, digest
from mdm.storage.tables import ApiKey
from tests.api.conftest import assert_problem

Client = TestClient[Any]

READS = [
    ("get", "/v1/crosswalk/crm/1"),
    ("post", "/v1/crosswalk:lookup"),
    ("get", "/v1/customers/{acme}"),
    ("get", "/v1/customers/{acme}/crosswalk"),
    ("get", "/v1/customers/{acme}/history"),
    ("get", "/v1/customers?q=acme"),
]


def call(client: Client, method: str, path: str, ids: dict[str, str], headers: dict[str, str]) -> Any:
    path = path.format(**ids)
    if method == "post":
        return client.post(path, json={"keys": [{"system": "crm", "source_id": "1"}]}, headers=headers)
    return client.get(path, headers=headers)


@pytest.mark.parametrize(("method", "path"), READS)
def test_reads_need_a_valid_key(
    client: Client, keys: dict[str, str], small_hub: dict[str, str], method: str, path: str
) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": f"Bearer {KEY_PREFIX}nope"}):
        response = call(client, method, path, small_hub, headers)
        assert_problem(response, 401, "auth.unauthenticated")
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("role", [role.value for role in Role])
@pytest.mark.parametrize(("method", "path"), READS)
def test_every_role_may_read(
    client: Client, keys: dict[str, str], small_hub: dict[str, str], method: str, path: str, role: str
) -> None:
    response = call(client, method, path, small_hub, {"Authorization": f"Bearer {keys[role]}"})

    assert response.status_code == 200, response.text


def test_a_revoked_key_is_refused(
    client: Client,
    engine: Engine,
    keys: dict[str, str],
    small_hub: dict[str, str],
    run_cli: Callable[..., Result],
) -> None:
    headers = {"Authorization": f"Bearer {keys['reader']}"}
    assert client.get("/v1/crosswalk/crm/1", headers=headers).status_code == 200
    with engine.connect() as connection:
        key_id = connection.execute(
            select(ApiKey.id).where(ApiKey.key_sha256 == digest(keys["reader"]))
        ).scalar()

    assert run_cli("keys", "revoke", str(key_id)).exit_code == 0

    assert_problem(client.get("/v1/crosswalk/crm/1", headers=headers), 401, "auth.unauthenticated")


def test_a_role_below_the_routes_is_403(engine: Engine, keys: dict[str, str]) -> None:
    @get("/admin-only", opt={"min_role": "admin"}, guards=[require_role], sync_to_thread=False)
    def admin_only() -> str:
        return "ok"

    app = Litestar([admin_only], exception_handlers=EXCEPTION_HANDLERS)
    app.state.update({"reads": engine, "key_cache": KeyCache(seconds=60)})
    with TestClient(app) as client:
        for role in ("reader", "writer", "steward"):
            response = client.get("/admin-only", headers={"Authorization": f"Bearer {keys[role]}"})
            assert_problem(response, 403, "auth.forbidden")
        assert client.get("/admin-only", headers={"Authorization": f"Bearer {keys['admin']}"}).text == "ok"


def test_keys_are_kept_only_as_digests_and_never_logged(
    client: Client,
    engine: Engine,
    keys: dict[str, str],
    small_hub: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    for key in keys.values():
        client.get("/v1/customers/C0", headers={"Authorization": f"Bearer {key}"})
        client.get("/v1/customers/nope", headers={"Authorization": f"Bearer {key}x"})
    with engine.connect() as connection:
        stored = connection.execute(select(ApiKey.key_sha256)).scalars().all()

    assert sorted(stored) == sorted(digest(key) for key in keys.values())
    captured = capsys.readouterr()
    for key in keys.values():
        assert len(key) >= len(KEY_PREFIX) + 43
        assert key not in captured.out + captured.err + caplog.text


def test_the_command_line_creates_lists_and_revokes_keys(
    run_cli: Callable[..., Result], engine: Engine
) -> None:
    made = run_cli("keys", "create", "--role", "writer", "--system", "billing")
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith(KEY_PREFIX)

    listed = run_cli("keys", "list")
    assert "writer" in listed.output and "billing" in listed.output and "active" in listed.output
    assert key not in listed.output

    assert run_cli("keys", "revoke", "1").exit_code == 0
    assert "revoked" in run_cli("keys", "list").output
    assert run_cli("keys", "revoke", "99").exit_code == 2

    unknown = run_cli("keys", "create", "--role", "writer", "--system", "nosuch")
    assert unknown.exit_code == 2 and "nosuch" in unknown.output
    assert "nosuch" not in run_cli("keys", "list").output


@pytest.mark.parametrize(
    "args", [["--role", "writer"], ["--role", "reader", "--system", "crm"], ["--role", "king"]]
)
def test_the_command_line_refuses_inconsistent_keys(run_cli: Callable[..., Result], args: list[str]) -> None:
    assert run_cli("keys", "create", *args).exit_code == 2
