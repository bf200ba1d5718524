"""Sloth `prometheus/v1` specs: the public examples' shapes, in and back out."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from sla_management.domain.interop.common import InteropError
from sla_management.domain.interop.prom_alerts import import_alerts
from sla_management.domain.interop.sloth import complement, export_sloth, import_sloth
from sla_management.domain.rules import render_rule_file
from sla_management.domain.slo import SLIKind, SLOSpec
from tests.interop.support import normalized, stored

DATA = Path(__file__).parent / "data" / "sloth"
EXAMPLES = sorted(p.name for p in DATA.glob("*.yml"))
W = "{{.window}}"
HEAD = "version: prometheus/v1\nservice: s\n"


def load(name: str, namespace: str = "default") -> tuple[dict[str, SLOSpec], dict[str, str]]:
    result = import_sloth((DATA / name).read_text(), namespace=namespace)
    return {c.item: c.spec for c in result.converted}, {s.item: s.reason for s in result.skipped}


@pytest.mark.parametrize(
    ("example", "created", "skipped"),
    [
        pytest.param(
            "getting-started.yml", {"myservice/requests-availability": 0.999}, {}, id="getting started"
        ),
        pytest.param(
            "home-wifi.yml",
            {
                "home-wifi/good-wifi-client-satisfaction": 0.95,
                "home-wifi/risk-wifi-client-satisfaction": 0.999,
            },
            {},
            id="events counted from a gauge with subqueries",
        ),
        pytest.param(
            "kubernetes-apiserver.yml",
            {"k8s-apiserver/requests-availability": 0.999, "k8s-apiserver/requests-latency": 0.99},
            {},
            id="kubernetes apiserver availability and latency",
        ),
        pytest.param(
            "raw-home-wifi.yml",
            {"home-wifi/wifi-client-satisfaction": 0.95, "home-wifi/wifi-drops": 0.99},
            {},
            id="raw error ratios",
        ),
        pytest.param(
            "multifile.yml",
            {"myservice/requests-availability": 0.999, "myservice2/requests-availability": 0.9999},
            {},
            id="two services in one file",
        ),
        pytest.param("no-alerts.yml", {"myapp/http-availability": 0.9999}, {}, id="alerts disabled"),
        pytest.param(
            "plugin-getting-started.yml",
            {"myservice/requests-errors": 0.99},
            {
                "myservice/requests-availability": "SLI plugin 'getting_started_availability' runs inside "
                "Sloth; write its queries as `sli.events` or `sli.raw`"
            },
            id="plugin SLIs are skipped, the others imported",
        ),
        pytest.param(
            "k8s-getting-started.yml",
            {"myservice/requests-availability": 0.999},
            {},
            id="the Kubernetes resource",
        ),
    ],
)
def test_examples(example: str, created: dict[str, float], skipped: dict[str, str]) -> None:
    got, reasons = load(example)
    assert {item: spec.target for item, spec in got.items()} == pytest.approx(created)
    assert reasons == skipped


def test_events_keep_queries_labels_and_description() -> None:
    got, _ = load("getting-started.yml", namespace="shop")
    spec = got["myservice/requests-availability"]
    assert spec.name == "myservice-requests-availability"  # Sloth's own SLO id
    assert (spec.service_name, spec.namespace, spec.kind) == ("myservice", "shop", SLIKind.ERROR_TOTAL)
    assert spec.sli_query.error_query == (
        f'sum(rate(http_request_duration_seconds_count{{job="myservice",code=~"(5..|429)"}}[{W}]))'
    )
    assert spec.labels == {"owner": "myteam", "repo": "myorg/myservice", "tier": "2"}
    assert spec.description == "Common SLO based on availability for HTTP request responses."
    assert spec.slo_type.value == "AVAILABILITY"
    assert "window_days" not in spec.model_fields_set  # the system's default window applies


@pytest.mark.parametrize(
    ("item", "query"),
    [
        pytest.param(
            "home-wifi/wifi-client-satisfaction",
            "sum(sum_over_time(unifipoller_client_satisfaction_ratio[{{.window}}]))\n/\n"
            "sum(count_over_time(unifipoller_client_satisfaction_ratio[{{.window}}]))",
            id="an error ratio written as one minus a good ratio keeps the good ratio",
        ),
        pytest.param(
            "home-wifi/wifi-drops",
            "1 - (avg(rate(unifipoller_client_dropped_ratio[{{.window}}])))",
            id="any other error ratio is subtracted from one, `{{ .window }}` normalised",
        ),
    ],
)
def test_raw_error_ratios_become_good_ratio_queries(item: str, query: str) -> None:
    got, _ = load("raw-home-wifi.yml")
    assert got[item].kind is SLIKind.RATIO
    assert got[item].sli_query.query == query


@pytest.mark.parametrize("example", EXAMPLES)
def test_round_trip(example: str) -> None:
    first = import_sloth((DATA / example).read_text())
    text, skipped = export_sloth([c.spec for c in first.converted])
    # A prometheus/v1 spec names no namespace: it goes where it is imported to.
    again = import_sloth(text, namespace=first.converted[0].spec.namespace)
    assert not skipped and not again.skipped
    assert [c.spec for c in again.converted] == [c.spec for c in first.converted]


@pytest.mark.parametrize("example", EXAMPLES)
def test_round_trip_through_the_rules_we_write(example: str) -> None:
    """Sloth spec -> SLOs -> `sla rules` -> the alert importer -> `sla rules` again: the same rules.
    (Labels both alerts share come back as the SLO's own labels, which put them on both alerts.)"""
    first = [normalized(c.spec) for c in import_sloth((DATA / example).read_text()).converted]
    rules = render_rule_file(stored(first))
    back = import_alerts(rules)
    assert not back.skipped
    by_name = {c.spec.name: c.spec for c in back.converted}
    again = render_rule_file(stored([by_name[s.name] for s in first]))
    assert yaml.safe_load(again) == yaml.safe_load(rules)


def test_timeslice_slos_have_no_sloth_form() -> None:
    spec = SLOSpec(
        name="lat",
        slo_type="LATENCY",
        service_name="s",
        target=0.99,
        threshold=1,
        sli_query={"query": "max(x)"},
    )
    text, skipped = export_sloth([spec])
    assert [s.reason for s in skipped] == ["timeslice SLIs (query + threshold) have no Sloth form"]
    assert text.strip() in ("", "---")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("x", "1 - (x)", id="wraps"),
        pytest.param("1 - (x)", "x", id="unwraps"),
        pytest.param("1 - (a) / (b)", "1 - (1 - (a) / (b))", id="only a whole `1 - (...)` is unwrapped"),
    ],
)
def test_complement(query: str, expected: str) -> None:
    assert complement(query) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param("version: prometheus/v1\nslos: []", "the spec has no `service`", id="no service"),
        pytest.param("version: prometheus/v1\nservice: s", "the spec has no `slos`", id="no SLOs"),
        pytest.param(
            "version: prometheus/v1\nservice: s\nslos: [{name: a, objective: 100, "
            "sli: {raw: {error_ratio_query: x}}}]",
            "objective is a percentage and must be below 100 (it is 100)",
            id="an objective of 100 % leaves no budget",
        ),
        pytest.param(
            HEAD + "slos: [{name: a, objective: 150, sli: {raw: {errorRatioQuery: x}}}]",
            "objective is a percentage and must be below 100 (it is 150)",
            id="an objective of 150",
        ),
        pytest.param(
            HEAD + "slos: [{name: a, objective: 0, sli: {raw: {errorRatioQuery: x}}}]",
            "objective is a percentage and must be above 0 (it is 0)",
            id="an objective of 0",
        ),
        pytest.param(
            HEAD + "slos: [{name: a, objective: 99.9999, sli: {raw: {errorRatioQuery: x}}}]",
            "an objective of 99.9999 % is above 99.999 %, the highest this system takes",
            id="six nines",
        ),
        pytest.param(
            HEAD + "slos: [{name: a, objective: .nan, sli: {raw: {errorRatioQuery: x}}}]",
            "objective 'nan' is not a percentage",
            id="objective NaN",
        ),
        pytest.param(
            HEAD + "slos: [{name: a, objective: true, sli: {raw: {errorRatioQuery: x}}}]",
            "objective 'True' is not a percentage",
            id="objective true",
        ),
        pytest.param(
            HEAD + "slos: [{name: a, sli: {raw: {errorRatioQuery: x}}}]",
            "objective 'None' is not a percentage",
            id="no objective",
        ),
        pytest.param(
            "version: prometheus/v1\nservice: '  '\nslos: [{name: a, objective: 99, sli: {raw: {errorRatioQuery: x}}}]",
            "the spec has no `service`",
            id="a blank service",
        ),
        pytest.param(
            HEAD
            + "slos: [{name: a, objective: 99, sli: {raw: {errorRatioQuery: 'sum(x[{{.window}}])"
            + " + 0" * 300
            + "'}}}]",
            "sliQuery.query: the query has 301 operators; the limit is 128",
            id="a query over the operator limit",
        ),
        pytest.param(
            HEAD + "slos: [{name: a, objective: high, sli: {raw: {errorRatioQuery: x}}}]",
            "is not a percentage",
            id="objective not a number",
        ),
        pytest.param(
            HEAD + "slos: [{name: a, objective: 99, sli: {events: {error_query: x}}}]",
            "needs error_query and total_query",
            id="events without total",
        ),
    ],
)
def test_skipped_slos(text: str, reason: str) -> None:
    result = import_sloth(text)
    assert not result.converted
    assert reason in result.skipped[0].reason


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("version: prometheus/v2\nservice: s", id="another version"),
        pytest.param("apiVersion: openslo/v1\nkind: SLO", id="another format"),
        pytest.param("{unclosed", id="not YAML"),
    ],
)
def test_not_sloth(text: str) -> None:
    with pytest.raises(InteropError):
        import_sloth(text)


def test_a_resource_whose_metadata_is_a_list_is_still_read() -> None:
    text = (
        "apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\nmetadata: [x]\n"
        "spec: {service: s, slos: [{name: a, objective: 99, sli: {raw: {errorRatioQuery: 'x[{{.window}}]'}}}]}"
    )
    [converted] = import_sloth(text).converted
    assert converted.item == "s/a"


# The constructs of issue 16, each with its exact result ---------------------------------------

ALERT_FOR = "SLO plugin sloth.dev/contrib/alert_for/v1 is not applied (not reproduced: the `for` it adds to the alerts)"


def spec(**fields: Any) -> SLOSpec:
    return SLOSpec.model_validate(fields)


CONSTRUCTS = [
    pytest.param(
        "alerting.yml",
        "checkout/requests-availability",
        spec(
            name="checkout-requests-availability",
            sloType="AVAILABILITY",
            serviceName="checkout",
            description="Checkout requests answer without a 5xx.",
            labels={"team": "payments"},
            target=0.995,
            sliQuery={
                "errorQuery": f'sum(rate(checkout_requests_total{{code=~"5.."}}[{W}]))',
                "totalQuery": f"sum(rate(checkout_requests_total[{W}]))",
            },
            alerting={
                "name": "CheckoutAvailability",
                "labels": {"category": "availability"},
                "annotations": {
                    "runbook": "https://runbooks.example/checkout",
                    "summary": "Checkout burns its budget: {{ $value | humanizePercentage }}",
                },
                "page": {
                    "labels": {"severity": "critical", "routing_key": "payments-oncall"},
                    "annotations": {"dashboard": "https://grafana.example/d/checkout"},
                },
                "ticket": {"enabled": False},
                "slothMetadata": True,
            },
        ),
        [ALERT_FOR, "alert label 'slo' left out: `sla rules` sets it itself"],
        id="the alerting block: name, shared and per-alert labels and annotations, a disabled ticket",
    ),
    pytest.param(
        "alerting.yml",
        "checkout/payments",
        spec(
            name="checkout-payments",
            sloType="AVAILABILITY",
            serviceName="checkout",
            labels={"team": "payments"},
            target=0.999,
            sliQuery={
                "query": f"1 - (sum(rate(payment_failures_total[{W}])) / sum(rate(payments_total[{W}])))"
            },
            alerting={
                "name": "Payments",
                "ticket": {"labels": {"severity": "warning"}},
                "slothMetadata": True,
            },
        ),
        [
            ALERT_FOR,
            "the file states no SLO type: AVAILABILITY is used; set sloType to change it",
            "page alert label 'team.name' left out: not a Prometheus label name",
            "the page alert's `for: 5m` is not carried: the burn-rate windows already debounce",
        ],
        id="no type in the name: the default, said; our own severity dropped; a bad label name said",
    ),
    pytest.param(
        "k8s-plugins.yml",
        "search/queries-latency",
        spec(
            name="search-queries-latency",
            sloType="LATENCY",
            serviceName="search",
            namespace="shop",
            target=0.99,
            sliQuery={
                "errorQuery": f"sum(rate(search_duration_seconds_count[{W}])) - "
                f'sum(rate(search_duration_seconds_bucket{{le="0.25"}}[{W}]))',
                "totalQuery": f"sum(rate(search_duration_seconds_count[{W}]))",
            },
            alerting={
                "page": {"enabled": False, "labels": {"severity": "critical"}},
                "ticket": {"enabled": False, "labels": {"severity": "warning"}},
                "slothMetadata": True,
            },
        ),
        ["the SLO plugins leave out Sloth's alert rules: its page and ticket alerts are off"],
        id="plugins overriding the chain without alert rules: no alerts, the service's plugin not run",
    ),
    pytest.param(
        "k8s-plugins.yml",
        "search/queries-errors",
        spec(
            name="search-queries-errors",
            sloType="ERROR_RATE",
            serviceName="search",
            namespace="shop",
            target=0.999,
            sliQuery={
                "errorQuery": f'sum(rate(search_requests_total{{code=~"5.."}}[{W}]))',
                "totalQuery": f"sum(rate(search_requests_total[{W}]))",
            },
            alerting={
                "name": "SearchErrors",
                "page": {"labels": {"severity": "critical"}},
                "ticket": {"labels": {"severity": "warning"}},
                "slothMetadata": True,
            },
        ),
        [
            "SLO plugin sloth.dev/contrib/denominator_corrected_rules/v1 is not applied "
            "(not reproduced: its denominator-corrected SLI rules)"
        ],
        id="sloPlugins (camelCase) named; pageAlert/ticketAlert; the resource's namespace",
    ),
    pytest.param(
        "metricsql.yml",
        "api/availability",
        spec(
            name="api-availability",
            sloType="AVAILABILITY",
            serviceName="api",
            target=0.99,
            sliQuery={
                "errorQuery": f'sum(rate(api_requests_total{{code=~"5.."}}[{W}]))',
                "totalQuery": f"sum(rate(api_requests_total[{W}]))",
            },
            alerting={"name": "ApiAvailability", "slothMetadata": True},
        ),
        [
            "the spec is validated for VictoriaMetrics (sloth.dev/contrib/validate_victoria_metrics/v1); "
            "its queries parse as PromQL and Prometheus checks them on import"
        ],
        id="a VictoriaMetrics spec whose queries are PromQL too",
    ),
]


@pytest.mark.parametrize(("example", "item", "expected", "notes"), CONSTRUCTS)
def test_constructs(example: str, item: str, expected: SLOSpec, notes: list[str]) -> None:
    result = import_sloth((DATA / example).read_text())
    converted = {c.item: c for c in result.converted}
    assert converted[item].spec == expected
    assert converted[item].notes == notes


def test_metricsql_is_skipped_naming_the_construct() -> None:
    result = import_sloth((DATA / "metricsql.yml").read_text())
    assert {s.item: s.reason for s in result.skipped} == {
        "api/latency-p90": "the SLI is MetricsQL (VictoriaMetrics), which Prometheus cannot run: "
        "the function `histogram_share`"
    }


@pytest.mark.parametrize(
    ("sli", "construct"),
    [
        pytest.param("error_ratio_query: 'WITH (x = up) x'", "a `WITH` template", id="WITH templates"),
        pytest.param(
            "error_ratio_query: 'vector(1)[{{.window}}]'",
            "a range on an expression (`(...)[w]`; PromQL takes a range only on a selector, or `[w:]`)",
            id="a range on a call",
        ),
        pytest.param(
            "error_ratio_query: 'rollup_rate(x[{{.window}}])'", "the function `rollup_rate`", id="rollups"
        ),
    ],
)
def test_metricsql_constructs(sli: str, construct: str) -> None:
    text = HEAD + f"slos: [{{name: a, objective: 99, sli: {{raw: {{{sli}}}}}}}]"
    [skipped] = import_sloth(text).skipped
    assert skipped.reason.endswith(construct)


def test_a_query_that_does_not_parse_is_left_to_prometheus() -> None:
    # Not MetricsQL, just broken: the API asks Prometheus, whose parse error the user then sees.
    text = HEAD + "slos: [{name: a, objective: 99, sli: {raw: {error_ratio_query: 'sum(x[{{.window}}]'}}}]"
    assert len(import_sloth(text).converted) == 1


def test_exported_alerting_is_what_sloth_reads_back() -> None:
    first = [c.spec for c in import_sloth((DATA / "alerting.yml").read_text()).converted]
    text, _ = export_sloth(first)
    [document] = yaml.safe_load_all(text)
    assert document["slos"][0]["alerting"] == {
        "name": "CheckoutAvailability",
        "labels": {"category": "availability"},
        "annotations": {
            "runbook": "https://runbooks.example/checkout",
            "summary": "Checkout burns its budget: {{ $value | humanizePercentage }}",
        },
        "page_alert": {
            "labels": {"severity": "critical", "routing_key": "payments-oncall"},
            "annotations": {"dashboard": "https://grafana.example/d/checkout"},
        },
        "ticket_alert": {"disable": True, "labels": {"severity": "ticket"}},
    }
    assert [c.spec for c in import_sloth(text).converted] == first


def test_an_slo_without_settings_exports_our_alerts_as_sloth_would_write_them() -> None:
    ours = SLOSpec(
        name="checkout availability",
        slo_type="AVAILABILITY",
        service_name="checkout",
        target=0.99,
        sli_query={"errorQuery": f"sum(rate(e[{W}]))", "totalQuery": f"sum(rate(t[{W}]))"},
    )
    text, _ = export_sloth([ours])
    [document] = yaml.safe_load_all(text)
    assert document["slos"][0]["alerting"] == {
        "name": "CheckoutAvailability",
        "page_alert": {"labels": {"severity": "page"}},
        "ticket_alert": {"labels": {"severity": "ticket"}},
    }


_BOUND = re.compile(r"slo:sli_error:ratio_rate(\w+)\{[^}]*\} > \(([\d.]+) \* ([\d.e-]+)\)")


def _burn_table(
    rules_text: str, severity_of: Callable[[dict[str, Any]], str]
) -> dict[str, set[tuple[str, float, float]]]:
    """severity -> {(window, factor, budget)} of the alerts in a rule file."""
    table: dict[str, set[tuple[str, float, float]]] = {}
    for group in yaml.safe_load(rules_text)["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                found = {(w, float(f), round(float(b), 9)) for w, f, b in _BOUND.findall(rule["expr"])}
                table.setdefault(severity_of(rule), set()).update(found)
    return table


def test_our_alerts_match_sloths_on_objective_window_pairs_and_burn_factors() -> None:
    """The rules Sloth generated for getting-started.yml and the rules `sla rules` writes for the
    SLO imported from it burn at the same factors, over the same windows, against the same budget."""
    sloths = _burn_table(
        (DATA.parent / "sloth-generated-rules.yaml").read_text(), lambda r: r["labels"]["sloth_severity"]
    )
    [imported] = import_sloth((DATA / "getting-started.yml").read_text()).converted
    ours = _burn_table(render_rule_file(stored([imported.spec])), lambda r: r["labels"]["sloth_severity"])
    assert ours == sloths
    assert sloths["page"] == {
        ("5m", 14.4, 0.001),
        ("1h", 14.4, 0.001),
        ("30m", 6.0, 0.001),
        ("6h", 6.0, 0.001),
    }
