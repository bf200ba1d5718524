"""FastAPI application factory."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sla_management import __version__
from sla_management.api import errors
from sla_management.api.auth import Authenticator, Permission, require
from sla_management.api.routes import (
    audit,
    budgets,
    exceptions,
    gate,
    health,
    interop,
    policies,
    rules,
    slos,
    webhooks,
)
from sla_management.config import Settings, get_settings
from sla_management.control.clients import Clients
from sla_management.control.gauges import dependency_refresher
from sla_management.errors import DatabaseUnavailable
from sla_management.observability.http import RequestTelemetryMiddleware, add_metrics_routes
from sla_management.observability.tracing import configure_tracing, instrument_app

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_tracing("sla-management-api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        clients = Clients.open(settings)
        app.state.clients = clients
        try:
            await clients.db.connect()
        except DatabaseUnavailable:
            pass  # connected on first use; /ready reports it meanwhile
        if settings.alertmanager.webhook_auth == "none":
            log.warning(
                "the Alertmanager webhook takes posts without a token (ALERTMANAGER__WEBHOOK_AUTH=none)"
            )
        elif not settings.alertmanager.webhook_token:
            log.warning("the Alertmanager webhook refuses every post: set ALERTMANAGER__WEBHOOK_TOKEN")
        telemetry = dependency_refresher(clients)
        background = [
            asyncio.create_task(telemetry.run()),
            asyncio.create_task(clients.active_freezes.run()),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await telemetry.aclose()
            await clients.aclose()

    app = FastAPI(
        title="SLA Management System",
        version=__version__,
        description="SLO definitions, error budgets and burn rates from Prometheus, one Temporal "
        "workflow per SLO.",
        lifespan=lifespan,
    )
    app.state.authenticator = Authenticator(settings.auth)
    errors.install(app)
    app.add_middleware(RequestContext, max_body_bytes=settings.api.max_body_bytes)
    app.add_middleware(RequestTelemetryMiddleware)
    instrument_app(app)
    # Reading needs `viewer`; routes that change something ask for more themselves.
    readers = [require(Permission.READ)]
    app.include_router(health.router)
    # Routes are matched in order; the gate is the hot path (every pipeline run asks it).
    app.include_router(gate.router, dependencies=readers)
    # Before slos.router: /api/v1/slos/import/... must not be read as /api/v1/slos/{slo_id}/...
    app.include_router(interop.router, dependencies=readers)
    app.include_router(rules.router, dependencies=readers)
    app.include_router(slos.router, dependencies=readers)
    app.include_router(budgets.router, dependencies=readers)
    app.include_router(policies.router, dependencies=readers)
    app.include_router(exceptions.router, dependencies=readers)
    app.include_router(audit.router)
    # Alertmanager authenticates with its own token (ALERTMANAGER__WEBHOOK_TOKEN).
    app.include_router(webhooks.router)
    add_metrics_routes(app)
    return app


class RequestContext:
    """Request id (taken from `X-Request-ID` or made up, echoed back, bound to every log line)
    and the body size limit, as pure ASGI: Starlette's `@app.middleware("http")` wraps every
    call in extra tasks and streams, which cost more than the deploy gate's own work."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = headers.get("x-request-id") or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            length = 0

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            if length > self.limit:
                too_big = errors.problem(413, f"request body over {self.limit} bytes")
                await too_big(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
