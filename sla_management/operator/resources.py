"""The custom resources, converted at the edge: CR spec -> domain model, observations -> status.

Pure, as `domain/` is: no kopf, no clients, so the mapping and the status rules are tested on
their own. The CRDs live in infra/crds/; their schemas mirror the pydantic models used here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import ValidationError

from sla_management.domain.budget import BudgetStatus, ErrorBudget
from sla_management.domain.freeze import FreezeEvent
from sla_management.domain.policy import PolicySpec
from sla_management.domain.slo import SLOSpec
from sla_management.workflows.models import PolicyState

GROUP: Final = "neural-hive.io"
VERSION: Final = "v1"
SLO_PLURAL: Final = "slodefinitions"
POLICY_PLURAL: Final = "slapolicies"
# Keeps a resource until its workflow is cancelled and its row removed.
FINALIZER: Final = "neural-hive.io/sla-operator"
# kopf's bookkeeping (handler progress, last handled spec), apart from the freeze annotations.
ANNOTATION_PREFIX: Final = "sla.neural-hive.io"
COMPONENT: Final = "sla-management-operator"

Status = dict[str, Any]


class Rejected(Exception):
    """The resource cannot be applied as written; nothing but an edit will change that."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def explain(exc: ValidationError) -> str:
    """Pydantic's errors as one line with camelCase paths, as the REST API shows them."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def slo_spec_of(namespace: str, spec: Mapping[str, Any]) -> SLOSpec:
    """The SLO a resource describes. Its namespace is the resource's own, so an SLO cannot be
    declared into a namespace its author cannot write to."""
    if "namespace" in spec:
        raise Rejected(
            "InvalidSpec",
            "spec.namespace: not a field of SLODefinition; the SLO's namespace is the resource's own",
        )
    try:
        return SLOSpec.model_validate({**spec, "namespace": namespace})
    except ValidationError as exc:
        raise Rejected("InvalidSpec", explain(exc)) from exc


def policy_spec_of(spec: Mapping[str, Any]) -> PolicySpec:
    try:
        return PolicySpec.model_validate(dict(spec))
    except ValidationError as exc:
        raise Rejected("InvalidSpec", explain(exc)) from exc


# Status ------------------------------------------------------------------------------------


def timestamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rounded(value: float | None, digits: int) -> float | None:
    # Only what a person reads is kept: a budget drifting in the 5th decimal must not turn
    # every status pass into a PATCH of the resource.
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def budget_status(budget: ErrorBudget | None) -> Status:
    """The budget part of an SLODefinition status; keys set to None are removed by the patch."""
    if budget is None:
        return {"status": "PENDING", "remainingPercent": None, "burnLevel": None, "budget": None}
    return {
        "status": budget.status.value,
        "remainingPercent": _rounded(budget.remaining_percent, 1),
        "burnLevel": budget.burn_level.value,
        "budget": {
            "sli": _rounded(budget.sli, 5),
            "consumedPercent": _rounded(budget.consumed_percent, 1),
            "budgetingMethod": budget.budgeting_method.value,
            "burnRates": {window: _rounded(rate, 2) for window, rate in budget.burn_rates.items()},
            "exhaustionEta": timestamp(budget.exhaustion_eta) if budget.exhaustion_eta else None,
        },
    }


def freeze_status(freeze: FreezeEvent | None) -> Status:
    if freeze is None:
        return {"frozen": False, "activeFreeze": None}
    return {
        "frozen": True,
        "activeFreeze": {
            "id": freeze.id,
            "policyName": freeze.policy_name,
            "scope": freeze.scope.value,
            "target": freeze.target,
            "namespaces": list(freeze.namespaces),
            "reason": freeze.reason,
            "since": timestamp(freeze.activated_at),
        },
    }


def policy_state_status(state: PolicyState) -> Status:
    decision = state.last_decision
    return {
        **freeze_status(state.freeze),
        "watchedSLOs": len(state.observations),
        "lastDecision": {"verdict": decision.verdict.value, "reason": decision.reason} if decision else None,
    }


# Conditions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """One `status.conditions` entry, as metav1.Condition spells it."""

    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str
    message: str


def ready_condition(status: Mapping[str, Any], kind: str, workflow_role: str) -> Condition:
    """Ready: the spec as written is what runs. Derived from `error` and the stored id alone, so
    a status pass racing a reconcile repairs itself on its next run."""
    error = status.get("error")
    if isinstance(error, Mapping) and error.get("reason"):
        return Condition("Ready", "False", str(error["reason"]), str(error.get("message", "")))
    stored = status.get("sloId") or status.get("policyId")
    if stored:
        return Condition(
            "Ready",
            "True",
            "Applied",
            f"stored as {kind} {stored}; workflow {status.get('workflowId')} {workflow_role}",
        )
    return Condition("Ready", "Unknown", "Pending", "the operator has not applied this resource yet")


NOT_MEASURED = Condition("Degraded", "Unknown", "Pending", "nothing runs until the spec is applied")


def slo_degraded(problem: tuple[str, str] | None, budget: ErrorBudget | None) -> Condition:
    """Degraded: the loop cannot tell how the service is doing (not: the service is burning its
    budget, which `status`, `remainingPercent` and `burnLevel` say)."""
    if problem is not None:
        return Condition("Degraded", "True", *problem)
    if budget is None:
        return Condition("Degraded", "Unknown", "Pending", "the first budget is not calculated yet")
    if budget.status is BudgetStatus.UNKNOWN:
        return Condition("Degraded", "True", "SLIUnreadable", budget.error or "the SLI could not be read")
    if budget.status is BudgetStatus.NO_DATA:
        return Condition(
            "Degraded",
            "True",
            "NoData",
            "the SLI queries returned nothing for the window: no traffic, or no such series",
        )
    return Condition("Degraded", "False", "Measured", "the SLI is read and the budget calculated")


def policy_degraded(problem: tuple[str, str] | None) -> Condition:
    if problem is not None:
        return Condition("Degraded", "True", *problem)
    return Condition("Degraded", "False", "Evaluating", "the policy workflow runs and answers")


def conditions(previous: Any, wanted: list[Condition], now: datetime) -> list[dict[str, str]]:
    """`wanted` as a conditions list; lastTransitionTime moves only when a status flips, so an
    unchanged condition compares equal and costs no PATCH."""
    before = {c.get("type"): c for c in previous or [] if isinstance(c, Mapping)}
    result = []
    for cond in wanted:
        old = before.get(cond.type)
        since = old.get("lastTransitionTime") if old and old.get("status") == cond.status else None
        result.append(
            {
                "type": cond.type,
                "status": cond.status,
                "reason": cond.reason,
                "message": cond.message,
                "lastTransitionTime": since or timestamp(now),
            }
        )
    return result


def condition_of(status: Mapping[str, Any], type_: str) -> Condition | None:
    for c in status.get("conditions") or []:
        if isinstance(c, Mapping) and c.get("type") == type_:
            return Condition(type_, str(c.get("status")), str(c.get("reason")), str(c.get("message", "")))
    return None


# Patching only what changed ------------------------------------------------------------------


def _pruned(value: Any) -> Any:
    """A merge patch removes keys set to None: compare as the API server will store it."""
    if isinstance(value, Mapping):
        return {k: _pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def status_changes(
    current: Mapping[str, Any],
    desired: Status,
    *,
    volatile: Mapping[str, str | None] | None = None,
    max_age_seconds: float,
    now: datetime,
) -> Status:
    """The part of `desired` that differs from `current`. `volatile` fields (timestamps that
    move on every calculation) ride along with any other change, and alone only once the
    stored one is older than `max_age_seconds`. Empty: nothing worth a PATCH."""
    changes = {k: v for k, v in desired.items() if _pruned(current.get(k)) != _pruned(v)}
    volatile = dict(volatile or {})
    moved = {k: v for k, v in volatile.items() if current.get(k) != v}
    if changes:
        return {**changes, **moved}
    stale = False
    for key, value in moved.items():
        stored = current.get(key)
        if value is not None and stored is None:
            stale = True
        elif value is not None and isinstance(stored, str):
            try:
                age = (now - datetime.fromisoformat(stored.replace("Z", "+00:00"))).total_seconds()
            except ValueError:
                age = math.inf
            stale = stale or age >= max_age_seconds
    return moved if stale else {}
