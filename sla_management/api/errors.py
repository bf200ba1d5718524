"""Every error is an RFC 9457 problem document; none carries a stack trace.

The control plane's errors (`sla_management/errors.py`) are translated here, once: NotFound 404,
Conflict 409, Invalid 422 (with the field), Unavailable 503.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sla_management.domain.limits import ECHO_MAX_CHARS
from sla_management.errors import Conflict, Invalid, NotFound, QueryRejected, ResultShapeError, Unavailable

log = structlog.get_logger(__name__)

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
# Where a request carries a value, as FastAPI names it in `loc`.
_PLACES = ("path", "query", "header", "body")


# Messages quote input through `limits.echo`; this catches any that does not.
DETAIL_MAX_CHARS = 1000
_ERRORS_MAX = 50


def _cut(text: str, limit: int = ECHO_MAX_CHARS) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…"


def problem(status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    if len(detail) > DETAIL_MAX_CHARS:
        detail = f"{detail[: DETAIL_MAX_CHARS - 1]}…"
    body = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(
        status_code=status,
        content=jsonable_encoder(body),
        media_type="application/problem+json",
        headers=headers,
    )


def _summary(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:3]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) + (" ..." if len(errors) > 3 else "")


def _loc(field: str) -> list[str]:
    """`sliQuery.errorQuery` -> body.sliQuery.errorQuery; `query.from` stays a query parameter."""
    parts = [p for p in field.split(".") if p]
    if not parts or parts[0] not in _PLACES:
        parts.insert(0, "body")
    return parts


def unprocessable(errors: list[dict[str, Any]]) -> JSONResponse:
    return problem(422, _summary(errors), errors=errors)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # A location can hold input (a label's key): it is cut like any echoed input.
        errors = [
            {
                "loc": [p if isinstance(p, int) else _cut(str(p)) for p in e.get("loc", ())],
                "msg": _cut(str(e.get("msg", "")), DETAIL_MAX_CHARS),
                "type": e.get("type", ""),
            }
            for e in exc.errors()[:_ERRORS_MAX]
        ]
        return unprocessable(errors)

    @app.exception_handler(Invalid)
    async def invalid(_: Request, exc: Invalid) -> JSONResponse:
        if not exc.field:  # about the request as a whole
            return problem(422, exc.message)
        return unprocessable(
            [{"loc": _loc(exc.field), "msg": _cut(exc.message, DETAIL_MAX_CHARS), "type": "value_error"}]
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return problem(404, str(exc))

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return problem(409, str(exc))

    for refused in (QueryRejected, ResultShapeError):
        # Prometheus refused a query the request made it run: the request's own fault.
        @app.exception_handler(refused)
        async def rejected(_: Request, exc: Exception) -> JSONResponse:
            return problem(422, str(exc))

    @app.exception_handler(Unavailable)
    async def down(_: Request, exc: Unavailable) -> JSONResponse:
        return problem(503, str(exc), headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        # The trace goes to the log, keyed by request id; the client gets only the id.
        request_id = getattr(request.state, "request_id", None)
        log.exception("unhandled error", path=request.url.path, request_id=request_id)
        return problem(500, "internal error; quote the request id to the operators", requestId=request_id)
