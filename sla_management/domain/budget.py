"""Error-budget math: pure functions over counts, no I/O.

Conventions (SRE workbook, ch. 5): the error budget is (1 - target) of the window's events or
slices; burn rate over w is the error ratio over w divided by (1 - target), so a burn rate of 1
spends exactly the whole budget over the whole SLO window.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import Field

from sla_management.domain.slo import SLO, BudgetingMethod, CamelModel

# BurnLevel and Thresholds are re-exported: callers know them as part of the budget's vocabulary.
from sla_management.domain.windows import BURN_WINDOWS
from sla_management.domain.windows import BurnLevel as BurnLevel
from sla_management.domain.windows import Thresholds as Thresholds


class BudgetStatus(StrEnum):
    HEALTHY = "HEALTHY"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"
    EXHAUSTED = "EXHAUSTED"
    NO_DATA = "NO_DATA"  # no traffic or no series: not an incident
    UNKNOWN = "UNKNOWN"  # the SLI could not be read: not an incident either

    @property
    def gauge(self) -> int:
        """The spec's `sla_budget_status` encoding (0..3); -1 for missing data."""
        return {"HEALTHY": 0, "WARNING": 1, "CRITICAL": 2, "EXHAUSTED": 3}.get(self.value, -1)

    @property
    def has_data(self) -> bool:
        return self not in (BudgetStatus.NO_DATA, BudgetStatus.UNKNOWN)


class Measurements(CamelModel):
    """What the SLI queries said, already folded into window totals."""

    budgeting_method: BudgetingMethod
    total_events: float | None = None
    bad_events: float | None = None
    # Ratio SLIs that only give a good ratio (no counts).
    good_ratio: float | None = None
    total_slices: int | None = None
    bad_slices: int | None = None
    # Error ratio per burn window name; None when that window had no data.
    error_ratios: dict[str, float | None] = Field(default_factory=dict)
    error: str | None = None


class ErrorBudget(CamelModel):
    slo_id: str
    service_name: str = ""
    namespace: str = "default"
    sli: float | None
    target: float
    window_days: int
    budgeting_method: BudgetingMethod
    total_events: float | None = None
    bad_events: float | None = None
    total_slices: int | None = None
    bad_slices: int | None = None
    consumed_percent: float | None
    remaining_percent: float | None
    status: BudgetStatus
    burn_rates: dict[str, float | None]
    burn_level: BurnLevel
    exhaustion_eta: datetime | None
    calculated_at: datetime
    error: str | None = None


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


# Floating point makes 1 - 0.999 inexact, so exactly 20 % left could read as 19.9999999 and
# flip a status; rounding far below any meaningful precision keeps boundaries where they are.
_PRECISION = 9


def occurrences_consumed_percent(bad: float, total: float, target: float) -> float | None:
    """Consumed % of the budget from exact event counts; None without traffic."""
    if total <= 0:
        return None
    return round(bad / total / (1 - target) * 100, _PRECISION)


def ratio_consumed_percent(good_ratio: float, target: float) -> float:
    return round((1 - good_ratio) / (1 - target) * 100, _PRECISION)


def timeslice_consumed_percent(bad_slices: int, total_slices: int, target: float) -> float | None:
    """Consumed % when the budget is `total_slices x (1 - target)` bad slices."""
    if total_slices <= 0:
        return None
    allowed = total_slices * (1 - target)
    return round(bad_slices / allowed * 100, _PRECISION)


def burn_rate(error_ratio: float | None, target: float) -> float | None:
    if error_ratio is None or not math.isfinite(error_ratio):
        return None
    return round(max(error_ratio, 0.0) / (1 - target), _PRECISION)


def burn_level(rates: dict[str, float | None], thresholds: Thresholds) -> BurnLevel:
    """Multi-window, multi-burn-rate: the long window says it matters, the short one that it
    is still happening. The most severe level whose rule holds wins (`domain/windows.py`)."""

    def at_least(window: str, threshold: float) -> bool:
        rate = rates.get(window)
        return rate is not None and rate >= threshold

    if all(rates.get(w) is None for w in BURN_WINDOWS):
        return BurnLevel.NO_DATA
    leveled = sorted(
        (r for r in thresholds.rules() if r.level is not None),
        key=lambda r: r.level.rank if r.level else 0,
        reverse=True,
    )
    for rule in leveled:
        if rule.level is not None and at_least(rule.long, rule.factor) and at_least(rule.short, rule.factor):
            return rule.level
    return BurnLevel.NORMAL


def budget_status(remaining_percent: float, thresholds: Thresholds) -> BudgetStatus:
    if remaining_percent <= 0:
        return BudgetStatus.EXHAUSTED
    if remaining_percent < thresholds.freeze_percent:
        return BudgetStatus.CRITICAL
    if remaining_percent < thresholds.unfreeze_percent:
        return BudgetStatus.WARNING
    return BudgetStatus.HEALTHY


def exhaustion_eta(
    remaining_percent: float | None, burn_rate_6h: float | None, window_days: int, now: datetime
) -> datetime | None:
    """When the budget hits zero if the 6h burn rate holds; None if not within the window."""
    if remaining_percent is None or burn_rate_6h is None or burn_rate_6h <= 0:
        return None
    if remaining_percent <= 0:
        return now
    window = timedelta(days=window_days)
    # Burn rate 1 spends 100 % of the budget in one window.
    to_zero = window * (remaining_percent / 100) / burn_rate_6h
    if to_zero > window:
        return None
    return now + to_zero


def compute_budget(
    *,
    slo_id: str,
    service_name: str,
    namespace: str,
    target: float,
    window_days: int,
    measurements: Measurements,
    thresholds: Thresholds,
    now: datetime,
) -> ErrorBudget:
    m = measurements
    burn_rates = {w: burn_rate(m.error_ratios.get(w), target) for w in BURN_WINDOWS}
    base = {
        "slo_id": slo_id,
        "service_name": service_name,
        "namespace": namespace,
        "target": target,
        "window_days": window_days,
        "budgeting_method": m.budgeting_method,
        "total_events": _finite(m.total_events),
        "bad_events": _finite(m.bad_events),
        "total_slices": m.total_slices,
        "bad_slices": m.bad_slices,
        "calculated_at": now,
    }
    if m.error is not None:
        return ErrorBudget(
            **base,
            sli=None,
            consumed_percent=None,
            remaining_percent=None,
            status=BudgetStatus.UNKNOWN,
            burn_rates={w: None for w in BURN_WINDOWS},
            burn_level=BurnLevel.UNKNOWN,
            exhaustion_eta=None,
            error=m.error,
        )

    sli: float | None = None
    consumed: float | None = None
    if m.budgeting_method is BudgetingMethod.TIMESLICES:
        if m.total_slices and m.bad_slices is not None:
            consumed = timeslice_consumed_percent(m.bad_slices, m.total_slices, target)
            sli = 1 - m.bad_slices / m.total_slices
    elif (total := _finite(m.total_events)) is not None and (bad := _finite(m.bad_events)) is not None:
        consumed = occurrences_consumed_percent(bad, total, target)
        if consumed is not None:
            sli = 1 - bad / total
    elif (ratio := _finite(m.good_ratio)) is not None:
        consumed = ratio_consumed_percent(ratio, target)
        sli = ratio

    if consumed is None or sli is None:
        return ErrorBudget(
            **base,
            sli=None,
            consumed_percent=None,
            remaining_percent=None,
            status=BudgetStatus.NO_DATA,
            burn_rates=burn_rates,
            burn_level=burn_level(burn_rates, thresholds),
            exhaustion_eta=None,
        )

    remaining = round(100 - consumed, _PRECISION)
    return ErrorBudget(
        **base,
        sli=sli,
        consumed_percent=consumed,
        remaining_percent=remaining,
        status=budget_status(remaining, thresholds),
        burn_rates=burn_rates,
        burn_level=burn_level(burn_rates, thresholds),
        exhaustion_eta=exhaustion_eta(remaining, burn_rates.get("6h"), window_days, now),
    )


def budget_of(slo: SLO, measurements: Measurements, thresholds: Thresholds, now: datetime) -> ErrorBudget:
    """The budget one pass of the SLO's loop (or a preview of it) reports."""
    return compute_budget(
        slo_id=slo.id,
        service_name=slo.service_name,
        namespace=slo.namespace,
        target=slo.target,
        window_days=slo.window_days,
        measurements=measurements,
        thresholds=thresholds,
        now=now,
    )


def unreadable(slo: SLO, reason: str) -> Measurements:
    """A pass whose SLI could not be read: UNKNOWN with the reason, never an incident."""
    return Measurements(budgeting_method=slo.budgeting_method or BudgetingMethod.OCCURRENCES, error=reason)
