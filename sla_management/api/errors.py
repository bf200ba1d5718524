"""Map domain and dependency failures to HTTP answers: never a bare 500 for a known cause."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sla_management.adapters.postgres import Conflict, DatabaseUnavailable
from sla_management.adapters.prometheus import PrometheusUnavailable
from sla_management.api.deps import ServiceUnavailable


class NotFound(Exception):
    pass


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"type": "about:blank", "title": title, "status": status, "detail": detail},
        media_type="application/problem+json",
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return _problem(404, "Not Found", str(exc))

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return _problem(409, "Conflict", str(exc))

    for unavailable in (DatabaseUnavailable, PrometheusUnavailable, ServiceUnavailable):

        @app.exception_handler(unavailable)
        async def down(_: Request, exc: Exception) -> JSONResponse:
            response = _problem(503, "Service Unavailable", str(exc))
            response.headers["Retry-After"] = "5"
            return response
