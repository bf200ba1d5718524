"""Freeze policies: which SLOs a policy watches, and when it freezes or unfreezes. Pure.

Hysteresis keeps a freeze from flapping: it starts below `triggerThresholdPercent` and ends only
when every watched SLO is back at or above `unfreezeThresholdPercent`, and not before
`minFreezeMinutes`. Missing data (NO_DATA, UNKNOWN) never starts a freeze and never ends one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Protocol, Self

from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from sla_management.domain.budget import BudgetStatus, BurnLevel, ErrorBudget
from sla_management.domain.channels import NotifyTarget
from sla_management.domain.limits import (
    NAME_MAX_CHARS,
    SELECTOR_ITEMS_MAX,
    Description,
    Finite,
    Labels,
    Name,
    Namespace,
    StrictBool,
    StrictInt,
)
from sla_management.domain.slo import CamelModel, ManagedBy


class Scope(StrEnum):
    NAMESPACE = "NAMESPACE"
    SERVICE = "SERVICE"
    GLOBAL = "GLOBAL"


class Action(StrEnum):
    BLOCK_DEPLOY = "BLOCK_DEPLOY"  # annotate in Kubernetes; the admission policy and gate block
    ALERT_ONLY = "ALERT_ONLY"  # record and publish, never block


class Selectable(Protocol):
    """What a selector reads of an SLO (an `SLO`, or the few fields an activity has)."""

    @property
    def namespace(self) -> str: ...
    @property
    def service_name(self) -> str: ...
    @property
    def layer(self) -> str | None: ...
    @property
    def labels(self) -> dict[str, str]: ...


class SLOSelector(CamelModel):
    """Narrows the SLOs a policy watches; every given list must match (lists are ORs)."""

    service_names: Annotated[list[Name], Field(max_length=SELECTOR_ITEMS_MAX)] = Field(default_factory=list)
    namespaces: Annotated[list[Namespace], Field(max_length=SELECTOR_ITEMS_MAX)] = Field(default_factory=list)
    layers: Annotated[list[Name], Field(max_length=SELECTOR_ITEMS_MAX)] = Field(default_factory=list)
    labels: Labels = Field(default_factory=dict)

    def matches(self, slo: Selectable) -> bool:
        return (
            (not self.service_names or slo.service_name in self.service_names)
            and (not self.namespaces or slo.namespace in self.namespaces)
            and (not self.layers or (slo.layer or "") in self.layers)
            and all(slo.labels.get(k) == v for k, v in self.labels.items())
        )


Percent = Annotated[Finite, Field(ge=0, le=100)]


def _distinct(actions: list[Action]) -> list[Action]:
    repeated = sorted({a.value for a in actions if actions.count(a) > 1})
    if repeated:
        raise ValueError(f"each action at most once ({', '.join(repeated)} is repeated)")
    return actions


# The namespace or the service; which of the two is checked with the scope.
PolicyTarget = Annotated[str, StringConstraints(max_length=NAME_MAX_CHARS)]
_TARGET_RULES = {Scope.NAMESPACE: TypeAdapter(Namespace), Scope.SERVICE: TypeAdapter(Name)}


class PolicySpec(CamelModel):
    """REST body and `SLAPolicy` CRD spec. Omitted thresholds take the POLICY__ settings."""

    name: Name
    scope: Scope
    target: PolicyTarget = ""
    actions: Annotated[list[Action], Field(min_length=1), AfterValidator(_distinct)] = Field(
        default_factory=lambda: [Action.BLOCK_DEPLOY]
    )
    trigger_threshold_percent: Percent | None = None
    auto_unfreeze: StrictBool | None = None
    unfreeze_threshold_percent: Percent | None = None
    slo_selector: SLOSelector | None = None
    trigger_on_burn_level: BurnLevel | None = None
    min_freeze_minutes: Annotated[StrictInt, Field(ge=0, le=10080)] = 30
    # Longest freeze exception a responder may grant against this policy's freezes.
    max_exception_minutes: Annotated[StrictInt, Field(ge=1, le=10080)] = 240
    notify: Annotated[list[NotifyTarget], Field(max_length=10)] = Field(default_factory=list)
    description: Description | None = None

    @field_validator("target")
    @classmethod
    def _target_fits_scope(cls, target: str, info: ValidationInfo) -> str:
        # The target is an SLO's namespace or service, so it follows the same rules.
        # A service is trimmed as SLOs' services are; a namespace must already be a name.
        scope = info.data.get("scope")
        if scope is Scope.SERVICE:
            target = target.strip()
        rules = _TARGET_RULES.get(scope)  # type: ignore[arg-type]
        if rules is not None and target:
            try:
                rules.validate_python(target)
            except ValidationError as exc:
                raise PydanticCustomError("target", exc.errors()[0]["msg"]) from None
        return target

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.scope is Scope.GLOBAL:
            if self.target:
                raise ValueError("a GLOBAL policy has no target (leave it empty)")
        elif not self.target:
            raise ValueError(f"a {self.scope.value} policy needs a target (the {self.scope.value.lower()})")
        if self.trigger_on_burn_level in (BurnLevel.NO_DATA, BurnLevel.UNKNOWN, BurnLevel.NORMAL):
            raise ValueError("triggerOnBurnLevel must be ELEVATED, FAST or CRITICAL")
        if (
            self.trigger_threshold_percent is not None
            and self.unfreeze_threshold_percent is not None
            and self.unfreeze_threshold_percent < self.trigger_threshold_percent
        ):
            raise ValueError("unfreezeThresholdPercent must not be below triggerThresholdPercent")
        return self

    def with_defaults(self, freeze_percent: float, unfreeze_percent: float, auto_unfreeze: bool) -> Self:
        trigger = (
            self.trigger_threshold_percent if self.trigger_threshold_percent is not None else freeze_percent
        )
        unfreeze = (
            self.unfreeze_threshold_percent
            if self.unfreeze_threshold_percent is not None
            else unfreeze_percent
        )
        if unfreeze < trigger:
            raise ValueError("unfreezeThresholdPercent must not be below triggerThresholdPercent")
        return self.model_copy(
            update={
                "trigger_threshold_percent": trigger,
                "unfreeze_threshold_percent": unfreeze,
                "auto_unfreeze": self.auto_unfreeze if self.auto_unfreeze is not None else auto_unfreeze,
            }
        )


class Policy(PolicySpec):
    id: str
    managed_by: ManagedBy = ManagedBy.API
    created_at: datetime
    updated_at: datetime

    @property
    def workflow_id(self) -> str:
        return policy_workflow_id(self.id)

    @property
    def blocks(self) -> bool:
        return Action.BLOCK_DEPLOY in self.actions

    def covers(self, slo: Selectable) -> bool:
        """By default a policy watches its own target: the SLOs of that namespace or service,
        or all SLOs for GLOBAL; `sloSelector` narrows that further."""
        if self.scope is Scope.NAMESPACE and slo.namespace != self.target:
            return False
        if self.scope is Scope.SERVICE and slo.service_name != self.target:
            return False
        return self.slo_selector is None or self.slo_selector.matches(slo)


def policy_workflow_id(policy_id: str) -> str:
    return f"policy-{policy_id}"


class Observation(CamelModel):
    """The part of an SLO's budget a policy decides on."""

    slo_id: str
    slo_name: str = ""
    service_name: str = ""
    namespace: str = "default"
    status: BudgetStatus
    remaining_percent: float | None
    burn_level: BurnLevel
    calculated_at: datetime

    @classmethod
    def of(cls, budget: ErrorBudget, slo_name: str = "") -> Observation:
        return cls(
            slo_id=budget.slo_id,
            slo_name=slo_name,
            service_name=budget.service_name,
            namespace=budget.namespace,
            status=budget.status,
            remaining_percent=budget.remaining_percent,
            burn_level=budget.burn_level,
            calculated_at=budget.calculated_at,
        )

    @property
    def has_data(self) -> bool:
        return self.status.has_data and self.remaining_percent is not None


class Verdict(StrEnum):
    FREEZE = "FREEZE"
    UNFREEZE = "UNFREEZE"
    HOLD = "HOLD"  # frozen and staying frozen
    NONE = "NONE"  # not frozen and no reason to be


class Decision(CamelModel):
    verdict: Verdict
    reason: str
    triggering: list[Observation] = Field(default_factory=list)
    # When a HOLD can next turn into UNFREEZE on time alone (minFreezeMinutes).
    recheck_at: datetime | None = None


def _breaches(policy: PolicySpec, obs: Observation) -> str | None:
    if not obs.has_data:
        return None
    trigger = policy.trigger_threshold_percent
    assert trigger is not None, "defaults are resolved before decisions"
    if obs.remaining_percent is not None and obs.remaining_percent < trigger:
        return f"{obs.slo_name or obs.slo_id}: {obs.remaining_percent:.1f}% budget left (< {trigger:g}%)"
    level = policy.trigger_on_burn_level
    if level is not None and obs.burn_level.rank >= level.rank:
        return f"{obs.slo_name or obs.slo_id}: burn level {obs.burn_level.value} (>= {level.value})"
    return None


def _recovered(policy: PolicySpec, obs: Observation) -> bool:
    unfreeze = policy.unfreeze_threshold_percent
    assert unfreeze is not None, "defaults are resolved before decisions"
    if not obs.has_data or obs.remaining_percent is None or obs.remaining_percent < unfreeze:
        return False
    level = policy.trigger_on_burn_level
    return level is None or obs.burn_level.rank < level.rank


def decide(
    policy: PolicySpec,
    observations: list[Observation],
    *,
    frozen_since: datetime | None,
    now: datetime,
    suppressed_until: datetime | None = None,
) -> Decision:
    if frozen_since is None:
        if suppressed_until is not None and now < suppressed_until:
            return Decision(
                verdict=Verdict.NONE,
                reason="resolved by hand; re-evaluated later",
                recheck_at=suppressed_until,
            )
        reasons = [(obs, why) for obs in observations if (why := _breaches(policy, obs)) is not None]
        if reasons:
            return Decision(
                verdict=Verdict.FREEZE,
                reason="; ".join(why for _, why in reasons),
                triggering=[obs for obs, _ in reasons],
            )
        return Decision(verdict=Verdict.NONE, reason="every watched SLO is within budget or has no data")

    if not policy.auto_unfreeze:
        return Decision(verdict=Verdict.HOLD, reason="autoUnfreeze is off: resolve by hand")
    lagging = [obs for obs in observations if not _recovered(policy, obs)]
    if lagging or not observations:
        names = ", ".join(o.slo_name or o.slo_id for o in lagging) or "no SLO reported"
        return Decision(verdict=Verdict.HOLD, reason=f"not recovered yet: {names}")
    earliest = frozen_since + timedelta(minutes=policy.min_freeze_minutes)
    if now < earliest:
        return Decision(
            verdict=Verdict.HOLD, reason="recovered; minFreezeMinutes not reached", recheck_at=earliest
        )
    return Decision(
        verdict=Verdict.UNFREEZE,
        reason=f"every watched SLO is at or above {policy.unfreeze_threshold_percent:g}% budget",
    )


def band(policy: PolicySpec, obs: Observation | None) -> tuple[bool, bool, bool] | None:
    """What a policy can tell apart about one SLO. SLO loops signal a policy only when this
    changes, so a steady budget costs the policy nothing."""
    if obs is None:
        return None
    return obs.has_data, _breaches(policy, obs) is not None, _recovered(policy, obs)


# Statuses an SLO's watching policies tell their notify targets about, in order of gravity.
_GRAVITY = {
    BudgetStatus.HEALTHY: 0,
    BudgetStatus.WARNING: 1,
    BudgetStatus.CRITICAL: 2,
    BudgetStatus.EXHAUSTED: 3,
}


def status_worsened(previous: Observation | None, now: Observation) -> bool:
    """Whether the SLO just entered WARNING, CRITICAL or EXHAUSTED from a better status. A
    status after missing data is no crossing (nobody knows what it crossed from), so an outage of
    Prometheus does not notify anyone twice."""
    after = _GRAVITY.get(now.status, 0)
    if after == 0:
        return False
    if previous is None:
        return True
    before = _GRAVITY.get(previous.status)
    return before is not None and after > before
