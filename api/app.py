"""The composition root: builds the Litestar app from settings, an engine and the route handlers.

Read and write paths live under ``/v1`` and need a bearer API key; ``/health``, ``/health/ready``
and ``/metrics`` need none. The source mappings, which read records sent in a system's own shape,
are read once, from ``MDM_MAPPINGS_DIR`` or else the sample's. The OpenAPI 3.1 document is at
``/schema/openapi.json`` and a browsable page at ``/schema``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Final

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, ScalarRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from sqlalchemy import Engine

from api import crosswalk, customers, operations, sources
from api.auth import KeyCache, require_role
from api.operations import RequestMetrics
from api.problems import EXCEPTION_HANDLERS
from matching.profile import load_profile
from mdm.mappings import configured_mappings_dir, read_mappings
from mdm.settings import Settings
from mdm.storage.database import make_engine

MAX_BODY_BYTES: Final = 2 * 1024 * 1024
"""Larger request bodies are refused with 413: a 1,000-key lookup is far smaller."""


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
        route_handlers=[
            crosswalk.source_key, crosswalk.lookup,
            customers.customer, customers.customer_crosswalk, customers.customer_history, customers.search,
            sources.upsert, sources.retire, sources.match,
        ],
        guards=[require_role],
        security=[{"bearer": []}],
    )  # fmt: skip

    def dispose() -> None:
        if owned:
            served.dispose()

    return Litestar(
        route_handlers=[v1, operations.health, operations.ready, operations.metrics],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[metrics.middleware],
        openapi_config=_openapi(),
        state=State(
            {
                "engine": served,
                "key_cache": KeyCache(seconds=key_cache_seconds),
                "metrics": metrics,
                "mappings": mappings,
                "priorities": priorities,
                "profile": profile,
            }
        ),
        request_max_body_size=MAX_BODY_BYTES,
        on_shutdown=[dispose],
    )


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
