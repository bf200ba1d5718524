"""FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import make_asgi_app

from sla_management import __version__
from sla_management.adapters.postgres import DatabaseUnavailable
from sla_management.api import errors
from sla_management.api.deps import Services
from sla_management.api.routes import budgets, gate, health, policies, slos, webhooks
from sla_management.config import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services(settings)
        app.state.services = services
        try:
            await services.db.connect()
        except DatabaseUnavailable:
            pass  # connected on first use; /ready reports it meanwhile
        try:
            yield
        finally:
            await services.aclose()

    app = FastAPI(
        title="SLA Management System",
        version=__version__,
        description="SLO definitions, error budgets and burn rates from Prometheus, one Temporal "
        "workflow per SLO.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(health.router)
    app.include_router(slos.router)
    app.include_router(budgets.router)
    app.include_router(policies.router)
    app.include_router(gate.router)
    app.include_router(webhooks.router)
    app.mount("/metrics", make_asgi_app())
    return app
