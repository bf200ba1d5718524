"""Budget endpoints: cache, PostgreSQL, the workflow, and what happens when Redis is gone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from sla_management.api.app import create_app
from sla_management.config import Settings
from sla_management.devstack.processes import free_port
from tests.api.test_slos_api import body
from tests.conftest import ADMIN_HEADERS, Runtime
from tests.support.waiting import eventually


async def created_with_budget(
    api: httpx.AsyncClient, svc: str = "steady", **overrides: object
) -> dict[str, object]:
    slo = (await api.post("/api/v1/slos", json=body(svc, **overrides))).json()

    async def budget() -> dict[str, object] | None:
        response = await api.get(f"/api/v1/budgets/{slo['id']}")
        return response.json() if response.status_code == 200 else None

    return await eventually(budget)


async def test_budget_has_every_documented_field(api: httpx.AsyncClient) -> None:
    budget = await created_with_budget(api)
    for field in (
        "sloId",
        "sli",
        "target",
        "windowDays",
        "budgetingMethod",
        "totalEvents",
        "badEvents",
        "consumedPercent",
        "remainingPercent",
        "status",
        "burnRates",
        "burnLevel",
        "exhaustionEta",
        "calculatedAt",
        "error",
    ):
        assert field in budget, field
    assert budget["status"] == "HEALTHY"
    assert abs(float(budget["remainingPercent"]) - 90) < 0.5  # type: ignore[arg-type]
    assert set(budget["burnRates"]) == {"5m", "30m", "1h", "2h", "6h", "24h", "3d"}  # type: ignore[arg-type]


async def test_list_summary_and_filters(api: httpx.AsyncClient) -> None:
    steady = await created_with_budget(api, namespace="budgets-a")
    burning = await created_with_budget(api, "burning", namespace="budgets-a")
    listed = (await api.get("/api/v1/budgets", params={"namespace": "budgets-a"})).json()
    assert [b["sloId"] for b in listed] == [
        burning["sloId"],
        steady["sloId"],
    ]  # least remaining first
    critical = (
        await api.get("/api/v1/budgets", params={"namespace": "budgets-a", "burnLevel": "CRITICAL"})
    ).json()
    assert [b["sloId"] for b in critical] == [burning["sloId"]]
    assert (await api.get("/api/v1/budgets", params={"burnLevel": "HOT"})).status_code == 422

    summary = (await api.get("/api/v1/budgets/summary")).json()
    assert summary["total"] >= 2
    assert summary["byStatus"]["WARNING"] >= 1 and summary["byBurnLevel"]["CRITICAL"] >= 1
    remaining = [w["remainingPercent"] for w in summary["worst"]]
    assert remaining == sorted(remaining)


async def test_history_window_and_bad_range(api: httpx.AsyncClient) -> None:
    budget = await created_with_budget(api)
    slo_id = budget["sloId"]
    history = (await api.get(f"/api/v1/budgets/{slo_id}/history")).json()
    assert len(history) >= 1 and history[0]["sloId"] == slo_id
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert (await api.get(f"/api/v1/budgets/{slo_id}/history", params={"from": future})).json() == []
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    bad = await api.get(f"/api/v1/budgets/{slo_id}/history", params={"from": future, "to": past})
    assert bad.status_code == 422
    assert (
        await api.get(f"/api/v1/budgets/{slo_id}/history", params={"from": "yesterday"})
    ).status_code == 422


async def test_burn_rate_and_recalculate(api: httpx.AsyncClient) -> None:
    budget = await created_with_budget(api, "burning")
    slo_id = budget["sloId"]
    report = (await api.get(f"/api/v1/budgets/{slo_id}/burn-rate")).json()
    assert report["burnLevel"] == "CRITICAL"
    assert report["fastThreshold"] == 14.4 and report["windowsSeconds"]["1h"] == 3600
    assert report["burnRates"]["1h"] > 14.4

    fresh = await api.post(f"/api/v1/budgets/{slo_id}/recalculate")
    assert fresh.status_code == 200
    assert fresh.json()["calculatedAt"] > budget["calculatedAt"]  # type: ignore[operator]


async def test_unknown_slo_is_404_everywhere(api: httpx.AsyncClient) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    for method, path in (
        ("GET", f"/api/v1/budgets/{missing}"),
        ("GET", f"/api/v1/budgets/{missing}/history"),
        ("GET", f"/api/v1/budgets/{missing}/burn-rate"),
        ("POST", f"/api/v1/budgets/{missing}/recalculate"),
    ):
        response = await api.request(method, path)
        assert response.status_code == 404, path


async def test_redis_down_still_answers_from_postgresql(
    api: httpx.AsyncClient, runtime: Runtime, settings: Settings
) -> None:
    budget = await created_with_budget(api)
    settings.redis.cluster_nodes = [f"127.0.0.1:{free_port()}"]
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers=ADMIN_HEADERS
        ) as client:
            response = await client.get(f"/api/v1/budgets/{budget['sloId']}")
            ready = await client.get("/ready")
    assert response.status_code == 200 and response.json()["sloId"] == budget["sloId"]
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded" and ready.json()["checks"]["redis"] == "down"


async def test_postgresql_down_is_503(runtime: Runtime, settings: Settings) -> None:
    settings.postgresql.port = free_port()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers=ADMIN_HEADERS
        ) as client:
            listed = await client.get("/api/v1/slos")
            budgets = await client.get("/api/v1/budgets/summary")
    assert listed.status_code == 503 and "PostgreSQL" in listed.json()["detail"]
    assert budgets.status_code == 503
