"""Freeze events: the durable record of why deploys were blocked and who ended it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

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


class ExceptionEnding(StrEnum):
    REVOKED = "revoked"
    EXPIRED = "expired"
    POLICY_DELETED = "policy deleted"


class FreezeException(CamelModel):
    """Leave to deploy one namespace (or one service in it) through the freezes that block it,
    until `expires_at`: the P0 or security fix an error-budget policy lets through. The freeze
    stays in force and on record; the policy whose freeze it was granted against holds the
    expiry on a durable timer."""

    id: str
    namespace: str
    service: str | None = None  # None: the whole namespace
    reason: str
    ticket: str | None = None
    granted_by: str
    granted_at: datetime
    expires_at: datetime
    policy_id: str
    freeze_id: str
    ended_at: datetime | None = None
    ended_by: str | None = None
    ending: ExceptionEnding | None = None
    # Deploys the gate let through because of it.
    deploys: int = 0

    def active_at(self, now: datetime) -> bool:
        return self.ended_at is None and now < self.expires_at

    def covers(self, namespace: str | None, service: str | None) -> bool:
        """Whether a deploy of `service` into `namespace` may pass under this exception."""
        if namespace != self.namespace:
            return False
        return self.service is None or service == self.service


class ExceptionEnd(CamelModel):
    exception_id: str
    ended_by: str
    ending: ExceptionEnding


class GateVerdict(CamelModel):
    allowed: bool
    freezes: list[FreezeEvent] = Field(default_factory=list)
    # The exceptions a deploy passes under; empty when nothing blocks it.
    exceptions: list[FreezeException] = Field(default_factory=list)


def gate(
    freezes: list[FreezeEvent],
    exceptions: list[FreezeException],
    namespace: str | None,
    service: str | None,
    now: datetime,
) -> GateVerdict:
    """May `service` be deployed into `namespace` now? Blocked by every active BLOCK_DEPLOY
    freeze that applies, unless an active exception covers the deploy. ALERT_ONLY freezes are on
    record but never block."""
    blocking = [f for f in freezes if f.active and f.blocks and f.applies_to(namespace, service)]
    if not blocking:
        return GateVerdict(allowed=True)
    passes = [e for e in exceptions if e.active_at(now) and e.covers(namespace, service)]
    return GateVerdict(allowed=bool(passes), freezes=blocking, exceptions=passes)
