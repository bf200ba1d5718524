"""Budgets computed from a real Prometheus holding backfilled history equal what the history
implies, for each kind of SLI, on the first pass and on incremental passes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sla_management.adapters.prometheus import PrometheusClient, PromQLError, ShapeError
from sla_management.domain.budget import (
    BudgetStatus,
    BurnLevel,
    ErrorBudget,
    Thresholds,
    compute_budget,
)
from sla_management.domain.plan import CountLedger, SliceLedger, fold_results, plan_queries
from sla_management.domain.promql import detect_unit
from sla_management.domain.slo import SLO, QueryUnit
from sla_management.domain.windows import BURN_WINDOWS
from tests.conftest import Stack
from tests.support import promdata

DAY = 86400


def make_slo(**spec: Any) -> SLO:
    now = datetime.now(UTC)
    slo = SLO.model_validate(
        {"id": "t", "createdAt": now, "updatedAt": now, "sloType": "AVAILABILITY", **spec}
    )
    units = {field: detect_unit(q) for field, q in slo.event_queries().items()}
    return slo.model_copy(update={"query_units": units})


def errors_slo(svc: str, window_days: int = 30, fn: str = "increase") -> SLO:
    return make_slo(
        name=f"{svc}-{fn}",
        serviceName=svc,
        target=0.99,
        windowDays=window_days,
        sliQuery={
            "errorQuery": f'sum({fn}(t_errors_total{{svc="{svc}"}}[{{{{.window}}}}]))',
            "totalQuery": f'sum({fn}(t_requests_total{{svc="{svc}"}}[{{{{.window}}}}]))',
        },
    )


async def evaluate(
    prometheus: PrometheusClient,
    slo: SLO,
    now: int,
    ledger: CountLedger | SliceLedger | None = None,
) -> tuple[ErrorBudget, CountLedger | SliceLedger | None, int]:
    plan = plan_queries(slo, ledger, now, settle_seconds=300)
    results = await prometheus.run_plan(plan)
    new_ledger, measurements = fold_results(slo, slo.query_units, ledger, plan, results)
    budget = compute_budget(
        slo_id=slo.id,
        service_name=slo.service_name,
        namespace=slo.namespace,
        target=slo.target,
        window_days=slo.window_days,
        measurements=measurements,
        thresholds=Thresholds(),
        now=datetime.fromtimestamp(now, UTC),
    )
    return budget, new_ledger, len(plan.range)


def exact(svc: str, start_rel: float, end_rel: float) -> tuple[float, float]:
    bad = promdata.counter("t_errors_total", svc).integral(start_rel, end_rel)
    total = promdata.counter("t_requests_total", svc).integral(start_rel, end_rel)
    return bad, total


@pytest.fixture
async def prometheus(stack: Stack) -> Any:
    client = PrometheusClient(stack.prometheus_url, timeout_seconds=20, max_retries=1)
    yield client
    await client.aclose()


@pytest.mark.parametrize("fn", ["increase", "rate"], ids=["counts from increase()", "per-second rate()"])
@pytest.mark.parametrize("svc", ["steady", "burning"])
async def test_occurrences_budget_equals_the_history(
    prometheus: PrometheusClient, stack: Stack, svc: str, fn: str
) -> None:
    slo = errors_slo(svc, fn=fn)
    assert slo.query_units["errorQuery"] is (QueryUnit.RATE if fn == "rate" else QueryUnit.COUNT)
    now = stack.anchor + 17  # not aligned to anything on purpose
    budget, _ledger, ranges = await evaluate(prometheus, slo, now)

    bad, total = exact(svc, now - stack.anchor - 30 * DAY, now - stack.anchor)
    assert ranges == 2  # first pass: one range query per event query builds the ledger
    assert budget.total_events == pytest.approx(total, rel=2e-3)
    assert budget.bad_events == pytest.approx(bad, rel=2e-3)
    expected_consumed = (bad / total) / 0.01 * 100
    assert budget.consumed_percent == pytest.approx(expected_consumed, rel=5e-3)
    assert budget.remaining_percent == pytest.approx(100 - expected_consumed, rel=5e-3)
    for window, seconds in BURN_WINDOWS.items():
        w_bad, w_total = exact(svc, now - stack.anchor - seconds, now - stack.anchor)
        assert budget.burn_rates[window] == pytest.approx(w_bad / w_total / 0.01, rel=5e-3), window


async def test_steady_and_burning_classify_as_their_history_says(
    prometheus: PrometheusClient, stack: Stack
) -> None:
    steady, _, _ = await evaluate(prometheus, errors_slo("steady"), stack.anchor)
    burning, _, _ = await evaluate(prometheus, errors_slo("burning"), stack.anchor)
    assert (steady.status, steady.burn_level) == (BudgetStatus.HEALTHY, BurnLevel.NORMAL)
    assert steady.remaining_percent == pytest.approx(90, rel=2e-3)
    # 20 % errors for two hours: burn 20 over 5m and 1h confirms CRITICAL; 55 % spent.
    assert burning.burn_level is BurnLevel.CRITICAL
    assert burning.status is BudgetStatus.WARNING
    assert burning.exhaustion_eta is not None


async def test_incremental_passes_match_a_fresh_evaluation(
    prometheus: PrometheusClient, stack: Stack
) -> None:
    slo = errors_slo("burning", fn="rate")
    t0 = stack.anchor - 3 * 3600 + 5
    _, ledger, _ = await evaluate(prometheus, slo, t0)
    # March forward in 20-minute steps across hour boundaries and the start of the incident.
    for step in range(1, 13):
        now = t0 + step * 1200
        incremental, ledger, ranges = await evaluate(prometheus, slo, now, ledger)
        fresh, _, _ = await evaluate(prometheus, slo, now)
        assert ranges <= 2
        assert incremental.total_events == pytest.approx(fresh.total_events, rel=1e-3)
        assert incremental.bad_events == pytest.approx(fresh.bad_events, rel=1e-3)
        bad, _total = exact("burning", now - stack.anchor - 30 * DAY, now - stack.anchor)
        assert incremental.bad_events == pytest.approx(bad, rel=2e-3)
    assert isinstance(ledger, CountLedger)
    assert len(ledger.total) == 30 * 24 or len(ledger.total) == 30 * 24 - 1


async def test_steady_state_pass_asks_no_range_and_same_queries_for_7_and_90_days(
    prometheus: PrometheusClient, stack: Stack
) -> None:
    counts = {}
    for days in (7, 90):
        slo = errors_slo("steady", window_days=days)
        _, ledger, _ = await evaluate(prometheus, slo, stack.anchor)
        plan = plan_queries(slo, ledger, stack.anchor + 30, settle_seconds=300)
        counts[days] = (len(plan.instant), len(plan.range))
    assert counts[7] == counts[90]
    assert counts[7][1] == 0


async def test_ratio_query_slo(prometheus: PrometheusClient, stack: Stack) -> None:
    slo = make_slo(
        name="ratio",
        serviceName="steady",
        target=0.99,
        sliQuery={
            "query": '1 - sum(rate(t_errors_total{svc="steady"}[{{.window}}])) / sum(rate(t_requests_total{svc="steady"}[{{.window}}]))'
        },
    )
    budget, _, _ = await evaluate(prometheus, slo, stack.anchor)
    assert budget.sli == pytest.approx(0.999, rel=1e-6)
    assert budget.remaining_percent == pytest.approx(90, rel=1e-3)
    assert budget.total_events is None  # a ratio gives no counts; none are made up
    assert budget.burn_rates["1h"] == pytest.approx(0.1, rel=1e-3)


async def test_timeslice_slo_counts_bad_slices(prometheus: PrometheusClient, stack: Stack) -> None:
    slo = make_slo(
        name="lat",
        sloType="LATENCY",
        serviceName="lat",
        target=0.9,
        windowDays=30,
        sliQuery={"query": 'max(t_latency_ms{svc="lat"})'},
        threshold=500,
        comparison="lt",
    )
    now = stack.anchor + 40
    budget, ledger, _ = await evaluate(prometheus, slo, now)
    assert isinstance(ledger, SliceLedger)
    # Expected from the data: slice k (ending at 300(k+1)) is bad when k % 20 == 0.
    ends = range(ledger.first_start + 300, ledger.end + 1, 300)
    bad = sum(1 for end in ends if ((end - 1) // 300) % 20 == 0)
    assert budget.total_slices == len(ends)
    assert budget.bad_slices == bad
    assert budget.sli == pytest.approx(1 - bad / len(ends))
    assert budget.consumed_percent == pytest.approx(bad / (len(ends) * 0.1) * 100)
    assert budget.budgeting_method.value == "Timeslices"


@pytest.mark.parametrize("svc", ["quiet", "no-such-service"], ids=["flat counters", "no series at all"])
async def test_no_traffic_is_no_data_not_an_incident(
    prometheus: PrometheusClient, stack: Stack, svc: str
) -> None:
    budget, _, _ = await evaluate(prometheus, errors_slo(svc), stack.anchor)
    assert budget.status is BudgetStatus.NO_DATA
    assert budget.remaining_percent is None and budget.consumed_percent is None


async def test_prometheus_parse_error_is_its_own_text(prometheus: PrometheusClient) -> None:
    with pytest.raises(PromQLError, match="parse error"):
        await prometheus.instant("sum(rate(x[5m])")


async def test_several_series_for_a_ratio_is_an_error(prometheus: PrometheusClient, stack: Stack) -> None:
    with pytest.raises(ShapeError, match="2 series"):
        await prometheus.instant_value(
            't_requests_total{svc=~"steady|burning"}', stack.anchor, sum_series=False
        )


async def test_range_queries_are_split_below_the_point_limit(
    prometheus: PrometheusClient, stack: Stack
) -> None:
    # 90 days at 5-minute steps is 25,920 points: more than Prometheus serves in one query.
    start = stack.anchor - 30 * DAY + 300
    points = await prometheus.range_series('max(t_latency_ms{svc="lat"})', start, stack.anchor, 60)
    assert len(points) == (stack.anchor - start) // 60 + 1


@pytest.mark.parametrize("fn", ["increase", "rate"])
async def test_batched_requests_answer_exactly_as_one_by_one(
    prometheus: PrometheusClient, stack: Stack, fn: str
) -> None:
    slos = [
        errors_slo("burning", fn=fn),
        errors_slo("quiet", fn=fn),  # flat counters: zeros, not missing
        errors_slo("no-such-service", fn=fn),  # no series at all: None, not zero
        make_slo(
            name="ratio",
            serviceName="steady",
            target=0.99,
            sliQuery={
                "query": f'1 - sum({fn}(t_errors_total{{svc="steady"}}[{{{{.window}}}}])) / sum({fn}(t_requests_total{{svc="steady"}}[{{{{.window}}}}]))'
            },
        ),
    ]
    for slo in slos:
        _, ledger, _ = await evaluate(prometheus, slo, stack.anchor)
        plan = plan_queries(slo, ledger, stack.anchor + 29, settle_seconds=300)
        batched = await prometheus.run_plan(plan)
        one_by_one = await prometheus.run_plan(plan, batched=False)
        assert batched.values.keys() == one_by_one.values.keys()
        for key, value in one_by_one.values.items():
            if value is None:
                assert batched.values[key] is None, key
            else:
                assert batched.values[key] == pytest.approx(value, rel=1e-12, nan_ok=True), key


async def test_a_scalar_query_still_works_when_batching_cannot(
    prometheus: PrometheusClient, stack: Stack
) -> None:
    from sla_management.domain.plan import InstantQuery, QueryPlan

    plan = QueryPlan(
        now=stack.anchor,
        instant=[
            InstantQuery(
                key="a", promql="scalar(vector(0.5))", time=stack.anchor, window_seconds=60, sum_series=False
            ),
            InstantQuery(key="b", promql="vector(2)", time=stack.anchor, window_seconds=60),
        ],
    )
    results = await prometheus.run_plan(plan)
    assert results.values == {"a": 0.5, "b": 2.0}
