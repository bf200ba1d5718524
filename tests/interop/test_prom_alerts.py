"""Prometheus alert rules -> SLOs: the spec's kind of file, expressions one by one, and files
written by Sloth and by `sla rules` itself coming back as the SLOs they were made from."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sla_management.domain.interop import promqltext
from sla_management.domain.interop.common import InteropError
from sla_management.domain.interop.prom_alerts import import_alerts
from sla_management.domain.interop.sloth import import_sloth
from sla_management.domain.rules import render_rule_file
from sla_management.domain.slo import SLO, SLIKind, SLOSpec

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
        G + "SLAManagementDown": "carries no SLO information: no `slo` label or SLO annotation, "
        "and no burn-rate expression",
        G + "SLAManagementCPUHigh": "carries no SLO information: no `slo` label or SLO annotation, "
        "and no burn-rate expression",
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
    assert got.spec.labels == {**direct.spec.labels, "category": "availability", "routing_key": "myteam"}
    # Page and ticket alerts describe the same SLO.
    assert [s.reason.startswith("same SLO") for s in result.skipped] == [True]


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
    assert all(c.notes == [] for c in result.converted)
    assert len(result.skipped) == len(OWN_SHAPES)  # each ticket alert repeats its page alert's SLO


def test_event_queries_of_several_series_come_back_summed() -> None:
    # The rules add the series up, as the loop does; the imported query says so explicitly.
    sli = {"goodQuery": f"increase(g[{W}])", "totalQuery": f"sum by (x) (rate(t[{W}]))"}
    spec = SLOSpec.model_validate({**OWN_SHAPES[1].model_dump(exclude={"sli_query"}), "sli_query": sli})
    [got] = import_alerts(render_rule_file([_stored(spec, 0)])).converted
    assert got.spec.sli_query.good_query == f"sum(increase(g[{W}]))"
    assert got.spec.sli_query.total_query == f"sum(sum by (x) (rate(t[{W}])))"
