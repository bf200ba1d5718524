"""Redis stopped: budgets are still served, from PostgreSQL and current, `/ready` says degraded,
nothing answers 5xx; with Redis back the cache fills again.

The Redis here is a private redis-server on a free port, never the machine's shared one.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from sla_management.adapters.cache import BudgetCache
from sla_management.config import Settings
from sla_management.devstack import databases, processes
from sla_management.domain.slo import workflow_id_for
from tests.api.test_slos_api import body
from tests.faults.harness import control_api, terminate, worker_processes
from tests.support.waiting import eventually


def read_paths(slo_id: str, ns: str) -> list[str]:
    return [
        f"/api/v1/budgets/{slo_id}",
        f"/api/v1/budgets/{slo_id}/burn-rate",
        f"/api/v1/budgets/{slo_id}/history",
        "/api/v1/budgets",
        "/api/v1/budgets/summary",
        f"/api/v1/slos/{slo_id}",
        "/api/v1/slos",
        f"/api/v1/gate?namespace={ns}",
        "/api/v1/policies/freezes/active",
    ]


async def test_budgets_are_served_without_redis(
    settings: Settings, temporal_client: Client, tmp_path: Path, figures: Counter[str]
) -> None:
    port = processes.free_port()
    redis = databases.ensure_redis(tmp_path / "redis", port)
    assert redis is not None, "a private Redis was expected on a free port"
    settings.redis.cluster_nodes = [f"127.0.0.1:{port}"]
    cache = BudgetCache(settings.redis)
    try:
        async with (
            control_api(settings) as api,
            worker_processes(settings, tmp_path, temporal_client) as workers,
        ):
            await workers.start()
            ns = f"redis-{uuid.uuid4().hex[:6]}"
            slo = (await api.post("/api/v1/slos", json=body("steady", namespace=ns))).json()
            await eventually(lambda: cache.get(slo["id"]), timeout=60)
            assert (await api.get("/ready")).json()["status"] == "ready"

            redis.stop()
            stopped_at = datetime.now(UTC)

            async def fresh_from_postgres() -> dict[str, Any] | None:
                response = await api.get(f"/api/v1/budgets/{slo['id']}")
                assert response.status_code == 200, response.text
                budget: dict[str, Any] = response.json()
                return budget if datetime.fromisoformat(budget["calculatedAt"]) > stopped_at else None

            await eventually(fresh_from_postgres, timeout=60, every=0.5)
            ready = await api.get("/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["status"] == "degraded" and ready.json()["checks"]["redis"] == "down"
            statuses, slowest = await sweep(api, read_paths(slo["id"], ns))
            assert all(s < 500 for s in statuses.values()), statuses
            assert statuses[f"/api/v1/budgets/{slo['id']}"] == 200
            # A refused connection costs a millisecond; seconds would mean retrying a dead Redis.
            assert slowest < 2.0, f"a read took {slowest:.1f} s without Redis"

            redis = databases.ensure_redis(tmp_path / "redis", port)
            assert redis is not None
            await eventually(lambda: _ready(api), timeout=30)
            await eventually(lambda: cache.get(slo["id"]), timeout=30)  # the worker fills it again
            figures["redis stopped: read requests answered, none 5xx"] += len(statuses)
            figures["redis stopped: slowest read (ms)"] += round(slowest * 1000)
            await terminate(temporal_client, [workflow_id_for(slo["id"])])
    finally:
        await cache.aclose()
        if redis is not None:
            redis.stop()


async def sweep(api: httpx.AsyncClient, paths: list[str]) -> tuple[dict[str, int], float]:
    statuses, slowest = {}, 0.0
    for path in paths:
        began = time.monotonic()
        response = await api.get(path)
        slowest = max(slowest, time.monotonic() - began)
        statuses[path] = response.status_code
    return statuses, slowest


async def _ready(api: httpx.AsyncClient) -> bool:
    return bool((await api.get("/ready")).json()["status"] == "ready")
