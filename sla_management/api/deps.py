"""Process-wide clients for the API, opened in the lifespan and reached through `Deps`."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request
from temporalio.client import Client

from sla_management.adapters.cache import BudgetCache
from sla_management.adapters.postgres import Database
from sla_management.adapters.prometheus import PrometheusClient
from sla_management.config import Settings
from sla_management.temporal import connect


class ServiceUnavailable(Exception):
    """A dependency the request needs is down: 503, with which one in the message."""


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.postgresql)
        self.cache = BudgetCache(settings.redis)
        self.prometheus = PrometheusClient(
            settings.prometheus.url,
            timeout_seconds=settings.prometheus.timeout_seconds,
            max_retries=settings.prometheus.max_retries,
        )
        self._temporal: Client | None = None
        self._temporal_lock = asyncio.Lock()

    async def temporal(self) -> Client:
        # Connected lazily so the API starts (and /ready can say why) while Temporal is down.
        async with self._temporal_lock:
            if self._temporal is None:
                try:
                    self._temporal = await asyncio.wait_for(connect(self.settings), timeout=5)
                except (RuntimeError, OSError, TimeoutError) as exc:
                    raise ServiceUnavailable(
                        f"Temporal at {self.settings.temporal.address} is unreachable: {exc}"
                    ) from exc
            return self._temporal

    async def aclose(self) -> None:
        await self.db.close()
        await self.cache.aclose()
        await self.prometheus.aclose()


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


Deps = Annotated[Services, Depends(get_services)]
