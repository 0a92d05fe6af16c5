"""The hub's HTTP API: the cross-reference and customer reads under ``/v1``, health and metrics."""

from api.app import create_app

__all__ = ["create_app"]
