"""Worker process: SLO workflows, their activities, the outbox relay and history pruning."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from prometheus_client import start_http_server
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from sla_management.activities.budget import BudgetActivities, PolicyDirectory, SLIActivities
from sla_management.activities.freeze import FreezeActivities
from sla_management.adapters.cache import BudgetCache
from sla_management.adapters.kafka import KafkaPublisher, OutboxRelay
from sla_management.adapters.postgres import Database, DatabaseUnavailable, PolicyStore
from sla_management.adapters.prometheus import PrometheusClient
from sla_management.config import Settings
from sla_management.observability.activities import ActivityTelemetryInterceptor
from sla_management.observability.refresh import client_of, dependency_refresher
from sla_management.observability.tracing import configure_tracing, shutdown_tracing
from sla_management.temporal import connect
from sla_management.workflows.policy import PolicyWorkflow
from sla_management.workflows.slo import SLOWorkflow

if TYPE_CHECKING:
    from sla_management.adapters.kubernetes import KubernetesEnforcer

log = structlog.get_logger(__name__)


def build_enforcer(settings: Settings) -> KubernetesEnforcer | None:
    if not settings.kubernetes.enabled:
        return None
    from sla_management.adapters.kubernetes import KubernetesEnforcer

    k8s = settings.kubernetes
    return KubernetesEnforcer.from_config(k8s.api_url, token=k8s.token, verify_ssl=k8s.verify_ssl)


def build_worker(
    client: Client,
    settings: Settings,
    *,
    prometheus: PrometheusClient,
    db: Database,
    cache: BudgetCache,
    relay: OutboxRelay | None,
    enforcer: KubernetesEnforcer | None = None,
    task_queue: str | None = None,
) -> Worker:
    store = PolicyStore(db)
    sli = SLIActivities(prometheus)
    budgets = BudgetActivities(
        db, cache, settings.kafka, relay, client=client, policies=PolicyDirectory(store)
    )
    freezes = FreezeActivities(db, store, settings.kafka, enforcer, relay)
    return Worker(
        client,
        # Our models and the telemetry libraries are deterministic to import: pass them through
        # instead of re-importing them in every workflow sandbox (faster, and the sandbox's
        # importer once raised a KeyError re-importing opentelemetry under load).
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(
                "sla_management", "opentelemetry", "pydantic", "structlog"
            )
        ),
        task_queue=task_queue or settings.temporal.task_queue,
        workflows=[SLOWorkflow, PolicyWorkflow],
        activities=[
            sli.query_sli,
            budgets.record_budget,
            freezes.load_observations,
            freezes.open_freeze,
            freezes.close_freeze,
            freezes.rescope_freeze,
            freezes.enforce_freezes,
        ],
        max_concurrent_activities=settings.worker.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.worker.max_concurrent_workflow_tasks,
        max_cached_workflows=settings.worker.max_cached_workflows,
        # Tracing comes with the client's interceptors; this adds per-activity metrics and log ids.
        interceptors=[ActivityTelemetryInterceptor()],
    )


async def prune_history(db: Database, retention_days: int) -> None:
    while True:
        try:
            removed = await db.prune_history(datetime.now(UTC) - timedelta(days=retention_days))
            if removed:
                log.info("budget history pruned", rows=removed, retention_days=retention_days)
        except DatabaseUnavailable as exc:
            log.warning("history pruning skipped", error=str(exc))
        await asyncio.sleep(3600)


async def ensure_loops(client: Client, db: Database, settings: Settings) -> None:
    """Start the workflow of every stored SLO and policy that has none running (a restored
    database, a new Temporal cluster, a loop terminated by hand). Starting is idempotent."""
    from sla_management.temporal import start_policy_workflow, start_slo_workflow

    while True:
        try:
            slos = await db.list_slos(limit=1_000_000)
            policies = await PolicyStore(db).list_policies()
            break
        except DatabaseUnavailable as exc:
            log.warning("waiting for PostgreSQL to start missing loops", error=str(exc))
            await asyncio.sleep(5)
    for slo in slos:
        await start_slo_workflow(client, slo, settings)
    for policy in policies:
        await start_policy_workflow(client, policy, settings.temporal.task_queue)
    log.info("loops ensured", slos=len(slos), policies=len(policies))


async def run_worker(settings: Settings) -> None:
    if settings.worker.metrics_port:
        start_http_server(settings.worker.metrics_port, addr="0.0.0.0")
    configure_tracing("sla-management-worker")
    client = await connect(settings)
    prometheus = PrometheusClient(
        settings.prometheus.url,
        timeout_seconds=settings.prometheus.timeout_seconds,
        max_retries=settings.prometheus.max_retries,
    )
    db = Database(settings.postgresql)
    cache = BudgetCache(settings.redis)
    publisher = KafkaPublisher(settings.kafka)
    relay = OutboxRelay(db, publisher, settings.kafka)
    telemetry = dependency_refresher(
        settings, db=db, cache=cache, prometheus=prometheus, temporal=client_of(client)
    )
    worker = build_worker(
        client,
        settings,
        prometheus=prometheus,
        db=db,
        cache=cache,
        relay=relay,
        enforcer=build_enforcer(settings),
    )
    log.info(
        "worker starting",
        task_queue=settings.temporal.task_queue,
        temporal=settings.temporal.address,
    )
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(relay.run())
            group.create_task(prune_history(db, settings.calculator.history_retention_days))
            group.create_task(telemetry.run())
            group.create_task(ensure_loops(client, db, settings))
            await worker.run()
    finally:
        await telemetry.aclose()
        shutdown_tracing()
        with contextlib.suppress(Exception):
            await publisher.aclose()
        await cache.aclose()
        await db.close()
        await prometheus.aclose()
