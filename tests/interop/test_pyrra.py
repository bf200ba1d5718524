"""Pyrra ServiceLevelObjectives: every indicator kind, window and target form, alerting switch,
and what is skipped, each with its exact result and a round trip through our own formats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sla_management.domain.interop.common import InteropError
from sla_management.domain.interop.openslo import export_openslo, import_openslo
from sla_management.domain.interop.prom_alerts import import_alerts
from sla_management.domain.interop.pyrra import import_pyrra
from sla_management.domain.rules import render_rule_file
from sla_management.domain.slo import SLOSpec
from tests.interop.support import normalized, stored

DATA = Path(__file__).parent / "data" / "pyrra"
W = "{{.window}}"
BURNS = (
    "Pyrra's four burn-rate alerts (14x, 7x, 2x, 1x, windows scaled to the SLO window) are written as "
    "our page (14.4x 1h/5m, 6x 6h/30m) and ticket (3x 1d/2h, 1x 3d/6h) alerts"
)
ABSENT = "Pyrra's absent-metric alert is not written: no data here is NO_DATA, never an alert"
PYRRA_ALERTS = {
    "name": "ErrorBudgetBurn",
    "page": {"labels": {"severity": "critical"}},
    "ticket": {"labels": {"severity": "warning"}},
}


def everything() -> str:
    return "\n---\n".join(p.read_text() for p in sorted(DATA.glob("*.yaml")))


def load(name: str) -> tuple[dict[str, SLOSpec], dict[str, list[str]], dict[str, str]]:
    result = import_pyrra((DATA / name).read_text(), namespace="fallback")
    return (
        {c.item: c.spec for c in result.converted},
        {c.item: c.notes for c in result.converted},
        {s.item: s.reason for s in result.skipped},
    )


def spec(**fields: Any) -> SLOSpec:
    return SLOSpec.model_validate(fields)


EXPECTED = [
    pytest.param(
        "ratio.yaml",
        "ServiceLevelObjective shop/checkout-errors",
        spec(
            name="checkout-errors",
            sloType="AVAILABILITY",
            serviceName="checkout",
            namespace="shop",
            description="Checkout requests answer without a 5xx.",
            labels={"team": "payments"},
            target=0.995,
            windowDays=14,
            sliQuery={
                "errorQuery": f'sum(rate(checkout_requests_total{{job="checkout",code=~"5.."}}[{W}]))',
                "totalQuery": f'sum(rate(checkout_requests_total{{job="checkout"}}[{W}]))',
            },
            alerting={
                **PYRRA_ALERTS,
                "name": "CheckoutErrorBudgetBurn",
                "annotations": {"runbook": "https://runbooks.example/checkout"},
            },
        ),
        [
            "Pyrra's ratio indicators have no SLO type: AVAILABILITY is used; set sloType to change it",
            "resource labels prometheus, role are not carried: Pyrra copies only pyrra.dev/ labels onto its rules",
            BURNS,
        ],
        id="ratio: errors and total rates, pyrra.dev/ labels and annotations, a named alert, no absent alert",
    ),
    pytest.param(
        "latency.yaml",
        "ServiceLevelObjective shop/search-latency",
        spec(
            name="search-latency",
            sloType="LATENCY",
            serviceName="search",
            namespace="shop",
            target=0.99,
            windowDays=28,
            sliQuery={
                "goodQuery": f'sum(rate(search_duration_seconds_bucket{{handler="/search",le="0.25"}}[{W}] offset 1m))',
                "totalQuery": f'sum(rate(search_duration_seconds_count{{handler="/search"}}[{W}] offset 1m))',
            },
            alerting=PYRRA_ALERTS,
        ),
        [BURNS, ABSENT],
        id="latency: the le bucket over the count, the offset after the range, service from pyrra.dev/service",
    ),
    pytest.param(
        "latency.yaml",
        "ServiceLevelObjective shop/api-latency-native",
        spec(
            name="api-latency-native",
            sloType="LATENCY",
            serviceName="api",
            namespace="shop",
            target=0.999,
            windowDays=28,
            sliQuery={
                "query": f'histogram_fraction(0, 0.15, sum(rate(api_request_duration_seconds{{job="api"}}[{W}])))'
            },
            alerting=PYRRA_ALERTS,
        ),
        [BURNS, ABSENT],
        id="latencyNative: the native histogram's fraction under 150ms, service from the job",
    ),
    pytest.param(
        "more.yaml",
        "ServiceLevelObjective jobs/queue-up",
        spec(
            name="queue-up",
            sloType="AVAILABILITY",
            serviceName="queue",
            namespace="jobs",
            target=0.999,
            windowDays=7,
            sliQuery={
                "goodQuery": f'sum(sum_over_time(up{{job="queue"}}[{W}]))',
                "totalQuery": f'sum(count_over_time(up{{job="queue"}}[{W}]))',
            },
            alerting={"page": {"enabled": False}, "ticket": {"enabled": False}},
        ),
        [
            "target 0.999 is read as 99.9 %: Pyrra reads targets as percentages, so it would have meant 0.999 %",
            "Pyrra's burn-rate alerts are off for it: its page and ticket alerts are off",
        ],
        id="bool_gauge in a List: ones over samples; a target written as a ratio; alerting disabled",
    ),
]


@pytest.mark.parametrize(("file", "item", "expected", "notes"), EXPECTED)
def test_each_indicator_kind(file: str, item: str, expected: SLOSpec, notes: list[str]) -> None:
    specs, all_notes, _ = load(file)
    assert specs[item] == expected
    assert all_notes[item] == notes


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        pytest.param(
            "ServiceLevelObjective shop/api-errors-by-handler",
            "grouping by handler makes one SLO per label value; this system has no per-label SLO groups "
            "yet: import it once per value (with that value in the selectors), or without grouping for "
            "the SLO over all of them",
            id="grouping",
        ),
        pytest.param(
            "ServiceLevelObjective shop/half-day",
            "window 36h is not a whole number of days from 1 to 90",
            id="a window of 36h",
        ),
    ],
)
def test_what_is_skipped_says_why(item: str, reason: str) -> None:
    _, _, skipped = load("more.yaml")
    assert skipped[item] == reason


@pytest.mark.parametrize(
    ("indicator", "reason"),
    [
        pytest.param({}, "exactly one of ratio, latency, latencyNative, bool_gauge", id="no indicator"),
        pytest.param(
            {"ratio": {"errors": {"metric": "sum(x)"}, "total": {"metric": "x"}}},
            "is not a metric selector, as Pyrra requires",
            id="an aggregation, not a selector",
        ),
        pytest.param(
            {"latency": {"success": {"metric": "b"}, "total": {"metric": "c"}}},
            "needs an `le` matcher",
            id="latency without le",
        ),
        pytest.param(
            {"latencyNative": {"total": {"metric": "h"}, "latency": "fast"}},
            "latency 'fast' is not a duration",
            id="native latency without a duration",
        ),
        pytest.param({"bool_gauge": {"metric": "up @ 100"}}, "an `@` modifier", id="a pinned gauge"),
    ],
)
def test_indicators_that_cannot_be_read(indicator: dict[str, Any], reason: str) -> None:
    text = (
        "apiVersion: pyrra.dev/v1alpha1\nkind: ServiceLevelObjective\nmetadata: {name: x}\n"
        f"spec: {{target: '99', window: 1d, indicator: {indicator}}}\n"
    )
    result = import_pyrra(text)
    assert not result.converted
    [skipped] = result.skipped
    assert reason in skipped.reason


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("groups: []", "not a Pyrra file", id="a rule file"),
        pytest.param("kind: [", "not valid YAML", id="not YAML"),
        pytest.param("apiVersion: v1\nkind: List\nitems: []", "not a Pyrra file", id="an empty List"),
    ],
)
def test_not_pyrra(text: str, message: str) -> None:
    with pytest.raises(InteropError, match=message):
        import_pyrra(text)


def test_round_trip_through_the_rules_we_write() -> None:
    """Pyrra -> SLOs -> `sla rules` -> the alert importer: the same SLOs, alerting included;
    an SLO without alerts has nothing in the rules to read its objective from, and says so."""
    first = [c.spec for c in import_pyrra(everything()).converted]
    assert [s.name for s in first] == ["search-latency", "api-latency-native", "queue-up", "checkout-errors"]
    back = import_alerts(render_rule_file(stored(first)))
    assert [c.spec for c in back.converted] == [normalized(s) for s in first if s.name != "queue-up"]
    [skipped] = back.skipped
    assert skipped.item == "recorded SLO id-2"
    assert skipped.reason.endswith("export it with `sla export openslo` or `sla export sloth` instead")


def test_round_trip_through_openslo() -> None:
    first = [c.spec for c in import_pyrra(everything()).converted]
    again = import_openslo(export_openslo(first))
    assert not again.skipped
    assert [c.spec for c in again.converted] == first
