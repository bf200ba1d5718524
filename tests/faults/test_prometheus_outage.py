"""Prometheus stopped: budgets become UNKNOWN with the error, no freeze is decided on missing
data, and with Prometheus back the budgets (and the freeze they call for) follow.

The Prometheus here is a private one that reads the session's backfilled history over remote
read, so it can be stopped without touching what the other tests query.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from sla_management.adapters.postgres import Database, SLORepository
from sla_management.config import Settings
from sla_management.devstack import processes, servers
from sla_management.domain.promql import detect_unit
from sla_management.domain.slo import SLO, workflow_id_for
from sla_management.workflows.client import start_slo
from tests.api.test_slos_api import body
from tests.conftest import Stack
from tests.faults.harness import control_api, freeze_rows, history_facts, terminate, worker_processes
from tests.policies.test_freeze_flow import LOW, policy_body
from tests.support.waiting import eventually


def remote_reader(upstream: str) -> str:
    return (
        "global:\n  scrape_interval: 1m\nscrape_configs: []\n"
        f"remote_read:\n  - url: {upstream}/api/v1/read\n    read_recent: true\n"
    )


async def test_prometheus_down_gives_unknown_and_no_freeze(
    stack: Stack, settings: Settings, temporal_client: Client, tmp_path: Path, figures: Counter[str]
) -> None:
    port = processes.free_port()
    config = remote_reader(stack.prometheus_url)
    prometheus = servers.start_prometheus(tmp_path / "prometheus", port, config)
    settings.prometheus.url = prometheus.address
    client = temporal_client
    db = Database(settings.postgresql)
    try:
        async with control_api(settings) as api, worker_processes(settings, tmp_path, client) as workers:
            await workers.start()
            ns = f"prom-{uuid.uuid4().hex[:6]}"
            policy = (await api.post("/api/v1/policies", json=policy_body(ns))).json()
            steady = (await api.post("/api/v1/slos", json=body("steady", namespace=ns))).json()
            await eventually(lambda: _budget(api, steady["id"], "HEALTHY"), timeout=60)

            prometheus.stop()
            # An SLO that would freeze its namespace gets its first passes while Prometheus is
            # down (stored directly: the API itself checks queries against Prometheus).
            burning = await store_slo(db, body("burning", namespace=ns, target=LOW))
            await start_slo(client, burning, settings)
            slo_ids = [steady["id"], burning.id]
            for slo_id in slo_ids:
                unknown = await eventually(partial(_budget, api, slo_id, "UNKNOWN"), timeout=60)
                assert "did not answer" in unknown["error"] and unknown["remainingPercent"] is None, unknown

            async def policy_saw_unknown() -> dict[str, Any] | None:
                state: dict[str, Any] = await client.get_workflow_handle(f"policy-{policy['id']}").query(
                    "state"
                )
                seen = state["observations"]
                return state if all(seen.get(i, {}).get("status") == "UNKNOWN" for i in slo_ids) else None

            state = await eventually(policy_saw_unknown, timeout=60)

            async def loops_go_on() -> bool:
                for slo_id in slo_ids:
                    facts = await history_facts(client, workflow_id_for(slo_id))
                    if sum(1 for inp, _ in facts.recorded if inp.budget.status.value == "UNKNOWN") < 3:
                        return False
                return True

            await eventually(loops_go_on, timeout=60, every=0.5)
            assert state["freeze"] is None
            assert await freeze_rows(db, policy["id"]) == []
            assert (await api.get("/api/v1/gate", params={"namespace": ns})).json()["allowed"] is True

            # Taken while it is still down: nothing may be decided on Prometheus data before.
            back_at, restarted = datetime.now(UTC), time.monotonic()
            prometheus = servers.start_prometheus(tmp_path / "prometheus", port, config)
            healthy = await eventually(lambda: _budget(api, steady["id"], "HEALTHY"), timeout=60)
            assert healthy["error"] is None and healthy["remainingPercent"] > 80
            recovered_in = time.monotonic() - restarted
            [freeze] = await eventually(lambda: freeze_rows(db, policy["id"]), timeout=60)
            assert freeze["activated_at"] > back_at  # decided on data, not on its absence

            workflows = [workflow_id_for(i) for i in slo_ids] + [f"policy-{policy['id']}"]
            await terminate(client, workflows)
            unknown_passes = 0
            for slo_id in slo_ids:
                facts = await history_facts(client, workflow_id_for(slo_id))
                unknown_passes += sum(1 for inp, _ in facts.recorded if inp.budget.status.value == "UNKNOWN")
            figures["prometheus stopped: passes recorded UNKNOWN with the error"] += unknown_passes
            figures["prometheus stopped: freezes decided while down"] += 0
            figures["prometheus stopped: seconds from restart to a HEALTHY budget"] += round(recovered_in)
    finally:
        await db.close()
        prometheus.stop()


async def store_slo(db: Database, spec: dict[str, Any]) -> SLO:
    now = datetime.now(UTC)
    slo = SLO.model_validate({**spec, "id": str(uuid.uuid4()), "createdAt": now, "updatedAt": now})
    slo = slo.model_copy(update={"query_units": {f: detect_unit(q) for f, q in slo.event_queries().items()}})
    return await SLORepository(db).insert(slo)


async def _budget(api: httpx.AsyncClient, slo_id: str, status: str) -> dict[str, Any] | None:
    response = await api.get(f"/api/v1/budgets/{slo_id}")
    assert response.status_code in (200, 404), response.text  # 404: no pass finished yet
    budget: dict[str, Any] = response.json()
    return budget if response.status_code == 200 and budget["status"] == status else None
