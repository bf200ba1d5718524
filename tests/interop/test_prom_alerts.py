"""Prometheus alert rules -> SLOs: the spec's kind of file, expressions one by one, and files
written by Sloth and by `sla rules` itself coming back as the SLOs they were made from."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from sla_management.domain.interop import promqltext
from sla_management.domain.interop.common import InteropError
from sla_management.domain.interop.prom_alerts import import_alerts
from sla_management.domain.interop.sloth import import_sloth
from sla_management.domain.rules import render_rule_file
from sla_management.domain.slo import SLO, SLIKind, SLOAlerting, SLOSpec

DATA = Path(__file__).parent / "data"
W = "{{.window}}"


def _by_item(text: str, **kwargs: Any) -> tuple[dict[str, SLOSpec], dict[str, str]]:
    result = import_alerts(text, **kwargs)
    return {c.item: c.spec for c in result.converted}, {s.item: s.reason for s in result.skipped}


def same_query(a: str | None, b: str | None) -> bool:
    """Equal as PromQL (the importer prints through the parser, which orders matchers)."""
    if a is None or b is None:
        return a is b
    return promqltext.text(promqltext.parse(a)) == promqltext.text(promqltext.parse(b))


SPEC_FILE = (DATA / "slo-alerts.yaml").read_text()
G = "neural-hive.slos/"


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        pytest.param(
            G + "NeuralHiveBusLatencyHigh",
            {
                "name": "neural-hive-bus-latency",
                "kind": SLIKind.THRESHOLD,
                "query": "histogram_quantile(0.95, sum by (le) "
                "(rate(neural_hive_barramento_duration_seconds_bucket[5m]))) * 1000",
                "threshold": 150,
                "comparison": "lte",
                "target": 0.99,
                "service_name": "message-bus",
                "layer": "orquestracao",
                "slo_type": "LATENCY",
            },
            id="a latency threshold becomes timeslices, the target defaulted since 150ms is no objective",
        ),
        pytest.param(
            G + "NeuralHiveAvailabilitySLOBreach",
            {
                "kind": SLIKind.GOOD_TOTAL,
                "good_query": f'sum(rate(neural_hive_requests_total{{status!~"error|failed|5.*"}}[{W}]))',
                "total_query": f"sum(rate(neural_hive_requests_total[{W}]))",
                "target": 0.999,
                "service_name": "global",
                "slo_type": "AVAILABILITY",
            },
            id="good over total times 100 below 99.9 is a 99.9 % event SLO",
        ),
        pytest.param(
            G + "TaxaPlanosAprovadosLow",
            {
                "kind": SLIKind.GOOD_TOTAL,
                "good_query": f"rate(neural_hive_plan_generation_success_total[{W}])",
                "target": 0.97,
            },
            id="a ratio of bare rates is still good over total",
        ),
        pytest.param(
            G + "DivergenciaCustoHigh",
            {
                "kind": SLIKind.ERROR_TOTAL,
                "error_query": f"sum(rate(neural_hive_plan_cost_divergence_total[{W}]))",
                "target": 0.92,
                "slo_type": "ERROR_RATE",
            },
            id="bad over total above 0.08 is a 92 % SLO",
        ),
        pytest.param(
            G + "SLACumprimentoLow",
            {"kind": SLIKind.THRESHOLD, "threshold": 0.99, "comparison": "gte", "target": 0.99},
            id="a floor on a percentile is good when at or above it; 99% reads as the objective",
        ),
        pytest.param(
            G + "CoberturaTelemetriaLow",
            {"kind": SLIKind.THRESHOLD, "threshold": 99.7, "comparison": "gte", "target": 0.997},
            id="a ratio without any range can only be judged per timeslice",
        ),
        pytest.param(
            G + "MTTDHigh",
            {"kind": SLIKind.THRESHOLD, "threshold": 15, "comparison": "lte", "target": 0.99},
            id="a detection-time ceiling, target defaulted",
        ),
        pytest.param(
            G + "TaxaReincidenciaHigh",
            {
                "kind": SLIKind.ERROR_TOTAL,
                "error_query": "sum(rate(neural_hive_incident_recurrence_total"
                '{neural_hive_component="self-healing",'
                f'recurrence_type!="false_positive"}}[{W}]))',
                "target": 0.99,
            },
            id="a 7d range becomes the window too",
        ),
        pytest.param(
            "myjob-slo-alerts/MyJobErrorBudgetBurn",
            {
                "name": "MyJobErrorBudgetBurn",
                "kind": SLIKind.ERROR_TOTAL,
                "error_query": f'sum by (job) (rate(http_requests_total{{code=~"5..",job="myjob"}}[{W}]))',
                "total_query": f'sum by (job) (rate(http_requests_total{{job="myjob"}}[{W}]))',
                "target": 0.999,
                "service_name": "myjob",
            },
            id="SRE-workbook burn alert: the recording rule gives the SLI, 14.4 * 0.001 the budget",
        ),
    ],
)
def test_the_spec_style_file(item: str, expected: dict[str, Any]) -> None:
    created, _ = _by_item(SPEC_FILE)
    got = created[item]
    assert got.kind is expected.pop("kind")
    for field in ("query", "good_query", "error_query", "total_query"):
        if field in expected:
            assert same_query(getattr(got.sli_query, field), expected.pop(field)), got.sli_query
    assert got.target == pytest.approx(expected.pop("target"))
    for field, value in expected.items():
        assert getattr(got, field) == value, field


def test_the_spec_style_file_reports_what_it_skipped_and_why() -> None:
    created, skipped = _by_item(SPEC_FILE, namespace="neural-hive")
    assert len(created) == 10
    assert {s.namespace for s in created.values()} == {"neural-hive"}
    assert skipped == {
        G + "ErrorBudgetFastBurn": "the alert does not compare a query with a constant, "
        "so no objective can be read from it",
        G + "SLAManagementDown": "carries no SLO information: no `slo` or `sloth_*` label and no SLO "
        "annotation, and `==` compares for equality, which says nothing about an objective",
        G + "SLAManagementCPUHigh": "carries no SLO information: no `slo` or `sloth_*` label and no SLO "
        'annotation, and it compares `rate(process_cpu_seconds_total{job="sla-management"}[5m])` > 0.9, '
        "which is no burn-rate bound (factor * budget) and no recorded error ratio",
        "myjob-slo-alerts/OrphanBurn": "the alert reads the recorded series `slo:sli_error:ratio_rate5m`, "
        "but the file has no matching recording rule",
    }


def rules(expr: str, labels: str = "{slo: x, service: s}", annotations: str = "{}") -> str:
    rule = f"  - alert: A\n    expr: '{expr}'\n    labels: {labels}\n    annotations: {annotations}\n"
    return f"groups:\n- name: g\n  rules:\n{rule}"


@pytest.mark.parametrize(
    ("expr", "kind", "target", "queries"),
    [
        pytest.param(
            "sum(rate(e[5m])) / sum(rate(t[5m])) > 0.001",
            SLIKind.ERROR_TOTAL,
            0.999,
            {"error_query": f"sum(rate(e[{W}]))"},
            id="errors over total above the budget",
        ),
        pytest.param(
            "0.001 < sum(rate(e[5m])) / sum(rate(t[5m]))",
            SLIKind.ERROR_TOTAL,
            0.999,
            {"error_query": f"sum(rate(e[{W}]))"},
            id="the constant on the left reads the same",
        ),
        pytest.param(
            "sum(rate(e[1h])) / sum(rate(t[1h])) > (14.4 * (1 - 0.995))",
            SLIKind.ERROR_TOTAL,
            0.995,
            {"total_query": f"sum(rate(t[{W}]))"},
            id="a burn-rate bound gives the budget, not the bound",
        ),
        pytest.param(
            "1 - sum(rate(g[5m])) / sum(rate(t[5m])) > 0.01",
            SLIKind.GOOD_TOTAL,
            0.99,
            {"good_query": f"sum(rate(g[{W}]))"},
            id="one minus good over total is an error ratio",
        ),
        pytest.param(
            "100 * (sum(rate(g[5m])) / sum(rate(t[5m]))) <= 99",
            SLIKind.GOOD_TOTAL,
            0.99,
            {"good_query": f"sum(rate(g[{W}]))"},
            id="a percent scale on the left is undone",
        ),
        pytest.param(
            "(sum_over_time((count(u < 0.5))[1h:]) or on() vector(0)) > 0",
            SLIKind.THRESHOLD,
            0.99,
            {},
            id="no division: a threshold per timeslice",
        ),
        pytest.param(
            "sum(rate(e[5m])) / sum(rate(t[1h])) > 0.01",
            SLIKind.THRESHOLD,
            0.99,
            {},
            id="different ranges on each side are not one window",
        ),
    ],
)
def test_expressions(expr: str, kind: SLIKind, target: float, queries: dict[str, str]) -> None:
    [got] = import_alerts(rules(expr)).converted
    assert got.spec.kind is kind
    assert got.spec.target == pytest.approx(target)
    for field, query in queries.items():
        assert same_query(getattr(got.spec.sli_query, field), query)


@pytest.mark.parametrize(
    ("expr", "labels", "reason"),
    [
        pytest.param("up == 0", "{slo: x}", "`==` compares for equality", id="equality is no objective"),
        pytest.param("rate(x[5m]) > bool 1", "{slo: x}", "`bool` comparison", id="bool never fires"),
        pytest.param("absent(up)", "{slo: x}", "compares nothing", id="no comparison at all"),
        pytest.param("sum(rate(x[5m]) > 1", "{slo: x}", "does not parse", id="broken PromQL"),
        pytest.param("a > b", "{slo: x}", "not compare a query with a constant", id="two queries compared"),
        pytest.param(
            "sum(rate(e[5m])) / sum(rate(t[5m])) > 0.01",
            "{team: a}",
            "no SLO information",
            id="no SLO labels",
        ),
        pytest.param(
            "sum(rate(up[5m]))" + " + 0" * 5000 + " > 1",
            "{slo: x}",
            "the expression is over a limit: the query is 20,021 characters long; the limit is 8,192",
            id="a 20 KB expression",
        ),
        pytest.param(
            "sum(rate(up[5m]))" + " + 0" * 1200 + " > 1",
            "{slo: x}",
            "the expression is over a limit: the query has 1,201 operators; the limit is 128",
            id="1,200 additions",
        ),
        pytest.param(
            "(" * 1000 + "up" + ")" * 1000 + " > 1",
            "{slo: x}",
            "the expression is over a limit: the query nests brackets 1000 deep; the limit is 32",
            id="1,000 parentheses",
        ),
        pytest.param(
            "sum(rate(e[5m])) / sum(rate(t[5m])) > 0.0000001",
            "{slo: x}",
            "the alert's bound gives an objective of 99.99999 %; objectives are above 0 and at most 99.999 %",
            id="a bound of seven nines",
        ),
        pytest.param(
            "sum(rate(e[5m])) / sum(rate(t[5m])) > 2",
            "{slo: x}",
            "the alert's bound gives an objective of -100 %",
            id="a bound above one",
        ),
        pytest.param(
            "sum(rate(e[5m])) / sum(rate(t[5m])) > 0.01",
            "{slo: x, namespace: Probe NS}",
            "namespace: must be a Kubernetes namespace name",
            id="a namespace label that is no namespace",
        ),
    ],
)
def test_skips(expr: str, labels: str, reason: str) -> None:
    result = import_alerts(rules(expr, labels))
    assert not result.converted
    [skipped] = result.skipped
    assert reason in skipped.reason


def test_metadata_from_labels_and_annotations() -> None:
    text = rules(
        "sum(rate(e[5m])) / sum(rate(t[5m])) > 0.01",
        labels="{slo: pay, service: payments, namespace: money, layer: core, team: a, severity: page}",
        annotations="{slo_type: THROUGHPUT, slo_window: 28d, slo_description: 'Payments go through'}",
    )
    [got] = import_alerts(text).converted
    spec = got.spec
    assert (spec.name, spec.service_name, spec.namespace, spec.layer) == ("pay", "payments", "money", "core")
    assert spec.slo_type.value == "THROUGHPUT" and spec.window_days == 28
    assert spec.description == "Payments go through" and spec.labels == {"team": "a"}


def test_a_prometheus_rule_resource_is_read_like_a_rule_file() -> None:
    text = (
        "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: x}\nspec:\n"
        + "\n".join("  " + line for line in rules("sum(rate(e[5m])) / sum(rate(t[5m])) > 0.01").splitlines())
    )
    assert len(import_alerts(text).converted) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("groups: [", "not valid YAML", id="not YAML"),
        pytest.param("slos: []", "not a Prometheus rule file", id="YAML without groups"),
        pytest.param("groups: []", "no rule groups", id="no groups"),
        pytest.param(
            "groups:\n- name: g\n  rules:\n  - alert: A\n", "has no `expr`", id="a rule without expr"
        ),
        pytest.param(
            "groups:\n- name: g\n  rules:\n  - expr: up\n", "neither", id="neither alert nor record"
        ),
    ],
)
def test_invalid_files(text: str, message: str) -> None:
    with pytest.raises(InteropError, match=message):
        import_alerts(text)


def test_sloth_generated_rules_come_back_as_the_sloth_slo() -> None:
    result = import_alerts((DATA / "sloth-generated-rules.yaml").read_text())
    [got] = result.converted
    [direct] = import_sloth((DATA / "sloth" / "getting-started.yml").read_text()).converted
    assert (got.spec.name, got.spec.service_name, got.spec.target) == (
        direct.spec.name,
        direct.spec.service_name,
        direct.spec.target,
    )
    for field in ("error_query", "total_query"):
        assert same_query(getattr(got.spec.sli_query, field), getattr(direct.spec.sli_query, field))
    # Labels on both alerts are the SLO's; the rest, and the severities, are each alert's own.
    assert got.spec.labels == {**direct.spec.labels, "category": "availability"}
    assert got.spec.alerting == SLOAlerting.model_validate(
        {
            "name": "MyServiceHighErrorRate",
            "annotations": {"summary": "High error rate on 'myservice' requests responses"},
            "page": {
                "labels": {"routing_key": "myteam", "severity": "pageteam"},
                "annotations": {
                    "title": "(page) {{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn "
                    "rate is too fast."
                },
            },
            "ticket": {
                "labels": {"slack_channel": "#alerts-myteam", "severity": "slack"},
                "annotations": {
                    "title": "(ticket) {{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn "
                    "rate is too fast."
                },
            },
            "slothMetadata": True,
        }
    )
    # Page and ticket alerts describe the same SLO: one SLO, both alerts in its settings.
    assert result.skipped == []
    assert got.notes == [f"its ticket alert is {got.item} #2"]


NOW = datetime(2024, 5, 1, tzinfo=UTC)


def _stored(spec: SLOSpec, i: int) -> SLO:
    return SLO(**spec.model_dump(), id=f"id-{i}", created_at=NOW, updated_at=NOW)


OWN_SHAPES = [
    SLOSpec(
        name="events {{x}}",
        slo_type="ERROR_RATE",
        service_name="a",
        namespace="n",
        target=0.999,
        window_days=28,
        layer="edge",
        description="with {{ braces }}",
        labels={"team": "t"},
        sli_query={"errorQuery": f"sum(rate(e[{W}]))", "totalQuery": f"sum(increase(t[{W}]))"},
    ),
    SLOSpec(
        name="good",
        slo_type="AVAILABILITY",
        service_name="b",
        target=0.99,
        sli_query={"goodQuery": f'sum(increase(g{{a="b"}}[{W}]))', "totalQuery": f"count(rate(t[{W}]))"},
    ),
    SLOSpec(
        name="ratio",
        slo_type="CUSTOM",
        service_name="c",
        target=0.95,
        sli_query={"query": f"avg_over_time(up[{W}])"},
    ),
    SLOSpec(
        name="slices",
        slo_type="LATENCY",
        service_name="d",
        target=0.9,
        timeslice_minutes=10,
        threshold=0.25,
        comparison="lt",
        sli_query={"query": "histogram_quantile(0.9, sum by (le) (rate(b[5m])))"},
    ),
    SLOSpec(
        name="scalar",
        slo_type="ERROR_RATE",
        service_name="e",
        target=0.99,
        sli_query={"errorQuery": f"scalar(sum(increase(e[{W}])))", "totalQuery": f"sum(increase(t[{W}]))"},
    ),
]


def test_rules_written_by_sla_rules_import_back_to_the_same_slos() -> None:
    stored = [_stored(spec, i) for i, spec in enumerate(OWN_SHAPES)]
    result = import_alerts(render_rule_file(stored))
    assert [c.spec for c in result.converted] == OWN_SHAPES
    # Each ticket alert is its SLO's ticket alert, not a second SLO.
    assert result.skipped == []
    assert [c.notes for c in result.converted] == [
        [f"its ticket alert is slo-id-{i}/SLOErrorBudgetBurnTicket"] for i in range(len(OWN_SHAPES))
    ]


def test_event_queries_of_several_series_come_back_summed() -> None:
    # The rules add the series up, as the loop does; the imported query says so explicitly.
    sli = {"goodQuery": f"increase(g[{W}])", "totalQuery": f"sum by (x) (rate(t[{W}]))"}
    spec = SLOSpec.model_validate({**OWN_SHAPES[1].model_dump(exclude={"sli_query"}), "sli_query": sli})
    [got] = import_alerts(render_rule_file([_stored(spec, 0)])).converted
    assert got.spec.sli_query.good_query == f"sum(increase(g[{W}]))"
    assert got.spec.sli_query.total_query == f"sum(sum by (x) (rate(t[{W}])))"


# Generated rule files of the peers, and our own with alerting settings ----------------------------


def test_sloth_rules_with_comparisons_inside_aggregations() -> None:
    """Sloth v0.11+ writes `max(ratio > (14.4 * budget)) without (sloth_window)`; its ticket alert
    was disabled in the spec, so the file has none, and the SLO's ticket alert stays off."""
    result = import_alerts((DATA / "sloth-generated-v2.yaml").read_text())
    assert result.skipped == []
    [got] = result.converted
    assert got.item == "sloth-slo-alerts-checkout-requests-availability/CheckoutAvailability"
    assert got.spec == SLOSpec.model_validate(
        {
            "name": "checkout-requests-availability",
            "sloType": "AVAILABILITY",
            "serviceName": "checkout",
            "labels": {"category": "availability", "routing_key": "payments-oncall", "team": "payments"},
            "target": 0.999,
            "windowDays": 30,
            "sliQuery": {
                "errorQuery": f'sum(rate(checkout_requests_total{{code=~"5.."}}[{W}]))',
                "totalQuery": f"sum(rate(checkout_requests_total[{W}]))",
            },
            "alerting": {
                "page": {
                    "name": "CheckoutAvailability",
                    "labels": {"severity": "critical"},
                    "annotations": {
                        "runbook": "https://runbooks.example/checkout",
                        "summary": "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn "
                        "rate is over expected.",
                        "title": "(page) {{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget "
                        "burn rate is too fast.",
                    },
                },
                "ticket": {"enabled": False},
                "slothMetadata": True,
            },
        }
    )
    assert got.notes == ["the file has no ticket alert for it: its ticket alert is off"]


def test_sloth_rules_without_alerts_come_back_from_the_metadata_series() -> None:
    result = import_alerts((DATA / "sloth-generated-no-alerts.yaml").read_text())
    [got] = result.converted
    assert got.item == "recorded SLO search-queries-errors"
    assert got.spec == SLOSpec.model_validate(
        {
            "name": "search-queries-errors",
            "sloType": "ERROR_RATE",
            "serviceName": "search",
            "labels": {"team": "search"},
            "target": 0.995,
            "windowDays": 30,
            "sliQuery": {
                "errorQuery": f'sum(increase(search_requests_total{{code=~"5.."}}[{W}]))',
                "totalQuery": f"sum(increase(search_requests_total[{W}]))",
            },
            "alerting": {"page": {"enabled": False}, "ticket": {"enabled": False}, "slothMetadata": True},
        }
    )
    assert got.notes == [
        "the file has no alerts for it (Sloth's `disable: true`): its page and ticket alerts are off"
    ]


def test_sloth_objective_from_the_info_series_alone() -> None:
    text = (DATA / "sloth-generated-no-alerts.yaml").read_text()
    groups = yaml.safe_load(text)["groups"]
    groups[1]["rules"] = [r for r in groups[1]["rules"] if r["record"] == "sloth_slo_info"]
    [got] = import_alerts(yaml.safe_dump({"groups": groups})).converted
    assert got.spec.target == pytest.approx(0.995)
    groups[1]["rules"] = []
    [skipped] = import_alerts(yaml.safe_dump({"groups": groups})).skipped
    assert skipped.reason.startswith(
        "its error ratio is recorded, but the file has no alert for it and no objective"
    )


def test_pyrra_rules() -> None:
    result = import_alerts((DATA / "pyrra-generated-rules.yaml").read_text(), namespace="shop")
    by_item = {c.item: c for c in result.converted}
    errors = by_item["checkout-errors/ErrorBudgetBurn"]
    assert errors.spec == SLOSpec.model_validate(
        {
            "name": "checkout-errors",
            "sloType": "ERROR_RATE",
            "serviceName": "checkout",
            "namespace": "shop",
            "target": 0.995,
            "windowDays": 14,
            "sliQuery": {
                "errorQuery": f'sum(rate(checkout_requests_total{{code=~"5..",job="checkout"}}[{W}]))',
                "totalQuery": f'sum(rate(checkout_requests_total{{job="checkout"}}[{W}]))',
            },
            "alerting": {
                "name": "ErrorBudgetBurn",
                "page": {"labels": {"severity": "critical"}},
                "ticket": {"labels": {"severity": "warning"}},
            },
        }
    )
    assert errors.notes == [
        "the window is read from Pyrra's `checkout_requests:increase2w`",
        "the `for` of ErrorBudgetBurn is not carried: the burn-rate windows already debounce",
        "checkout-errors/ErrorBudgetBurn #2 is another window pair of checkout-errors/ErrorBudgetBurn",
        "the page alert burns at 14x, 7x in the file; `sla rules` writes ours: 14.4x over 1h/5m, 6x over 6h/30m",
        "its ticket alert is checkout-errors/ErrorBudgetBurn #3",
        "checkout-errors/ErrorBudgetBurn #4 is another window pair of checkout-errors/ErrorBudgetBurn #3",
        "the ticket alert burns at 2x, 1x in the file; `sla rules` writes ours: 3x over 24h/2h, 1x over 3d/6h",
    ]
    latency = by_item["recorded SLO search-latency"]
    assert latency.spec.window_days == 28  # pyrra_window
    assert latency.spec.target == pytest.approx(0.99)  # pyrra_objective
    assert same_query(
        latency.spec.sli_query.error_query,
        f'sum(rate(search_duration_seconds_count{{job="search"}}[{W}])) - '
        f'sum(rate(search_duration_seconds_bucket{{job="search",le="0.25"}}[{W}]))',
    )
    assert latency.spec.alerting == SLOAlerting.model_validate(
        {"page": {"enabled": False}, "ticket": {"enabled": False}}
    )
    assert {s.item: s.reason for s in result.skipped} == {
        "checkout-errors-increase/SLOMetricAbsent": "an absent-metric alert (Pyrra's SLOMetricAbsent, for "
        "one): no data is NO_DATA here, never an alert, so it describes no SLO",
        "recorded SLO queue-up": "Pyrra's burn-rate series `up:burnrate5m` are recorded, but its objective "
        "is only in Pyrra's alerts or `pyrra_objective`, neither in the file: import the "
        "ServiceLevelObjective itself (`sla import pyrra`)",
    }


@pytest.mark.parametrize(
    "expr",
    [
        pytest.param(
            "max(sum(rate(e[5m])) / sum(rate(t[5m])) > (14.4 * 0.001)) without (x)", id="max without"
        ),
        pytest.param("min(sum(rate(e[5m])) / sum(rate(t[5m])) > (14.4 * 0.001)) by (job)", id="min by"),
        pytest.param(
            "(max(r:ratio_rate5m > (14.4 * 0.001)) and ignoring (w) max(r:ratio_rate1h > (14.4 * 0.001)))",
            id="and inside parentheses",
        ),
    ],
)
def test_comparisons_are_read_inside_aggregations(expr: str) -> None:
    records = (
        "- record: r:ratio_rate5m\n    expr: sum(rate(e[5m])) / sum(rate(t[5m]))\n"
        "  - record: r:ratio_rate1h\n    expr: sum(rate(e[1h])) / sum(rate(t[1h]))\n"
    )
    text = f"groups:\n- name: g\n  rules:\n  {records}  - alert: A\n    expr: '{expr}'\n"
    [got] = import_alerts(text).converted
    assert got.spec.target == pytest.approx(0.999)
    assert same_query(got.spec.sli_query.error_query, f"sum(rate(e[{W}]))")


SETTINGS = [
    {
        "name": "CheckoutBurn",
        "labels": {"severity": "critical", "team": "payments"},
        "annotations": {
            "runbook_url": "https://runbooks.example/x",
            "summary": "{{ $value }} and {{ range }}",
        },
        "page": {"labels": {"routing_key": "oncall"}},
        "ticket": {"name": "CheckoutSlowBurn", "labels": {"severity": "low"}},
        "slothMetadata": True,
    },
    {"page": {"enabled": False}, "ticket": {"annotations": {"dashboard": "https://d.example/x"}}},
    {"ticket": {"enabled": False}, "page": {"name": "OnlyPage", "labels": {"severity": "sev1"}}},
]


@pytest.mark.parametrize("settings", SETTINGS, ids=["everything", "ticket only", "page only"])
def test_our_rules_bring_the_alerting_settings_back(settings: dict[str, Any]) -> None:
    """What `sla rules` writes for an SLO's alerting settings reads back to rules that are the same."""
    spec = OWN_SHAPES[0].model_copy(update={"alerting": SLOAlerting.model_validate(settings)})
    rules = render_rule_file([_stored(spec, 0)])
    [got] = import_alerts(rules).converted
    again = render_rule_file([_stored(got.spec, 0)])
    assert yaml.safe_load(again) == yaml.safe_load(rules)
    assert got.spec.alerting is not None
    assert got.spec.alerting.sloth_metadata == settings.get("slothMetadata", False)


def test_our_rules_with_every_alert_off_say_where_to_export_instead() -> None:
    spec = OWN_SHAPES[0].model_copy(
        update={
            "alerting": SLOAlerting.model_validate({"page": {"enabled": False}, "ticket": {"enabled": False}})
        }
    )
    result = import_alerts(render_rule_file([_stored(spec, 0)]))
    assert result.converted == []
    [skipped] = result.skipped
    assert skipped.item == "recorded SLO id-0"
    assert skipped.reason.endswith("export it with `sla export openslo` or `sla export sloth` instead")


def test_a_ratio_query_that_divides_comes_back_as_a_ratio_query() -> None:
    # `1 - (a / b)` is also how good/total events look; the rules say which it was.
    spec = SLOSpec(
        name="ratio of rates",
        slo_type="AVAILABILITY",
        service_name="s",
        target=0.99,
        sli_query={"query": f"sum(rate(ok[{W}])) / sum(rate(all[{W}]))"},
    )
    [got] = import_alerts(render_rule_file([_stored(spec, 0)])).converted
    assert got.spec == spec
