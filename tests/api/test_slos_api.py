"""SLO endpoints over HTTP (ASGI), with the real Temporal, Prometheus and PostgreSQL behind."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus

from sla_management.config import Settings
from sla_management.devstack.processes import free_port
from tests.conftest import ADMIN_HEADERS, Runtime
from tests.support.waiting import eventually


def body(svc: str = "steady", **overrides: Any) -> dict[str, Any]:
    return {
        "name": f"{svc} availability {uuid.uuid4().hex[:6]}",
        "sloType": "AVAILABILITY",
        "serviceName": svc,
        "namespace": "shop",
        "layer": "orquestracao",
        "target": 0.99,
        "windowDays": 30,
        "sliQuery": {
            "errorQuery": f'sum(rate(t_errors_total{{svc="{svc}"}}[{{{{.window}}}}]))',
            "totalQuery": f'sum(rate(t_requests_total{{svc="{svc}"}}[{{{{.window}}}}]))',
        },
        **overrides,
    }


async def test_create_starts_the_loop_and_returns_the_stored_slo(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    response = await api.post("/api/v1/slos", json=body())
    assert response.status_code == 201, response.text
    slo = response.json()
    assert response.headers["location"] == f"/api/v1/slos/{slo['id']}"
    assert slo["serviceName"] == "steady" and slo["budgetingMethod"] == "Occurrences"
    assert slo["queryUnits"] == {"errorQuery": "rate", "totalQuery": "rate"}
    described = await runtime.client.get_workflow_handle(f"slo-{slo['id']}").describe()
    assert described.status is WorkflowExecutionStatus.RUNNING
    assert (await api.get(f"/api/v1/slos/{slo['id']}")).json()["name"] == slo["name"]


async def test_the_spec_crd_example_body_is_accepted_with_a_threshold(
    api: httpx.AsyncClient,
) -> None:
    spec = {
        "name": f"Neural Hive Bus Latency {uuid.uuid4().hex[:4]}",
        "sloType": "LATENCY",
        "serviceName": "message-bus",
        "layer": "orquestracao",
        "target": 0.999,
        "windowDays": 30,
        "sliQuery": {"metricName": "t_latency_ms", "query": 'max(t_latency_ms{svc="lat"})'},
        "threshold": 500,
    }
    response = await api.post("/api/v1/slos", json=spec)
    assert response.status_code == 201, response.text
    assert response.json()["budgetingMethod"] == "Timeslices"
    assert response.json()["comparison"] == "lte"


async def test_window_days_defaults_from_settings(api: httpx.AsyncClient, runtime: Runtime) -> None:
    spec = body()
    del spec["windowDays"]
    response = await api.post("/api/v1/slos", json=spec)
    assert response.json()["windowDays"] == runtime.settings.calculator.error_budget_window_days


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        pytest.param({"target": 1.0}, ["body", "target"], id="target of 1 is not an objective"),
        pytest.param({"target": 0}, ["body", "target"], id="target of 0 is not an objective"),
        pytest.param({"windowDays": 91}, ["body", "windowDays"], id="window over 90 days"),
        pytest.param({"sloType": "MAGIC"}, ["body", "sloType"], id="unknown sloType"),
        pytest.param(
            {"sliQuery": {"errorQuery": "sum(x[{{.window}}])"}},
            ["body", "sliQuery"],
            id="errorQuery without totalQuery",
        ),
        pytest.param({"sliQuery": {"query": "up"}}, ["body"], id="single query without window or threshold"),
        pytest.param({"name": ""}, ["body", "name"], id="empty name"),
    ],
)
async def test_invalid_bodies_are_422_with_the_field(
    api: httpx.AsyncClient, change: dict[str, Any], loc: list[str]
) -> None:
    response = await api.post("/api/v1/slos", json={**body(), **change})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert any(e["loc"][: len(loc)] == loc for e in errors), errors


async def test_invalid_promql_is_422_with_prometheus_own_error(api: httpx.AsyncClient) -> None:
    spec = body()
    spec["sliQuery"]["totalQuery"] = "sum(rate(t_requests_total[{{.window}}])"
    response = await api.post("/api/v1/slos", json=spec)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["loc"] == ["body", "sliQuery", "totalQuery"]
    assert "parse error" in error["msg"] and "unclosed left parenthesis" in error["msg"]


async def test_same_name_in_same_namespace_is_409(api: httpx.AsyncClient) -> None:
    spec = body()
    assert (await api.post("/api/v1/slos", json=spec)).status_code == 201
    again = await api.post("/api/v1/slos", json=spec)
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]
    assert (await api.post("/api/v1/slos", json={**spec, "namespace": "other"})).status_code == 201


async def test_list_filters(api: httpx.AsyncClient) -> None:
    tag = uuid.uuid4().hex[:6]
    await api.post("/api/v1/slos", json=body(namespace=f"ns-{tag}", layer="experiencia"))
    await api.post("/api/v1/slos", json=body("burning", namespace=f"ns-{tag}"))
    listed = (await api.get("/api/v1/slos", params={"namespace": f"ns-{tag}"})).json()
    assert len(listed) == 2
    only = (await api.get("/api/v1/slos", params={"namespace": f"ns-{tag}", "service": "burning"})).json()
    assert [s["serviceName"] for s in only] == ["burning"]
    layered = (
        await api.get("/api/v1/slos", params={"namespace": f"ns-{tag}", "layer": "experiencia"})
    ).json()
    assert len(layered) == 1
    assert (await api.get("/api/v1/slos", params={"status": "SIDEWAYS"})).status_code == 422


async def test_list_by_budget_status(api: httpx.AsyncClient) -> None:
    tag = uuid.uuid4().hex[:6]
    created = (await api.post("/api/v1/slos", json=body(namespace=f"st-{tag}"))).json()
    await eventually(lambda: _has_budget(api, created["id"]))
    healthy = (await api.get("/api/v1/slos", params={"namespace": f"st-{tag}", "status": "HEALTHY"})).json()
    critical = (await api.get("/api/v1/slos", params={"namespace": f"st-{tag}", "status": "CRITICAL"})).json()
    assert [s["id"] for s in healthy] == [created["id"]]
    assert critical == []


async def _has_budget(api: httpx.AsyncClient, slo_id: str) -> bool:
    return (await api.get(f"/api/v1/budgets/{slo_id}")).status_code == 200


async def test_unknown_ids_are_404(api: httpx.AsyncClient) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    assert (await api.get(f"/api/v1/slos/{missing}")).status_code == 404
    assert (await api.put(f"/api/v1/slos/{missing}", json=body())).status_code == 404
    assert (await api.delete(f"/api/v1/slos/{missing}")).status_code == 404
    assert (await api.post(f"/api/v1/slos/{missing}/test")).status_code == 404
    problem = (await api.get(f"/api/v1/slos/{missing}")).json()
    assert problem["status"] == 404 and missing in problem["detail"]


async def test_update_persists_and_reaches_the_loop(api: httpx.AsyncClient, runtime: Runtime) -> None:
    spec = body()
    created = (await api.post("/api/v1/slos", json=spec)).json()
    updated = await api.put(f"/api/v1/slos/{created['id']}", json={**spec, "target": 0.995})
    assert updated.status_code == 200
    assert updated.json()["target"] == 0.995 and updated.json()["createdAt"] == created["createdAt"]
    handle = runtime.client.get_workflow_handle(f"slo-{created['id']}")

    async def loop_has_it() -> bool:
        definition = await handle.query("definition")
        return bool(definition["target"] == 0.995)

    await eventually(loop_has_it)
    bad = {**spec, "sliQuery": {**spec["sliQuery"], "errorQuery": "sum(rate(x[{{.window}}]"}}
    assert (await api.put(f"/api/v1/slos/{created['id']}", json=bad)).status_code == 422
    other = (await api.post("/api/v1/slos", json=body())).json()
    clash = await api.put(f"/api/v1/slos/{other['id']}", json={**spec, "target": 0.99})
    assert clash.status_code == 409


async def test_delete_cancels_the_loop_and_forgets_the_slo(api: httpx.AsyncClient, runtime: Runtime) -> None:
    created = (await api.post("/api/v1/slos", json=body())).json()
    assert (await api.delete(f"/api/v1/slos/{created['id']}")).status_code == 204
    assert (await api.get(f"/api/v1/slos/{created['id']}")).status_code == 404
    handle = runtime.client.get_workflow_handle(f"slo-{created['id']}")

    async def cancelled() -> bool:
        return (await handle.describe()).status is WorkflowExecutionStatus.CANCELED

    await eventually(cancelled)


async def test_test_endpoint_runs_the_queries_and_saves_nothing(app: Any, runtime: Runtime) -> None:
    # No worker: anything in budgets_current afterwards could only come from /test.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=ADMIN_HEADERS) as client:
        created = (await client.post("/api/v1/slos", json=body("burning"))).json()
        response = await client.post(f"/api/v1/slos/{created['id']}/test")
    assert response.status_code == 200
    result = response.json()
    keys = {q["key"] for q in result["queries"]}
    assert {"ev:buckets", "total:buckets", "ev:burn:1h", "total:burn:5m"} <= keys
    assert result["budget"]["burnLevel"] == "CRITICAL"
    assert result["budget"]["status"] == "WARNING"
    assert await runtime.clients.budgets.current(created["id"]) is None


async def test_prometheus_down_is_503_on_create(runtime: Runtime, settings: Settings) -> None:
    from sla_management.api.app import create_app

    settings.prometheus.url = f"http://127.0.0.1:{free_port()}"
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers=ADMIN_HEADERS
        ) as client:
            response = await client.post("/api/v1/slos", json=body())
            ready = await client.get("/ready")
    assert response.status_code == 503
    assert "Prometheus" in response.json()["detail"]
    assert ready.status_code == 503 and ready.json()["checks"]["prometheus"] == "down"


async def test_temporal_down_is_503_and_leaves_nothing_behind(runtime: Runtime, settings: Settings) -> None:
    from sla_management.api.app import create_app

    settings.temporal.address = f"127.0.0.1:{free_port()}"
    app = create_app(settings)
    spec = body()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers=ADMIN_HEADERS
        ) as client:
            response = await client.post("/api/v1/slos", json=spec)
    assert response.status_code == 503
    assert "Temporal" in response.json()["detail"]
    assert not [s for s in await runtime.clients.slos.page(namespace="shop") if s.name == spec["name"]]


async def test_health_and_ready(api: httpx.AsyncClient) -> None:
    assert (await api.get("/health")).json() == {"status": "ok"}
    ready = await api.get("/ready")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert checks["temporal"] == checks["postgresql"] == checks["prometheus"] == "up"
    assert checks["redis"] == "up" and checks["kafka"] == "up"
    metrics = await api.get("/metrics/")
    assert "sla_prometheus_queries_total" in metrics.text
