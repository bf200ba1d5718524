"""Gauges that describe stored state, refreshed from PostgreSQL (and Temporal) on a timer.

Counters are incremented where things happen; state such as "how many SLOs exist" or "which
freezes are in force" has one source of truth, the database, which several API and worker
replicas share. Reading it periodically makes every replica export the same numbers, keeps them
right after a crash or a change made by another replica, and lets the series of deleted SLOs be
dropped (the `slo` label stays bounded by the SLOs that exist).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from temporalio.client import Client
from temporalio.service import RPCError

from sla_management.adapters.cache import BudgetCache
from sla_management.adapters.kafka import KafkaPublisher
from sla_management.adapters.postgres import Database, DatabaseUnavailable
from sla_management.adapters.prometheus import PrometheusClient
from sla_management.config import Settings
from sla_management.domain.budget import BudgetStatus
from sla_management.domain.policy import Scope
from sla_management.observability import metrics

log = structlog.get_logger(__name__)

Probe = Callable[[], Awaitable[bool]]

# One round trip for everything per-SLO; `budget` is the stored ErrorBudget document.
_SLO_ROWS = """
    SELECT s.id, s.service_name, b.status, b.remaining_percent, b.calculated_at,
           (b.budget ->> 'consumedPercent')::double precision AS consumed,
           b.budget -> 'burnRates' AS burn_rates
    FROM slos s LEFT JOIN budgets_current b ON b.slo_id = s.id
"""
_ACTIVE_FREEZES = "SELECT scope, count(*) AS n FROM freeze_events WHERE resolved_at IS NULL GROUP BY scope"
_OUTBOX = "SELECT count(*) AS n, min(created_at) AS oldest FROM event_outbox WHERE published_at IS NULL"
_POLICIES = "SELECT count(*) FROM policies"

WORKFLOW_TYPES = ("SLOWorkflow", "PolicyWorkflow")
_RPC_TIMEOUT = timedelta(seconds=5)


class TelemetryRefresher:
    def __init__(
        self,
        db: Database,
        *,
        temporal: Callable[[], Awaitable[Client]] | None = None,
        probes: Mapping[str, Probe] | None = None,
        interval_seconds: float = 15.0,
        probe_timeout_seconds: float = 3.0,
        closers: Iterable[Callable[[], Awaitable[None]]] = (),
    ) -> None:
        self._db = db
        self._temporal = temporal
        self._probes = dict(probes or {})
        self._interval = interval_seconds
        self._probe_timeout = probe_timeout_seconds
        self._closers = list(closers)
        metrics.watch_pool(db)

    async def aclose(self) -> None:
        for close in self._closers:
            with contextlib.suppress(Exception):  # closing what may already be broken
                await close()

    async def run(self) -> None:
        while True:
            await self.refresh_once()
            await asyncio.sleep(self._interval)

    async def refresh_once(self) -> None:
        """Never raises: a dependency that is down is what the gauges are there to show."""
        await asyncio.gather(self._probe_all(), self._from_database(), self._from_temporal())

    async def _probe_all(self) -> None:
        async def one(name: str, probe: Probe) -> None:
            try:
                up = await asyncio.wait_for(probe(), timeout=self._probe_timeout)
            except Exception as exc:  # a probe that raises is a dependency that is down
                log.debug("dependency probe failed", dependency=name, error=str(exc))
                up = False
            metrics.DEPENDENCY_UP.labels(name).set(1 if up else 0)

        await asyncio.gather(*(one(n, p) for n, p in self._probes.items()))

    async def _from_database(self) -> None:
        try:
            async with self._db.acquire() as conn:
                slos = await conn.fetch(_SLO_ROWS)
                freezes = await conn.fetch(_ACTIVE_FREEZES)
                outbox = await conn.fetchrow(_OUTBOX)
                policies = await conn.fetchval(_POLICIES)
        except DatabaseUnavailable as exc:
            log.debug("telemetry refresh skipped", error=str(exc))
            return
        now = datetime.now(UTC)
        _budgets(slos, now)
        active = {row["scope"]: row["n"] for row in freezes}
        for scope in Scope:
            metrics.FREEZES_ACTIVE.labels(scope.value).set(active.get(scope.value, 0))
        metrics.OUTBOX_PENDING.set(outbox["n"])
        oldest = outbox["oldest"]
        metrics.OUTBOX_OLDEST_AGE.set((now - oldest).total_seconds() if oldest is not None else 0)
        metrics.POLICIES_TOTAL.set(policies)

    async def _from_temporal(self) -> None:
        if self._temporal is None:
            return
        try:
            client = await self._temporal()
            for workflow_type in WORKFLOW_TYPES:
                counted = await client.count_workflows(
                    f"WorkflowType = '{workflow_type}' AND ExecutionStatus = 'Running'",
                    rpc_timeout=_RPC_TIMEOUT,
                )
                metrics.WORKFLOWS_RUNNING.labels(workflow_type).set(counted.count)
        except (RPCError, RuntimeError, OSError, TimeoutError) as exc:
            # The `temporal` probe reports the outage; the last counts are kept meanwhile.
            log.debug("workflow count skipped", error=str(exc))


def _budgets(rows: list[Any], now: datetime) -> None:
    metrics.SLOS_TOTAL.set(len(rows))
    by_status: Counter[str] = Counter()
    oldest: datetime | None = None
    for row in rows:
        if row["status"] is None:
            by_status["PENDING"] += 1
            continue
        status = BudgetStatus(row["status"])
        by_status[status.value] += 1
        calculated_at: datetime = row["calculated_at"]
        oldest = calculated_at if oldest is None else min(oldest, calculated_at)
        metrics.set_budget(
            row["id"],
            row["service_name"],
            status_gauge=status.gauge,
            remaining=row["remaining_percent"],
            consumed=row["consumed"],
            burn_rates=row["burn_rates"] or {},
            calculated_at=calculated_at,
        )
    for name in (*(s.value for s in BudgetStatus), "PENDING"):
        metrics.BUDGETS_BY_STATUS.labels(name).set(by_status.get(name, 0))
    metrics.PASS_LAG.set((now - oldest).total_seconds() if oldest is not None else 0)
    metrics.forget_slos(row["id"] for row in rows)


def _temporal_probe(temporal: Callable[[], Awaitable[Client]]) -> Probe:
    async def probe() -> bool:
        return await (await temporal()).service_client.check_health()

    return probe


def dependency_refresher(
    settings: Settings,
    *,
    db: Database,
    cache: BudgetCache,
    prometheus: PrometheusClient,
    temporal: Callable[[], Awaitable[Client]],
) -> TelemetryRefresher:
    """The refresher the API and the worker run: stored state, workflow counts, and a probe of
    every dependency (`sla_dependency_up`). Close it with `aclose()`."""
    kafka = KafkaPublisher(settings.kafka)
    return TelemetryRefresher(
        db,
        temporal=temporal,
        probes={
            "postgresql": db.ping,
            "redis": cache.ping,
            "prometheus": prometheus.ready,
            "kafka": kafka.ping,
            "temporal": _temporal_probe(temporal),
        },
        closers=[kafka.aclose],
    )


def client_of(client: Client) -> Callable[[], Awaitable[Client]]:
    """For a process that holds a connected client (the worker) rather than connecting lazily."""

    async def get() -> Client:
        return client

    return get
