"""FastAPI application factory."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request, Response
from starlette.middleware.base import RequestResponseEndpoint

from sla_management import __version__
from sla_management.adapters.postgres import DatabaseUnavailable
from sla_management.api import errors
from sla_management.api.auth import Authenticator, Role, require
from sla_management.api.deps import Services
from sla_management.api.routes import audit, budgets, gate, health, interop, policies, rules, slos, webhooks
from sla_management.config import Settings, get_settings
from sla_management.observability.http import RequestTelemetryMiddleware, add_metrics_routes
from sla_management.observability.refresh import dependency_refresher
from sla_management.observability.tracing import configure_tracing, instrument_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_tracing("sla-management-api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services(settings)
        app.state.services = services
        try:
            await services.db.connect()
        except DatabaseUnavailable:
            pass  # connected on first use; /ready reports it meanwhile
        telemetry = dependency_refresher(
            settings,
            db=services.db,
            cache=services.cache,
            prometheus=services.prometheus,
            temporal=services.temporal,
        )
        refreshing = asyncio.create_task(telemetry.run())
        try:
            yield
        finally:
            refreshing.cancel()
            await asyncio.gather(refreshing, return_exceptions=True)
            await telemetry.aclose()
            await services.aclose()

    app = FastAPI(
        title="SLA Management System",
        version=__version__,
        description="SLO definitions, error budgets and burn rates from Prometheus, one Temporal "
        "workflow per SLO.",
        lifespan=lifespan,
    )
    app.state.authenticator = Authenticator(settings.auth)
    errors.install(app)
    _middleware(app, settings)
    app.add_middleware(RequestTelemetryMiddleware)
    instrument_app(app)
    # Reading needs `viewer`; routes that change something ask for more themselves.
    readers = [require(Role.VIEWER)]
    app.include_router(health.router)
    # Before slos.router: /api/v1/slos/import/... must not be read as /api/v1/slos/{slo_id}/...
    app.include_router(interop.router, dependencies=readers)
    app.include_router(rules.router, dependencies=readers)
    app.include_router(slos.router, dependencies=readers)
    app.include_router(budgets.router, dependencies=readers)
    app.include_router(policies.router, dependencies=readers)
    app.include_router(gate.router, dependencies=readers)
    app.include_router(audit.router)
    # Alertmanager authenticates with its own token (ALERTMANAGER__WEBHOOK_TOKEN).
    app.include_router(webhooks.router)
    add_metrics_routes(app)
    return app


def _middleware(app: FastAPI, settings: Settings) -> None:
    limit = settings.api.max_body_bytes

    @app.middleware("http")
    async def request_context(request: Request, call_next: RequestResponseEndpoint) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            length = int(request.headers.get("content-length") or 0)
        except ValueError:
            length = 0
        if length > limit:
            response: Response = errors.problem(413, f"request body over {limit} bytes")
        else:
            response = await call_next(request)
        response.headers["X-Request-ID"] = request_id
        structlog.contextvars.unbind_contextvars("request_id")
        return response
