"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sla_management.api.deps import Deps
from sla_management.config import AlertmanagerSettings
from sla_management.control.health import OPTIONAL, REQUIRED, readiness

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def _webhook_auth(settings: AlertmanagerSettings) -> str:
    if settings.webhook_auth == "none":
        return "none"
    return "token" if settings.webhook_token else "unconfigured"


@router.get("/ready")
async def ready(clients: Deps) -> JSONResponse:
    """Temporal, PostgreSQL and Prometheus are required; Redis and Kafka are reported only
    (the API degrades without them)."""
    checks = await readiness(clients)
    required_ok = all(checks[n] for n in REQUIRED)
    degraded = [n for n in OPTIONAL if not checks[n]]
    body = {
        "status": ("degraded" if degraded else "ready") if required_ok else "unavailable",
        "checks": {n: ("up" if ok else "down") for n, ok in checks.items()},
        "optional": list(OPTIONAL),
        # How the Alertmanager webhook authenticates: `token`, `none` (set on purpose), or
        # `unconfigured` (a token is required and none is set: every post is refused).
        "webhookAuth": _webhook_auth(clients.settings.alertmanager),
    }
    return JSONResponse(body, status_code=200 if required_ok else 503)
