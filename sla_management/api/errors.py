"""Every error is an RFC 9457 problem document; none carries a stack trace."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sla_management.adapters.postgres import Conflict, DatabaseUnavailable, InvalidValue
from sla_management.adapters.prometheus import PrometheusUnavailable
from sla_management.api.deps import ServiceUnavailable
from sla_management.domain.limits import ECHO_MAX_CHARS

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
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class NotFound(Exception):
    pass


# Messages quote input through `limits.echo`; this catches any that does not.
DETAIL_MAX_CHARS = 1000


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


_ERRORS_MAX = 50


def _cut(text: str, limit: int = ECHO_MAX_CHARS) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…"


def _summary(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:3]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) + (" ..." if len(errors) > 3 else "")


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # A location can hold input (a label's key): it is cut like any echoed input.
        errors = [
            {
                "loc": [p if isinstance(p, int) else _cut(str(p)) for p in e.get("loc", ())],
                "msg": _cut(str(e.get("msg", "")), DETAIL_MAX_CHARS),
                "type": e.get("type", ""),
            }
            for e in exc.errors()[:_ERRORS_MAX]
        ]
        return problem(422, _summary(errors), errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return problem(404, str(exc))

    @app.exception_handler(InvalidValue)
    async def invalid_value(_: Request, exc: InvalidValue) -> JSONResponse:
        return problem(422, str(exc))

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return problem(409, str(exc))

    for unavailable in (DatabaseUnavailable, PrometheusUnavailable, ServiceUnavailable):

        @app.exception_handler(unavailable)
        async def down(_: Request, exc: Exception) -> JSONResponse:
            return problem(503, str(exc), headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        # The trace goes to the log, keyed by request id; the client gets only the id.
        request_id = getattr(request.state, "request_id", None)
        log.exception("unhandled error", path=request.url.path, request_id=request_id)
        return problem(500, "internal error; quote the request id to the operators", requestId=request_id)
