"""PostgreSQL restarted under a running loop and API: 503 problem documents (never 500) while it is
down, full recovery after, and no snapshot lost: the write that met the outage is retried
until it lands.

The PostgreSQL here is a private embedded one on a free port, never the machine's shared one.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable
from pathlib import Path

import httpx
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client

from sla_management.adapters.migrations import upgrade
from sla_management.adapters.postgres import Database
from sla_management.config import Settings
from sla_management.devstack import databases, processes
from sla_management.domain.slo import workflow_id_for
from tests.api.test_slos_api import body
from tests.faults.harness import assert_problem, control_api, history_facts, terminate, worker_processes
from tests.support.waiting import eventually

HOST = "127.0.0.1"


async def test_postgres_restart_costs_503s_and_no_snapshot(
    settings: Settings, temporal_client: Client, tmp_path: Path, figures: Counter[str]
) -> None:
    port = processes.free_port()
    # Not under pytest's temp root: every pytest run that starts on the machine makes that 0700
    # again, and as root PostgreSQL runs as another user who must be able to reach its data.
    pg_dir = Path(tempfile.mkdtemp(prefix="sla-fault-pg-"))
    pg = databases.ensure_postgres(pg_dir, HOST, port)
    assert pg is not None, "a private PostgreSQL was expected on a free port"
    try:
        databases.create_database(HOST, port, "postgres", "sla_faults")
        settings.postgresql.host, settings.postgresql.port = HOST, port
        settings.postgresql.database = "sla_faults"
        settings.calculator.history_interval_seconds = 0  # every pass is a snapshot
        upgrade(settings.postgresql)
        client = temporal_client
        async with control_api(settings) as api, worker_processes(settings, tmp_path, client) as workers:
            await workers.start()
            ns = f"pg-{uuid.uuid4().hex[:6]}"
            slo = (await api.post("/api/v1/slos", json=body("steady", namespace=ns))).json()
            workflow_id = workflow_id_for(slo["id"])

            async def passes() -> int:
                return len((await history_facts(client, workflow_id)).recorded)

            await eventually(lambda: _at_least(passes(), 3), timeout=60)

            pg.stop()
            down_at = time.monotonic()
            await eventually(lambda: _status(api, "/api/v1/slos", 503), timeout=30)
            answers = await sweep_while_down(api, slo["id"], ns)
            ready = await api.get("/ready")
            assert ready.status_code == 503 and ready.json()["checks"]["postgresql"] == "down", ready.text
            # A pass has met the outage: its write is being retried (a third time, to be sure).
            await eventually(lambda: _retrying(client, workflow_id), timeout=60)

            pg = databases.ensure_postgres(pg_dir, HOST, port)
            assert pg is not None
            down_for = time.monotonic() - down_at
            await eventually(lambda: _status(api, "/api/v1/slos", 200), timeout=60)
            after = await passes()
            await eventually(lambda: _at_least(passes(), after + 3), timeout=60)
            assert (await api.get(f"/api/v1/budgets/{slo['id']}")).status_code == 200
            assert (await api.get("/ready")).status_code == 200

            await terminate(client, [workflow_id])
            facts = await history_facts(client, workflow_id)
            recorded = {inp.event_id: attempt for inp, attempt in facts.recorded}
            stored = await history_ids(settings, slo["id"])
            # Every snapshot Temporal counts as recorded is stored; at most one more (the pass
            # whose write was running when the loop was terminated).
            assert set(recorded) <= stored, set(recorded) - stored
            assert len(stored - set(recorded)) <= 1
            retried = sum(1 for attempt in recorded.values() if attempt > 1)
            assert retried >= 1, "no snapshot write was retried across the restart"

            figures["postgres restart: seconds down"] += round(down_for)
            figures["postgres restart: requests answered 503 problem while down (no 500)"] += sum(
                1 for s in answers if s == 503
            )
            figures["postgres restart: snapshots written by a retry after the restart"] += retried
            figures["postgres restart: snapshots stored = recorded passes"] += len(recorded)
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)


async def sweep_while_down(api: httpx.AsyncClient, slo_id: str, ns: str) -> list[int]:
    """Every endpoint that needs PostgreSQL answers 503 (a cached budget may still be 200)."""
    statuses = []
    for method, path, payload in [
        ("GET", "/api/v1/slos", None),
        ("GET", f"/api/v1/slos/{slo_id}", None),
        ("GET", "/api/v1/budgets", None),
        ("GET", "/api/v1/budgets/summary", None),
        ("GET", f"/api/v1/budgets/{slo_id}/history", None),
        ("GET", f"/api/v1/budgets/{slo_id}", None),
        ("GET", f"/api/v1/gate?namespace={ns}", None),
        ("GET", "/api/v1/policies", None),
        ("GET", "/api/v1/policies/freezes/active", None),
        ("POST", "/api/v1/slos", body("steady", namespace=ns)),
    ]:
        response = await api.request(method, path, json=payload)
        if response.status_code != 200:
            assert_problem(response, 503)
        statuses.append(response.status_code)
    assert statuses.count(503) >= len(statuses) - 1, statuses
    return statuses


async def history_ids(settings: Settings, slo_id: str) -> set[str]:
    db = Database(settings.postgresql)
    try:
        async with db.acquire() as conn:
            rows = await conn.fetch("SELECT event_id FROM budget_history WHERE slo_id=$1", slo_id)
    finally:
        await db.close()
    return {str(r["event_id"]) for r in rows}


async def _at_least(count: Awaitable[int], n: int) -> bool:
    return await count >= n


async def _status(api: httpx.AsyncClient, path: str, status: int) -> bool:
    response = await api.get(path)
    assert response.status_code < 500 or response.status_code == 503, response.text
    return response.status_code == status


async def _retrying(client: Client, workflow_id: str) -> bool:
    described = await client.get_workflow_handle(workflow_id).describe()
    return any(
        a.activity_type.name == "record_budget" and a.attempt >= 3
        for a in described.raw_description.pending_activities
        if a.state != PendingActivityState.PENDING_ACTIVITY_STATE_UNSPECIFIED
    )
