"""What the generated OpenAPI document cannot learn from Litestar: request bodies that refuse unknown fields.

Litestar describes a msgspec struct by its fields only, so a body struct declared with
``forbid_unknown_fields`` still looked open to extra members, and a client (or a fuzzer) reading
the document would send them and be refused. The document is amended once, when the app is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

COLLECTIONS: Final = (
    msgspec.inspect.ListType,
    msgspec.inspect.SetType,
    msgspec.inspect.FrozenSetType,
    msgspec.inspect.VarTupleType,
)


def close_refusing_structs(app: Litestar) -> None:
    """Mark every request-body struct that refuses unknown fields ``additionalProperties: false``."""
    document = app.openapi_schema
    schemas = document.components.schemas if document.components else None
    if not schemas:
        return
    for name in sorted(_refusing_struct_names(app)):
        if name in schemas:
            schemas[name].additional_properties = False


def _refusing_struct_names(app: Litestar) -> set[str]:
    names: set[str] = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            body = _body_type(handler)
            if body is not None:
                names.update(
                    info.cls.__name__
                    for info in _structs(msgspec.inspect.type_info(body))
                    if info.forbid_unknown_fields
                )
    return names


def _body_type(handler: HTTPRouteHandler) -> Any:
    data = handler.parsed_fn_signature.parameters.get("data")
    return None if data is None else data.annotation


def _structs(
    info: msgspec.inspect.Type, seen: set[type] | None = None
) -> Iterator[msgspec.inspect.StructType]:
    """Every struct type within a type: its own, its fields', its items', its union members'."""
    seen = set() if seen is None else seen
    if isinstance(info, msgspec.inspect.StructType):
        if info.cls in seen:
            return
        seen.add(info.cls)
        yield info
        for field in info.fields:
            yield from _structs(field.type, seen)
    elif isinstance(info, msgspec.inspect.UnionType):
        for member in info.types:
            yield from _structs(member, seen)
    elif isinstance(info, msgspec.inspect.DictType):
        yield from _structs(info.value_type, seen)
    elif isinstance(info, COLLECTIONS):
        yield from _structs(info.item_type, seen)
