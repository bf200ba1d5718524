"""Generated rule files under Prometheus' own tools: `promtool check rules` and, with synthetic
series, `promtool test rules`, which evaluates the rules as Prometheus does and shows which
alerts fire."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sla_management.domain.interop.openslo import import_openslo
from sla_management.domain.interop.prom_alerts import import_alerts
from sla_management.domain.interop.pyrra import import_pyrra
from sla_management.domain.interop.sloth import import_sloth
from sla_management.domain.rules import render_rule_file
from sla_management.domain.slo import SLO
from tests.interop.promtool import check_rules, cumulative, gauge, run_rule_tests

NOW = datetime(2024, 5, 1, tzinfo=UTC)
W = "{{.window}}"
MINUTES = 240  # two healthy hours, then two burning ones for svc="burning"


def slo(slo_id: str, svc: str, sli: dict[str, str], **fields: Any) -> SLO:
    return SLO(
        id=slo_id,
        name=f"{slo_id} {svc}",
        slo_type=fields.pop("slo_type", "AVAILABILITY"),
        service_name=svc,
        namespace="shop",
        target=0.99,
        sli_query=sli,
        created_at=NOW,
        updated_at=NOW,
        **fields,
    )


def shapes(svc: str) -> list[SLO]:
    sel = f'{{svc="{svc}"}}'
    return [
        slo(
            f"events-{svc}",
            svc,
            {
                "errorQuery": f"sum(rate(t_errors_total{sel}[{W}]))",
                "totalQuery": f"sum(rate(t_requests_total{sel}[{W}]))",
            },
            query_units={"errorQuery": "rate", "totalQuery": "rate"},
        ),
        slo(
            f"good-{svc}",
            svc,
            {
                "goodQuery": f"increase(t_good_total{sel}[{W}])",
                "totalQuery": f"increase(t_requests_total{sel}[{W}])",
            },
            query_units={"goodQuery": "count", "totalQuery": "count"},
        ),
        slo(
            f"mixed-{svc}",
            svc,
            {
                "errorQuery": f"sum(rate(t_errors_total{sel}[{W}]))",
                "totalQuery": f"sum(increase(t_requests_total{sel}[{W}]))",
            },
            query_units={"errorQuery": "rate", "totalQuery": "count"},
        ),
        slo(
            f"ratio-{svc}",
            svc,
            {"query": f"sum(rate(t_good_total{sel}[{W}])) / sum(rate(t_requests_total{sel}[{W}]))"},
        ),
        slo(f"slices-{svc}", svc, {"query": f"max(t_latency_ms{sel})"}, threshold=500, slo_type="LATENCY"),
    ]


def series(svc: str, burning: bool) -> list[dict[str, str]]:
    healthy = MINUTES // 2
    errors = (healthy, 0.6), (MINUTES - healthy, 120.0 if burning else 0.6)  # per minute, of 600
    good = (healthy, 599.4), (MINUTES - healthy, 480.0 if burning else 599.4)
    latency = (healthy, 120.0), (MINUTES - healthy + 1, 900.0 if burning else 120.0)
    return [
        {"series": f't_requests_total{{svc="{svc}"}}', "values": cumulative((MINUTES, 600.0))},
        {"series": f't_errors_total{{svc="{svc}"}}', "values": cumulative(*errors)},
        {"series": f't_good_total{{svc="{svc}"}}', "values": cumulative(*good)},
        {"series": f't_latency_ms{{svc="{svc}"}}', "values": gauge(*latency)},
    ]


def test_a_file_with_every_sli_shape_passes_promtool_check(tmp_path: Path) -> None:
    odd = slo(
        "odd",
        "svc",
        {"errorQuery": f"sum(rate(e[{W}]))", "totalQuery": f"sum(rate(t[{W}]))"},
        labels={"team": "a", "app.kubernetes.io/name": "x"},
        description='quotes " and {{ braces }}',
    )
    check_rules(render_rule_file([*shapes("burning"), odd]), tmp_path)
    check_rules(render_rule_file([]), tmp_path, "empty.yaml")


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One `promtool test rules` run over every shape, burning and steady; its output."""
    slos = [*shapes("burning"), *shapes("steady")]
    checks: list[dict[str, Any]] = []
    for item in slos:
        burning = item.service_name == "burning"
        alerts = f'ALERTS{{alertname="SLOErrorBudgetBurnPage",alertstate="firing",slo="{item.id}"}}'
        checks.append(
            {
                "expr": f"count({alerts})",
                "eval_time": f"{MINUTES}m",
                "exp_samples": [{"labels": "{}", "value": 1}] if burning else [],
            }
        )
        if item.kind.value != "threshold":
            # Constant rates: the recorded 1h error ratio is exact, to float precision.
            labels = f'{{slo="{item.id}",service="{item.service_name}",namespace="shop"}}'
            checks.append(
                {
                    "expr": f'round(slo:sli_error:ratio_rate1h{{slo="{item.id}"}}, 0.000001)',
                    "eval_time": f"{MINUTES}m",
                    "exp_samples": [{"labels": labels, "value": 0.2 if burning else 0.001}],
                }
            )
    test = {
        "interval": "1m",
        "input_series": series("burning", True) + series("steady", False),
        "promql_expr_test": checks,
    }
    done = run_rule_tests(render_rule_file(slos), [test], tmp_path_factory.mktemp("promtool"))
    return done.stdout + done.stderr if done.returncode else ""


def test_page_alerts_fire_for_burning_slos_only_under_promtool(evaluated: str) -> None:
    assert evaluated == "", evaluated


def test_ticket_alert_needs_the_long_windows(tmp_path: Path) -> None:
    # The ticket's long windows (1d, 3d) need a burn that lasts: here all four hours burn at
    # 20 %, so 2h/1d exceed 3x the budget and the ticket fires.
    burning = shapes("burning")[0]
    firing = f'alertstate="firing",slo="{burning.id}"'
    test = {
        "interval": "1m",
        "input_series": [
            {"series": 't_requests_total{svc="burning"}', "values": cumulative((MINUTES, 600.0))},
            {"series": 't_errors_total{svc="burning"}', "values": cumulative((MINUTES, 120.0))},
        ],
        "promql_expr_test": [
            {
                "expr": f'count(ALERTS{{alertname="SLOErrorBudgetBurnTicket",{firing}}})',
                "eval_time": f"{MINUTES}m",
                "exp_samples": [{"labels": "{}", "value": 1}],
            }
        ],
    }
    done = run_rule_tests(render_rule_file([burning]), [test], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


DATA = Path(__file__).parent / "data"


def test_rules_for_every_imported_example_pass_promtool_check(tmp_path: Path) -> None:
    # Imported queries come in every shape (`or on() vector(0)`, `sum by`, subqueries,
    # thresholds on percentiles): the rules written for them must all load.
    converted = [
        *import_alerts((DATA / "slo-alerts.yaml").read_text()).converted,
        *import_alerts((DATA / "sloth-generated-rules.yaml").read_text()).converted,
        *(c for p in sorted((DATA / "sloth").glob("*.yml")) for c in import_sloth(p.read_text()).converted),
        *(
            c
            for p in sorted((DATA / "openslo").glob("*.yaml"))
            for c in import_openslo(p.read_text()).converted
        ),
    ]
    assert len(converted) > 30
    slos = [
        SLO(**c.spec.model_dump(), id=f"imported-{i}", created_at=NOW, updated_at=NOW)
        for i, c in enumerate(converted)
    ]
    check_rules(render_rule_file(slos), tmp_path)


# Alerting settings, Sloth's metadata series, and every importer's SLOs -----------------------------


def test_alerting_settings_and_sloth_metadata_pass_promtool_check(tmp_path: Path) -> None:
    slos = [
        slo(
            "named",
            "svc",
            {"errorQuery": f"sum(rate(e[{W}]))", "totalQuery": f"sum(rate(t[{W}]))"},
            alerting={
                "name": "Checkout-Burn.v2:page",
                "labels": {"severity": "critical", "routing_key": "team-a"},
                "annotations": {
                    "summary": "{{ $value | humanizePercentage }} {{ $labels.slo }}",
                    "runbook": "x",
                },
                "ticket": {"enabled": False},
                "slothMetadata": True,
            },
        ),
        *(
            s.model_copy(update={"window_days": days})
            for days, s in zip((1, 3, 28), shapes("sloth"), strict=False)
        ),
    ]
    check_rules(render_rule_file(slos, sloth_metadata=True), tmp_path)


def test_no_annotation_text_makes_promtool_refuse_the_file(tmp_path: Path) -> None:
    """Whatever users (or imported files) write in annotations, the rule file still loads: only
    safe template actions are kept."""
    pieces = st.sampled_from(
        ["{{", "}}", "{", "}", "$value", "$labels.x", ".Value", "|", " ", "-", "range", "end"]
    )
    pieces |= st.sampled_from(['"', "'", "`", "(", ")", "humanize", "printf", '"%.2f"', "query", "x"])
    texts = st.lists(pieces, max_size=12).map("".join)
    samples = find_all(texts, 300)
    slos = [
        slo(f"a{i}", "svc", {"query": f"avg_over_time(up[{W}])"}, alerting={"annotations": {"summary": text}})
        for i, text in enumerate(samples)
    ]
    check_rules(render_rule_file(slos), tmp_path)


def find_all(strategy: st.SearchStrategy[str], count: int) -> list[str]:
    """`count` examples of the strategy, the same every run."""
    found: list[str] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None)
    @given(strategy)
    def collect(value: str) -> None:
        found.append(value)

    collect()
    return found


def test_sloth_metadata_series_evaluate_as_sloth_defines_them(tmp_path: Path) -> None:
    """0.1 % errors against a 99 % objective over 7 days: burn rate 0.1, 90 % of the budget left;
    the named page alert fires under its own name and severity, the disabled ticket never."""
    steady = slo(
        "meta",
        "steady",
        {
            "errorQuery": f'sum(rate(t_errors_total{{svc="steady"}}[{W}]))',
            "totalQuery": f'sum(rate(t_requests_total{{svc="steady"}}[{W}]))',
        },
        window_days=7,
        alerting={"slothMetadata": True},
    )
    burning = slo(
        "loud",
        "burning",
        {
            "errorQuery": f'sum(rate(t_errors_total{{svc="burning"}}[{W}]))',
            "totalQuery": f'sum(rate(t_requests_total{{svc="burning"}}[{W}]))',
        },
        alerting={"name": "CheckoutBurn", "labels": {"severity": "critical"}, "ticket": {"enabled": False}},
    )
    ids = 'slo="meta",service="steady",namespace="shop",sloth_id="steady-meta steady",sloth_service="steady",sloth_slo="meta steady"'

    def sample(expr: str, value: float, labels: str = ids) -> dict[str, Any]:
        return {
            "expr": f"round({expr}, 0.0001)",
            "eval_time": f"{MINUTES}m",
            "exp_samples": [{"labels": f"{{{labels}}}", "value": value}],
        }

    test = {
        "interval": "1m",
        "input_series": [
            {"series": 't_requests_total{svc="steady"}', "values": cumulative((MINUTES, 600.0))},
            {"series": 't_errors_total{svc="steady"}', "values": cumulative((MINUTES, 0.6))},
            {"series": 't_requests_total{svc="burning"}', "values": cumulative((MINUTES, 600.0))},
            {"series": 't_errors_total{svc="burning"}', "values": cumulative((MINUTES, 120.0))},
        ],
        "promql_expr_test": [
            sample('slo:objective:ratio{slo="meta"}', 0.99),
            sample('slo:error_budget:ratio{slo="meta"}', 0.01),
            sample('slo:time_period:days{slo="meta"}', 7),
            sample('slo:sli_error:ratio_rate7d{slo="meta"}', 0.001),
            sample('slo:current_burn_rate:ratio{slo="meta"}', 0.1),
            sample('slo:period_burn_rate:ratio{slo="meta"}', 0.1),
            sample('slo:period_error_budget_remaining:ratio{slo="meta"}', 0.9),
            {
                "expr": 'count(sloth_slo_info{sloth_objective="99",sloth_spec="prometheus/v1"})',
                "eval_time": f"{MINUTES}m",
                "exp_samples": [{"labels": "{}", "value": 1}],
            },
            {
                "expr": 'count(ALERTS{alertname="CheckoutBurn",severity="critical",alertstate="firing",slo="loud"})',
                "eval_time": f"{MINUTES}m",
                "exp_samples": [{"labels": "{}", "value": 1}],
            },
            {
                "expr": 'ALERTS{slo="loud",alertname!="CheckoutBurn"}',
                "eval_time": f"{MINUTES}m",
                "exp_samples": [],
            },
            {"expr": 'slo:objective:ratio{slo="loud"}', "eval_time": f"{MINUTES}m", "exp_samples": []},
        ],
    }
    done = run_rule_tests(render_rule_file([steady, burning]), [test], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_for_every_new_fixture_pass_promtool_check(tmp_path: Path) -> None:
    """What the Pyrra, Sloth, OpenSLO and generated-rules fixtures import to, with their alerting
    settings and Sloth's metadata series, loads in Prometheus."""
    converted = [
        *(c for p in sorted((DATA / "pyrra").glob("*.yaml")) for c in import_pyrra(p.read_text()).converted),
        *(c for p in sorted((DATA / "sloth").glob("*.yml")) for c in import_sloth(p.read_text()).converted),
        *import_openslo((DATA / "openslo" / "shapes.yaml").read_text()).converted,
        *import_openslo(
            "\n---\n".join(p.read_text() for p in sorted((DATA / "openslo" / "multi-file").glob("*.yaml")))
        ).converted,
        *(
            c
            for name in (
                "sloth-generated-v2.yaml",
                "sloth-generated-no-alerts.yaml",
                "pyrra-generated-rules.yaml",
            )
            for c in import_alerts((DATA / name).read_text()).converted
        ),
    ]
    assert len(converted) >= 20
    assert sum(c.spec.alerting is not None for c in converted) >= 15
    slos = [
        SLO(**c.spec.model_dump(), id=f"new-{i}", created_at=NOW, updated_at=NOW)
        for i, c in enumerate(converted)
    ]
    check_rules(render_rule_file(slos, sloth_metadata=True), tmp_path)
