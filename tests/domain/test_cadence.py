"""The loop's pace: short when the budget is at risk, long when it is calm."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sla_management.domain.budget import BudgetStatus, BurnLevel, ErrorBudget
from sla_management.domain.cadence import Pace, Watch, cadence
from sla_management.domain.slo import BudgetingMethod


def budget(status: str = "HEALTHY", level: str = "NORMAL", remaining: float | None = 90.0) -> ErrorBudget:
    return ErrorBudget(
        slo_id="s",
        sli=0.999,
        target=0.99,
        window_days=30,
        budgeting_method=BudgetingMethod.OCCURRENCES,
        consumed_percent=None if remaining is None else 100 - remaining,
        remaining_percent=remaining,
        status=BudgetStatus(status),
        burn_rates={},
        burn_level=BurnLevel(level),
        exhaustion_eta=None,
        calculated_at=datetime(2026, 11, 30, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("the_budget", "watch", "pace", "why"),
    [
        pytest.param(None, None, Pace.AT_RISK, "no budget yet", id="first pass"),
        pytest.param(budget(), None, Pace.CALM, "calm", id="healthy, normal, nothing watching"),
        pytest.param(
            budget("UNKNOWN", "UNKNOWN", None), None, Pace.AT_RISK, "could not be read", id="Prometheus down"
        ),
        pytest.param(budget("NO_DATA", "NO_DATA", None), None, Pace.CALM, "calm", id="no traffic is calm"),
        pytest.param(
            budget(level="ELEVATED"), None, Pace.AT_RISK, "ELEVATED", id="burning faster than budgeted"
        ),
        pytest.param(budget(level="CRITICAL"), None, Pace.AT_RISK, "CRITICAL", id="critical burn"),
        pytest.param(budget("WARNING", remaining=40), None, Pace.AT_RISK, "WARNING", id="warning status"),
        pytest.param(budget("EXHAUSTED", remaining=-3), None, Pace.AT_RISK, "EXHAUSTED", id="exhausted"),
        pytest.param(
            budget(), Watch(frozen=True), Pace.AT_RISK, "freeze", id="a freeze waits on its recovery"
        ),
        pytest.param(
            budget(remaining=58),
            Watch(thresholds=[20, 50]),
            Pace.AT_RISK,
            "within 10 points of a policy's 50",
            id="near the unfreeze threshold",
        ),
        pytest.param(
            budget(remaining=61), Watch(thresholds=[20, 50]), Pace.CALM, "calm", id="just outside the margin"
        ),
        pytest.param(
            budget(remaining=95),
            Watch(thresholds=[90]),
            Pace.AT_RISK,
            "of a policy's 90",
            id="above a high trigger is also near it",
        ),
    ],
)
def test_cadence(the_budget: ErrorBudget | None, watch: Watch | None, pace: Pace, why: str) -> None:
    decided = cadence(the_budget, watch, at_risk_seconds=30, calm_seconds=300, margin_percent=10)
    assert decided.pace is pace and why in decided.reason
    assert decided.seconds == (30 if pace is Pace.AT_RISK else 300)


def test_calm_is_never_faster_than_at_risk() -> None:
    decided: Any = cadence(budget(), None, at_risk_seconds=60, calm_seconds=30, margin_percent=10)
    assert decided.seconds == 60
