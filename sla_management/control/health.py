"""Readiness: which dependencies answer now."""

from __future__ import annotations

import asyncio

from sla_management.adapters.kafka import KafkaPublisher
from sla_management.control.clients import Clients
from sla_management.errors import Unavailable

REQUIRED = ("temporal", "postgresql", "prometheus")
# The API degrades without these: budgets come from PostgreSQL, events wait in the outbox.
OPTIONAL = ("redis", "kafka")


async def _temporal(clients: Clients) -> bool:
    try:
        client = await clients.temporal()
        return await asyncio.wait_for(client.service_client.check_health(), timeout=3)
    except (Unavailable, RuntimeError, TimeoutError):
        return False


async def _kafka(clients: Clients) -> bool:
    publisher = KafkaPublisher(clients.settings.kafka)
    try:
        return await asyncio.wait_for(publisher.ping(), timeout=3)
    except TimeoutError:
        return False
    finally:
        await publisher.aclose()


async def readiness(clients: Clients) -> dict[str, bool]:
    """Each dependency, up or not, probed at once."""
    results = await asyncio.gather(
        _temporal(clients),
        clients.db.ping(),
        clients.prometheus.ready(),
        clients.cache.ping(),
        _kafka(clients),
    )
    return dict(zip((*REQUIRED, *OPTIONAL), results, strict=True))
