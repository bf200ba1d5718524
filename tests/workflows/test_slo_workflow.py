"""The SLO loop on a real Temporal dev server, real Prometheus, PostgreSQL, Redis and Kafka."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from temporalio.client import WorkflowExecutionStatus

from sla_management.domain.budget import BudgetStatus, ErrorBudget
from sla_management.domain.plan import CountLedger
from sla_management.domain.promql import detect_unit
from sla_management.domain.slo import SLO
from sla_management.workflows.client import cancel_slo, start_slo
from sla_management.workflows.models import LoopState
from tests.conftest import Runtime, Stack, running_worker
from tests.support.kafka import read_events
from tests.support.waiting import eventually


async def stored_slo(runtime: Runtime, svc: str = "steady", **overrides: Any) -> SLO:
    now = datetime.now(UTC)
    spec: dict[str, Any] = {
        "name": f"{svc}-{uuid.uuid4().hex[:6]}",
        "sloType": "AVAILABILITY",
        "serviceName": svc,
        "target": 0.99,
        "sliQuery": {
            "errorQuery": f'sum(increase(t_errors_total{{svc="{svc}"}}[{{{{.window}}}}]))',
            "totalQuery": f'sum(increase(t_requests_total{{svc="{svc}"}}[{{{{.window}}}}]))',
        },
        **overrides,
    }
    slo = SLO.model_validate({**spec, "id": str(uuid.uuid4()), "createdAt": now, "updatedAt": now})
    slo = slo.model_copy(update={"query_units": {f: detect_unit(q) for f, q in slo.event_queries().items()}})
    return await runtime.clients.slos.insert(slo)


async def loop_state(runtime: Runtime, slo: SLO) -> LoopState:
    handle = runtime.client.get_workflow_handle(slo.workflow_id)
    state: LoopState = await handle.query("state", result_type=LoopState)
    return state


async def test_loop_persists_caches_and_publishes_each_pass(
    runtime: Runtime, worker: Any, stack: Stack
) -> None:
    slo = await stored_slo(runtime)
    await start_slo(runtime.client, slo, runtime.settings)

    async def two_passes() -> LoopState | None:
        state = await loop_state(runtime, slo)
        return state if state.passes >= 2 else None

    state = await eventually(two_passes)
    assert state.budget is not None and state.budget.status is BudgetStatus.HEALTHY

    stored = await eventually(lambda: runtime.clients.budgets.current(slo.id))
    assert stored.remaining_percent is not None and abs(stored.remaining_percent - 90) < 0.5
    cached = await runtime.cache.get(slo.id)
    assert cached is not None and cached.slo_id == slo.id
    history = await runtime.clients.budgets.history(slo.id, None, None)
    assert len(history) >= 1  # first pass always enters history

    events = await read_events(
        stack.kafka_address,
        runtime.settings.kafka.budget_topic,
        lambda e: e.key == slo.id,
        at_least=2,
    )
    assert len(events) >= 2
    first = events[0]
    assert first.headers["event_type"] == "BUDGET_CALCULATED"
    assert first.headers["service_name"] == "steady"
    assert first.headers["severity"] == "info"
    assert len({e.headers["event_id"] for e in events}) == len(events)  # unique ids
    assert first.payload["budget"]["sloId"] == slo.id

    described = await runtime.client.get_workflow_handle(slo.workflow_id).describe()
    attrs = {
        k: v
        for k, v in described.raw_description.workflow_execution_info.search_attributes.indexed_fields.items()
    }
    assert b"HEALTHY" in attrs["BudgetStatus"].data
    assert b"steady" in attrs["ServiceName"].data
    await cancel_slo(runtime.client, slo.id)


async def test_update_returns_a_fresh_budget_and_signal_cuts_the_timer(
    runtime: Runtime, stack: Stack
) -> None:
    runtime.settings.calculator.calculation_interval_seconds = 3600  # only messages wake it
    async with running_worker(runtime):
        slo = await stored_slo(runtime)
        handle = await start_slo(runtime.client, slo, runtime.settings)
        await eventually(lambda: _passes_at_least(runtime, slo, 1))

        fresh = await handle.execute_update("recalculate_now", result_type=ErrorBudget)
        assert fresh.slo_id == slo.id
        assert (await loop_state(runtime, slo)).passes == 2

        await handle.signal("recalculate")
        await eventually(lambda: _passes_at_least(runtime, slo, 3), timeout=15)

        changed = slo.model_copy(update={"target": 0.995})
        await handle.signal("definition_updated", changed)
        state = await eventually(lambda: _passes_at_least(runtime, slo, 4), timeout=15)
        assert state.budget is not None and state.budget.target == 0.995
        # 0.1 % errors against 99.5 %: 20 % spent.
        assert state.budget.remaining_percent is not None and abs(state.budget.remaining_percent - 80) < 0.5
        assert (await handle.query("definition", result_type=SLO)).target == 0.995
        await cancel_slo(runtime.client, slo.id)


async def _passes_at_least(runtime: Runtime, slo: SLO, n: int) -> LoopState | None:
    state = await loop_state(runtime, slo)
    return state if state.passes >= n else None


async def test_continue_as_new_keeps_the_ledger_and_counts(runtime: Runtime) -> None:
    runtime.settings.calculator.passes_per_run = 2
    runtime.settings.calculator.calculation_interval_seconds = 0.5
    async with running_worker(runtime):
        slo = await stored_slo(runtime)
        handle = await start_slo(runtime.client, slo, runtime.settings)
        first_run = (await handle.describe()).run_id
        state = await eventually(lambda: _passes_at_least(runtime, slo, 5), timeout=30)
        latest = runtime.client.get_workflow_handle(slo.workflow_id)
        assert (await latest.describe()).run_id != first_run
        assert state.budget is not None and state.budget.status is BudgetStatus.HEALTHY
        # The carried ledger holds every settled hour of the window as of the last pass: from the
        # first whole hour after the window start to the last hour older than the settle delay
        # (718 or 719 buckets for 30 days, depending on where in the hour the pass ran).
        ledger = state.ledger
        assert isinstance(ledger, CountLedger)
        now = int(state.budget.calculated_at.timestamp())
        settle = runtime.settings.calculator.settle_seconds
        assert ledger.first_start == -(-(now - 30 * 86400) // 3600) * 3600
        assert ledger.end == (now - settle) // 3600 * 3600
        assert len(ledger.total) >= 30 * 24 - 2
        await cancel_slo(runtime.client, slo.id)


async def test_a_restarted_worker_resumes_the_loop(runtime: Runtime) -> None:
    runtime.settings.calculator.calculation_interval_seconds = 0.5
    slo = await stored_slo(runtime)
    async with running_worker(runtime):
        await start_slo(runtime.client, slo, runtime.settings)
        before = await eventually(lambda: _passes_at_least(runtime, slo, 2))
    # No worker now: the loop waits durably on the server.
    async with running_worker(runtime):
        after = await eventually(lambda: _passes_at_least(runtime, slo, before.passes + 2), timeout=30)
    assert after.passes >= before.passes + 2
    status = (await runtime.client.get_workflow_handle(slo.workflow_id).describe()).status
    assert status is WorkflowExecutionStatus.RUNNING
    await cancel_slo(runtime.client, slo.id)


async def test_cancel_ends_the_loop(runtime: Runtime, worker: Any) -> None:
    slo = await stored_slo(runtime)
    handle = await start_slo(runtime.client, slo, runtime.settings)
    await eventually(lambda: _passes_at_least(runtime, slo, 1))
    assert await cancel_slo(runtime.client, slo.id)

    async def cancelled() -> bool:
        return (await handle.describe()).status is WorkflowExecutionStatus.CANCELED

    await eventually(cancelled)
    assert not await cancel_slo(runtime.client, "no-such-slo")


async def test_prometheus_down_gives_unknown_and_the_loop_goes_on(runtime: Runtime) -> None:
    from sla_management.adapters.prometheus import PrometheusClient
    from sla_management.devstack.processes import free_port

    runtime.settings.calculator.calculation_interval_seconds = 0.5
    dead = PrometheusClient(f"http://127.0.0.1:{free_port()}", timeout_seconds=1, max_retries=0)
    runtime.clients.prometheus = dead
    async with running_worker(runtime):
        slo = await stored_slo(runtime)
        await start_slo(runtime.client, slo, runtime.settings)
        state = await eventually(lambda: _passes_at_least(runtime, slo, 2), timeout=30)
    assert state.budget is not None
    assert state.budget.status is BudgetStatus.UNKNOWN
    assert state.budget.error and "did not answer" in state.budget.error
    assert state.budget.remaining_percent is None
    await dead.aclose()
    await cancel_slo(runtime.client, slo.id)


async def test_worker_start_restarts_loops_missing_from_temporal(runtime: Runtime) -> None:
    from sla_management.worker.main import ensure_loops

    slo = await stored_slo(runtime)  # a row whose workflow was never started (e.g. a restored DB)
    async with running_worker(runtime):
        await ensure_loops(runtime.clients)
        state = await eventually(lambda: _passes_at_least(runtime, slo, 1))
        assert state.budget is not None and state.budget.slo_id == slo.id
        await ensure_loops(runtime.clients)  # idempotent
        described = await runtime.client.get_workflow_handle(slo.workflow_id).describe()
        assert described.status is WorkflowExecutionStatus.RUNNING
    await cancel_slo(runtime.client, slo.id)


async def test_local_activity_mode_runs_the_same_loop(runtime: Runtime, stack: Stack) -> None:
    runtime.settings.calculator.activity_mode = "local"
    runtime.settings.calculator.calculation_interval_seconds = 0.5
    async with running_worker(runtime):
        slo = await stored_slo(runtime, "burning")
        handle = await start_slo(runtime.client, slo, runtime.settings)
        state = await eventually(lambda: _passes_at_least(runtime, slo, 2))
        fresh = await handle.execute_update("recalculate_now", result_type=ErrorBudget)
    assert state.budget is not None and state.budget.burn_level.value == "CRITICAL"
    assert fresh.slo_id == slo.id
    stored = await runtime.clients.budgets.current(slo.id)
    assert stored is not None and stored.calculated_at >= state.budget.calculated_at
    history = await handle.fetch_history()
    kinds = {e.WhichOneof("attributes") for e in history.events}
    assert "marker_recorded_event_attributes" in kinds  # local activities leave markers
    assert "activity_task_scheduled_event_attributes" not in kinds
    await cancel_slo(runtime.client, slo.id)
