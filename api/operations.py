"""What operators need: liveness, readiness with a database check, and Prometheus metrics.

Metrics live in a registry of the app's own, so that two apps in one process (as in tests) keep
separate counts. Requests are labelled by route template, never by the path itself, which would
carry source ids and canonical ids into the metrics.
"""

from __future__ import annotations

import time
from typing import Any

import anyio.to_thread
import msgspec
from litestar import MediaType, Request, Response, get
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from mdm.errors import DatabaseUnavailableError


class Health(msgspec.Struct, frozen=True):
    """The state of the service: ``ok`` when alive, ``ready`` when it can serve."""

    status: str


class RequestMetrics:
    """Request count and latency by method, route template and status, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("method", "route", "status")
        self.requests = Counter("mdm_http_requests", "HTTP requests answered", labels, registry=self.registry)
        self.latency = Histogram(
            "mdm_http_request_duration_seconds", "Time to answer an HTTP request", labels,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )  # fmt: skip

    # Limitation: Litestar runs app middleware only for requests that match a route, so answers to
    # unknown paths and methods (404, 405 from the router) are not counted.
    def middleware(self, app: ASGIApp) -> ASGIApp:
        """An ASGI middleware that times each HTTP request and counts it by its answer's status."""

        async def measured(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            status = 500

            async def send_and_note(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_and_note)
            finally:
                route = scope["path_template"]
                labels = (scope["method"], route, str(status))
                self.requests.labels(*labels).inc()
                self.latency.labels(*labels).observe(time.perf_counter() - started)

        return measured


@get("/health", tags=["operations"], summary="Liveness", sync_to_thread=False)
def health() -> Health:
    """Answers while the process runs; no key needed."""
    return Health(status="ok")


@get("/health/ready", tags=["operations"], summary="Readiness")
async def ready(request: Request[Any, Any, Any]) -> Health:
    """Answers ``ready`` when the database answers; 503 otherwise. No key needed."""
    engine: Engine = request.app.state.engine
    await anyio.to_thread.run_sync(_ping, engine)
    return Health(status="ready")


@get(
    "/metrics", tags=["operations"], summary="Prometheus metrics", media_type=MediaType.TEXT,
    include_in_schema=True, sync_to_thread=False,
)  # fmt: skip
def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The request metrics in Prometheus' text format. No key needed."""
    collected: RequestMetrics = request.app.state.metrics
    # Litestar adds the charset of text responses itself.
    media_type = CONTENT_TYPE_LATEST.replace("; charset=utf-8", "")
    return Response(generate_latest(collected.registry), media_type=media_type)


def _ping(engine: Engine) -> None:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        raise DatabaseUnavailableError("the database does not answer") from error
