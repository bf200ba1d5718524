"""Rule generation as data: the error-ratio PromQL per SLI shape, and the alerts around it.

`promtool` checks the same files and fires the alerts in tests/interop/test_rules_promtool.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from sla_management.domain.rules import (
    BURN_ALERTS,
    SLOTH_RECORDS,
    alert_expr,
    alert_labels,
    annotation_text,
    error_ratio_expr,
    render_rule_file,
    rule_group,
)
from sla_management.domain.slo import SLO, QueryUnit, SLOSpec
from sla_management.domain.windows import BURN_WINDOWS

NOW = datetime(2024, 5, 1, tzinfo=UTC)
W = "{{.window}}"


def spec(sli: dict[str, str], **fields: Any) -> SLOSpec:
    defaults: dict[str, Any] = {
        "name": "checkout availability",
        "slo_type": "AVAILABILITY",
        "service_name": "checkout",
        "namespace": "shop",
        "target": 0.999,
    }
    return SLOSpec(**{**defaults, **fields}, sli_query=sli)


def stored(
    sli: dict[str, str], units: dict[str, QueryUnit] | None = None, slo_id: str = "slo-1", **fields: Any
) -> SLO:
    base = spec(sli, **fields).model_dump()
    return SLO(**base, id=slo_id, query_units=units or {}, created_at=NOW, updated_at=NOW)


RATE = QueryUnit.RATE
COUNT = QueryUnit.COUNT


@pytest.mark.parametrize(
    ("sli", "fields", "units", "seconds", "expected"),
    [
        pytest.param(
            {"errorQuery": f"sum(rate(e[{W}]))", "totalQuery": f"sum(rate(t[{W}]))"},
            {},
            {"errorQuery": RATE, "totalQuery": RATE},
            3600,
            "sum(rate(e[1h]))\n/\nsum(rate(t[1h]))",
            id="errors over total, both already one series",
        ),
        pytest.param(
            {"goodQuery": f"sum(increase(g[{W}]))", "totalQuery": f"sum(increase(t[{W}]))"},
            {},
            {"goodQuery": COUNT, "totalQuery": COUNT},
            300,
            "1 - (\n  sum(increase(g[5m]))\n/\n  sum(increase(t[5m]))\n)",
            id="good over total is one minus the good ratio",
        ),
        pytest.param(
            {"errorQuery": f"sum(rate(e[{W}]))", "totalQuery": f"sum(increase(t[{W}]))"},
            {},
            {"errorQuery": RATE, "totalQuery": COUNT},
            3600,
            "(sum(rate(e[1h])) * 3600)\n/\nsum(increase(t[1h]))",
            id="a rate against a count is scaled to events over the window",
        ),
        pytest.param(
            {"errorQuery": f"sum(increase(e[{W}]))", "totalQuery": f"sum(rate(t[{W}]))"},
            {},
            {"errorQuery": COUNT, "totalQuery": RATE},
            1800,
            "sum(increase(e[30m]))\n/\n(sum(rate(t[30m])) * 1800)",
            id="a count against a rate scales the rate",
        ),
        pytest.param(
            {"errorQuery": f'rate(e{{svc="a"}}[{W}])', "totalQuery": f"sum by (code) (rate(t[{W}]))"},
            {},
            {},
            300,
            'sum(rate(e{svc="a"}[5m]))\n/\nsum(sum by (code) (rate(t[5m])))',
            id="queries returning several series are summed, as the loop sums them",
        ),
        pytest.param(
            {"errorQuery": f"scalar(sum(increase(e[{W}])))", "totalQuery": f"sum(increase(t[{W}]))"},
            {},
            {},
            300,
            "vector(scalar(sum(increase(e[5m]))))\n/\nsum(increase(t[5m]))",
            id="a scalar query becomes a one-series vector",
        ),
        pytest.param(
            {"errorQuery": f"sum(rate(e[{W}]))", "totalQuery": f"sum(rate(t[{W}]))"},
            {},
            {},
            300,
            "sum(rate(e[5m]))\n/\nsum(rate(t[5m]))",
            id="units missing from a spec are read from the queries",
        ),
        pytest.param(
            {"query": f"avg_over_time(up[{W}])"},
            {},
            {},
            86400,
            "1 - (avg_over_time(up[1d]))",
            id="a good-ratio query is subtracted from one",
        ),
        pytest.param(
            {"query": "max(latency_ms)"},
            {"threshold": 500, "slo_type": "LATENCY"},
            {},
            3600,
            "1 - avg_over_time(((max(latency_ms)) <= bool 500)[1h:5m])",
            id="timeslices: the share of slices that miss the threshold, one evaluation per slice",
        ),
        pytest.param(
            {"query": "min(success_ratio)"},
            {"threshold": 0.95, "comparison": "gt", "timeslice_minutes": 10},
            {},
            300,
            "1 - avg_over_time(((min(success_ratio)) > bool 0.95)[10m:10m])",
            id="a window shorter than a slice reads the last slice",
        ),
        pytest.param(
            {"query": f"histogram_quantile(0.99, sum by (le) (rate(b[{W}])))"},
            {"threshold": 0.3, "slo_type": "LATENCY", "timeslice_minutes": 1},
            {},
            21600,
            "1 - avg_over_time(((histogram_quantile(0.99, sum by (le) (rate(b[1m])))) <= bool 0.3)[6h:1m])",
            id="a timeslice query's window is the slice, as the loop renders it",
        ),
    ],
)
def test_error_ratio_expr(
    sli: dict[str, str], fields: dict[str, Any], units: dict[str, QueryUnit], seconds: int, expected: str
) -> None:
    assert error_ratio_expr(spec(sli, **fields), units, seconds) == expected


EVENTS = {"errorQuery": f"sum(rate(e[{W}]))", "totalQuery": f"sum(rate(t[{W}]))"}


def test_one_group_per_slo_with_a_recording_rule_per_burn_window_before_the_alerts() -> None:
    group = rule_group(stored(EVENTS))
    rules = group["rules"]
    assert group["name"] == "slo-slo-1"
    records = [r["record"] for r in rules if "record" in r]
    assert records == [f"slo:sli_error:ratio_rate{w}" for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d")]
    assert len(records) == len(BURN_WINDOWS)
    assert [r["alert"] for r in rules[len(records) :]] == [
        "SLOErrorBudgetBurnPage",
        "SLOErrorBudgetBurnTicket",
    ]
    for rule in rules[: len(records)]:
        assert rule["labels"] == {"slo": "slo-1", "service": "checkout", "namespace": "shop"}


@pytest.mark.parametrize(
    ("alert", "conditions"),
    [
        pytest.param(
            BURN_ALERTS[0], [("1h", "5m", "14.4"), ("6h", "30m", "6")], id="page: 1h/5m x14.4, 6h/30m x6"
        ),
        pytest.param(BURN_ALERTS[1], [("1d", "2h", "3"), ("3d", "6h", "1")], id="ticket: 1d/2h x3, 3d/6h x1"),
    ],
)
def test_alert_expressions_follow_the_workbook_table(
    alert: Any, conditions: list[tuple[str, str, str]]
) -> None:
    expr = alert_expr(stored(EVENTS, target=0.99), alert)
    expected = "\nor\n".join(
        f'(\n  slo:sli_error:ratio_rate{long}{{slo="slo-1"}} > ({factor} * 0.01)\nand\n'
        f'  slo:sli_error:ratio_rate{short}{{slo="slo-1"}} > ({factor} * 0.01)\n)'
        for long, short, factor in conditions
    )
    assert expr == expected


@pytest.mark.parametrize(
    ("labels", "expected_extra"),
    [
        pytest.param({}, {}, id="no labels of its own"),
        pytest.param({"team": "payments"}, {"team": "payments"}, id="an SLO's labels help routing"),
        pytest.param({"app.kubernetes.io/name": "x"}, {}, id="names Prometheus cannot take are left out"),
        pytest.param({"__meta": "x"}, {}, id="reserved double-underscore names are left out"),
        pytest.param(
            {"slo": "other", "severity": "low", "namespace": "x"},
            {},
            id="labels the rules set are not overridden",
        ),
    ],
)
def test_alert_labels(labels: dict[str, str], expected_extra: dict[str, str]) -> None:
    got = alert_labels(stored(EVENTS, labels=labels), "page")
    assert got == {
        **expected_extra,
        "slo": "slo-1",
        "service": "checkout",
        "namespace": "shop",
        "severity": "page",
    }


def test_user_text_in_annotations_stays_text() -> None:
    slo = stored(EVENTS, name="weird {{ $labels.x }} name", description="see {{ this }}", layer="edge")
    [page, _] = [r for r in rule_group(slo)["rules"] if "alert" in r]
    annotations = page["annotations"]
    assert annotations["slo_name"] == 'weird {{ "{{" }} $labels.x }} name'
    assert annotations["slo_description"] == 'see {{ "{{" }} this }}'
    assert annotations["slo_layer"] == "edge"
    assert annotations["slo_window"] == "30d" and annotations["slo_type"] == "AVAILABILITY"
    assert annotations["description"].startswith("Error ratio {{ $value | humanizePercentage }}: above 14.4x")
    assert "Objective 99.9% over 30d, budget 0.1%." in annotations["description"]


def test_the_rule_file_is_yaml_with_a_header() -> None:
    text = render_rule_file([stored(EVENTS), stored({"query": f"avg_over_time(up[{W}])"}, slo_id="slo-2")])
    assert text.startswith("# SLO recording and burn-rate alert rules")
    loaded = yaml.safe_load(text)
    assert [g["name"] for g in loaded["groups"]] == ["slo-slo-1", "slo-slo-2"]
    assert loaded["groups"][1]["rules"][0]["expr"] == "1 - (avg_over_time(up[5m]))"
    assert yaml.safe_load(render_rule_file([])) == {"groups": []}


# Alerting settings and Sloth's metadata series ------------------------------------------------------


def test_alerting_settings_name_label_and_annotate_the_alerts() -> None:
    slo = stored(
        EVENTS,
        labels={"team": "payments"},
        alerting={
            "name": "CheckoutBurn",
            "labels": {"severity": "critical", "category": "availability"},
            "annotations": {
                "runbook_url": "https://runbooks/x",
                "summary": "Budget {{ $value | humanizePercentage }}",
            },
            "page": {"labels": {"routing_key": "oncall"}},
            "ticket": {"name": "CheckoutSlowBurn", "labels": {"severity": "warning"}},
        },
    )
    page, ticket = [r for r in rule_group(slo)["rules"] if "alert" in r]
    assert (page["alert"], ticket["alert"]) == ("CheckoutBurn", "CheckoutSlowBurn")
    assert page["labels"] == {
        "team": "payments",
        "slo": "slo-1",
        "service": "checkout",
        "namespace": "shop",
        "severity": "critical",
        "category": "availability",
        "routing_key": "oncall",
    }
    assert ticket["labels"]["severity"] == "warning" and "routing_key" not in ticket["labels"]
    assert page["annotations"]["summary"] == "Budget {{ $value | humanizePercentage }}"
    assert page["annotations"]["runbook_url"] == "https://runbooks/x"
    # The SLO's own annotations come last: the alert importer reads the SLO back from them.
    assert page["annotations"]["slo_name"] == "checkout availability"
    assert page["annotations"]["slo_sli"] == "error_total"
    assert page["annotations"]["description"].startswith("Error ratio {{ $value | humanizePercentage }}")


@pytest.mark.parametrize(
    ("settings", "alerts"),
    [
        pytest.param(None, ["SLOErrorBudgetBurnPage", "SLOErrorBudgetBurnTicket"], id="both by default"),
        pytest.param({"ticket": {"enabled": False}}, ["SLOErrorBudgetBurnPage"], id="the ticket off"),
        pytest.param({"page": {"enabled": False}}, ["SLOErrorBudgetBurnTicket"], id="the page off"),
        pytest.param({"page": {"enabled": False}, "ticket": {"enabled": False}}, [], id="both off"),
    ],
)
def test_alerts_turned_off_are_not_written(settings: dict[str, Any] | None, alerts: list[str]) -> None:
    group = rule_group(stored(EVENTS, alerting=settings))
    assert [r["alert"] for r in group["rules"] if "alert" in r] == alerts
    assert len([r for r in group["rules"] if "record" in r]) == len(BURN_WINDOWS)


@pytest.mark.parametrize(
    ("text", "written"),
    [
        pytest.param("{{ $value }}", "{{ $value }}", id="the value"),
        pytest.param(
            "{{$labels.sloth_service}} {{ .Labels.team }}",
            "{{$labels.sloth_service}} {{ .Labels.team }}",
            id="labels",
        ),
        pytest.param(
            '{{ $value | humanizePercentage }} {{ $value | printf "%.2f" }}',
            '{{ $value | humanizePercentage }} {{ $value | printf "%.2f" }}',
            id="formatting functions",
        ),
        pytest.param("{{- $value -}}", "{{- $value -}}", id="trim markers"),
        pytest.param(
            "{{ range $labels }}x{{ end }}",
            '{{ "{{" }} range $labels }}x{{ "{{" }} end }}',
            id="range is text",
        ),
        pytest.param('{{ query "up" }}', '{{ "{{" }} query "up" }}', id="queries are text"),
        pytest.param("half {{ open", 'half {{ "{{" }} open', id="an unclosed action is text"),
        pytest.param("{{-$value}}", '{{ "{{" }}-$value}}', id="a trim marker without its space is text"),
        pytest.param("no template", "no template", id="plain text"),
    ],
)
def test_user_annotations_keep_safe_templates_only(text: str, written: str) -> None:
    assert annotation_text(text) == written


def test_sloth_metadata_series() -> None:
    slo = stored(EVENTS, slo_id="s-1", name="checkout-availability", target=0.999, window_days=28)
    rules = rule_group(slo, sloth_metadata=True)["rules"]
    ids = {"sloth_id": "checkout-availability", "sloth_service": "checkout", "sloth_slo": "availability"}
    labels = {"slo": "s-1", "service": "checkout", "namespace": "shop", **ids}
    records = {r["record"]: r for r in rules if "record" in r}
    assert list(records) == [
        *(f"slo:sli_error:ratio_rate{w}" for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d")),
        "slo:sli_error:ratio_rate28d",
        *SLOTH_RECORDS,
    ]
    assert all(r["labels"] == labels for name, r in records.items() if name != "sloth_slo_info")
    assert records["slo:sli_error:ratio_rate28d"]["expr"] == (
        'sum_over_time(slo:sli_error:ratio_rate5m{slo="s-1"}[28d])\n/\n'
        'count_over_time(slo:sli_error:ratio_rate5m{slo="s-1"}[28d])'
    )
    assert records["slo:objective:ratio"]["expr"] == "vector(0.999)"
    assert records["slo:error_budget:ratio"]["expr"] == "vector(1 - 0.999)"
    assert records["slo:time_period:days"]["expr"] == "vector(28)"
    assert records["slo:period_burn_rate:ratio"]["expr"] == (
        'slo:sli_error:ratio_rate28d{slo="s-1"}\n/ on (slo) group_left\nslo:error_budget:ratio{slo="s-1"}'
    )
    assert (
        records["slo:period_error_budget_remaining:ratio"]["expr"]
        == '1 - slo:period_burn_rate:ratio{slo="s-1"}'
    )
    assert records["sloth_slo_info"]["labels"] == {
        **labels,
        "sloth_mode": "sla-rules",
        "sloth_objective": "99.9",
        "sloth_spec": "prometheus/v1",
        "sloth_version": "sla-management",
    }
    page, ticket = [r for r in rules if "alert" in r]
    # The alerts carry Sloth's labels too, so routes and templates written for Sloth work.
    assert {k: page["labels"][k] for k in (*ids, "sloth_severity")} == {**ids, "sloth_severity": "page"}
    assert ticket["labels"]["sloth_severity"] == "ticket"


def test_sloth_metadata_is_opt_in_per_slo_or_for_the_file() -> None:
    plain, asking = stored(EVENTS, slo_id="a"), stored(EVENTS, slo_id="b", alerting={"slothMetadata": True})

    def names(text: str) -> list[set[str]]:
        return [{r.get("record") for r in g["rules"]} for g in yaml.safe_load(text)["groups"]]

    first, second = names(render_rule_file([plain, asking]))
    assert "slo:objective:ratio" not in first and "slo:objective:ratio" in second
    assert all("sloth_slo_info" in g for g in names(render_rule_file([plain, asking], sloth_metadata=True)))


def test_a_window_that_is_a_burn_window_reuses_its_record() -> None:
    # 1d and 3d are recorded already; a second rule writing the same series would conflict.
    rules = rule_group(stored(EVENTS, window_days=3), sloth_metadata=True)["rules"]
    records = [r["record"] for r in rules if "record" in r]
    assert records.count("slo:sli_error:ratio_rate3d") == 1
    period = next(r for r in rules if r.get("record") == "slo:period_burn_rate:ratio")
    assert period["expr"].startswith('slo:sli_error:ratio_rate3d{slo="slo-1"}')
