"""Worker process: SLO and policy workflows, their activities, the outbox relay, history pruning.

Wiring only: clients come from `Clients.open`, behaviour from `activities` and `control`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import structlog
from prometheus_client import start_http_server
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from sla_management.activities.budget import BudgetActivities, SLIActivities
from sla_management.activities.exceptions import ExceptionActivities
from sla_management.activities.freeze import FreezeActivities
from sla_management.activities.notices import Herald
from sla_management.adapters.kafka import KafkaPublisher, OutboxRelay
from sla_management.adapters.notify import NotificationRelay, SecretKeyReader, Secrets
from sla_management.config import Settings
from sla_management.control import budgets
from sla_management.control.clients import Clients
from sla_management.control.fanout import PolicyDirectory, PolicyFanOut
from sla_management.control.gauges import dependency_refresher
from sla_management.control.lifecycle import ensure_loops
from sla_management.domain.channels import SecretKeyRef
from sla_management.domain.notices import Links
from sla_management.errors import DatabaseUnavailable
from sla_management.observability.activities import ActivityTelemetryInterceptor
from sla_management.observability.tracing import configure_tracing, shutdown_tracing
from sla_management.workflows.client import connect
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


def links(settings: Settings) -> Links:
    n = settings.notifications
    return Links(
        console_url=n.console_url,
        temporal_ui_url=n.temporal_ui_url,
        temporal_namespace=settings.temporal.namespace,
    )


def secret_reader(settings: Settings, enforcer: KubernetesEnforcer | None) -> SecretKeyReader | None:
    """Reads notify targets' `secretKeyRef`s from the worker's namespace (or the one set)."""
    if enforcer is None:
        return None
    namespace = settings.kubernetes.secrets_namespace or _pod_namespace()

    async def read(ref: SecretKeyRef) -> str:
        return await enforcer.read_secret(namespace, ref.name, ref.key)

    return read


def _pod_namespace() -> str:
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
            return f.read().strip() or "default"
    except OSError:
        return "default"


async def build_worker(
    clients: Clients,
    *,
    relay: OutboxRelay | None,
    notifier: NotificationRelay | None = None,
    enforcer: KubernetesEnforcer | None = None,
    task_queue: str | None = None,
) -> Worker:
    settings = clients.settings
    temporal = await clients.temporal()
    queue = task_queue or settings.temporal.task_queue

    def published() -> None:
        # New outbox rows: Kafka events, and perhaps notifications.
        if relay is not None:
            relay.wake()
        if notifier is not None:
            notifier.wake()

    herald = Herald(clients.policies, links(settings))
    sli = SLIActivities(clients.prometheus)
    fan_out = PolicyFanOut(
        temporal, PolicyDirectory(clients.policies), queue, clients.notifications, herald.links
    )
    budget = BudgetActivities(
        clients.budgets, clients.cache, settings.kafka, published=published, fan_out=fan_out
    )
    freezes = FreezeActivities(
        slos=clients.slos,
        budgets=clients.budgets,
        freezes=clients.freezes,
        exceptions=clients.exceptions,
        audit=clients.audit,
        kafka=settings.kafka,
        herald=herald,
        enforcer=enforcer,
        published=published,
    )
    exceptions = ExceptionActivities(
        exceptions=clients.exceptions,
        audit=clients.audit,
        kafka=settings.kafka,
        herald=herald,
        published=published,
    )
    return Worker(
        temporal,
        # Our models and the telemetry libraries are deterministic to import: pass them through
        # instead of re-importing them in every workflow sandbox (faster, and the sandbox's
        # importer once raised a KeyError re-importing opentelemetry under load).
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(
                "sla_management", "opentelemetry", "pydantic", "structlog"
            )
        ),
        task_queue=queue,
        workflows=[SLOWorkflow, PolicyWorkflow],
        activities=[
            sli.query_sli,
            budget.record_budget,
            freezes.load_observations,
            freezes.open_freeze,
            freezes.close_freeze,
            freezes.rescope_freeze,
            freezes.enforce_freezes,
            exceptions.open_exception,
            exceptions.close_exception,
        ],
        max_concurrent_activities=settings.worker.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.worker.max_concurrent_workflow_tasks,
        max_cached_workflows=settings.worker.max_cached_workflows,
        # Tracing comes with the client's interceptors; this adds per-activity metrics and log ids.
        interceptors=[ActivityTelemetryInterceptor()],
    )


async def prune_history(clients: Clients) -> None:
    while True:
        try:
            removed = await budgets.prune_history(clients)
            if removed:
                log.info("budget history pruned", rows=removed)
        except DatabaseUnavailable as exc:
            log.warning("history pruning skipped", error=str(exc))
        await asyncio.sleep(3600)


async def run_worker(settings: Settings) -> None:
    if settings.worker.metrics_port:
        start_http_server(settings.worker.metrics_port, addr="0.0.0.0")
    configure_tracing("sla-management-worker")
    clients = Clients.open(settings, temporal=await connect(settings))
    publisher = KafkaPublisher(settings.kafka)
    relay = OutboxRelay(clients.outbox, publisher, settings.kafka)
    enforcer = build_enforcer(settings)
    notifier = NotificationRelay(
        clients.notifications, settings.notifications, Secrets(secret_reader(settings, enforcer))
    )
    telemetry = dependency_refresher(clients)
    worker = await build_worker(clients, relay=relay, notifier=notifier, enforcer=enforcer)
    log.info("worker starting", task_queue=settings.temporal.task_queue, temporal=settings.temporal.address)
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(relay.run())
            group.create_task(notifier.run())
            group.create_task(prune_history(clients))
            group.create_task(telemetry.run())
            group.create_task(ensure_loops(clients))
            await worker.run()
    finally:
        await telemetry.aclose()
        shutdown_tracing()
        with contextlib.suppress(Exception):
            await publisher.aclose()
        await notifier.aclose()
        await clients.aclose()
