from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from sla_management.domain.budget import (
    BudgetStatus,
    BurnLevel,
    ErrorBudget,
    Measurements,
    Thresholds,
    budget_status,
    burn_level,
    burn_rate,
    compute_budget,
    exhaustion_eta,
    occurrences_consumed_percent,
    ratio_consumed_percent,
    timeslice_consumed_percent,
)
from sla_management.domain.slo import BudgetingMethod
from sla_management.domain.windows import BURN_WINDOWS

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DEFAULT = Thresholds()


@pytest.mark.parametrize(
    ("bad", "total", "target", "expected"),
    [
        pytest.param(0, 1000, 0.999, 0.0, id="no bad events spend nothing"),
        pytest.param(1, 1000, 0.999, 100.0, id="one error in a thousand spends all of a 99.9% budget"),
        pytest.param(5, 1000, 0.99, 50.0, id="half the allowed errors spend half the budget"),
        pytest.param(20, 1000, 0.99, 200.0, id="twice the allowed errors overspend to 200%"),
        pytest.param(1000, 1000, 0.5, 200.0, id="every event bad at a 50% target is 200%"),
        pytest.param(0, 0, 0.99, None, id="no traffic is no data, not a division by zero"),
        pytest.param(3, 0, 0.99, None, id="bad events without total traffic are still no data"),
        pytest.param(0, -1, 0.99, None, id="a negative total is no data"),
    ],
)
def test_occurrences_consumed_percent(
    bad: float, total: float, target: float, expected: float | None
) -> None:
    result = occurrences_consumed_percent(bad, total, target)
    assert result == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("bad", "total", "target", "expected"),
    [
        pytest.param(0, 288, 0.75, 0.0, id="no bad slices spend nothing"),
        pytest.param(18, 288, 0.75, 25.0, id="18 of 72 allowed bad slices is a quarter"),
        pytest.param(72, 288, 0.75, 100.0, id="all 72 allowed bad slices spend the whole budget"),
        pytest.param(288, 288, 0.75, 400.0, id="every slice bad is four budgets"),
        pytest.param(43, 8640, 0.99, 43 / 86.4 * 100, id="a fractional allowance of 86.4 slices"),
        pytest.param(0, 0, 0.99, None, id="no slices with data is no data"),
        pytest.param(5, 0, 0.99, None, id="bad slices without any total are no data"),
    ],
)
def test_timeslice_consumed_percent(bad: int, total: int, target: float, expected: float | None) -> None:
    result = timeslice_consumed_percent(bad, total, target)
    assert result == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("good_ratio", "target", "expected"),
    [
        pytest.param(1.0, 0.99, 0.0, id="a perfect ratio spends nothing"),
        pytest.param(0.995, 0.99, 50.0, id="half way between target and perfect is half the budget"),
        pytest.param(0.99, 0.99, 100.0, id="exactly at target spends the whole budget"),
        pytest.param(0.98, 0.99, 200.0, id="twice the allowed errors is 200%"),
        pytest.param(0.0, 0.9, 1000.0, id="a zero ratio is ten budgets at 90%"),
    ],
)
def test_ratio_consumed_percent(good_ratio: float, target: float, expected: float) -> None:
    assert ratio_consumed_percent(good_ratio, target) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("error_ratio", "target", "expected"),
    [
        pytest.param(0.01, 0.99, 1.0, id="the allowed error ratio burns at 1"),
        pytest.param(0.0144, 0.999, 14.4, id="14.4 times the allowed ratio burns at 14.4"),
        pytest.param(0.006, 0.999, 6.0, id="six times the allowed ratio burns at 6"),
        pytest.param(0.0, 0.999, 0.0, id="no errors burn nothing"),
        pytest.param(1.0, 0.5, 2.0, id="all errors at a 50% target burn at 2"),
        pytest.param(-0.001, 0.999, 0.0, id="a negative ratio from counter jitter burns nothing"),
        pytest.param(None, 0.999, None, id="a window without data has no burn rate"),
        pytest.param(math.nan, 0.999, None, id="NaN has no burn rate"),
        pytest.param(math.inf, 0.999, None, id="infinity has no burn rate"),
    ],
)
def test_burn_rate(error_ratio: float | None, target: float, expected: float | None) -> None:
    result = burn_rate(error_ratio, target)
    assert result == (None if expected is None else pytest.approx(expected))


def rates(given: dict[str, float | None] | None = None) -> dict[str, float | None]:
    """Burn rates for every window: 0 unless given."""
    return {**dict.fromkeys(BURN_WINDOWS, 0.0), **(given or {})}


@pytest.mark.parametrize(
    ("given", "thresholds", "expected"),
    [
        pytest.param(rates(), DEFAULT, BurnLevel.NORMAL, id="no burn anywhere is NORMAL"),
        pytest.param(
            rates({"1h": 14.4, "5m": 14.4}),
            DEFAULT,
            BurnLevel.CRITICAL,
            id="exactly 14.4 on 1h and 5m is CRITICAL",
        ),
        pytest.param(
            rates({"1h": 50, "5m": 20, "6h": 50, "30m": 50}),
            DEFAULT,
            BurnLevel.CRITICAL,
            id="CRITICAL wins over FAST",
        ),
        pytest.param(
            rates({"1h": 20, "5m": 14.3, "6h": 7, "30m": 7}),
            DEFAULT,
            BurnLevel.FAST,
            id="1h fast but 5m not confirming falls through to FAST",
        ),
        pytest.param(
            rates({"1h": 20, "5m": None}),
            DEFAULT,
            BurnLevel.NORMAL,
            id="1h fast with 5m missing does not page",
        ),
        pytest.param(rates({"5m": 100, "1h": 14.3}), DEFAULT, BurnLevel.NORMAL, id="5m fast alone is a blip"),
        pytest.param(
            rates({"6h": 6, "30m": 6}), DEFAULT, BurnLevel.FAST, id="exactly 6 on 6h and 30m is FAST"
        ),
        pytest.param(
            rates({"6h": 6, "30m": 5.99}),
            DEFAULT,
            BurnLevel.NORMAL,
            id="6h slow but 30m just below is not FAST",
        ),
        pytest.param(
            rates({"6h": 10, "30m": None}),
            DEFAULT,
            BurnLevel.NORMAL,
            id="6h slow with 30m missing is not FAST",
        ),
        pytest.param(
            rates({"24h": 1, "2h": 1}), DEFAULT, BurnLevel.ELEVATED, id="exactly 1 on 24h and 2h is ELEVATED"
        ),
        pytest.param(
            rates({"24h": 1, "2h": 0.99}),
            DEFAULT,
            BurnLevel.NORMAL,
            id="24h at 1 but 2h recovering is NORMAL",
        ),
        pytest.param(
            rates({"24h": 3, "2h": None}), DEFAULT, BurnLevel.NORMAL, id="24h high with 2h missing is NORMAL"
        ),
        pytest.param(
            rates({"3d": 5, "6h": 5}),
            DEFAULT,
            BurnLevel.NORMAL,
            id="the 3d window alone never raises the level",
        ),
        pytest.param(
            dict.fromkeys(BURN_WINDOWS), DEFAULT, BurnLevel.NO_DATA, id="every window None is NO_DATA"
        ),
        pytest.param({}, DEFAULT, BurnLevel.NO_DATA, id="no windows at all is NO_DATA"),
        pytest.param({"7d": 100.0}, DEFAULT, BurnLevel.NO_DATA, id="windows outside the table are ignored"),
        pytest.param(
            {**dict.fromkeys(BURN_WINDOWS), "5m": 0.0},
            DEFAULT,
            BurnLevel.NORMAL,
            id="one window with data leaves NO_DATA",
        ),
        pytest.param(
            rates({"1h": 2, "5m": 2}),
            Thresholds(burn_fast=2, burn_slow=1.5),
            BurnLevel.CRITICAL,
            id="a custom fast threshold of 2",
        ),
        pytest.param(
            rates({"6h": 1.5, "30m": 1.5}),
            Thresholds(burn_fast=2, burn_slow=1.5),
            BurnLevel.FAST,
            id="a custom slow threshold of 1.5",
        ),
        pytest.param(
            rates({"1h": 14.4, "5m": 14.4}),
            Thresholds(burn_fast=20),
            BurnLevel.NORMAL,
            id="14.4 is not CRITICAL when fast is 20",
        ),
    ],
)
def test_burn_level(given: dict[str, float | None], thresholds: Thresholds, expected: BurnLevel) -> None:
    assert burn_level(given, thresholds) is expected


@pytest.mark.parametrize(
    ("remaining", "thresholds", "expected"),
    [
        pytest.param(100.0, DEFAULT, BudgetStatus.HEALTHY, id="a full budget is HEALTHY"),
        pytest.param(50.0, DEFAULT, BudgetStatus.HEALTHY, id="exactly 50% remaining is HEALTHY"),
        pytest.param(49.999, DEFAULT, BudgetStatus.WARNING, id="just under 50% is WARNING"),
        pytest.param(20.0, DEFAULT, BudgetStatus.WARNING, id="exactly 20% remaining is still WARNING"),
        pytest.param(19.999, DEFAULT, BudgetStatus.CRITICAL, id="just under 20% is CRITICAL"),
        pytest.param(0.001, DEFAULT, BudgetStatus.CRITICAL, id="a sliver left is CRITICAL"),
        pytest.param(0.0, DEFAULT, BudgetStatus.EXHAUSTED, id="exactly 0% remaining is EXHAUSTED"),
        pytest.param(-150.0, DEFAULT, BudgetStatus.EXHAUSTED, id="an overspent budget is EXHAUSTED"),
        pytest.param(
            15.0,
            Thresholds(freeze_percent=10, unfreeze_percent=30),
            BudgetStatus.WARNING,
            id="custom: 15% is WARNING",
        ),
        pytest.param(
            9.9,
            Thresholds(freeze_percent=10, unfreeze_percent=30),
            BudgetStatus.CRITICAL,
            id="custom: 9.9% is CRITICAL",
        ),
        pytest.param(
            30.0,
            Thresholds(freeze_percent=10, unfreeze_percent=30),
            BudgetStatus.HEALTHY,
            id="custom: exactly 30% is HEALTHY",
        ),
    ],
)
def test_budget_status(remaining: float, thresholds: Thresholds, expected: BudgetStatus) -> None:
    assert budget_status(remaining, thresholds) is expected


@pytest.mark.parametrize(
    ("status", "gauge", "has_data"),
    [
        pytest.param(BudgetStatus.HEALTHY, 0, True, id="HEALTHY is 0"),
        pytest.param(BudgetStatus.WARNING, 1, True, id="WARNING is 1"),
        pytest.param(BudgetStatus.CRITICAL, 2, True, id="CRITICAL is 2"),
        pytest.param(BudgetStatus.EXHAUSTED, 3, True, id="EXHAUSTED is 3"),
        pytest.param(BudgetStatus.NO_DATA, -1, False, id="NO_DATA is -1 and has no data"),
        pytest.param(BudgetStatus.UNKNOWN, -1, False, id="UNKNOWN is -1 and has no data"),
    ],
)
def test_status_gauge(status: BudgetStatus, gauge: int, has_data: bool) -> None:
    assert status.gauge == gauge
    assert status.has_data is has_data


@pytest.mark.parametrize(
    ("remaining", "burn", "window_days", "expected"),
    [
        pytest.param(50.0, 2.0, 30, timedelta(days=7.5), id="50% left at burn 2 on 30 days is 7.5 days"),
        pytest.param(10.0, 14.4, 30, timedelta(hours=5), id="10% left at burn 14.4 on 30 days is 5 hours"),
        pytest.param(25.0, 4.0, 7, timedelta(hours=10.5), id="25% left at burn 4 on 7 days is 10.5 hours"),
        pytest.param(
            100.0, 1.0, 30, timedelta(days=30), id="a full budget at burn 1 lasts exactly the window"
        ),
        pytest.param(100.0, 0.5, 30, None, id="beyond the window is no ETA"),
        pytest.param(80.0, 0.5, 90, None, id="144 days on a 90-day window is no ETA"),
        pytest.param(50.0, 0.0, 30, None, id="burn 0 never exhausts"),
        pytest.param(50.0, -1.0, 30, None, id="a negative burn never exhausts"),
        pytest.param(None, 2.0, 30, None, id="no remaining budget known"),
        pytest.param(50.0, None, 30, None, id="no 6h burn rate known"),
        pytest.param(0.0, 2.0, 30, timedelta(0), id="an exhausted budget is exhausted now"),
        pytest.param(-10.0, 2.0, 30, timedelta(0), id="an overspent budget is exhausted now"),
    ],
)
def test_exhaustion_eta(
    remaining: float | None, burn: float | None, window_days: int, expected: timedelta | None
) -> None:
    eta = exhaustion_eta(remaining, burn, window_days, NOW)
    if expected is None:
        assert eta is None
    else:
        assert eta is not None
        assert (eta - NOW).total_seconds() == pytest.approx(expected.total_seconds())


def budget(m: Measurements, target: float = 0.999, window_days: int = 30) -> ErrorBudget:
    return compute_budget(
        slo_id="s1",
        service_name="checkout",
        namespace="shop",
        target=target,
        window_days=window_days,
        measurements=m,
        thresholds=DEFAULT,
        now=NOW,
    )


OCC = BudgetingMethod.OCCURRENCES
SLICES = BudgetingMethod.TIMESLICES


@pytest.mark.parametrize(
    ("m", "target", "sli", "consumed", "status"),
    [
        pytest.param(
            Measurements(budgeting_method=OCC, total_events=1_000_000, bad_events=250),
            0.999,
            0.99975,
            25.0,
            BudgetStatus.HEALTHY,
            id="occurrences: a quarter spent is HEALTHY",
        ),
        pytest.param(
            Measurements(budgeting_method=OCC, total_events=1_000_000, bad_events=600),
            0.999,
            0.9994,
            60.0,
            BudgetStatus.WARNING,
            id="occurrences: 60% spent is WARNING",
        ),
        pytest.param(
            Measurements(budgeting_method=OCC, total_events=1_000_000, bad_events=900),
            0.999,
            0.9991,
            90.0,
            BudgetStatus.CRITICAL,
            id="occurrences: 90% spent is CRITICAL",
        ),
        pytest.param(
            Measurements(budgeting_method=OCC, total_events=1_000_000, bad_events=2000),
            0.999,
            0.998,
            200.0,
            BudgetStatus.EXHAUSTED,
            id="occurrences: twice the budget is EXHAUSTED",
        ),
        pytest.param(
            Measurements(budgeting_method=SLICES, total_slices=288, bad_slices=18),
            0.75,
            0.9375,
            25.0,
            BudgetStatus.HEALTHY,
            id="timeslices: 18 of 72 allowed bad slices is HEALTHY",
        ),
        pytest.param(
            Measurements(budgeting_method=SLICES, total_slices=288, bad_slices=60),
            0.75,
            1 - 60 / 288,
            60 / 72 * 100,
            BudgetStatus.CRITICAL,
            id="timeslices: 60 of 72 allowed bad slices is CRITICAL",
        ),
        pytest.param(
            Measurements(budgeting_method=OCC, good_ratio=0.996),
            0.99,
            0.996,
            40.0,
            BudgetStatus.HEALTHY,
            id="ratio: 0.996 against 0.99 is 40% spent",
        ),
        pytest.param(
            Measurements(budgeting_method=OCC, good_ratio=0.9),
            0.99,
            0.9,
            1000.0,
            BudgetStatus.EXHAUSTED,
            id="ratio: 0.9 against 0.99 is ten budgets",
        ),
        pytest.param(
            Measurements(budgeting_method=OCC, total_events=1000, bad_events=0, good_ratio=0.5),
            0.99,
            1.0,
            0.0,
            BudgetStatus.HEALTHY,
            id="counts win over a ratio when both are given",
        ),
    ],
)
def test_compute_budget_with_data(
    m: Measurements, target: float, sli: float, consumed: float, status: BudgetStatus
) -> None:
    b = budget(m, target)
    assert b.status is status
    assert b.sli == pytest.approx(sli)
    assert b.consumed_percent == pytest.approx(consumed)
    assert b.remaining_percent == pytest.approx(100 - consumed)
    assert b.budgeting_method is m.budgeting_method
    assert b.error is None


@pytest.mark.parametrize(
    "m",
    [
        pytest.param(
            Measurements(budgeting_method=OCC, total_events=0, bad_events=0), id="zero total events"
        ),
        pytest.param(
            Measurements(budgeting_method=OCC, total_events=0, bad_events=7), id="bad events but zero total"
        ),
        pytest.param(Measurements(budgeting_method=OCC), id="no counts and no ratio"),
        pytest.param(Measurements(budgeting_method=OCC, total_events=100), id="a total without bad events"),
        pytest.param(Measurements(budgeting_method=OCC, good_ratio=math.nan), id="a NaN ratio"),
        pytest.param(Measurements(budgeting_method=OCC, good_ratio=math.inf), id="an infinite ratio"),
        pytest.param(
            Measurements(budgeting_method=SLICES, total_slices=0, bad_slices=0), id="zero slices with data"
        ),
        pytest.param(Measurements(budgeting_method=SLICES), id="no slice counts"),
        pytest.param(
            Measurements(budgeting_method=SLICES, total_events=100, bad_events=1),
            id="event counts do not stand in for slices",
        ),
    ],
)
def test_compute_budget_without_data_is_no_data(m: Measurements) -> None:
    b = budget(m)
    assert b.status is BudgetStatus.NO_DATA
    assert b.sli is None
    assert b.consumed_percent is None
    assert b.remaining_percent is None
    assert b.exhaustion_eta is None
    assert b.burn_level is BurnLevel.NO_DATA
    assert b.error is None


def test_no_data_still_reports_burn_rates_of_windows_that_have_data() -> None:
    b = budget(
        Measurements(
            budgeting_method=OCC, total_events=0, bad_events=0, error_ratios={"5m": 0.015, "1h": 0.015}
        )
    )
    assert b.status is BudgetStatus.NO_DATA
    assert b.burn_rates["5m"] == pytest.approx(15.0)
    assert b.burn_rates["6h"] is None
    assert b.burn_level is BurnLevel.CRITICAL


def test_unreadable_sli_is_unknown_keeps_the_error_and_makes_up_no_numbers() -> None:
    m = Measurements(
        budgeting_method=OCC,
        total_events=1000,
        bad_events=1,
        good_ratio=0.9,
        error_ratios=dict.fromkeys(BURN_WINDOWS, 0.5),
        error="Prometheus at http://prom:9090 did not answer: ConnectError",
    )
    b = budget(m)
    assert b.status is BudgetStatus.UNKNOWN
    assert b.error == "Prometheus at http://prom:9090 did not answer: ConnectError"
    assert b.sli is None
    assert b.consumed_percent is None
    assert b.remaining_percent is None
    assert b.exhaustion_eta is None
    assert b.burn_rates == dict.fromkeys(BURN_WINDOWS)
    assert b.burn_level is BurnLevel.UNKNOWN


def test_compute_budget_end_to_end_burn_rates_level_and_eta() -> None:
    m = Measurements(
        budgeting_method=OCC,
        total_events=1_000_000,
        bad_events=500,
        error_ratios={
            "5m": 0.02,
            "30m": 0.01,
            "1h": 0.015,
            "2h": 0.004,
            "6h": 0.002,
            "24h": 0.001,
            "3d": None,
        },
    )
    b = budget(m, target=0.999, window_days=30)
    assert b.remaining_percent == pytest.approx(50.0)
    assert b.status is BudgetStatus.HEALTHY
    assert b.burn_rates == {
        "5m": pytest.approx(20.0),
        "30m": pytest.approx(10.0),
        "1h": pytest.approx(15.0),
        "2h": pytest.approx(4.0),
        "6h": pytest.approx(2.0),
        "24h": pytest.approx(1.0),
        "3d": None,
    }
    assert b.burn_level is BurnLevel.CRITICAL
    # 50 % left at the 6h burn of 2 on a 30-day window.
    assert b.exhaustion_eta is not None
    assert (b.exhaustion_eta - NOW).total_seconds() == pytest.approx(timedelta(days=7.5).total_seconds())
    assert b.calculated_at == NOW
    assert (b.slo_id, b.service_name, b.namespace) == ("s1", "checkout", "shop")


def test_error_budget_serialises_in_camel_case() -> None:
    b = budget(Measurements(budgeting_method=OCC, total_events=1000, bad_events=0))
    out = b.model_dump(by_alias=True, mode="json")
    assert {
        "sloId",
        "remainingPercent",
        "consumedPercent",
        "burnRates",
        "burnLevel",
        "exhaustionEta",
    } <= out.keys()
    assert out["status"] == "HEALTHY"
    assert not any("_" in key for key in out)


def test_exactly_twenty_percent_left_from_counts_is_warning_not_critical() -> None:
    # 800 bad of 1,000,000 against 99.9 % is 80 % spent: floating point must not tip it over.
    budget = compute_budget(
        slo_id="s",
        service_name="svc",
        namespace="default",
        target=0.999,
        window_days=30,
        measurements=Measurements(
            budgeting_method=BudgetingMethod.OCCURRENCES,
            total_events=1_000_000,
            bad_events=800,
            error_ratios={"1h": 0.0144, "5m": 0.0144},
        ),
        thresholds=Thresholds(),
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert budget.remaining_percent == 20
    assert budget.status is BudgetStatus.WARNING
    assert budget.burn_rates["1h"] == 14.4
    assert budget.burn_level is BurnLevel.CRITICAL


def test_nan_counts_are_no_data_not_healthy() -> None:
    budget = compute_budget(
        slo_id="s",
        service_name="svc",
        namespace="default",
        target=0.99,
        window_days=30,
        measurements=Measurements(
            budgeting_method=BudgetingMethod.OCCURRENCES, total_events=float("nan"), bad_events=1.0
        ),
        thresholds=Thresholds(),
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert budget.status is BudgetStatus.NO_DATA
