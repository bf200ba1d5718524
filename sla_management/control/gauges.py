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

import structlog
from temporalio.client import Client
from temporalio.service import RPCError

from sla_management.adapters.kafka import KafkaPublisher
from sla_management.adapters.postgres import Database, SLORow, TelemetryRepository
from sla_management.control.clients import Clients
from sla_management.domain.budget import BudgetStatus
from sla_management.domain.policy import Scope
from sla_management.errors import DatabaseUnavailable, Unavailable
from sla_management.observability import metrics

log = structlog.get_logger(__name__)

Probe = Callable[[], Awaitable[bool]]

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
        self._stored = TelemetryRepository(db)
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
            state = await self._stored.snapshot()
        except DatabaseUnavailable as exc:
            log.debug("telemetry refresh skipped", error=str(exc))
            return
        now = datetime.now(UTC)
        _budgets(state.slos, now)
        for scope in Scope:
            metrics.FREEZES_ACTIVE.labels(scope.value).set(state.active_freezes_by_scope.get(scope.value, 0))
        metrics.OUTBOX_PENDING.set(state.outbox_pending)
        oldest = state.outbox_oldest
        metrics.OUTBOX_OLDEST_AGE.set((now - oldest).total_seconds() if oldest is not None else 0)
        metrics.POLICIES_TOTAL.set(state.policies)

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
        except (Unavailable, RPCError, RuntimeError, OSError, TimeoutError) as exc:
            # The `temporal` probe reports the outage; the last counts are kept meanwhile.
            log.debug("workflow count skipped", error=str(exc))


def _budgets(rows: list[SLORow], now: datetime) -> None:
    metrics.SLOS_TOTAL.set(len(rows))
    by_status: Counter[str] = Counter()
    oldest: datetime | None = None
    for row in rows:
        if row.status is None or row.calculated_at is None:
            by_status["PENDING"] += 1
            continue
        status = BudgetStatus(row.status)
        by_status[status.value] += 1
        oldest = row.calculated_at if oldest is None else min(oldest, row.calculated_at)
        metrics.set_budget(
            row.id,
            row.service_name,
            status_gauge=status.gauge,
            remaining=row.remaining_percent,
            consumed=row.consumed_percent,
            burn_rates=row.burn_rates,
            calculated_at=row.calculated_at,
        )
    for name in (*(s.value for s in BudgetStatus), "PENDING"):
        metrics.BUDGETS_BY_STATUS.labels(name).set(by_status.get(name, 0))
    metrics.PASS_LAG.set((now - oldest).total_seconds() if oldest is not None else 0)
    metrics.forget_slos(row.id for row in rows)


def _temporal_probe(temporal: Callable[[], Awaitable[Client]]) -> Probe:
    async def probe() -> bool:
        return await (await temporal()).service_client.check_health()

    return probe


def dependency_refresher(clients: Clients) -> TelemetryRefresher:
    """The refresher the API and the worker run: stored state, workflow counts, and a probe of
    every dependency (`sla_dependency_up`). Close it with `aclose()`."""
    kafka = KafkaPublisher(clients.settings.kafka)
    return TelemetryRefresher(
        clients.db,
        temporal=clients.temporal,
        probes={
            "postgresql": clients.db.ping,
            "redis": clients.cache.ping,
            "prometheus": clients.prometheus.ready,
            "kafka": kafka.ping,
            "temporal": _temporal_probe(clients.temporal),
        },
        closers=[kafka.aclose],
    )
