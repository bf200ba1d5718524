"""Rules, imports and exports over HTTP, with the real Prometheus, Temporal and PostgreSQL behind."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from temporalio.client import WorkflowExecutionStatus

from tests.conftest import TOKENS, Runtime
from tests.interop.promtool import check_rules

DATA = Path(__file__).parent / "data"
W = "{{.window}}"
YAML = {"Content-Type": "application/yaml"}
MISSING = "00000000-0000-0000-0000-000000000000"


def body(svc: str, namespace: str, **overrides: Any) -> dict[str, Any]:
    return {
        "name": f"{svc} availability {uuid.uuid4().hex[:6]}",
        "sloType": "AVAILABILITY",
        "serviceName": svc,
        "namespace": namespace,
        "target": 0.99,
        "windowDays": 30,
        "sliQuery": {
            "errorQuery": f'sum(rate(t_errors_total{{svc="{svc}"}}[{W}]))',
            "totalQuery": f'sum(rate(t_requests_total{{svc="{svc}"}}[{W}]))',
        },
        **overrides,
    }


def latency(namespace: str) -> dict[str, Any]:
    return {
        "name": f"lat {uuid.uuid4().hex[:6]}",
        "sloType": "LATENCY",
        "serviceName": "lat",
        "namespace": namespace,
        "layer": "orquestracao",
        "target": 0.999,
        "windowDays": 7,
        "sliQuery": {"query": 'max(t_latency_ms{svc="lat"})'},
        "threshold": 500,
    }


def namespace() -> str:
    return f"io-{uuid.uuid4().hex[:6]}"


async def test_rules_of_one_slo(api: httpx.AsyncClient, tmp_path: Path) -> None:
    created = (await api.post("/api/v1/slos", json=body("burning", namespace()))).json()
    response = await api.get(f"/api/v1/slos/{created['id']}/rules")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")
    [group] = yaml.safe_load(response.text)["groups"]
    assert group["name"] == f"slo-{created['id']}"
    alerts = [r for r in group["rules"] if "alert" in r]
    assert {a["labels"]["slo"] for a in alerts} == {created["id"]}
    assert {a["labels"]["severity"] for a in alerts} == {"page", "ticket"}
    check_rules(response.text, tmp_path)


async def test_all_rules_as_one_file_filtered(api: httpx.AsyncClient, tmp_path: Path) -> None:
    ns = namespace()
    ids = [
        (await api.post("/api/v1/slos", json=spec)).json()["id"]
        for spec in (body("burning", ns), latency(ns))
    ]
    everything = yaml.safe_load((await api.get("/api/v1/rules", params={"namespace": ns})).text)
    assert sorted(g["name"] for g in everything["groups"]) == sorted(f"slo-{i}" for i in ids)
    only = yaml.safe_load((await api.get("/api/v1/rules", params={"namespace": ns, "service": "lat"})).text)
    assert [g["name"] for g in only["groups"]] == [f"slo-{ids[1]}"]
    nothing = yaml.safe_load((await api.get("/api/v1/rules", params={"namespace": "no-such-ns"})).text)
    assert nothing == {"groups": []}
    check_rules((await api.get("/api/v1/rules")).text, tmp_path)


@pytest.mark.parametrize("suffix", ["rules", "openslo"])
async def test_unknown_ids_are_404(api: httpx.AsyncClient, suffix: str) -> None:
    response = await api.get(f"/api/v1/slos/{MISSING}/{suffix}")
    assert response.status_code == 404
    assert MISSING in response.json()["detail"]


async def test_import_alerts_creates_what_it_can_and_says_why_not(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    ns = namespace()
    text = (DATA / "slo-alerts.yaml").read_text()
    response = await api.post(
        "/api/v1/slos/import/alerts", params={"namespace": ns}, content=text, headers=YAML
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["dryRun"] is False
    names = sorted(c["slo"]["name"] for c in report["created"])
    assert names == sorted(
        [
            "neural-hive-bus-latency",
            "availability",
            "captura-latency",
            "plan-approval-rate",
            "cost-divergence",
            "sla-compliance",
            "telemetry-coverage",
            "mttd",
            "recurrence-rate",
            "MyJobErrorBudgetBurn",
        ]
    )
    assert {s["item"] for s in report["skipped"]} == {
        "neural-hive.slos/ErrorBudgetFastBurn",
        "neural-hive.slos/SLAManagementDown",
        "neural-hive.slos/SLAManagementCPUHigh",
        "myjob-slo-alerts/OrphanBurn",
    }
    assert all(s["reason"] for s in report["skipped"])
    bus = next(c for c in report["created"] if c["slo"]["name"] == "neural-hive-bus-latency")
    assert bus["item"] == "neural-hive.slos/NeuralHiveBusLatencyHigh"
    assert bus["notes"][0] == "no objective in the rule: target set to the default 0.99"
    assert bus["slo"]["budgetingMethod"] == "Timeslices" and bus["slo"]["namespace"] == ns
    # Created like POST /api/v1/slos: stored, units learnt, loop started.
    stored = (await api.get(f"/api/v1/slos/{bus['slo']['id']}")).json()
    assert stored["threshold"] == 150 and stored["serviceName"] == "message-bus"
    availability = next(c["slo"] for c in report["created"] if c["slo"]["name"] == "availability")
    assert availability["queryUnits"] == {"goodQuery": "rate", "totalQuery": "rate"}
    described = await runtime.client.get_workflow_handle(f"slo-{availability['id']}").describe()
    assert described.status is WorkflowExecutionStatus.RUNNING

    again = (
        await api.post("/api/v1/slos/import/alerts", params={"namespace": ns}, content=text, headers=YAML)
    ).json()
    assert again["created"] == []
    assert sum("already exists" in s["reason"] for s in again["skipped"]) == len(names)


async def test_dry_run_checks_but_creates_nothing(api: httpx.AsyncClient) -> None:
    ns = namespace()
    text = (DATA / "sloth" / "kubernetes-apiserver.yml").read_text()
    response = await api.post(
        "/api/v1/slos/import/sloth", params={"namespace": ns, "dryRun": "true"}, content=text, headers=YAML
    )
    report = response.json()
    assert response.status_code == 200 and report["dryRun"] is True
    assert [c["slo"]["name"] for c in report["created"]] == [
        "k8s-apiserver-requests-availability",
        "k8s-apiserver-requests-latency",
    ]
    assert all("id" not in c["slo"] for c in report["created"])
    assert (await api.get("/api/v1/slos", params={"namespace": ns})).json() == []


async def test_sloth_import_reports_what_prometheus_rejects(api: httpx.AsyncClient) -> None:
    ns = namespace()
    broken = """---
version: prometheus/v1
service: broken
slos:
- name: bad
  objective: 99
  sli:
    events:
      error_query: sum(rate(x[{{.window}}])
      total_query: sum(rate(y[{{.window}}]))
"""
    text = (DATA / "sloth" / "getting-started.yml").read_text() + broken
    report = (
        await api.post("/api/v1/slos/import/sloth", params={"namespace": ns}, content=text, headers=YAML)
    ).json()
    assert [c["slo"]["name"] for c in report["created"]] == ["myservice-requests-availability"]
    [skipped] = report["skipped"]
    assert skipped["item"] == "broken/bad"
    assert "Prometheus rejected the query" in skipped["reason"] and "parse error" in skipped["reason"]


async def test_openslo_export_imports_back_to_the_same_slos(api: httpx.AsyncClient) -> None:
    ns = namespace()
    originals = [
        (await api.post("/api/v1/slos", json=spec)).json()
        for spec in (body("burning", ns, labels={"team": "payments"}, layer="experiencia"), latency(ns))
    ]
    one = await api.get(f"/api/v1/slos/{originals[0]['id']}/openslo")
    assert one.status_code == 200 and one.headers["content-type"].startswith("application/yaml")
    [doc] = yaml.safe_load_all(one.text)
    assert doc["apiVersion"] == "openslo/v1" and doc["metadata"]["displayName"] == originals[0]["name"]

    exported = (await api.get("/api/v1/openslo", params={"namespace": ns})).text
    # Same names in the same namespace: refused, nothing duplicated.
    refused = (await api.post("/api/v1/slos/import/openslo", content=exported, headers=YAML)).json()
    assert refused["created"] == [] and len(refused["skipped"]) == 2
    for slo in originals:
        assert (await api.delete(f"/api/v1/slos/{slo['id']}")).status_code == 204

    report = (await api.post("/api/v1/slos/import/openslo", content=exported, headers=YAML)).json()
    assert report["skipped"] == []
    spec_fields = set(body("x", "y")) | {"layer", "labels", "threshold", "comparison", "timesliceMinutes"}
    back = {c["slo"]["name"]: c["slo"] for c in report["created"]}
    for original in originals:
        copy = back[original["name"]]
        assert copy["id"] != original["id"]
        assert {k: copy[k] for k in spec_fields} == {k: original[k] for k in spec_fields}


async def test_openslo_counters_without_a_window_are_counted_over_it(api: httpx.AsyncClient) -> None:
    text = """
apiVersion: openslo/v1
kind: SLO
metadata: {name: burning-counters, displayName: Burning from counters}
spec:
  service: burning
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}]
  indicator:
    metadata: {name: burning-errors}
    spec:
      ratioMetric:
        counter: true
        bad: {metricSource: {type: Prometheus, spec: {query: 'sum(t_errors_total{svc="burning"})'}}}
        total: {metricSource: {type: Prometheus, spec: {query: 'sum(t_requests_total{svc="burning"})'}}}
"""
    ns = namespace()
    report = (
        await api.post("/api/v1/slos/import/openslo", params={"namespace": ns}, content=text, headers=YAML)
    ).json()
    [created] = report["created"]
    slo = created["slo"]
    assert slo["sliQuery"]["errorQuery"] == f'sum(increase(t_errors_total{{svc="burning"}}[{W}]))'
    assert slo["queryUnits"] == {"errorQuery": "count", "totalQuery": "count"}
    tested = (await api.post(f"/api/v1/slos/{slo['id']}/test")).json()
    assert tested["budget"]["burnLevel"] == "CRITICAL"  # 20 % errors for two hours against 99 %


@pytest.mark.parametrize(
    ("path", "content", "message"),
    [
        pytest.param("alerts", "groups: [", "not valid YAML", id="not YAML"),
        pytest.param("alerts", "   \n", "the request body is empty", id="empty body"),
        pytest.param("alerts", "slos: []", "not a Prometheus rule file", id="not a rule file"),
        pytest.param(
            "openslo", "version: prometheus/v1\nservice: s\n", "not an OpenSLO file", id="Sloth to OpenSLO"
        ),
        pytest.param("sloth", "groups: []", "not a Sloth spec", id="a rule file to Sloth"),
    ],
)
async def test_invalid_files_are_422(api: httpx.AsyncClient, path: str, content: str, message: str) -> None:
    response = await api.post(f"/api/v1/slos/import/{path}", content=content, headers=YAML)
    assert response.status_code == 422
    problem = response.json()
    assert message in problem["detail"]
    assert problem["errors"][0]["loc"] == ["body"]


async def test_bad_parameters_are_422(api: httpx.AsyncClient) -> None:
    text = (DATA / "slo-alerts.yaml").read_text()
    too_high = await api.post("/api/v1/slos/import/alerts", params={"defaultTarget": 1}, content=text)
    assert too_high.status_code == 422
    assert too_high.json()["errors"][0]["loc"] == ["query", "defaultTarget"]


async def test_viewers_read_rules_but_cannot_import(api: httpx.AsyncClient) -> None:
    viewer = {"Authorization": f"Bearer {TOKENS['viewer']}"}
    assert (await api.get("/api/v1/rules", headers=viewer)).status_code == 200
    assert (await api.get("/api/v1/openslo", headers=viewer)).status_code == 200
    text = (DATA / "sloth" / "getting-started.yml").read_text()
    refused = await api.post("/api/v1/slos/import/sloth", content=text, headers={**YAML, **viewer})
    assert refused.status_code == 403
    anonymous = await api.get("/api/v1/rules", headers={"Authorization": ""})
    assert anonymous.status_code == 401


# Pyrra, several OpenSLO files, Sloth export, Sloth's metadata series --------------------------------


async def test_import_pyrra_creates_each_indicator_kind_and_says_what_it_skipped(
    api: httpx.AsyncClient,
) -> None:
    text = "\n---\n".join(p.read_text() for p in sorted((DATA / "pyrra").glob("*.yaml")))
    dry = await api.post("/api/v1/slos/import/pyrra", params={"dryRun": "true"}, content=text, headers=YAML)
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert sorted(c["slo"]["name"] for c in report["created"]) == [
        "api-latency-native",
        "checkout-errors",
        "queue-up",
        "search-latency",
    ]
    assert {s["item"] for s in report["skipped"]} == {
        "ServiceLevelObjective shop/api-errors-by-handler",
        "ServiceLevelObjective shop/half-day",
    }
    # The resources' own namespaces; a uniquely named copy is created for real below.
    assert {c["slo"]["namespace"] for c in report["created"]} == {"shop", "jobs"}
    ns = namespace()
    one = (DATA / "pyrra" / "ratio.yaml").read_text().replace("namespace: shop", f"namespace: {ns}")
    created = (await api.post("/api/v1/slos/import/pyrra", content=one, headers=YAML)).json()
    [slo] = created["created"]
    stored = (await api.get(f"/api/v1/slos/{slo['slo']['id']}")).json()
    assert stored["namespace"] == ns and stored["windowDays"] == 14 and stored["target"] == 0.995
    assert stored["alerting"]["name"] == "CheckoutErrorBudgetBurn"
    assert stored["alerting"]["page"]["labels"] == {"severity": "critical"}
    rules = yaml.safe_load((await api.get(f"/api/v1/slos/{stored['id']}/rules")).text)
    alerts = [r for r in rules["groups"][0]["rules"] if "alert" in r]
    assert [(a["alert"], a["labels"]["severity"]) for a in alerts] == [
        ("CheckoutErrorBudgetBurn", "critical"),
        ("CheckoutErrorBudgetBurn", "warning"),
    ]


async def test_import_openslo_reads_several_files_in_one_body(api: httpx.AsyncClient) -> None:
    ns = namespace()
    text = "\n---\n".join(p.read_text() for p in sorted((DATA / "openslo" / "multi-file").glob("*.yaml")))
    response = await api.post(
        "/api/v1/slos/import/openslo", params={"namespace": ns}, content=text, headers=YAML
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["skipped"] == []
    [created] = report["created"]
    assert created["slo"]["name"] == "Orders availability" and created["slo"]["namespace"] == ns
    assert created["slo"]["alerting"]["page"]["name"] == "OrdersFastBurn"
    assert created["notes"][0].startswith("the calendar-aligned 1M window")


async def test_export_sloth_and_back(api: httpx.AsyncClient) -> None:
    ns = namespace()
    text = (DATA / "sloth" / "alerting.yml").read_text()
    report = (
        await api.post("/api/v1/slos/import/sloth", params={"namespace": ns}, content=text, headers=YAML)
    ).json()
    assert len(report["created"]) == 2, report
    timeslice = (await api.post("/api/v1/slos", json=latency(ns))).json()
    exported = await api.get("/api/v1/sloth", params={"namespace": ns})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/yaml")
    assert exported.text.startswith(
        f"# skipped {timeslice['name']}: timeslice SLIs (query + threshold) have no Sloth form\n"
    )
    [document] = yaml.safe_load_all(exported.text)
    assert document["service"] == "checkout"
    by_name = {s["name"]: s for s in document["slos"]}
    assert (
        by_name["requests-availability"]["alerting"]["page_alert"]["labels"]["routing_key"]
        == "payments-oncall"
    )
    first = report["created"][0]["slo"]
    one = await api.get(f"/api/v1/slos/{first['id']}/sloth")
    assert [s["name"] for s in yaml.safe_load(one.text)["slos"]] == [first["name"].removeprefix("checkout-")]
    # Leaving is arriving backwards: the export imports to the same definitions.
    for created in report["created"]:
        assert (await api.delete(f"/api/v1/slos/{created['slo']['id']}")).status_code == 204
    again = (
        await api.post(
            "/api/v1/slos/import/sloth", params={"namespace": ns}, content=exported.text, headers=YAML
        )
    ).json()
    fields = ("name", "serviceName", "target", "sliQuery", "labels", "alerting")
    assert sorted(({k: c["slo"][k] for k in fields} for c in again["created"]), key=str) == sorted(
        ({k: c["slo"][k] for k in fields} for c in report["created"]), key=str
    )


async def test_rules_can_carry_sloths_metadata_series(api: httpx.AsyncClient, tmp_path: Path) -> None:
    ns = namespace()
    created = (await api.post("/api/v1/slos", json=body("burning", ns))).json()
    plain = (await api.get(f"/api/v1/slos/{created['id']}/rules")).text
    assert "slo:objective:ratio" not in plain
    with_meta = await api.get("/api/v1/rules", params={"namespace": ns, "slothMetadata": "true"})
    records = [r.get("record") for r in yaml.safe_load(with_meta.text)["groups"][0]["rules"]]
    assert "slo:period_error_budget_remaining:ratio" in records and "sloth_slo_info" in records
    check_rules(with_meta.text, tmp_path)


async def test_alerting_settings_are_part_of_the_rest_body(api: httpx.AsyncClient) -> None:
    ns = namespace()
    refused = await api.post(
        "/api/v1/slos", json=body("burning", ns, alerting={"page": {"labels": {"slo": "other"}}})
    )
    assert refused.status_code == 422
    assert "set by the rules themselves" in refused.text
    settings = {"name": "Burn", "ticket": {"enabled": False}, "slothMetadata": True}
    created = (await api.post("/api/v1/slos", json=body("burning", ns, alerting=settings))).json()
    assert created["alerting"]["ticket"]["enabled"] is False
    rules = yaml.safe_load((await api.get(f"/api/v1/slos/{created['id']}/rules")).text)
    assert [r["alert"] for r in rules["groups"][0]["rules"] if "alert" in r] == ["Burn"]


async def test_pyrra_file_that_is_not_pyrra_is_422(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/slos/import/pyrra", content="groups: []", headers=YAML)
    assert response.status_code == 422
    assert "not a Pyrra file" in response.json()["detail"]
