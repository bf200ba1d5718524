"""Activities of the policy workflow: load what it watches, record freezes, enforce them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog
from temporalio import activity

from sla_management.activities.models import EnforceInput, EnforceResult
from sla_management.activities.notices import Herald
from sla_management.adapters.postgres import (
    AuditRepository,
    BudgetRepository,
    ExceptionRepository,
    FreezeRepository,
    OutboxEvent,
    SLORepository,
)
from sla_management.config import KafkaSettings
from sla_management.domain import notices
from sla_management.domain.freeze import FreezeEvent, FreezeException
from sla_management.domain.policy import Observation, Policy, Scope
from sla_management.observability import metrics

if TYPE_CHECKING:
    from sla_management.adapters.kubernetes import KubernetesEnforcer

log = structlog.get_logger(__name__)

# Each activity is named after its method (`@activity.defn` without a name): the workflows call
# them by reference, and committed histories record an activity by that name, so a method is
# renamed only with a `workflow.patched` step and a replay test.


def freeze_event(event: FreezeEvent, kind: str, settings: KafkaSettings) -> OutboxEvent:
    return OutboxEvent.envelope(
        settings.freeze_topic,
        # Derived from the freeze id, so a retried activity writes the same event id.
        event_id=uuid.uuid5(uuid.UUID(event.id), kind),
        event_type=kind,
        key=event.policy_id,
        service_name=event.target if event.scope is Scope.SERVICE else "",
        severity="critical" if kind == "FREEZE_ACTIVATED" else "info",
        body={"freeze": event.model_dump(mode="json", by_alias=True)},
    )


class FreezeActivities:
    def __init__(
        self,
        *,
        slos: SLORepository,
        budgets: BudgetRepository,
        freezes: FreezeRepository,
        exceptions: ExceptionRepository,
        audit: AuditRepository,
        kafka: KafkaSettings,
        herald: Herald,
        enforcer: KubernetesEnforcer | None,
        published: Callable[[], None] | None = None,
    ) -> None:
        self._slos = slos
        self._budgets = budgets
        self._freezes = freezes
        self._exceptions = exceptions
        self._herald = herald
        self._audit_log = audit
        self._kafka = kafka
        self._enforcer = enforcer
        self._wake = published

    def _published(self) -> None:
        if self._wake is not None:
            self._wake()

    async def _audit(self, action: str, event: FreezeEvent, before: FreezeEvent | None) -> None:
        # A retried activity may write its decision twice; the trail then shows both attempts.
        await self._audit_log.record(
            actor=f"policy-workflow:{event.policy_id}",
            role="system",
            action=action,
            resource_type="freeze",
            resource_id=event.id,
            before=before.model_dump(mode="json", by_alias=True) if before else None,
            after=event.model_dump(mode="json", by_alias=True),
            request_id=activity.info().workflow_id,
        )

    @activity.defn
    async def load_observations(self, policy: Policy) -> list[Observation]:
        watched = {s.id: s for s in await self._slos.all() if policy.covers(s)}
        budgets = await self._budgets.current_of(list(watched))
        return [Observation.of(b, watched[b.slo_id].name) for b in budgets]

    @activity.defn
    async def open_freeze(self, event: FreezeEvent) -> FreezeEvent:
        kafka_event = freeze_event(event, "FREEZE_ACTIVATED", self._kafka)
        notes = await self._herald.notices(
            event.policy_id, kafka_event.event_id, lambda p, links: notices.freeze_opened(event, p, links)
        )
        stored = await self._freezes.open(event, [kafka_event], notes)
        self._published()
        await self._audit("freeze.activate", event, before=None)
        metrics.FREEZES_ACTIVATED.labels(scope=event.scope.value).inc()
        log.warning(
            "freeze activated",
            freeze_id=event.id,
            policy_id=event.policy_id,
            scope=event.scope.value,
            target=event.target,
            reason=event.reason,
        )
        return stored

    @activity.defn
    async def close_freeze(self, event: FreezeEvent) -> FreezeEvent:
        assert event.resolved_at is not None and event.resolved_by is not None
        kafka_event = freeze_event(event, "FREEZE_RESOLVED", self._kafka)
        notes = await self._herald.notices(
            event.policy_id, kafka_event.event_id, lambda p, links: notices.freeze_resolved(event, p, links)
        )
        closed = await self._freezes.close(
            event.id, event.resolved_at, event.resolved_by, event.resolution or "", [kafka_event], notes
        )
        self._published()
        await self._audit("freeze.end", closed or event, before=event)
        metrics.FREEZES_RESOLVED.labels(
            scope=event.scope.value, by="auto" if event.resolved_by == "auto-unfreeze" else "manual"
        ).inc()
        if closed is not None and closed.resolved_at is not None:
            metrics.FREEZE_DURATION.observe((closed.resolved_at - closed.activated_at).total_seconds())
        log.info(
            "freeze resolved", freeze_id=event.id, policy_id=event.policy_id, resolved_by=event.resolved_by
        )
        return closed or event

    @activity.defn
    async def rescope_freeze(self, event: FreezeEvent) -> FreezeEvent:
        return await self._freezes.rescope(event.id, event.namespaces) or event

    @activity.defn
    async def enforce_freezes(self, inp: EnforceInput) -> EnforceResult:
        """Make Kubernetes match the active freezes and exceptions in PostgreSQL for these
        namespaces (and the service's workloads). Reconciling from the records, rather than
        applying one event, keeps overlapping freezes and exceptions right when one ends."""
        if self._enforcer is None:
            return EnforceResult(skipped="no Kubernetes API configured (KUBERNETES__ENABLED=false)")
        from sla_management.adapters.kubernetes import EXCEPTION_ANNOTATIONS

        active = [f for f in await self._freezes.active() if f.blocks]
        now = datetime.now(UTC)
        granted = [e for e in await self._exceptions.open_ones() if e.active_at(now)]
        touched: list[str] = []
        for namespace in inp.namespaces:
            covering = [f for f in active if f.scope is not Scope.SERVICE and f.applies_to(namespace, None)]
            whole = [e for e in granted if e.namespace == namespace and e.service is None]
            if await self._enforcer.annotate_namespace(namespace, _annotations(covering)):
                touched.append(f"Namespace/{namespace}")
            await self._enforcer.annotate_namespace(
                namespace, _exception_annotations(whole), managed=EXCEPTION_ANNOTATIONS
            )
            if inp.service:
                on_service = [
                    f
                    for f in active
                    if f.scope is Scope.SERVICE and f.target == inp.service and namespace in f.namespaces
                ]
                objects = await self._enforcer.annotate_workloads(
                    namespace, inp.service, _annotations(on_service)
                )
                touched.extend(f"{namespace}/{name}" for name in objects)
                passes = [e for e in granted if e.namespace == namespace and e.service == inp.service]
                await self._enforcer.annotate_workloads(
                    namespace, inp.service, _exception_annotations(passes), managed=EXCEPTION_ANNOTATIONS
                )
        return EnforceResult(touched=touched)


def _annotations(freezes: list[FreezeEvent]) -> dict[str, str] | None:
    if not freezes:
        return None
    from sla_management.adapters.kubernetes import freeze_annotations

    first = min(freezes, key=lambda f: f.activated_at)
    return freeze_annotations(first.policy_id, first.id, first.reason, first.activated_at)


def _exception_annotations(exceptions: list[FreezeException]) -> dict[str, str] | None:
    if not exceptions:
        return None
    from sla_management.adapters.kubernetes import exception_annotations

    # Overlapping exceptions: the one that lasts longest is shown (and removed last).
    last = max(exceptions, key=lambda e: e.expires_at)
    return exception_annotations(last.id, last.granted_by, last.expires_at)
