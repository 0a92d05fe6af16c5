"""Structured logging: key=value events under the ``mdm`` tree, never personal values."""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(level: str = "info", log_format: str | None = None) -> None:
    """Configure structlog for the command line or a server process.

    Library code never calls this; the entry points (CLI, app factory, worker) do, once.
    Events carry ids, counts and timings only: callers must never pass names, emails or phones.
    """
    fmt = log_format or ("console" if sys.stderr.isatty() else "json")
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # SQLAlchemy's engine logger would print bound parameters, which carry personal values.
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    # Splink warns of every comparison level that training never saw; the training report keeps
    # those levels (``mdm model show``), so the warnings show only when debugging.
    logging.getLogger("splink").setLevel(logging.DEBUG if level.lower() == "debug" else logging.ERROR)


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    """A logger for one module, e.g. ``get_logger(__name__)``."""
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger
