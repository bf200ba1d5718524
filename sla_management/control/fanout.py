"""Which policies hear of an SLO's new budget: the step after a pass is recorded.

An SLO's loop signals a watching policy only when the budget crossed something that policy
decides on (`domain.policy.band`), so a steady budget costs the policies nothing.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from temporalio.client import Client

from sla_management.activities.models import RecordBudgetInput
from sla_management.activities.notices import pending
from sla_management.adapters.postgres import NotificationRepository, PolicyRepository
from sla_management.domain import notices
from sla_management.domain.notices import Links
from sla_management.domain.policy import Observation, Policy, band, status_worsened
from sla_management.observability import metrics
from sla_management.workflows import client as loops


@dataclass(frozen=True)
class _Selectable:
    namespace: str
    service_name: str
    layer: str | None
    labels: dict[str, str]


class PolicyDirectory:
    """Policies read from PostgreSQL at most every few seconds: every pass of every SLO asks
    which policies watch it."""

    def __init__(self, policies: PolicyRepository, ttl_seconds: float = 5.0) -> None:
        self._repository = policies
        self._ttl = ttl_seconds
        self._policies: list[Policy] = []
        self._loaded_at = float("-inf")

    async def all(self) -> list[Policy]:
        if time.monotonic() - self._loaded_at > self._ttl:
            self._policies = await self._repository.all()
            self._loaded_at = time.monotonic()
        return self._policies


class PolicyFanOut:
    def __init__(
        self,
        client: Client,
        policies: PolicyDirectory,
        task_queue: str,
        notifications: NotificationRepository,
        links: Links,
    ) -> None:
        self._client = client
        self._policies = policies
        self._task_queue = task_queue
        self._notifications = notifications
        self._links = links

    async def __call__(self, inp: RecordBudgetInput) -> None:
        budget = inp.budget
        probe = _Selectable(budget.namespace, budget.service_name, inp.layer, inp.labels)
        now = Observation.of(budget, inp.slo_name)
        worsened = status_worsened(inp.previous, now)
        for policy in await self._policies.all():
            if not policy.covers(probe):
                continue
            if worsened and policy.notify:
                # Ids derived from the pass's event id: a retried activity writes nothing twice.
                event_id = uuid.uuid5(uuid.UUID(inp.event_id), f"status-{policy.id}")
                await self._notifications.add(
                    pending(policy, notices.slo_status(now, policy, self._links), event_id)
                )
            if not inp.notify_policies and band(policy, inp.previous) == band(policy, now):
                continue
            await loops.start_policy(self._client, policy, self._task_queue, observe=now)
            metrics.POLICY_SIGNALS.inc()
