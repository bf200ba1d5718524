"""How soon an SLO's loop looks again: often when the budget is at risk, rarely when it is calm.

Most SLOs, most of the time, are healthy and far from any threshold a policy decides on;
evaluating them every 30 s buys nothing, while the few that burn need every pass. A sudden
outage on a calm SLO does not wait for the calm interval: the generated page alert fires in
Prometheus, Alertmanager posts it to the webhook, and the webhook wakes the loop at once. So a
calm budget may be up to one calm interval stale, and a fast burn still freezes on time.

An SLO is at risk, and keeps the short interval, when any of these holds:
- it has no budget yet, or its SLI could not be read (UNKNOWN: recover from an outage quickly);
- its burn level is ELEVATED or worse;
- its status is WARNING or worse;
- a freeze is in force over it (the unfreeze decision waits on its recovery);
- its remaining budget is within `margin_percent` of a threshold a watching policy decides on
  (a trigger or an unfreeze threshold).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from sla_management.domain.budget import BudgetStatus, ErrorBudget
from sla_management.domain.slo import CamelModel
from sla_management.domain.windows import BurnLevel


class Pace(StrEnum):
    AT_RISK = "AT_RISK"
    CALM = "CALM"


class Watch(CamelModel):
    """What the SLO's watching policies decide on, as the last recorded pass found them."""

    thresholds: list[float] = Field(default_factory=list)  # remaining % that matter
    frozen: bool = False


class Cadence(CamelModel):
    pace: Pace
    seconds: float
    reason: str


def cadence(
    budget: ErrorBudget | None,
    watch: Watch | None,
    *,
    at_risk_seconds: float,
    calm_seconds: float,
    margin_percent: float,
) -> Cadence:
    reason = _risk(budget, watch or Watch(), margin_percent)
    if reason is not None:
        return Cadence(pace=Pace.AT_RISK, seconds=at_risk_seconds, reason=reason)
    # The calm interval never shortens what settings ask for the risky ones.
    return Cadence(pace=Pace.CALM, seconds=max(calm_seconds, at_risk_seconds), reason="calm")


def _risk(budget: ErrorBudget | None, watch: Watch, margin: float) -> str | None:
    if budget is None:
        return "no budget yet"
    if budget.status is BudgetStatus.UNKNOWN:
        return "the SLI could not be read"
    if budget.burn_level.rank >= BurnLevel.ELEVATED.rank:
        return f"burn level {budget.burn_level.value}"
    if budget.status in (BudgetStatus.WARNING, BudgetStatus.CRITICAL, BudgetStatus.EXHAUSTED):
        return f"status {budget.status.value}"
    if watch.frozen:
        return "a freeze is in force over it"
    remaining = budget.remaining_percent
    if remaining is not None:
        for threshold in watch.thresholds:
            if abs(remaining - threshold) <= margin:
                return f"{remaining:.1f} % left, within {margin:g} points of a policy's {threshold:g} %"
    return None
