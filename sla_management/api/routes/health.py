"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sla_management.adapters.kafka import KafkaPublisher
from sla_management.api.deps import Deps, ServiceUnavailable

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
async def ready(services: Deps) -> JSONResponse:
    """Temporal, PostgreSQL and Prometheus are required; Redis and Kafka are reported only
    (the API degrades without them)."""

    async def temporal() -> bool:
        try:
            client = await services.temporal()
            return await asyncio.wait_for(client.service_client.check_health(), timeout=3)
        except (ServiceUnavailable, RuntimeError, TimeoutError):
            return False

    async def kafka() -> bool:
        publisher = KafkaPublisher(services.settings.kafka)
        try:
            return await asyncio.wait_for(publisher.ping(), timeout=3)
        except TimeoutError:
            return False
        finally:
            await publisher.aclose()

    names = ("temporal", "postgresql", "prometheus", "redis", "kafka")
    results = await asyncio.gather(
        temporal(), services.db.ping(), services.prometheus.ready(), services.cache.ping(), kafka()
    )
    checks = dict(zip(names, results, strict=True))
    required_ok = all(checks[n] for n in ("temporal", "postgresql", "prometheus"))
    degraded = [n for n in ("redis", "kafka") if not checks[n]]
    body = {
        "status": ("degraded" if degraded else "ready") if required_ok else "unavailable",
        "checks": {n: ("up" if ok else "down") for n, ok in checks.items()},
        "optional": ["redis", "kafka"],
    }
    return JSONResponse(body, status_code=200 if required_ok else 503)
