"""Freezes: the deploy gate, what is frozen and was, and resolving a freeze by hand."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import Field

from sla_management.control import audit
from sla_management.control.audit import Actor
from sla_management.control.clients import Clients
from sla_management.domain.freeze import FreezeEvent
from sla_management.domain.slo import CamelModel
from sla_management.errors import Conflict, Invalid, NotFound, echo
from sla_management.workflows import client as loops
from sla_management.workflows.models import ResolveRequest

# A Kubernetes namespace name (DNS-1123 label), so lower case: `SHOP` can never be frozen, and
# answering "allowed" for it would be a silent wrong answer.
NAMESPACE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


class GateAnswer(CamelModel):
    allowed: bool
    namespace: str | None
    service: str | None
    freezes: list[FreezeEvent] = Field(default_factory=list)


async def gate(clients: Clients, namespace: str | None, service: str | None) -> GateAnswer:
    """May `service` be deployed into `namespace` now? Answered from memory, refreshed by
    PostgreSQL notifications (adapters/active_freezes.py)."""
    # A deploy always goes to a namespace; without it a freeze on that namespace could not be
    # seen, and the gate would allow what it cannot judge.
    if not namespace:
        raise Invalid(
            "query.namespace",
            "give the namespace the deploy goes to: freezes on it cannot be checked without it",
        )
    if not NAMESPACE_NAME.fullmatch(namespace):
        raise Invalid(
            "query.namespace",
            f"{echo(namespace)} is not a Kubernetes namespace name (DNS-1123 label: at most 63 lower-case "
            "letters, digits and '-', starting and ending with a letter or digit)",
        )
    active = await clients.active_freezes.get()
    # ALERT_ONLY freezes are on record but never block a deploy.
    blocking = [f for f in active if f.blocks and f.applies_to(namespace, service)]
    return GateAnswer(allowed=not blocking, namespace=namespace, service=service, freezes=blocking)


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


async def resolve_freeze(
    clients: Clients, event_id: str, reason: str, resolved_by: str, actor: Actor
) -> FreezeEvent:
    """End a freeze now, through its policy's workflow (the single writer of its freezes). The
    policy may freeze again after `minFreezeMinutes` if the budget is still low."""
    freeze = await clients.freezes.get(event_id)
    if freeze is None:
        raise NotFound(f"no freeze with id {echo(event_id)}")
    if not freeze.active:
        raise Conflict(
            f"freeze {event_id} was already resolved by {freeze.resolved_by} at {freeze.resolved_at}"
        )
    resolved = await loops.resolve_freeze(
        await clients.temporal(),
        freeze.policy_id,
        ResolveRequest(resolved_by=resolved_by, reason=reason, event_id=event_id),
    )
    await audit.record(clients, actor, "freeze.resolve", "freeze", event_id, before=freeze, after=resolved)
    return resolved


async def covering(clients: Clients, namespace: str, service: str) -> FreezeEvent | None:
    """The earliest active freeze on that service, from the same in-memory copy the gate reads.
    Raises DatabaseUnavailable."""
    return next((f for f in await clients.active_freezes.get() if f.applies_to(namespace, service)), None)
