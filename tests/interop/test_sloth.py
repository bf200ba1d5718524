"""Sloth `prometheus/v1` specs: the public examples' shapes, in and back out."""

from __future__ import annotations

from pathlib import Path

import pytest

from sla_management.domain.interop.common import InteropError
from sla_management.domain.interop.sloth import complement, export_sloth, import_sloth
from sla_management.domain.slo import SLIKind, SLOSpec

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
    again = import_sloth(text)
    assert not skipped and not again.skipped
    assert [c.spec for c in again.converted] == [c.spec for c in first.converted]


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
