"""The composition root: builds the Litestar app from settings, an engine and the route handlers.

Read and write paths live under ``/v1`` and need a bearer API key; ``/health``, ``/health/ready``
and ``/metrics`` need none. The source mappings, which read records sent in a system's own shape,
are read once, from ``MDM_MAPPINGS_DIR`` or else the sample's.

Three views of one connection pool serve the handlers (in the app's state): ``engine`` for writes,
``reads`` in autocommit for reads of one statement (no BEGIN and ROLLBACK round trips on the hot
lookups), and ``snapshots`` for reads of several statements that must see one state. The OpenAPI
3.1 document is at ``/schema/openapi.json`` and a browsable page at ``/schema``.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

from litestar import Litestar, Request, Response, Router, route
from litestar.datastructures import State
from litestar.enums import HttpMethod
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, ScalarRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from sqlalchemy import Engine

from api import batch, crosswalk, customers, operations, sources
from api.auth import KeyCache, require_role
from api.openapi import close_refusing_structs
from api.operations import RequestMetrics
from api.problems import EXCEPTION_HANDLERS
from matching.profile import load_profile
from mdm.mappings import configured_mappings_dir, read_mappings
from mdm.settings import Settings
from mdm.storage.database import make_engine

MAX_BODY_BYTES: Final = 2 * 1024 * 1024
"""Larger request bodies are refused with 413: a 1,000-key lookup is far smaller. A batch of records
has a cap of its own (``api.batch.MAX_BATCH_BODY_BYTES``)."""


def create_app(
    settings: Settings, *, engine: Engine | None = None, key_cache_seconds: float = 5.0
) -> Litestar:
    """Build the HTTP API.

    Args:
        settings: the hub's settings; the database URL is used when no engine is given.
        engine: an engine to serve from, already migrated; one is made from the settings otherwise,
            and disposed of when the app shuts down.
        key_cache_seconds: how long a valid API key is remembered before it is checked again, so
            also how long a revoked key may still be honoured; 0 checks every request.

    Returns:
        The Litestar application, ready for an ASGI server such as uvicorn.
    """
    owned = engine is None
    served = engine if engine is not None else make_engine(settings.database_url, pool_pre_ping=True)
    metrics = RequestMetrics()
    mappings = read_mappings(configured_mappings_dir(settings.mappings_dir))
    priorities = {system: mapping.priority for system, mapping in mappings.items()}
    # Read once, as `mdm match` reads it: its identifiers place records while a kind has no model.
    profile = load_profile(settings.profile_file)

    v1 = Router(
        path="/v1",
        route_handlers=with_options([
            crosswalk.source_key, crosswalk.lookup,
            customers.customer, customers.customer_crosswalk, customers.customer_history, customers.search,
            sources.upsert, sources.retire, sources.match, batch.upsert_batch,
        ]),
        guards=[require_role],
        security=[{"bearer": []}],
    )  # fmt: skip

    def dispose() -> None:
        if owned:
            served.dispose()

    app = Litestar(
        route_handlers=[v1, operations.health, operations.ready, operations.metrics],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[metrics.middleware],
        openapi_config=_openapi(),
        state=State(
            {
                "engine": served,
                "reads": served.execution_options(isolation_level="AUTOCOMMIT"),
                "snapshots": _snapshots(served),
                "key_cache": KeyCache(seconds=key_cache_seconds),
                "metrics": metrics,
                "mappings": mappings,
                "priorities": priorities,
                "default_region": settings.default_region,
                "profile": profile,
            }
        ),
        request_max_body_size=MAX_BODY_BYTES,
        on_shutdown=[dispose],
    )
    close_refusing_structs(app)
    return app


def with_options(handlers: Sequence[HTTPRouteHandler]) -> list[HTTPRouteHandler]:
    """The handlers, after an ``OPTIONS`` handler for each of their paths that lists every method.

    Litestar 2 makes its own ``OPTIONS`` answer when the first handler of a path is registered and
    keeps it, so a path served by two handlers (PUT and DELETE) advertised only the first's method
    (litestar-org/litestar#4169, fixed in 3.0). Registered first, these take its place.
    """
    paths = sorted({path for handler in handlers for path in handler.paths})
    return [*(_options_for(path) for path in paths), *handlers]


def _options_for(path: str) -> HTTPRouteHandler:
    @route(path, http_method=[HttpMethod.OPTIONS], include_in_schema=False, sync_to_thread=False)
    def allowed_methods(request: Request[Any, Any, Any]) -> Response[None]:
        template = request.scope["path_template"]
        methods = next(
            sorted(served.methods) for served in request.app.routes if served.path_format == template
        )
        return Response(None, status_code=204, headers={"Allow": ", ".join(methods)})

    return allowed_methods


def _snapshots(engine: Engine) -> Engine:
    """The engine for reads of several statements that must agree: one snapshot for all of them.

    PostgreSQL's default, read committed, gives each statement its own snapshot, so a customer read
    during a merge could pair one golden record with another crosswalk. SQLite's read transactions
    hold one snapshot already.
    """
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="REPEATABLE READ")
    return engine


def _openapi() -> OpenAPIConfig:
    try:
        api_version = version("mdm-hub")
    except PackageNotFoundError:
        api_version = "0.0.0"
    return OpenAPIConfig(
        title="mdm-hub",
        version=api_version,
        summary="Cross-reference and golden records of customer identity",
        path="/schema",
        render_plugins=[ScalarRenderPlugin(path="/"), JsonRenderPlugin()],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(
                    type="http", scheme="bearer", description="An API key made with `mdm keys create`"
                )
            }
        ),
        use_handler_docstrings=True,
    )
