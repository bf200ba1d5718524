"""The Grafana dashboard: the spec's shape, valid PromQL, and only metrics the system exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import promql_parser

from sla_management.control.gauges import TelemetryRefresher
from tests.api.test_budgets_api import created_with_budget
from tests.conftest import Runtime
from tests.observability.exposition import exposed_names

DASHBOARD = Path(__file__).resolve().parents[2] / "infra" / "grafana" / "sla-management-system.json"

# Grafana substitutes these before Prometheus sees the query; PromQL alone does not parse them.
_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "$service": ".*"}


def promql(expr: str) -> str:
    for variable, stand_in in _VARIABLES.items():
        expr = expr.replace(variable, stand_in)
    assert "$" not in expr, f"unknown dashboard variable in {expr!r}"
    return expr


def selector_names(expr: str) -> set[str]:
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(promql(expr)), visit)
    return names


def load() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def queries(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            # label_values(metric, label) is Grafana's, not PromQL: keep the metric.
            match = re.fullmatch(r"label_values\((\w+),\s*\w+\)", variable["definition"])
            assert match, variable["definition"]
            exprs.append(match.group(1))
    return exprs


def test_seven_rows_of_twenty_one_panels_laid_out_without_overlap() -> None:
    dashboard = load()
    panels = dashboard["panels"]
    rows = [p for p in panels if p["type"] == "row"]
    content = [p for p in panels if p["type"] != "row"]
    assert len(rows) == 7 and len(content) == 21
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24
        area = {
            (x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not area & cells, panel["title"]
        cells |= area
    for panel in content:
        assert panel["title"] and panel["targets"], panel["id"]
        assert panel["datasource"]["uid"] == "${datasource}"
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])


def test_every_query_parses() -> None:
    for expr in queries(load()):
        promql_parser.parse(promql(expr))


async def test_every_metric_in_the_dashboard_is_exported_after_a_real_pass(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    budget = await created_with_budget(api)
    response = await api.post(f"/api/v1/budgets/{budget['sloId']}/recalculate")
    assert response.status_code == 200, response.text
    await TelemetryRefresher(runtime.db).refresh_once()

    exposition = (await api.get("/metrics")).text
    exported = exposed_names(exposition)
    used = set().union(*(selector_names(e) for e in queries(load())))
    assert used, "the dashboard queries nothing"
    assert used <= exported, sorted(used - exported)
    # The spec's fifteen are all on it.
    for name in (
        "sla_calculations_total",
        "sla_calculation_duration_seconds_bucket",
        "sla_budget_remaining_percent",
        "sla_budget_consumed_percent",
        "sla_budget_status",
        "sla_burn_rate",
        "sla_freezes_active",
        "sla_freezes_activated_total",
        "sla_freezes_resolved_total",
        "sla_freeze_duration_seconds_bucket",
        "sla_slos_total",
        "sla_slo_violations_total",
        "sla_prometheus_queries_total",
        "sla_kafka_events_published_total",
        "sla_alertmanager_webhooks_received_total",
    ):
        assert name in used, name
