"""Freeze events: the durable record of why deploys were blocked and who ended it."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from sla_management.domain.policy import Observation, Policy, Scope
from sla_management.domain.slo import CamelModel


class FreezeEvent(CamelModel):
    id: str
    policy_id: str
    policy_name: str
    scope: Scope
    target: str
    # Namespaces the freeze applies to (NAMESPACE: the target; SERVICE and GLOBAL: those of the
    # watched SLOs). The gate and the Kubernetes annotations are derived from this.
    namespaces: list[str] = Field(default_factory=list)
    blocks: bool
    triggering: list[Observation]
    reason: str
    activated_at: datetime
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution: str | None = None

    @property
    def active(self) -> bool:
        return self.resolved_at is None

    def applies_to(self, namespace: str | None, service: str | None) -> bool:
        """Whether a deploy of `service` into `namespace` falls under this freeze."""
        if self.scope is Scope.GLOBAL:
            return namespace is None or not self.namespaces or namespace in self.namespaces
        if self.scope is Scope.NAMESPACE:
            return namespace == self.target
        return service == self.target and (
            namespace is None or not self.namespaces or namespace in self.namespaces
        )


def freeze_namespaces(policy: Policy, observations: list[Observation]) -> list[str]:
    if policy.scope is Scope.NAMESPACE:
        return [policy.target]
    return sorted({o.namespace for o in observations})
