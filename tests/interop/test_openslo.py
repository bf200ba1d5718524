"""OpenSLO v1: the public examples' shapes, Prometheus sources, and round trips both ways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sla_management.domain.interop.common import InteropError
from sla_management.domain.interop.openslo import export_openslo, import_openslo, to_openslo
from sla_management.domain.slo import SLIKind, SLOAlerting, SLOSpec

DATA = Path(__file__).parent / "data" / "openslo"
# The examples with something importable; the others are all skips (see the first test).
ROUND_TRIP = ["prometheus.yaml", "sdk-web-availability.yaml"]
W = "{{.window}}"
NO_TYPE = "the file states no SLO type: AVAILABILITY is used; set sloType to change it"


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
                "SLO service-availability": "total reads from Any, not Prometheus",
                "SLO main-page": "total reads from Any, not Prometheus",
            },
            id="the budgeting-method examples: their sources are placeholders",
        ),
        pytest.param(
            "sdk-web-availability.yaml", {}, id="the SDK example: the calendar week is read as 7 rolling days"
        ),
        pytest.param("prometheus.yaml", {}, id="Prometheus sources: all SLOs, v1alpha included"),
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
            [NO_TYPE],
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
            ["Occurrences over a thresholdMetric: every sample of the query is an event", NO_TYPE],
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
            ["gauge queries (counter: false) are summed over the window", NO_TYPE],
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
            ["the file states no SLO type: CUSTOM is used; set sloType to change it"],
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
        pytest.param({"budgetingMethod": None}, "budgetingMethod 'None' is not", id="no budgeting method"),
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


# Several files, alert policies, and the shapes of issue 16 -----------------------------------------

MULTI = DATA / "multi-file"


def multi_file_text(order: list[str] | None = None) -> str:
    files = sorted(MULTI.glob("*.yaml"))
    if order is not None:
        files = [MULTI / name for name in order]
    return "\n---\n".join(f.read_text() for f in files)


ORDERS = {
    "name": "Orders availability",
    "sloType": "AVAILABILITY",
    "serviceName": "orders",
    "description": "Orders go through.",
    "target": 0.995,
    "windowDays": 30,
    "sliQuery": {
        "errorQuery": f'sum(increase(orders_total{{status="failed"}}[{W}]))',
        "totalQuery": f"sum(increase(orders_total[{W}]))",
    },
    "alerting": {
        "page": {
            "name": "OrdersFastBurn",
            "labels": {"severity": "critical", "notification_target": "orders-oncall"},
        },
        "ticket": {
            "name": "orders-slow",
            "labels": {"severity": "warning", "notification_target": "orders-tickets"},
        },
    },
}
ORDERS_NOTES = [
    "the calendar-aligned 1M window from 2024-01-01 00:00:00 Europe/Lisbon is taken as a rolling 30-day "
    "window: calendar windows do not exist here yet",
    "alert policy orders-fast: alerting on resolution is not carried: Alertmanager's send_resolved tells "
    "when an alert resolves",
    "alert policy orders-fast: burn rate 14.4 over 1h is taken as the page alert (14.4x over 1h/5m, "
    "6x over 6h/30m)",
    "alert policy orders-slow: burn rate 2 over 1d is taken as the ticket alert (3x over 24h/2h, 1x over 3d/6h)",
]


@pytest.mark.parametrize(
    "order",
    [
        pytest.param(None, id="in file order"),
        pytest.param(["4-slo.yaml", "3-alerts.yaml", "2-sli.yaml", "1-datasource.yaml"], id="the SLO first"),
    ],
)
def test_an_slo_whose_sli_source_and_alert_policies_are_in_other_files(order: list[str] | None) -> None:
    result = import_openslo(multi_file_text(order))
    assert result.skipped == []
    [got] = result.converted
    assert got.spec == SLOSpec.model_validate(ORDERS)
    assert got.notes == ORDERS_NOTES


@pytest.mark.parametrize(
    ("missing", "reason"),
    [
        pytest.param(
            "2-sli.yaml", "indicatorRef 'orders-errors': no SLI of that name in the files", id="the SLI"
        ),
        pytest.param(
            "1-datasource.yaml",
            "total refers to DataSource 'prometheus', which no file defines",
            id="the DataSource",
        ),
    ],
)
def test_a_file_left_out_is_named(missing: str, reason: str) -> None:
    files = [p.name for p in sorted(MULTI.glob("*.yaml")) if p.name != missing]
    result = import_openslo(multi_file_text(files))
    assert [(s.item, s.reason) for s in result.skipped] == [("SLO orders-availability", reason)]


def test_alert_policies_left_out_turn_their_alert_off_and_say_so() -> None:
    result = import_openslo(multi_file_text(["1-datasource.yaml", "2-sli.yaml", "4-slo.yaml"]))
    [got] = result.converted
    assert got.spec.alerting == SLOAlerting.model_validate(
        {"page": {"enabled": False}, "ticket": {"enabled": False}}
    )
    assert got.notes[1:] == [
        "alert policy 'orders-fast' is in no file: not carried",
        "alert policy 'orders-slow' is in no file: not carried",
        "no alert policy maps to the page alert: it is off",
        "no alert policy maps to the ticket alert: it is off",
    ]


SHAPES = [
    pytest.param(
        "SLO checkout-ratio-slices",
        {
            "name": "checkout-ratio-slices",
            "sloType": "AVAILABILITY",
            "serviceName": "checkout",
            "target": 0.99,
            "windowDays": 14,
            "sliQuery": {
                "query": 'avg_over_time(((sum(increase(checkout_requests_total{code!~"5.."}[5m]))) / '
                f"(sum(increase(checkout_requests_total[5m]))))[{W}:5m])"
            },
        },
        ["RatioTimeslices: the SLI is the mean of the 5m slices' good ratios", NO_TYPE],
        id="RatioTimeslices: the mean of the slices' good ratios over the window",
    ),
    pytest.param(
        "SLO checkout-good-minutes",
        {
            "name": "checkout-good-minutes",
            "sloType": "CUSTOM",
            "serviceName": "checkout",
            "target": 0.999,
            "windowDays": 7,
            "sliQuery": {
                "query": f'(sum(increase(checkout_requests_total{{code!~"5.."}}[{W}]))) / '
                f"(sum(increase(checkout_requests_total[{W}])))"
            },
            "threshold": 0.95,
            "comparison": "gte",
            "timesliceMinutes": 1,
        },
        [
            "objective op gt is not used: OpenSLO reserves op for threshold metrics; a slice is good when "
            "its ratio is at least timeSliceTarget",
            "the file states no SLO type: CUSTOM is used; set sloType to change it",
        ],
        id="Timeslices over a ratio: at least timeSliceTarget, whatever op says",
    ),
    pytest.param(
        "SLO cart-sessions",
        {
            "name": "cart-sessions",
            "sloType": "AVAILABILITY",
            "serviceName": "cart",
            "target": 0.98,
            "sliQuery": {
                "goodQuery": f"sum_over_time((sum(cart_sessions_ok))[{W}:])",
                "totalQuery": f"sum_over_time((sum(cart_sessions))[{W}:])",
            },
        },
        [
            "dimensions ['region'] are not applied: an SLO here is one series, not one per value",
            "the ratioMetric does not say `counter`: its queries are read as gauges (as with counter: false) "
            "and summed over the window; set counter: true for counters",
            NO_TYPE,
        ],
        id="no counter: gauges, and said so; dimensions said",
    ),
    pytest.param(
        "SLO queue-lag",
        {
            "name": "Queue lag",
            "sloType": "CUSTOM",
            "serviceName": "queue",
            "target": 0.99,
            "windowDays": 7,
            "sliQuery": {"query": "max(queue_lag_seconds)"},
            "threshold": 30,
            "comparison": "lte",
        },
        [
            "no timeSliceWindow: the default slice length is used",
            "the file states no SLO type: CUSTOM is used; set sloType to change it",
        ],
        id="v1alpha: timeWindows count and unit, thresholdMetric source and query",
    ),
]


@pytest.mark.parametrize(("item", "expected", "notes"), SHAPES)
def test_shapes(item: str, expected: dict[str, Any], notes: list[str]) -> None:
    specs, skipped, all_notes = load("shapes.yaml")
    assert skipped == {}
    assert specs[item] == SLOSpec.model_validate(expected)
    assert all_notes[item] == notes


def test_sloths_v1alpha_example_shape() -> None:
    specs, _, notes = load("prometheus.yaml")
    got = specs["SLO sloth-slo-my-service"]
    assert got == SLOSpec.model_validate(
        {
            "name": "Requests Availability",
            "sloType": "AVAILABILITY",
            "serviceName": "my-service",
            "target": 0.999,
            "sliQuery": {
                "goodQuery": 'sum(rate(http_request_duration_seconds_count{job="myservice",code!~"(5..|429)"}'
                f"[{W}]))",
                "totalQuery": f'sum(rate(http_request_duration_seconds_count{{job="myservice"}}[{W}]))',
            },
        }
    )
    assert notes["SLO sloth-slo-my-service"] == ["no budgetingMethod (v1alpha): Occurrences is used"]


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        pytest.param({"duration": "1w", "isRolling": False, "calendar": {"startTime": "x"}}, 7, id="a week"),
        pytest.param({"duration": "1Q", "calendar": {"timeZone": "UTC"}}, 90, id="a quarter"),
        pytest.param({"duration": "1Y", "isRolling": False}, "windows here are 1 to 90 days", id="a year"),
    ],
)
def test_calendar_windows_are_rolling_until_calendar_windows_exist(
    window: dict[str, Any], expected: Any
) -> None:
    text = (DATA / "prometheus.yaml").read_text()
    objects = [o for o in yaml.safe_load_all(text) if o]
    uptime = next(o for o in objects if o["metadata"]["name"] == "uptime")
    uptime["spec"]["timeWindow"] = [window]
    result = import_openslo(yaml.safe_dump(uptime))
    if isinstance(expected, int):
        [got] = result.converted
        assert got.spec.window_days == expected
        assert "calendar windows do not exist here yet" in got.notes[0]
    else:
        assert expected in result.skipped[0].reason


def test_our_alerting_settings_leave_and_come_back_exactly() -> None:
    ours = OURS[0].model_copy(
        update={
            "alerting": SLOAlerting.model_validate(
                {
                    "name": "CheckoutBurn",
                    "labels": {"severity": "critical"},
                    "page": {"labels": {"routing_key": "oncall"}},
                    "ticket": {"enabled": False},
                    "slothMetadata": True,
                }
            )
        }
    )
    doc = to_openslo(ours)
    # For other tools, the alerts as alert policies ...
    [policy] = doc["spec"]["alertPolicies"]
    assert policy["metadata"]["displayName"] == "CheckoutBurn"
    condition = policy["spec"]["conditions"][0]["spec"]
    assert condition == {
        "severity": "critical",
        "condition": {"kind": "burnrate", "threshold": 14.4, "lookbackWindow": "1h", "alertAfter": "0m"},
    }
    # ... and for us, exactly.
    [back] = import_openslo(export_openslo([ours])).converted
    assert back.spec == ours
    # Without the annotation, the policies themselves are read.
    del doc["metadata"]["annotations"]["neural-hive.io/alerting"]
    [read] = import_openslo(yaml.safe_dump(doc)).converted
    assert read.spec.alerting == SLOAlerting.model_validate(
        {"page": {"name": "CheckoutBurn", "labels": {"severity": "critical"}}, "ticket": {"enabled": False}}
    )
