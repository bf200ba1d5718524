"""The pure edge of the operator: CR spec -> model, observations -> status, when to PATCH."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sla_management.domain.budget import BudgetStatus, BurnLevel, ErrorBudget
from sla_management.domain.slo import BudgetingMethod
from sla_management.operator.resources import (
    Condition,
    Rejected,
    budget_status,
    conditions,
    ready_condition,
    slo_degraded,
    slo_spec_of,
    status_changes,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def budget(status: BudgetStatus = BudgetStatus.HEALTHY, **changes: Any) -> ErrorBudget:
    fields: dict[str, Any] = {
        "slo_id": "s",
        "sli": 0.99912345,
        "target": 0.99,
        "window_days": 30,
        "budgeting_method": BudgetingMethod.OCCURRENCES,
        "consumed_percent": 8.7654,
        "remaining_percent": 91.2346,
        "status": status,
        "burn_rates": {"5m": 0.0877, "1h": None},
        "burn_level": BurnLevel.NORMAL,
        "exhaustion_eta": None,
        "calculated_at": NOW,
        **changes,
    }
    return ErrorBudget(**fields)


def test_the_slo_namespace_is_the_resources_own() -> None:
    spec = {
        "name": "n",
        "sloType": "AVAILABILITY",
        "serviceName": "svc",
        "target": 0.99,
        "sliQuery": {"query": "avg_over_time(up[{{.window}}])"},
    }
    assert slo_spec_of("shop", spec).namespace == "shop"
    with pytest.raises(Rejected, match="the SLO's namespace is the resource's own"):
        slo_spec_of("shop", {**spec, "namespace": "elsewhere"})
    with pytest.raises(Rejected) as refused:
        slo_spec_of("shop", {**spec, "target": 2, "sliQuery": {}})
    assert refused.value.reason == "InvalidSpec"
    assert refused.value.message.startswith(
        "target: must be the objective as a ratio (0.999 for 99.9 %), above 0 and at most 0.99999 (99.999 %); "
        "sliQuery: one of query"
    )


def test_budget_status_keeps_what_a_person_reads() -> None:
    shown = budget_status(budget())
    assert shown["status"] == "HEALTHY" and shown["burnLevel"] == "NORMAL"
    assert shown["remainingPercent"] == 91.2
    assert shown["budget"]["sli"] == 0.99912 and shown["budget"]["consumedPercent"] == 8.8
    assert shown["budget"]["burnRates"] == {"5m": 0.09, "1h": None}  # None: removed by the patch
    assert budget_status(None) == {
        "status": "PENDING",
        "remainingPercent": None,
        "burnLevel": None,
        "budget": None,
    }


@pytest.mark.parametrize(
    ("problem", "observed", "expected"),
    [
        pytest.param(("LoopNotRunning", "gone"), budget(), ("True", "LoopNotRunning"), id="a problem wins"),
        pytest.param(None, None, ("Unknown", "Pending"), id="no calculation yet"),
        pytest.param(
            None, budget(BudgetStatus.UNKNOWN, error="boom"), ("True", "SLIUnreadable"), id="unreadable"
        ),
        pytest.param(None, budget(BudgetStatus.NO_DATA), ("True", "NoData"), id="no data"),
        pytest.param(
            None, budget(BudgetStatus.EXHAUSTED), ("False", "Measured"), id="burning is not degraded"
        ),
    ],
)
def test_degraded_says_whether_the_loop_can_tell(
    problem: tuple[str, str] | None, observed: ErrorBudget | None, expected: tuple[str, str]
) -> None:
    cond = slo_degraded(problem, observed)
    assert (cond.status, cond.reason) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param({}, ("Unknown", "Pending"), id="not applied yet"),
        pytest.param({"sloId": "a", "workflowId": "slo-a"}, ("True", "Applied"), id="applied"),
        pytest.param(
            {"sloId": "a", "error": {"reason": "InvalidQuery", "message": "m"}},
            ("False", "InvalidQuery"),
            id="refused",
        ),
    ],
)
def test_ready_follows_error_and_stored_id(status: dict[str, Any], expected: tuple[str, str]) -> None:
    cond = ready_condition(status, "SLO", "computes its budget")
    assert (cond.status, cond.reason) == expected


def test_a_transition_time_moves_only_when_the_status_flips() -> None:
    first = conditions(None, [Condition("Ready", "False", "InvalidSpec", "a")], NOW)
    later = NOW + timedelta(minutes=5)
    same = conditions(first, [Condition("Ready", "False", "InvalidQuery", "b")], later)
    assert same[0]["lastTransitionTime"] == "2026-03-01T12:00:00Z" and same[0]["reason"] == "InvalidQuery"
    flipped = conditions(same, [Condition("Ready", "True", "Applied", "c")], later)
    assert flipped[0]["lastTransitionTime"] == "2026-03-01T12:05:00Z"


CURRENT = {"status": "HEALTHY", "remainingPercent": 91.2, "lastCalculation": "2026-03-01T12:00:00Z"}


@pytest.mark.parametrize(
    ("desired", "calculated", "after", "expected"),
    [
        pytest.param(
            {"status": "HEALTHY", "remainingPercent": 91.2},
            "2026-03-01T12:00:30Z",
            30,
            {},
            id="only time moved",
        ),
        pytest.param(
            {"status": "HEALTHY", "remainingPercent": 91.1},
            "2026-03-01T12:00:30Z",
            30,
            {"remainingPercent": 91.1, "lastCalculation": "2026-03-01T12:00:30Z"},
            id="a shown value changed: time rides along",
        ),
        pytest.param(
            {"status": "HEALTHY", "remainingPercent": 91.2},
            "2026-03-01T12:06:00Z",
            360,
            {"lastCalculation": "2026-03-01T12:06:00Z"},
            id="the shown time got too old",
        ),
        pytest.param(
            {"status": "HEALTHY", "remainingPercent": 91.2, "activeFreeze": None},
            "2026-03-01T12:00:00Z",
            30,
            {},
            id="None and absent are the same after a merge patch",
        ),
    ],
)
def test_status_changes_patch_only_what_differs(
    desired: dict[str, Any], calculated: str, after: int, expected: dict[str, Any]
) -> None:
    changes = status_changes(
        CURRENT,
        desired,
        volatile={"lastCalculation": calculated},
        max_age_seconds=300,
        now=NOW + timedelta(seconds=after),
    )
    assert changes == expected
