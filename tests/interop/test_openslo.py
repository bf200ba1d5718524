"""OpenSLO v1: the public examples' shapes, Prometheus sources, and round trips both ways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sla_management.domain.interop.common import InteropError
from sla_management.domain.interop.openslo import export_openslo, import_openslo, to_openslo
from sla_management.domain.slo import SLIKind, SLOSpec

DATA = Path(__file__).parent / "data" / "openslo"
# The examples with something importable; the others are all skips (see the first test).
ROUND_TRIP = ["prometheus.yaml", "sdk-web-availability.yaml"]
W = "{{.window}}"
CALENDAR = "calendar-aligned windows are not supported: SLO windows here are rolling"
RATIO_TIMESLICES = "budgetingMethod 'RatioTimeslices' is not supported (Occurrences or Timeslices)"


def load(name: str) -> tuple[dict[str, SLOSpec], dict[str, str], dict[str, list[str]]]:
    result = import_openslo((DATA / name).read_text())
    return (
        {c.item: c.spec for c in result.converted},
        {s.item: s.reason for s in result.skipped},
        {c.item: c.notes for c in result.converted},
    )


@pytest.mark.parametrize(
    ("example", "skipped"),
    [
        pytest.param(
            "readme-examples.yaml",
            {
                "SLO foo-slo": "total reads from Datadog, not Prometheus",
                "SLO redshift-slo": "thresholdMetric reads from Redshift, not Prometheus",
            },
            id="the README's Datadog and Redshift SLOs",
        ),
        pytest.param(
            "budgeting-method.yaml",
            {
                "SLO search-slo": "thresholdMetric reads from Any, not Prometheus",
                "SLO service-availability": CALENDAR,
                "SLO main-page": RATIO_TIMESLICES,
            },
            id="the budgeting-method examples",
        ),
        pytest.param(
            "sdk-web-availability.yaml",
            {"SLO web-availability": CALENDAR},
            id="the SDK example: its calendar week skipped, the rolling copy imported",
        ),
        pytest.param(
            "prometheus.yaml",
            {"SLO sloth-slo-my-service": "apiVersion openslo/v1alpha is not supported, only openslo/v1"},
            id="Prometheus sources: all v1 SLOs imported",
        ),
    ],
)
def test_examples_skip_only_what_cannot_be_imported(example: str, skipped: dict[str, str]) -> None:
    created, reasons, _ = load(example)
    assert reasons == skipped
    assert bool(created) == (example in ROUND_TRIP)


def _expect(spec: SLOSpec, expected: dict[str, Any]) -> None:
    expected = dict(expected)
    assert spec.kind is expected.pop("kind")
    for field in ("query", "good_query", "error_query", "total_query"):
        if field in expected:
            assert getattr(spec.sli_query, field) == expected.pop(field)
    for field, value in expected.items():
        got = getattr(spec, field)
        assert (got.value if hasattr(got, "value") else got) == value, field


@pytest.mark.parametrize(
    ("item", "expected", "notes"),
    [
        pytest.param(
            "SLO checkout-availability",
            {
                "kind": SLIKind.ERROR_TOTAL,
                "name": "Checkout availability",
                "error_query": f'sum(rate(http_requests_total{{service="checkout",code=~"5.."}}[{W}]))',
                "target": 0.995,
                "window_days": 28,
                "labels": {"team": "payments"},
                "description": "Checkout requests succeed.",
            },
            [],
            id="indicatorRef through a DataSource, targetPercent",
        ),
        pytest.param(
            "SLO search-success",
            {
                "kind": SLIKind.GOOD_TOTAL,
                "good_query": f'sum(increase(search_requests_total{{code=~"2..|3.."}}[{W}])) '
                f"+ sum(increase(search_cache_hits_total[{W}]))",
                "total_query": f"sum by (instance) (increase(search_requests_total[{W}])) "
                f"+ sum(increase(search_cache_hits_total[{W}]))",
                "window_days": 28,
            },
            [],
            id="plain counters get increase() over the window",
        ),
        pytest.param(
            "SLO bus-latency",
            {
                "kind": SLIKind.THRESHOLD,
                "query": "histogram_quantile(0.95, sum(rate(bus_duration_seconds_bucket[5m])) by (le))",
                "threshold": 0.15,
                "comparison": "lte",
                "timeslice_minutes": 5,
                "target": 0.999,
                "namespace": "neural-hive-orchestration",
                "layer": "orquestracao",
                "slo_type": "LATENCY",
            },
            ["timeSliceTarget 0.95 has no equivalent: each slice is judged by one evaluation"],
            id="thresholdMetric timeslices, our annotations read back",
        ),
        pytest.param(
            "SLO queue-depth",
            {
                "kind": SLIKind.GOOD_TOTAL,
                "good_query": f'count_over_time(((max(queue_depth{{queue="jobs"}})) < 1000)[{W}:])',
                "total_query": f'count_over_time((max(queue_depth{{queue="jobs"}}))[{W}:])',
            },
            ["Occurrences over a thresholdMetric: every sample of the query is an event"],
            id="thresholdMetric occurrences count good samples",
        ),
        pytest.param(
            "SLO uptime",
            {"kind": SLIKind.RATIO, "query": f'avg(avg_over_time(up{{job="edge"}}[{W}]))', "target": 0.999},
            [],
            id="a raw success ratio",
        ),
        pytest.param(
            "SLO apiserver-latency objective 2",
            {"kind": SLIKind.GOOD_TOTAL, "name": "Apiserver latency - very fast", "target": 0.9},
            [],
            id="one SLO per objective",
        ),
        pytest.param(
            "SLO wifi-satisfaction",
            {
                "kind": SLIKind.GOOD_TOTAL,
                "good_query": f"sum_over_time((count(wifi_client_satisfaction_ratio >= 0.75))[{W}:])",
            },
            ["gauge queries (counter: false) are summed over the window"],
            id="gauges are summed over the window",
        ),
        pytest.param(
            "SLO payments-minutes",
            {
                "kind": SLIKind.THRESHOLD,
                "query": f'1 - (sum(increase(payments_total{{status="failed"}}[{W}]))) '
                f"/ (sum(increase(payments_total[{W}])))",
                "threshold": 0.99,
                "comparison": "gte",
                "timeslice_minutes": 1,
            },
            [],
            id="timeslices over a ratio: a slice is good when its ratio meets timeSliceTarget",
        ),
    ],
)
def test_prometheus_slos(item: str, expected: dict[str, Any], notes: list[str]) -> None:
    specs, _, all_notes = load("prometheus.yaml")
    _expect(specs[item], expected)
    assert all_notes[item] == notes


@pytest.mark.parametrize("example", ROUND_TRIP)
def test_round_trip_from_openslo(example: str) -> None:
    first = import_openslo((DATA / example).read_text())
    assert first.converted
    again = import_openslo(export_openslo([c.spec for c in first.converted]))
    assert not again.skipped
    assert [c.spec for c in again.converted] == [c.spec for c in first.converted]


OURS = [
    SLOSpec(
        name="Checkout: errors {{x}}",
        slo_type="ERROR_RATE",
        service_name="checkout",
        namespace="shop",
        layer="experiencia",
        description="5xx are errors",
        labels={"team": "payments"},
        target=0.999,
        window_days=7,
        sli_query={"errorQuery": f"sum(rate(e[{W}]))", "totalQuery": f"sum(rate(t[{W}]))"},
    ),
    SLOSpec(
        name="good",
        slo_type="AVAILABILITY",
        service_name="s",
        target=0.99,
        sli_query={"goodQuery": f"sum(increase(g[{W}]))", "totalQuery": f"sum(increase(t[{W}]))"},
    ),
    SLOSpec(
        name="ratio", slo_type="CUSTOM", service_name="s", target=0.95, sli_query={"query": f"avg(up[{W}])"}
    ),
    SLOSpec(
        name="bus latency",
        slo_type="LATENCY",
        service_name="message-bus",
        target=0.999,
        threshold=500,
        timeslice_minutes=60,
        sli_query={"metricName": "x", "query": "max(lat_ms)"},
    ),
]


def test_round_trip_from_ours() -> None:
    result = import_openslo(export_openslo(OURS))
    assert not result.skipped
    # metricName is descriptive only and has no OpenSLO field.
    expected = [
        s.model_copy(update={"sli_query": s.sli_query.model_copy(update={"metric_name": None})}) for s in OURS
    ]
    assert [c.spec for c in result.converted] == expected
    assert all(c.notes == [] for c in result.converted)


def test_export_is_valid_openslo_v1() -> None:
    doc = to_openslo(OURS[3])
    assert doc["apiVersion"] == "openslo/v1" and doc["kind"] == "SLO"
    assert doc["metadata"]["name"] == "bus-latency"  # an RFC 1123 name; the name itself is displayName
    assert doc["spec"]["budgetingMethod"] == "Timeslices"
    assert doc["spec"]["timeWindow"] == [{"duration": "30d", "isRolling": True}]
    assert doc["spec"]["objectives"] == [
        {
            "displayName": "bus latency",
            "target": 0.999,
            "op": "lte",
            "value": 500,
            "timeSliceTarget": 1,
            "timeSliceWindow": "1h",
        }
    ]
    assert doc["spec"]["indicator"]["spec"] == {
        "thresholdMetric": {"metricSource": {"type": "Prometheus", "spec": {"query": "max(lat_ms)"}}}
    }
    documents = list(yaml.safe_load_all(export_openslo(OURS)))
    assert [d["metadata"]["displayName"] for d in documents] == [s.name for s in OURS]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        pytest.param("max(http_requests)", "is not a sum of counters", id="max of counters"),
        pytest.param("sum(rate(x[5m]))", "has a fixed range", id="a fixed range"),
        pytest.param("sum(x) / sum(y)", "is not a sum of counters", id="a ratio of counters"),
        pytest.param("sum(x offset 1h)", "is not a sum of counters", id="an offset"),
    ],
)
def test_counter_queries_that_cannot_be_windowed(query: str, reason: str) -> None:
    text = f"""
apiVersion: openslo/v1
kind: SLO
metadata: {{name: s}}
spec:
  service: s
  budgetingMethod: Occurrences
  objectives: [{{target: 0.99}}]
  indicator:
    metadata: {{name: i}}
    spec:
      ratioMetric:
        counter: true
        good: {{metricSource: {{type: Prometheus, spec: {{query: 'sum(good)'}}}}}}
        total: {{metricSource: {{type: Prometheus, spec: {{query: '{query}'}}}}}}
"""
    result = import_openslo(text)
    assert not result.converted
    assert reason in result.skipped[0].reason


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        pytest.param({"indicatorRef": "missing"}, "no SLI of that name", id="indicatorRef to nothing"),
        pytest.param({"objectives": []}, "no objectives", id="no objectives"),
        pytest.param({"budgetingMethod": None}, "budgetingMethod None", id="no budgeting method"),
        pytest.param({"service": None}, "no service", id="no service"),
        pytest.param({"timeWindow": [{"duration": "1Y", "isRolling": True}]}, "1Y window", id="a year"),
        pytest.param(
            {"timeWindow": [{"duration": "36h", "isRolling": True}]}, "whole number of days", id="36h"
        ),
        pytest.param(
            {"objectives": [{"target": 0.99, "indicatorRef": "x"}]}, "composite SLOs", id="a composite SLO"
        ),
        pytest.param(
            {"objectives": [{"target": 1.5}]},
            "target is a ratio and must be above 0 and below 1, e.g. 0.999 for 99.9 % (it is 1.5; a "
            "percentage goes in targetPercent)",
            id="a target over one",
        ),
        pytest.param(
            {"objectives": [{"target": 0}]},
            "target is a ratio and must be above 0 and below 1",
            id="target 0",
        ),
        pytest.param({"objectives": [{"target": "high"}]}, "target 'high' is not a number", id="target text"),
        pytest.param(
            {"objectives": [{"target": 0.999999}]},
            "an objective of 99.9999 % is above 99.999 %",
            id="a target of six nines",
        ),
        pytest.param(
            {"objectives": [{"targetPercent": 150}]},
            "targetPercent is a percentage and must be below 100 (it is 150)",
            id="targetPercent 150",
        ),
        pytest.param(
            {"objectives": [{"targetPercent": "x"}]},
            "targetPercent 'x' is not a percentage",
            id="targetPercent text",
        ),
        pytest.param(
            {"timeWindow": [{"duration": "120d", "isRolling": True}]},
            "a 120d window is 120 days; windows here are 1 to 90 days",
            id="120 days",
        ),
        pytest.param(
            {"timeWindow": [{"duration": "0d", "isRolling": True}]},
            "windows here are 1 to 90 days",
            id="0 days",
        ),
        pytest.param({"service": "  "}, "serviceName: must not be empty or blank", id="a blank service"),
    ],
)
def test_skipped_slos(spec: dict[str, Any], reason: str) -> None:
    base: dict[str, Any] = {
        "service": "s",
        "budgetingMethod": "Occurrences",
        "objectives": [{"target": 0.99}],
        "indicatorRef": "sli",
    }
    sli = {
        "apiVersion": "openslo/v1",
        "kind": "SLI",
        "metadata": {"name": "sli"},
        "spec": {
            "ratioMetric": {
                "raw": {"metricSource": {"type": "Prometheus", "spec": {"query": f"avg(up[{W}])"}}}
            }
        },
    }
    slo = {"apiVersion": "openslo/v1", "kind": "SLO", "metadata": {"name": "x"}, "spec": {**base, **spec}}
    result = import_openslo(yaml.safe_dump_all([sli, slo]))
    assert not result.converted
    assert reason in result.skipped[0].reason, result.skipped


def test_months_and_quarters_are_approximated() -> None:
    text = (DATA / "prometheus.yaml").read_text().replace("duration: 28d", "duration: 1M")
    specs, _, notes = load_text(text)
    assert specs["SLO checkout-availability"].window_days == 30
    assert notes["SLO checkout-availability"] == ["a rolling 1M window is taken as 30 days"]


def load_text(text: str) -> tuple[dict[str, SLOSpec], dict[str, str], dict[str, list[str]]]:
    result = import_openslo(text)
    return (
        {c.item: c.spec for c in result.converted},
        {s.item: s.reason for s in result.skipped},
        {c.item: c.notes for c in result.converted},
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("version: prometheus/v1\nservice: s", id="a Sloth spec"),
        pytest.param("groups: []", id="a rule file"),
        pytest.param("apiVersion: [", id="not YAML"),
    ],
)
def test_not_openslo(text: str) -> None:
    with pytest.raises(InteropError):
        import_openslo(text)


@pytest.mark.parametrize(
    "source",
    [
        pytest.param({"type": "Prometheus", "spec": ["sum(x)"]}, id="a list for the source spec"),
        pytest.param({"metricSourceRef": "ds"}, id="a DataSource whose spec is a list"),
    ],
)
def test_a_list_where_a_mapping_belongs_is_a_skip(source: dict[str, Any]) -> None:
    data_source = {
        "apiVersion": "openslo/v1",
        "kind": "DataSource",
        "metadata": {"name": "ds"},
        "spec": ["x"],
    }
    slo = {
        "apiVersion": "openslo/v1",
        "kind": "SLO",
        "metadata": {"name": "x"},
        "spec": {
            "service": "s",
            "budgetingMethod": "Occurrences",
            "objectives": [{"target": 0.99}],
            "indicator": {"spec": {"ratioMetric": {"raw": {"metricSource": source}}}},
        },
    }
    result = import_openslo(yaml.safe_dump_all([data_source, slo]))
    assert not result.converted
    assert result.skipped[0].reason.startswith("raw ")
