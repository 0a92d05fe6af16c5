"""Every error the API answers with is an RFC 9457 problem document (``application/problem+json``).

The ``type`` of a problem is ``urn:mdm:problem:<code>``, where ``<code>`` is the stable code of the
hub's error (``not_found``, ``canonical_id.invalid``, ``request.invalid``, ``auth.forbidden``...);
clients branch on it, never on ``title`` or ``detail``. ``code`` repeats it as a plain member, and
``errors`` lists every field at fault. This module is the one place that turns exceptions into
HTTP answers.
"""

from __future__ import annotations

import re
import traceback
from http import HTTPStatus
from pathlib import Path
from typing import Any, Final

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap

from mdm.errors import InvalidRecordError, MdmError
from mdm.logs import get_logger

log = get_logger(__name__)

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
TYPE_PREFIX: Final = "urn:mdm:problem:"

#: The HTTP status of each error code; codes not listed fall back by the error's kind.
STATUS_OF_CODE: Final[dict[str, int]] = {
    "not_found": 404,
    "system.unknown": 404,
    "canonical_id.invalid": 422,
    "request.invalid": 422,
    "request.too_large": 413,
    "auth.unauthenticated": 401,
    "auth.forbidden": 403,
    "database.unavailable": 503,
    "model.unavailable": 503,
    "record.invalid": 422,
    "idempotency.key_reused": 422,
    "idempotency.in_progress": 409,
}

#: Codes of errors that Litestar raises itself, by status.
CODE_OF_STATUS: Final[dict[int, str]] = {
    400: "request.malformed",
    401: "auth.unauthenticated",
    403: "auth.forbidden",
    404: "route.not_found",
    405: "method.not_allowed",
    413: "request.too_large",
    415: "request.unsupported_media_type",
    422: "request.invalid",
    429: "request.rate_limited",
    503: "service.unavailable",
}


#: How Litestar words a missing parameter, from which the field at fault is read.
MISSING_PARAMETER: Final = re.compile(r"Missing required (?P<source>\w+) parameter '(?P<name>[^']+)'")
#: How msgspec words a member that a struct does not know.
UNKNOWN_FIELD: Final = re.compile(r"unknown field `(?P<name>[^`]*)`")


class FieldProblem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One field at fault: its name, where it was (path, query, header, body) and what is wrong."""

    field: str
    detail: str
    source: str | None = None


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem document with the hub's stable ``code`` and the fields at fault."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    errors: list[FieldProblem] = msgspec.field(default_factory=list)


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[FieldProblem] | None = None,
    instance: str | None = None,
) -> Problem:
    """A problem document of a status and one of the hub's codes.

    Details that quote what was sent are cut to ``MAX_DETAIL`` characters: a 100 KB query should
    not come back as a 100 KB answer.
    """
    errors = [
        msgspec.structs.replace(error, detail=_shortened(error.detail))
        if len(error.detail) > MAX_DETAIL
        else error
        for error in errors or []
    ]
    return Problem(
        type=TYPE_PREFIX + code, title=HTTPStatus(status).phrase, status=status, detail=_shortened(detail),
        code=code, instance=instance, errors=errors,
    )  # fmt: skip


MAX_DETAIL: Final = 500


def _shortened(text: str) -> str:
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


def problem_of(error: MdmError, *, instance: str | None = None) -> Problem:
    """The problem document of one of the hub's errors, with the fields at fault when it names any."""
    if isinstance(error, InvalidRecordError):
        errors = [FieldProblem(field=field, detail=detail, source="body") for field, detail in error.faults]
    else:
        errors = [FieldProblem(field=error.field, detail=error.message)] if error.field else []
    return problem(status_of(error), error.code, error.message, errors=errors, instance=instance)


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    """A problem-details response for a request."""
    document = problem(status, code, detail, errors=errors, instance=request.url.path)
    return Response(document, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def status_of(error: MdmError) -> int:
    """The HTTP status for one of the hub's errors: by its code, else by what kind of error it is."""
    if error.code in STATUS_OF_CODE:
        return STATUS_OF_CODE[error.code]
    if isinstance(error, LookupError):
        return 404
    if isinstance(error, ValueError):
        return 422
    return 500


def handle_mdm_error(request: Request[Any, Any, Any], error: MdmError) -> Response[Problem]:
    """The hub's own errors, with the field at fault when the error names one."""
    document = problem_of(error, instance=request.url.path)
    headers = {"WWW-Authenticate": 'Bearer realm="mdm"'} if document.status == 401 else None
    if document.status >= 500:
        log.error("request_failed", code=error.code, route=request.scope.get("path_template"))
    return Response(document, status_code=document.status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def handle_http_error(request: Request[Any, Any, Any], error: HTTPException) -> Response[Problem]:
    """Litestar's own errors: unknown routes and methods, malformed bodies, failed validation."""
    status, errors = error.status_code, _field_problems(error.extra)
    if isinstance(error, ValidationException):
        # A well-formed request with wrong or missing values is 422; an undecodable body stays 400.
        status = 422
        missing = MISSING_PARAMETER.search(error.detail)
        if missing and not errors:
            errors = [FieldProblem(field=missing["name"], detail=error.detail, source=missing["source"])]
    elif status in (400, 413) and not errors:
        # Litestar refuses only the body so: undecodable JSON (400) or one over the size cap (413).
        errors = [FieldProblem(field="body", detail=error.detail, source="body")]
    code = CODE_OF_STATUS.get(status, f"http.{status}")
    if status >= 500:
        log.error("request_failed", code=code, route=request.scope.get("path_template"))
    return problem_response(
        request, status, code, error.detail, errors=errors, headers=dict(error.headers or {})
    )


def handle_unexpected_error(request: Request[Any, Any, Any], error: Exception) -> Response[Problem]:
    """Anything else is the hub's fault: logged by type and place, answered without internals."""
    log.error("request_failed", error=type(error).__name__, route=request.scope.get("path_template"),
              **failure_context(error))  # fmt: skip
    return problem_response(request, 500, "internal", "the hub failed to answer; the failure is logged")


def failure_context(error: BaseException) -> dict[str, Any]:
    """Where a failure happened, for the operator, without its message, which may quote personal values.

    The innermost frames of the hub's own code and, for a database error, the SQLSTATE and the
    constraint that refused the statement.
    """
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if "/site-packages/" not in frame.filename]  # fmt: skip
    context: dict[str, Any] = {
        "at": [f"{Path(frame.filename).name}:{frame.lineno} {frame.name}" for frame in frames[-4:]]
    }
    diagnostics = getattr(getattr(error, "orig", None), "diag", None)
    if diagnostics is not None:
        context["sqlstate"] = diagnostics.sqlstate
        context["constraint"] = diagnostics.constraint_name
    return context


def handle_too_deep(request: Request[Any, Any, Any], error: RecursionError) -> Response[Problem]:
    """A body nested thousands of levels deep cannot be read: the sender's fault, not the hub's."""
    return problem_response(request, 400, "request.malformed", "the body nests deeper than the hub reads")


def _field_problems(extra: Any) -> list[FieldProblem]:
    if not isinstance(extra, list):
        return []
    problems = []
    for item in extra:
        if isinstance(item, dict) and item.get("message"):
            key = item.get("key")
            # Litestar names the whole body after the handler's ``data`` argument.
            field = "body" if key in (None, "", "data") else str(key)
            unknown = UNKNOWN_FIELD.search(str(item["message"]))
            if unknown:
                # The member at fault is the unknown one, not the object that holds it.
                field = unknown["name"] if field == "body" else f"{field}.{unknown['name']}"
            message = str(item["message"])
            if field == "body" and message in ("'data'", "data"):
                # Litestar's whole message for a body that is missing altogether.
                message = "a JSON body is required"
            problems.append(FieldProblem(field=field, detail=message, source=item.get("source")))
    return problems


EXCEPTION_HANDLERS: Final[ExceptionHandlersMap] = {
    MdmError: handle_mdm_error,
    HTTPException: handle_http_error,
    RecursionError: handle_too_deep,
    Exception: handle_unexpected_error,
}


def _problem_responses(statuses: tuple[int, ...]) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=f"{HTTPStatus(status).phrase}: a problem document",
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for status in statuses
    }


#: The problem answers every ``/v1`` operation may give, declared in the OpenAPI document.
PROBLEMS: Final[dict[int, ResponseSpec]] = _problem_responses((400, 401, 403, 404, 413, 422, 503))
