"""Freezes: the deploy gate, what is frozen and was, and resolving a freeze by hand."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from pydantic import Field

from sla_management.activities.notices import pending
from sla_management.adapters.postgres import BreakGlassUse, OutboxEvent
from sla_management.control import audit
from sla_management.control.audit import Actor
from sla_management.control.clients import Clients
from sla_management.domain import notices
from sla_management.domain.freeze import FreezeEvent, FreezeException
from sla_management.domain.freeze import gate as decide_gate
from sla_management.domain.limits import is_namespace
from sla_management.domain.notices import Links
from sla_management.domain.slo import CamelModel
from sla_management.errors import Conflict, Invalid, NotFound, echo
from sla_management.workflows import client as loops
from sla_management.workflows.models import ResolveRequest

# A Kubernetes namespace name (DNS-1123 label), so lower case: `SHOP` can never be frozen, and
# answering "allowed" for it would be a silent wrong answer.


class GateAnswer(CamelModel):
    allowed: bool
    namespace: str | None
    service: str | None
    # The freezes that apply; when `allowed` is true with freezes, the exceptions say why.
    freezes: list[FreezeEvent] = Field(default_factory=list)
    exceptions: list[FreezeException] = Field(default_factory=list)


async def gate(clients: Clients, namespace: str | None, service: str | None) -> GateAnswer:
    """May `service` be deployed into `namespace` now? Answered from memory, refreshed by
    PostgreSQL notifications (adapters/postgres/active_freezes.py)."""
    # A deploy always goes to a namespace; without it a freeze on that namespace could not be
    # seen, and the gate would allow what it cannot judge.
    if not namespace:
        raise Invalid(
            "query.namespace",
            "give the namespace the deploy goes to: freezes on it cannot be checked without it",
        )
    if not is_namespace(namespace):
        raise Invalid(
            "query.namespace",
            f"{echo(namespace)} is not a Kubernetes namespace name (DNS-1123 label: at most 63 lower-case "
            "letters, digits and '-', starting and ending with a letter or digit)",
        )
    active, exceptions = await clients.active_freezes.with_exceptions()
    verdict = decide_gate(active, exceptions, namespace, service, datetime.now(UTC))
    if verdict.exceptions:
        # A deploy let through a freeze is counted on the exception that let it (rare: no cost
        # on the gate's usual path).
        await clients.exceptions.count_deploy([e.id for e in verdict.exceptions])
    return GateAnswer(
        allowed=verdict.allowed,
        namespace=namespace,
        service=service,
        freezes=verdict.freezes,
        exceptions=verdict.exceptions,
    )


async def active_freezes(clients: Clients) -> list[FreezeEvent]:
    return await clients.freezes.active()


async def freeze_history(
    clients: Clients,
    *,
    target: str | None = None,
    policy_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 1000,
) -> list[FreezeEvent]:
    if start and end and start > end:
        raise Invalid("query.from", "`from` must not be after `to`")
    return await clients.freezes.history(
        target=target, policy_id=policy_id, start=start, end=end, limit=limit
    )


class ResolvedFreeze(FreezeEvent):
    """A freeze ended by hand, and how long its policy holds off freezing again."""

    holds_until: datetime
    warning: str | None = None


async def resolve_freeze(
    clients: Clients,
    event_id: str,
    reason: str,
    resolved_by: str,
    actor: Actor,
    *,
    hold_minutes: int | None = None,
) -> ResolvedFreeze:
    """End a freeze now, through its policy's workflow (the single writer of its freezes). The
    policy does not freeze again for `hold_minutes` (default: its minFreezeMinutes)."""
    freeze = await clients.freezes.get(event_id)
    if freeze is None:
        raise NotFound(f"no freeze with id {echo(event_id)}")
    if not freeze.active:
        raise Conflict(
            f"freeze {event_id} was already resolved by {freeze.resolved_by} at {freeze.resolved_at}"
        )
    policy = await clients.policies.get(freeze.policy_id)
    hold = hold_minutes if hold_minutes is not None else (policy.min_freeze_minutes if policy else 0)
    resolved = await loops.resolve_freeze(
        await clients.temporal(),
        freeze.policy_id,
        ResolveRequest(resolved_by=resolved_by, reason=reason, event_id=event_id, hold_minutes=hold),
    )
    await audit.record(clients, actor, "freeze.resolve", "freeze", event_id, before=freeze, after=resolved)
    at = resolved.resolved_at or datetime.now(UTC)
    warning = None
    if hold == 0:
        warning = (
            "the policy holds off for 0 minutes: it freezes again at its next evaluation if a watched "
            "budget is still low; pass holdMinutes to keep the resolve for a while"
        )
    return ResolvedFreeze(**resolved.model_dump(), holds_until=at + timedelta(minutes=hold), warning=warning)


async def covering(clients: Clients, namespace: str, service: str) -> FreezeEvent | None:
    """The earliest active freeze on that service, from the same in-memory copy the gate reads.
    Raises DatabaseUnavailable."""
    return next((f for f in await clients.active_freezes.get() if f.applies_to(namespace, service)), None)


class BreakGlass(CamelModel):
    workload: Workload
    override: str
    freeze_id: str


class Workload(CamelModel):
    """A Deployment or StatefulSet as the operator sees it."""

    kind: str
    namespace: str
    name: str
    uid: str
    labels: dict[str, str] = Field(default_factory=dict)


async def record_break_glass(clients: Clients, workload: Workload, override: str, links: Links) -> int:
    """A workload carries `neural-hive.io/freeze-override` while a freeze blocks it: record the
    use (once per workload, override text and freeze) in the audit trail, on
    `sla.freeze.events` and to the policy's notify targets. Returns how many uses were new."""
    services = {workload.name, workload.labels.get("app.kubernetes.io/name", workload.name)}
    blocking = [
        f
        for f in await clients.active_freezes.get()
        if f.blocks and any(f.applies_to(workload.namespace, s) for s in services)
    ]
    new = 0
    for freeze in blocking:
        use = BreakGlassUse(
            object_uid=workload.uid,
            override=override,
            freeze_id=freeze.id,
            kind=workload.kind,
            namespace=workload.namespace,
            name=workload.name,
        )
        event_id = uuid.uuid5(uuid.UUID(freeze.id), f"break-glass:{workload.uid}:{override}")
        event = OutboxEvent.envelope(
            clients.settings.kafka.freeze_topic,
            event_id=event_id,
            event_type="FREEZE_OVERRIDDEN",
            key=freeze.policy_id,
            service_name=workload.name,
            severity="warning",
            body={
                "freezeId": freeze.id,
                "workload": workload.model_dump(mode="json", by_alias=True),
                "override": override,
            },
        )
        policy = await clients.policies.get(freeze.policy_id)
        at = datetime.now(UTC)
        notes = (
            pending(
                policy,
                notices.break_glass(
                    freeze,
                    policy,
                    f"{workload.kind}/{workload.namespace}/{workload.name}",
                    override,
                    links,
                    at,
                ),
                event_id,
            )
            if policy is not None
            else []
        )
        if await clients.break_glass.record(use, [event], notes):
            new += 1
            await audit.record(
                clients,
                Actor("kubernetes-operator", "system"),
                "freeze.break-glass",
                "freeze",
                freeze.id,
                after=BreakGlass(workload=workload, override=override, freeze_id=freeze.id),
            )
    return new
