"""plan_queries + fold_results against a synthetic Prometheus.

The fake below answers each query from its rendered PromQL alone (function, metric, range) and
the evaluation time, like Prometheus does, so a wrong range in the text or a bucket fetched at
the wrong step gives wrong totals. Traffic is a step function of time with steps that fall
inside buckets, so a bucket shifted by a step or counted twice is caught too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter

from sla_management.domain.budget import (
    BudgetStatus,
    BurnLevel,
    Measurements,
    Thresholds,
    compute_budget,
)
from sla_management.domain.plan import (
    BUCKET_SECONDS,
    CountLedger,
    Ledger,
    QueryPlan,
    QueryResults,
    SliceLedger,
    fold_results,
    plan_queries,
)
from sla_management.domain.promql import detect_unit
from sla_management.domain.slo import (
    WINDOW_PLACEHOLDER,
    BudgetingMethod,
    QueryUnit,
    SLOSpec,
)
from sla_management.domain.windows import BURN_WINDOWS

HOUR = 3600
DAY = 86400
# An arbitrary instant 34 min 54 s past an hour: neither the window nor `now` is aligned.
T0 = 1_700_001_234
SETTLE = 60
CALCULATED_AT = datetime(2024, 5, 1, tzinfo=UTC)
AnyLedger = CountLedger | SliceLedger


# --- the synthetic Prometheus ------------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    """Events per second: `base`, then from each (since, rate) in `steps` on, that rate."""

    base: float
    steps: tuple[tuple[int, float], ...] = ()

    def _edges(self) -> list[tuple[float, float]]:
        return [(-math.inf, self.base), *sorted(self.steps)]

    def rate_at(self, t: int) -> float:
        return [rate for since, rate in self._edges() if since <= t][-1]

    def events(self, start: int, end: int) -> float:
        """Exactly the events of [start, end)."""
        edges = self._edges()
        total = 0.0
        for i, (since, rate) in enumerate(edges):
            until = edges[i + 1][0] if i + 1 < len(edges) else math.inf
            overlap = min(end, until) - max(start, since)
            if overlap > 0:
                total += rate * overlap
        return total

    def minus(self, other: Traffic) -> Traffic:
        times = sorted({t for t, _ in self.steps} | {t for t, _ in other.steps})
        return Traffic(
            self.base - other.base,
            tuple((t, self.rate_at(t) - other.rate_at(t)) for t in times),
        )


CALL = re.compile(r"(?P<func>\w+)\((?P<metric>\w+)\[(?P<amount>\d+)(?P<unit>[smhd])\]\)")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# A gauge's answer for the range (start, end]; None: no sample there.
Gauge = Callable[[int, int], float | None]


@dataclass
class FakePrometheus:
    counters: dict[str, Traffic] = field(default_factory=dict)
    gauges: dict[str, Gauge] = field(default_factory=dict)
    passes: list[QueryPlan] = field(default_factory=list)

    def evaluate(self, promql: str, time: int) -> float | None:
        match = CALL.search(promql)
        assert match, f"the fake cannot read {promql}"
        seconds = int(match["amount"]) * UNIT_SECONDS[match["unit"]]
        start, metric = time - seconds, match["metric"]
        if match["func"] in ("increase", "rate"):
            if metric not in self.counters:
                return None  # no such series yet
            events = self.counters[metric].events(start, time)
            return events / seconds if match["func"] == "rate" else events
        return self.gauges[metric](start, time)

    def run(self, plan: QueryPlan) -> QueryResults:
        self.passes.append(plan)
        values = {q.key: self.evaluate(q.promql, q.time) for q in plan.instant}
        series: dict[str, list[tuple[float, float]]] = {}
        for q in plan.range:
            assert q.start <= q.end
            assert (q.end - q.start) % q.step == 0
            points = [(float(t), self.evaluate(q.promql, t)) for t in range(q.start, q.end + 1, q.step)]
            # Prometheus leaves out steps that have no sample.
            series[q.key] = [(t, v) for t, v in points if v is not None]
        return QueryResults(values=values, series=series)


def one_pass(
    spec: SLOSpec,
    ledger: AnyLedger | None,
    now: int,
    prom: FakePrometheus,
    *,
    settle: int = SETTLE,
    units: dict[str, QueryUnit] | None = None,
) -> tuple[QueryPlan, AnyLedger | None, Measurements]:
    if units is None:
        units = {name: detect_unit(query) for name, query in spec.event_queries().items()}
    plan = plan_queries(spec, ledger, now, settle)
    new_ledger, measurements = fold_results(spec, units, ledger, plan, prom.run(plan))
    return plan, new_ledger, measurements


# --- SLOs and traffic --------------------------------------------------------------------


def event_spec(window_days: int = 30, *, good: bool = False, func: str = "increase") -> SLOSpec:
    field_name, metric = ("goodQuery", "http_good_total") if good else ("errorQuery", "http_errors_total")
    return SLOSpec.model_validate(
        {
            "name": "checkout availability",
            "sloType": "AVAILABILITY",
            "serviceName": "checkout",
            "target": 0.999,
            "windowDays": window_days,
            "sliQuery": {
                field_name: f"sum({func}({metric}[{WINDOW_PLACEHOLDER}]))",
                "totalQuery": f"sum({func}(http_requests_total[{WINDOW_PLACEHOLDER}]))",
            },
        }
    )


def slice_spec(
    window_days: int = 1,
    *,
    minutes: int = 5,
    slo_type: str = "LATENCY",
    threshold: float = 0.3,
    comparison: str | None = None,
) -> SLOSpec:
    raw = {
        "name": "checkout p99",
        "sloType": slo_type,
        "serviceName": "checkout",
        "target": 0.99,
        "windowDays": window_days,
        "timesliceMinutes": minutes,
        "sliQuery": {"query": f"max_over_time(latency_p99_seconds[{WINDOW_PLACEHOLDER}])"},
        "threshold": threshold,
    }
    if comparison is not None:
        raw["comparison"] = comparison
    return SLOSpec.model_validate(raw)


def ratio_spec(window_days: int = 30) -> SLOSpec:
    return SLOSpec.model_validate(
        {
            "name": "checkout ratio",
            "sloType": "AVAILABILITY",
            "serviceName": "checkout",
            "target": 0.99,
            "windowDays": window_days,
            "sliQuery": {"query": f"avg_over_time(checkout_good_ratio[{WINDOW_PLACEHOLDER}])"},
        }
    )


# Steps land mid-bucket, in the 1-, 7-, 30- and 90-day heads, and in the burn windows.
TOTAL = Traffic(
    10.0,
    (
        (T0 - 90 * DAY + 700, 12.0),
        (T0 - 30 * DAY + 500, 9.0),
        (T0 - 7 * DAY + 333, 11.0),
        (T0 - DAY + 100, 10.0),
        (T0 - 40 * HOUR - 17, 20.0),
        (T0 - 2 * HOUR - 123, 8.0),
        (T0 + 5 * HOUR + 999, 16.0),
        (T0 + 20 * HOUR + 1, 6.0),
    ),
)
ERRORS = Traffic(
    0.25,
    (
        (T0 - 26 * HOUR - 1000, 1.5),
        (T0 - 25 * HOUR, 0.25),
        (T0 - 4 * HOUR + 17, 2.0),
        (T0 - 3 * HOUR, 0.25),
        (T0 - 50 * 60, 0.5),
        (T0 - 8 * 60, 1.0),
        (T0 + 3 * HOUR + 5, 3.0),
        (T0 + 3 * HOUR + 1800, 0.125),
    ),
)


def prometheus(total: Traffic = TOTAL, errors: Traffic = ERRORS) -> FakePrometheus:
    return FakePrometheus(
        counters={
            "http_requests_total": total,
            "http_errors_total": errors,
            "http_good_total": total.minus(errors),
        }
    )


def assert_exact_window(
    m: Measurements, spec: SLOSpec, now: int, total: Traffic = TOTAL, errors: Traffic = ERRORS
) -> None:
    start = now - spec.window_days * DAY
    assert m.budgeting_method is BudgetingMethod.OCCURRENCES
    assert m.total_events == pytest.approx(total.events(start, now), rel=1e-12)
    assert m.bad_events == pytest.approx(errors.events(start, now), rel=1e-12)


def assert_ledger_matches_traffic(ledger: AnyLedger | None, plan: QueryPlan) -> CountLedger:
    assert isinstance(ledger, CountLedger)
    assert ledger.first_start == plan.ledger_start
    assert ledger.end == plan.fold_end
    starts = range(ledger.first_start, ledger.end, BUCKET_SECONDS)
    assert ledger.total == pytest.approx([TOTAL.events(s, s + BUCKET_SECONDS) for s in starts])
    assert ledger.bad == pytest.approx([ERRORS.events(s, s + BUCKET_SECONDS) for s in starts])
    return ledger


def hour_floor(t: int) -> int:
    return t // HOUR * HOUR


# --- event SLOs: the first pass ----------------------------------------------------------


@pytest.mark.parametrize(
    ("window_days", "now", "settle"),
    [
        pytest.param(30, T0, SETTLE, id="a 30-day window at an unaligned instant"),
        pytest.param(1, T0, SETTLE, id="a one-day window"),
        pytest.param(7, T0, SETTLE, id="a seven-day window"),
        pytest.param(90, T0, SETTLE, id="a ninety-day window"),
        pytest.param(7, T0, 0, id="no settle time"),
        pytest.param(7, T0, 3 * HOUR, id="a settle time longer than a bucket"),
        pytest.param(30, hour_floor(T0), 0, id="on an hour boundary without settle"),
        pytest.param(30, hour_floor(T0) + 30, SETTLE, id="30 s past an hour, inside settle"),
    ],
)
def test_first_pass_builds_the_ledger_with_one_range_query_per_event_query(
    window_days: int, now: int, settle: int
) -> None:
    spec = event_spec(window_days)
    plan, ledger, m = one_pass(spec, None, now, prometheus(), settle=settle)

    assert plan.reset_ledger
    assert plan.window_start == now - window_days * DAY
    assert plan.ledger_start % HOUR == 0
    assert 0 <= plan.ledger_start - plan.window_start < HOUR
    assert plan.fetch_from == plan.ledger_start
    assert plan.fold_end == hour_floor(now - settle)
    assert [(q.key, q.start, q.end, q.step) for q in plan.range] == [
        ("ev:buckets", plan.ledger_start + HOUR, plan.fold_end, HOUR),
        ("total:buckets", plan.ledger_start + HOUR, plan.fold_end, HOUR),
    ]
    assert [q.promql for q in plan.range] == [
        "sum(increase(http_errors_total[1h]))",
        "sum(increase(http_requests_total[1h]))",
    ]
    keys = {q.key for q in plan.instant}
    assert ("ev:head" in keys) is (plan.ledger_start > plan.window_start)
    assert ("total:tail" in keys) is (now > plan.fold_end)
    assert_ledger_matches_traffic(ledger, plan)
    assert_exact_window(m, spec, now)


def test_an_aligned_instant_needs_neither_head_nor_tail() -> None:
    now = hour_floor(T0)
    plan, _, m = one_pass(event_spec(30), None, now, prometheus(), settle=0)

    assert plan.ledger_start == plan.window_start
    assert plan.fold_end == now
    assert sorted(q.key for q in plan.instant) == sorted(
        f"{role}:burn:{name}" for role in ("ev", "total") for name in BURN_WINDOWS
    )
    assert_exact_window(m, event_spec(30), now)


@pytest.mark.parametrize(
    ("window_days", "func"),
    [
        pytest.param(1, "increase", id="increase over one day"),
        pytest.param(30, "increase", id="increase over 30 days"),
        pytest.param(90, "increase", id="increase over 90 days"),
        pytest.param(30, "rate", id="rate over 30 days"),
        pytest.param(90, "rate", id="rate over 90 days"),
    ],
)
def test_constant_rates_add_up_to_rate_times_window_exactly(window_days: int, func: str) -> None:
    prom = prometheus(Traffic(10.0), Traffic(0.25))
    spec = event_spec(window_days, func=func)
    plan, _, m = one_pass(spec, None, T0, prom)

    window = window_days * DAY
    # head + buckets + tail are each a whole number of seconds at a binary-exact rate.
    assert m.total_events == 10.0 * window
    assert m.bad_events == 0.25 * window
    head = next(q for q in plan.instant if q.key == "total:head")
    tail = next(q for q in plan.instant if q.key == "total:tail")
    buckets = (plan.fold_end - plan.ledger_start) // HOUR
    assert head.window_seconds + buckets * HOUR + tail.window_seconds == window


# --- event SLOs: later passes ------------------------------------------------------------

# First pass 100 s before `now - settle` reaches an hour boundary.
BEFORE_BOUNDARY = hour_floor(T0 - SETTLE) + HOUR - 100 + SETTLE


@pytest.mark.parametrize(
    ("later", "new_buckets"),
    [
        pytest.param(30, 0, id="30 s later in the same hour asks for no range query"),
        pytest.param(99, 0, id="one second before the boundary settles asks for nothing"),
        pytest.param(100, 1, id="landing exactly on the settled boundary closes one bucket"),
        pytest.param(130, 1, id="30 s past the boundary asks for the one new bucket"),
        pytest.param(2 * HOUR + 130, 3, id="a pass two hours late catches up three buckets"),
    ],
)
def test_a_later_pass_asks_only_for_new_buckets(later: int, new_buckets: int) -> None:
    spec, prom = event_spec(30), prometheus()
    first, ledger, _ = one_pass(spec, None, BEFORE_BOUNDARY, prom)
    before = assert_ledger_matches_traffic(ledger, first)

    now = BEFORE_BOUNDARY + later
    plan, ledger, m = one_pass(spec, before, now, prom)

    assert not plan.reset_ledger
    assert plan.fetch_from == first.fold_end
    if new_buckets:
        assert [(q.key, q.start, q.end) for q in plan.range] == [
            (key, first.fold_end + HOUR, first.fold_end + new_buckets * HOUR)
            for key in ("ev:buckets", "total:buckets")
        ]
    else:
        assert plan.range == []
    assert plan.fold_end == first.fold_end + new_buckets * HOUR
    assert len(plan.instant) == len(first.instant) == 2 * (2 + len(BURN_WINDOWS))
    after = assert_ledger_matches_traffic(ledger, plan)
    # As many buckets drop off the front as the window slid past.
    dropped = (plan.ledger_start - first.ledger_start) // HOUR
    assert len(after.total) == len(before.total) + new_buckets - dropped
    assert_exact_window(m, spec, now)


def test_the_ledger_slides_with_the_window_and_totals_stay_exact() -> None:
    spec, prom = event_spec(1), prometheus()
    ledger: AnyLedger | None = None
    first_start = None
    fetched = 0
    # Every 7 min 13 s for 30 hours: longer than the one-day window, so every bucket is
    # dropped at least once.
    for now in range(T0, T0 + 30 * HOUR, 433):
        plan, ledger, m = one_pass(spec, ledger, now, prom)
        assert plan.reset_ledger is (now == T0)
        book = assert_ledger_matches_traffic(ledger, plan)
        assert len(book.total) <= 24
        assert_exact_window(m, spec, now)
        if first_start is None:
            first_start = book.first_start
        else:
            fetched += sum((q.end - q.start) // q.step + 1 for q in plan.range if q.key == "total:buckets")
    assert isinstance(ledger, CountLedger)
    assert first_start is not None
    assert ledger.first_start - first_start >= 29 * HOUR
    # After the first pass, each bucket was fetched exactly once.
    assert fetched == (ledger.end - hour_floor(T0 - SETTLE)) // HOUR


# --- event SLOs: when the ledger is rebuilt ----------------------------------------------


def _from_future(spec: SLOSpec, prom: FakePrometheus) -> AnyLedger:
    first = plan_queries(spec, None, T0, SETTLE).ledger_start
    buckets = (T0 - first) // HOUR + 2
    return CountLedger(first_start=first, bad=[1.0] * buckets, total=[1.0] * buckets)


def _from_shorter_window(spec: SLOSpec, prom: FakePrometheus) -> AnyLedger:
    ledger = one_pass(event_spec(7), None, T0 - 30, prom)[1]
    assert ledger is not None
    return ledger


@pytest.mark.parametrize(
    "stale",
    [
        pytest.param(
            lambda spec, prom: SliceLedger(
                slice_seconds=300, first_start=hour_floor(T0) - DAY, marks="g" * 288
            ),
            id="a slice ledger given to an event SLO",
        ),
        pytest.param(
            lambda spec, prom: CountLedger(
                first_start=hour_floor(T0 - 40 * DAY), bad=[5.0] * 24, total=[9.0] * 24
            ),
            id="a ledger that ended before the window began",
        ),
        pytest.param(_from_future, id="a ledger that ends after now, as when the clock went back"),
        pytest.param(_from_shorter_window, id="a ledger of a 7-day window when windowDays grew to 30"),
    ],
)
def test_a_ledger_that_cannot_be_extended_is_rebuilt(
    stale: Callable[[SLOSpec, FakePrometheus], AnyLedger],
) -> None:
    spec, prom = event_spec(30), prometheus()
    old = stale(spec, prom)

    plan, ledger, m = one_pass(spec, old, T0, prom)

    assert plan.reset_ledger
    assert plan.fetch_from == plan.ledger_start
    assert {(q.start, q.end) for q in plan.range} == {(plan.ledger_start + HOUR, plan.fold_end)}
    assert_ledger_matches_traffic(ledger, plan)
    assert_exact_window(m, spec, T0)


def test_a_ledger_of_a_longer_window_is_kept_and_pruned() -> None:
    prom = prometheus()
    _, ledger, _ = one_pass(event_spec(30), None, T0 - 30, prom)
    assert isinstance(ledger, CountLedger)
    assert len(ledger.total) > 29 * 24

    spec = event_spec(7)
    plan, ledger, m = one_pass(spec, ledger, T0, prom)

    assert not plan.reset_ledger
    assert plan.range == []
    book = assert_ledger_matches_traffic(ledger, plan)
    assert len(book.total) < 7 * 24
    assert_exact_window(m, spec, T0)


def test_a_ledger_past_the_settle_point_is_neither_fetched_again_nor_counted_twice() -> None:
    spec, prom = event_spec(7), prometheus()
    _, ledger, _ = one_pass(spec, None, T0, prom, settle=0)

    # settle grew to two hours: the ledger already holds buckets the plan would not fetch yet.
    plan, ledger, m = one_pass(spec, ledger, T0 + 30, prom, settle=2 * HOUR)

    assert not plan.reset_ledger
    assert plan.range == []
    assert plan.fold_end == hour_floor(T0)
    assert_ledger_matches_traffic(ledger, plan)
    assert_exact_window(m, spec, T0 + 30)


def test_fold_does_not_change_the_ledger_it_was_given() -> None:
    spec, prom = event_spec(1), prometheus()
    _, ledger, _ = one_pass(spec, None, T0, prom)
    assert ledger is not None
    snapshot = ledger.model_dump()

    _, new, _ = one_pass(spec, ledger, T0 + 2 * HOUR, prom)

    assert ledger.model_dump() == snapshot
    assert new is not None
    assert new.model_dump() != snapshot


# --- event SLOs: shapes and units --------------------------------------------------------


@pytest.mark.parametrize(
    ("good", "func", "unit"),
    [
        pytest.param(False, "increase", QueryUnit.COUNT, id="errorQuery + totalQuery with increase"),
        pytest.param(True, "increase", QueryUnit.COUNT, id="goodQuery + totalQuery: bad is total minus good"),
        pytest.param(False, "rate", QueryUnit.RATE, id="rate answers are multiplied by each part's seconds"),
        pytest.param(True, "rate", QueryUnit.RATE, id="good rate and total rate"),
    ],
)
def test_every_event_shape_folds_to_the_exact_window(good: bool, func: str, unit: QueryUnit) -> None:
    spec, prom = event_spec(30, good=good, func=func), prometheus()
    assert set(spec.event_queries()) == {"goodQuery" if good else "errorQuery", "totalQuery"}
    units = {name: detect_unit(query) for name, query in spec.event_queries().items()}
    assert set(units.values()) == {unit}

    plan, ledger, m = one_pass(spec, None, T0, prom, units=units)
    plan, ledger, m = one_pass(spec, ledger, T0 + HOUR + 30, prom, units=units)

    assert len(plan.range) == 2
    assert_ledger_matches_traffic(ledger, plan)
    assert_exact_window(m, spec, T0 + HOUR + 30)


def test_rate_answers_taken_as_counts_would_be_wrong() -> None:
    """The unit matters: the same rate() answers read as counts miss the seconds factor."""
    spec, prom = event_spec(30, func="rate"), prometheus()
    wrong = {"errorQuery": QueryUnit.COUNT, "totalQuery": QueryUnit.COUNT}

    _, _, m = one_pass(spec, None, T0, prom, units=wrong)

    assert m.total_events is not None
    assert m.total_events < TOTAL.events(T0 - 30 * DAY, T0) / 1000


@pytest.mark.parametrize(
    ("total", "errors", "good", "bad_share"),
    [
        pytest.param(
            Traffic(10.0),
            Traffic(12.0),
            False,
            1.0,
            id="an error counter ahead of total counts every event bad",
        ),
        pytest.param(
            Traffic(10.0), Traffic(-0.5), True, 0.0, id="a good counter ahead of total counts nothing bad"
        ),
        pytest.param(Traffic(10.0), Traffic(0.0), False, 0.0, id="no errors count nothing bad"),
    ],
)
def test_bad_events_stay_between_none_and_all(
    total: Traffic, errors: Traffic, good: bool, bad_share: float
) -> None:
    spec, prom = event_spec(7, good=good), prometheus(total, errors)

    _, ledger, m = one_pass(spec, None, T0, prom)

    assert isinstance(ledger, CountLedger)
    assert ledger.bad == pytest.approx([t * bad_share for t in ledger.total])
    assert m.bad_events == pytest.approx(bad_share * 10.0 * 7 * DAY)
    assert m.error_ratios == pytest.approx(dict.fromkeys(BURN_WINDOWS, bad_share))


@pytest.mark.parametrize(
    ("good", "func"),
    [
        pytest.param(False, "increase", id="error counts"),
        pytest.param(True, "increase", id="good counts"),
        pytest.param(False, "rate", id="error rates"),
        pytest.param(True, "rate", id="good rates"),
    ],
)
def test_burn_error_ratios_per_window(good: bool, func: str) -> None:
    spec = event_spec(30, good=good, func=func)
    plan, _, m = one_pass(spec, None, T0, prometheus())

    for name, seconds in BURN_WINDOWS.items():
        burn = [q for q in plan.instant if q.key.endswith(f":burn:{name}")]
        assert [(q.time, q.window_seconds) for q in burn] == [(T0, seconds)] * 2
    expected = {
        name: ERRORS.events(T0 - seconds, T0) / TOTAL.events(T0 - seconds, T0)
        for name, seconds in BURN_WINDOWS.items()
    }
    assert m.error_ratios == pytest.approx(expected, rel=1e-12)
    # The 5-minute window sits inside the last error step (1/s of 8/s).
    assert m.error_ratios["5m"] == pytest.approx(1.0 / 8.0)


@pytest.mark.parametrize(
    "prom",
    [
        pytest.param(prometheus(Traffic(0.0), Traffic(0.0)), id="a service with no traffic"),
        pytest.param(FakePrometheus(), id="metrics that do not exist yet"),
    ],
)
def test_no_traffic_is_no_data_not_an_incident(prom: FakePrometheus) -> None:
    spec = event_spec(30)
    _, ledger, m = one_pass(spec, None, T0, prom)

    assert isinstance(ledger, CountLedger)
    assert set(ledger.total) == {0.0}
    assert m.total_events == 0
    assert m.bad_events == 0
    assert m.error_ratios == dict.fromkeys(BURN_WINDOWS)
    budget = compute_budget(
        slo_id="s",
        service_name="checkout",
        namespace="default",
        target=spec.target,
        window_days=spec.window_days,
        measurements=m,
        thresholds=Thresholds(),
        now=CALCULATED_AT,
    )
    assert budget.status is BudgetStatus.NO_DATA
    assert budget.burn_level is BurnLevel.NO_DATA


@pytest.mark.parametrize(
    ("consumed", "status"),
    [
        pytest.param(25.0, BudgetStatus.HEALTHY, id="a quarter of the allowed errors is HEALTHY"),
        pytest.param(70.0, BudgetStatus.WARNING, id="70% of the allowed errors is WARNING"),
        pytest.param(90.0, BudgetStatus.CRITICAL, id="90% of the allowed errors is CRITICAL"),
        pytest.param(125.0, BudgetStatus.EXHAUSTED, id="more errors than allowed is EXHAUSTED"),
    ],
)
def test_folded_measurements_give_the_budget(consumed: float, status: BudgetStatus) -> None:
    spec = event_spec(30)
    # An error ratio of consumed % of the allowed 0.1 %, at 10 events a second.
    errors = Traffic(10.0 * (1 - spec.target) * consumed / 100)
    _, _, m = one_pass(spec, None, T0, prometheus(Traffic(10.0), errors))
    budget = compute_budget(
        slo_id="s",
        service_name="checkout",
        namespace="default",
        target=spec.target,
        window_days=spec.window_days,
        measurements=m,
        thresholds=Thresholds(),
        now=CALCULATED_AT,
    )
    assert budget.consumed_percent == pytest.approx(consumed)
    assert budget.status is status
    assert budget.burn_rates == pytest.approx(dict.fromkeys(BURN_WINDOWS, consumed / 100))


# --- timeslice SLOs ----------------------------------------------------------------------


def slice_gauge(step: int, by_start: dict[int, float | None], default: float) -> Gauge:
    """One value per slice, keyed by the slice's start; ranges other than a slice are a bug."""

    def value(start: int, end: int) -> float | None:
        assert end - start == step, f"asked for a {end - start} s range, slices are {step} s"
        return by_start.get(start, default)

    return value


def last_slices(fold_end: int, step: int, values: list[float | None]) -> dict[int, float | None]:
    """Put `values` on the slices that end at fold_end and just before it."""
    first = fold_end - len(values) * step
    return {first + i * step: v for i, v in enumerate(values)}


@pytest.mark.parametrize(
    ("spec", "default", "values", "marks"),
    [
        pytest.param(
            slice_spec(),
            0.1,
            [0.1, 0.3, 0.31, math.nan, None, 2.0],
            "ggb..b",
            id="latency at most 0.3: equal is good, above is bad, NaN and gaps have no data",
        ),
        pytest.param(
            slice_spec(slo_type="AVAILABILITY", threshold=0.99),
            1.0,
            [0.995, 0.99, 0.98, math.nan],
            "ggb.",
            id="availability at least 0.99: equal is good, below is bad",
        ),
        pytest.param(slice_spec(comparison="lt"), 0.1, [0.29, 0.3], "gb", id="strictly below: equal is bad"),
        pytest.param(
            slice_spec(slo_type="THROUGHPUT", threshold=100, comparison="gt"),
            500.0,
            [100.0, 100.5],
            "bg",
            id="strictly above: equal is bad",
        ),
    ],
)
def test_slices_are_marked_from_the_value_series(
    spec: SLOSpec, default: float, values: list[float | None], marks: str
) -> None:
    step = spec.timeslice_minutes * 60
    fold_end = (T0 - SETTLE) // step * step
    prom = FakePrometheus(
        gauges={"latency_p99_seconds": slice_gauge(step, last_slices(fold_end, step, values), default)}
    )

    plan, ledger, m = one_pass(spec, None, T0, prom)

    assert plan.instant == []
    assert [(q.key, q.promql, q.start, q.end, q.step) for q in plan.range] == [
        ("slices", "max_over_time(latency_p99_seconds[5m])", plan.ledger_start + step, fold_end, step)
    ]
    assert isinstance(ledger, SliceLedger)
    assert ledger.first_start == plan.ledger_start
    assert ledger.end == plan.fold_end == fold_end
    assert ledger.marks[-len(marks) :] == marks
    assert set(ledger.marks[: -len(marks)]) == {"g"}
    assert m.budgeting_method is BudgetingMethod.TIMESLICES
    assert m.total_slices == len(ledger.marks) - ledger.marks.count(".")
    assert m.bad_slices == ledger.marks.count("b")


@pytest.mark.parametrize(
    ("minutes", "values", "ratio_5m", "ratio_30m", "ratio_1h"),
    [
        pytest.param(
            10,
            [0.1, 0.1, 0.9],
            1.0,
            1 / 3,
            1 / 6,
            id="5m shorter than a 10-minute slice looks at the last slice",
        ),
        pytest.param(10, [0.9, 0.9, 0.1], 0.0, 2 / 3, 2 / 6, id="a good last slice burns nothing over 5m"),
        pytest.param(
            10, [0.9, 0.1, None], None, 1 / 2, 1 / 5, id="a last slice without data leaves 5m without data"
        ),
        pytest.param(10, [None] * 6, None, None, None, id="an hour without data has no ratio"),
        pytest.param(
            5,
            [0.9, 0.1, 0.1, 0.1, 0.1, 0.9],
            1.0,
            2 / 6,
            2 / 12,
            id="5-minute slices fit each window exactly",
        ),
        pytest.param(
            7,
            [0.9, 0.1, 0.1, 0.1, 0.9],
            1.0,
            1 / 4,
            2 / 8,
            id="7-minute slices: only slices wholly inside 30m and 1h count",
        ),
        pytest.param(1, [0.9] + [0.1] * 4, 1 / 5, 1 / 30, 1 / 60, id="1-minute slices: five of them make 5m"),
    ],
)
def test_burn_windows_count_the_last_slices(
    minutes: int,
    values: list[float | None],
    ratio_5m: float | None,
    ratio_30m: float | None,
    ratio_1h: float | None,
) -> None:
    spec = slice_spec(minutes=minutes)
    step = minutes * 60
    fold_end = (T0 - SETTLE) // step * step
    prom = FakePrometheus(
        gauges={"latency_p99_seconds": slice_gauge(step, last_slices(fold_end, step, values), 0.1)}
    )

    _, _, m = one_pass(spec, None, T0, prom)

    expected = {"5m": ratio_5m, "30m": ratio_30m, "1h": ratio_1h}
    for name, ratio in expected.items():
        assert m.error_ratios[name] == (None if ratio is None else pytest.approx(ratio))


def test_slice_ledger_grows_one_slice_at_a_time_and_slides() -> None:
    spec = slice_spec(window_days=1)
    step = 300
    # Bad whenever the slice starts on an odd multiple of 5 minutes: a pattern that moves.
    prom = FakePrometheus(
        gauges={"latency_p99_seconds": lambda start, end: 0.5 if start // step % 2 else 0.1}
    )
    plan, ledger, _ = one_pass(spec, None, T0, prom)
    assert isinstance(ledger, SliceLedger)
    first_start = ledger.first_start

    for now in range(T0 + 30, T0 + DAY + HOUR, 150):
        previous_end = ledger.end
        plan, ledger, m = one_pass(spec, ledger, now, prom)
        assert isinstance(ledger, SliceLedger)
        assert not plan.reset_ledger
        new = (plan.fold_end - previous_end) // step
        assert len(plan.range) == (1 if new else 0)
        assert plan.instant == []
        assert ledger.first_start == plan.ledger_start
        assert ledger.end == plan.fold_end
        assert ledger.marks == "".join(
            "b" if start // step % 2 else "g" for start in range(ledger.first_start, ledger.end, step)
        )
        assert m.total_slices == len(ledger.marks)
    assert ledger.first_start - first_start >= DAY


@pytest.mark.parametrize(
    "stale",
    [
        pytest.param(
            lambda: SliceLedger(slice_seconds=600, first_start=hour_floor(T0) - DAY, marks="g" * 144),
            id="a ledger of 10-minute slices when slices became 5 minutes",
        ),
        pytest.param(
            lambda: CountLedger(first_start=hour_floor(T0) - DAY, bad=[0.0] * 24, total=[1.0] * 24),
            id="an event ledger when the SLO became a timeslice SLO",
        ),
        pytest.param(
            lambda: SliceLedger(slice_seconds=300, first_start=hour_floor(T0) - 3 * DAY, marks="b" * 12),
            id="a slice ledger older than the window",
        ),
    ],
)
def test_a_slice_ledger_that_does_not_fit_is_rebuilt(stale: Callable[[], AnyLedger]) -> None:
    spec = slice_spec(window_days=1)
    prom = FakePrometheus(gauges={"latency_p99_seconds": lambda start, end: 0.1})

    plan, ledger, m = one_pass(spec, stale(), T0, prom)

    assert plan.reset_ledger
    assert [(q.start, q.end) for q in plan.range] == [(plan.ledger_start + 300, plan.fold_end)]
    assert isinstance(ledger, SliceLedger)
    assert ledger.slice_seconds == 300
    assert ledger.marks == "g" * ((plan.fold_end - plan.ledger_start) // 300)
    assert m.bad_slices == 0


# --- ratio SLOs --------------------------------------------------------------------------

RATIOS: dict[int, float | None] = {
    30 * DAY: 0.9975,
    300: 0.5,
    1800: 0.75,
    HOUR: 0.875,
    2 * HOUR: math.nan,
    6 * HOUR: None,
    DAY: 1.0,
    3 * DAY: 0.9375,
}


def test_a_ratio_slo_asks_instant_queries_only_and_keeps_no_ledger() -> None:
    spec = ratio_spec(30)
    prom = FakePrometheus(gauges={"checkout_good_ratio": lambda start, end: RATIOS[end - start]})
    stale = CountLedger(first_start=0, bad=[1.0], total=[1.0])

    plan, ledger, m = one_pass(spec, stale, T0, prom)

    assert plan.range == []
    assert [(q.key, q.time, q.window_seconds) for q in plan.instant] == [("ratio:window", T0, 30 * DAY)] + [
        (f"ratio:burn:{name}", T0, seconds) for name, seconds in BURN_WINDOWS.items()
    ]
    assert plan.instant[0].promql == "avg_over_time(checkout_good_ratio[30d])"
    assert ledger is None
    assert m.budgeting_method is BudgetingMethod.OCCURRENCES
    assert m.good_ratio == pytest.approx(0.9975)
    assert m.total_events is None
    assert m.error_ratios == {
        "5m": pytest.approx(0.5),
        "30m": pytest.approx(0.25),
        "1h": pytest.approx(0.125),
        "2h": None,
        "6h": None,
        "24h": pytest.approx(0.0),
        "3d": pytest.approx(0.0625),
    }


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="no series"),
        pytest.param(math.nan, id="NaN"),
        pytest.param(math.inf, id="infinity"),
    ],
)
def test_a_ratio_slo_without_a_finite_window_value_has_no_ratio(value: float | None) -> None:
    spec = ratio_spec(7)
    prom = FakePrometheus(gauges={"checkout_good_ratio": lambda start, end: value})

    _, _, m = one_pass(spec, None, T0, prom)

    assert m.good_ratio is None
    assert m.error_ratios == dict.fromkeys(BURN_WINDOWS)


# --- the design goal: work per pass does not grow with windowDays -------------------------


def _work(plan: QueryPlan) -> tuple[object, ...]:
    return (
        sorted(q.key for q in plan.instant),
        sorted((q.key, (q.end - q.start) // q.step + 1) for q in plan.range),
    )


def _prom_for_all() -> FakePrometheus:
    prom = prometheus()
    prom.gauges["latency_p99_seconds"] = lambda start, end: 0.1
    prom.gauges["checkout_good_ratio"] = lambda start, end: 0.999
    return prom


@pytest.mark.parametrize(
    "make_spec",
    [
        pytest.param(lambda days: event_spec(days), id="errorQuery + totalQuery"),
        pytest.param(
            lambda days: event_spec(days, good=True, func="rate"), id="goodQuery + totalQuery as rates"
        ),
        pytest.param(lambda days: slice_spec(days), id="query + threshold in 5-minute slices"),
        pytest.param(lambda days: ratio_spec(days), id="a ratio query"),
    ],
)
def test_steady_state_work_is_the_same_for_7_and_90_days(make_spec: Callable[[int], SLOSpec]) -> None:
    work: dict[int, list[tuple[object, ...]]] = {}
    first_points: dict[int, int] = {}
    for days in (7, 90):
        spec, prom = make_spec(days), _prom_for_all()
        ledger: AnyLedger | None = None
        passes = []
        # The first pass, then 30 s later, then across an hour boundary, then 30 s later.
        for now in (T0, T0 + 30, T0 + HOUR, T0 + HOUR + 30):
            plan, ledger, _ = one_pass(spec, ledger, now, prom)
            passes.append(plan)
        first_points[days] = sum((q.end - q.start) // q.step + 1 for q in passes[0].range)
        work[days] = [_work(p) for p in passes[1:]]
        for plan in passes[1:]:
            assert not plan.reset_ledger
            # Head and tail each read less than a bucket plus settle.
            for q in plan.instant:
                if q.key.endswith((":head", ":tail")):
                    assert q.window_seconds < BUCKET_SECONDS + SETTLE

    assert work[7] == work[90]
    if make_spec(7).kind.value != "ratio":
        # Only the first pass reads the whole window, so only it grows with windowDays.
        assert first_points[90] > first_points[7] * 12


@pytest.mark.parametrize(
    "make_ledger",
    [
        pytest.param(lambda: one_pass(event_spec(7), None, T0, prometheus())[1], id="an event ledger"),
        pytest.param(lambda: one_pass(slice_spec(1), None, T0, _prom_for_all())[1], id="a slice ledger"),
    ],
)
def test_a_ledger_round_trips_through_json(make_ledger: Callable[[], AnyLedger]) -> None:
    ledger = make_ledger()
    adapter: TypeAdapter[AnyLedger] = TypeAdapter(Ledger)

    again = adapter.validate_json(adapter.dump_json(ledger, by_alias=True))

    assert type(again) is type(ledger)
    assert again == ledger
