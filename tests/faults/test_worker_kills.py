"""SIGKILL the worker process while it evaluates and while it freezes, again and again.

After every kill a new worker process takes over the same task queue. At the end: every loop
runs, the policy holds exactly the freezes it decided (one activation and its resolution, not
two), every pass Temporal counts as recorded is in PostgreSQL, and every outbox event is on
Kafka (deduplicated by event id: a relay killed between send and commit sends one again).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus

from sla_management.adapters.postgres import Database
from sla_management.config import Settings
from sla_management.domain.slo import workflow_id_for
from tests.api.test_slos_api import body
from tests.conftest import Stack
from tests.faults.harness import (
    WorkerProcess,
    control_api,
    delivered,
    drained_outbox,
    freeze_rows,
    history_facts,
    orphaned_activities,
    running_activities,
    terminate,
    worker_processes,
)
from tests.policies.test_freeze_flow import LOW, RECOVERED, policy_body, set_target
from tests.replay.recorded import keep_for_replay
from tests.support.waiting import eventually


async def test_killed_workers_lose_and_double_nothing(
    stack: Stack, settings: Settings, temporal_client: Client, tmp_path: Path, figures: Counter[str]
) -> None:
    db = Database(settings.postgresql)
    client = temporal_client
    kills: list[str] = []

    async with control_api(settings) as api, worker_processes(settings, tmp_path, client) as workers:
        worker = await workers.start()
        ns = f"kill-{uuid.uuid4().hex[:6]}"
        policy = (await api.post("/api/v1/policies", json=policy_body(ns))).json()
        burning = (await api.post("/api/v1/slos", json=body("burning", namespace=ns, target=LOW))).json()
        steady = [
            (await api.post("/api/v1/slos", json=body("steady", namespace=f"{ns}-calm"))).json()
            for _ in range(2)
        ]
        slo_ids = [burning["id"], *(s["id"] for s in steady)]
        slo_workflows = [workflow_id_for(i) for i in slo_ids]
        policy_workflow = f"policy-{policy['id']}"

        async def kill_mid_freeze(worker: WorkerProcess, activity: str, committed: Any) -> str:
            """Kill as soon as the freeze step runs or its record lands, whichever is seen first."""

            async def moment() -> str | None:
                if activity in await running_activities(client, policy_workflow, worker):
                    return f"{activity} running"
                if committed(await freeze_rows(db, policy["id"])):
                    return f"{activity} committed"
                return None

            seen = await eventually(moment, timeout=90, every=0.02)
            worker.kill()
            return seen

        async def kill_mid_evaluation(worker: WorkerProcess) -> str:
            """Kill while this worker runs a Prometheus query of some SLO's pass."""

            async def moment() -> str | None:
                for workflow_id in slo_workflows:
                    if "query_sli" in await running_activities(client, workflow_id, worker):
                        return f"query_sli running ({workflow_id})"
                return None

            seen = await eventually(moment, timeout=90, every=0.02)
            worker.kill()
            return seen

        kills.append(await kill_mid_freeze(worker, "open_freeze", lambda rows: len(rows) >= 1))
        kills.append(await kill_mid_evaluation(await workers.start()))
        worker = await workers.start()
        await set_target(api, burning, RECOVERED)
        kills.append(
            await kill_mid_freeze(worker, "close_freeze", lambda rows: any(r["resolved_at"] for r in rows))
        )
        kills.append(await kill_mid_evaluation(await workers.start()))

        survivor = await workers.start()
        # Wait out the attempts the kills left behind (start-to-close timeouts), then check.
        await eventually(
            lambda: _none(orphaned_activities(client, [*slo_workflows, policy_workflow], survivor)),
            timeout=90,
            every=1,
        )
        before = {i: len((await history_facts(client, workflow_id_for(i))).recorded) for i in slo_ids}

        async def every_loop_moved_on() -> bool:
            for slo_id in slo_ids:
                if len((await history_facts(client, workflow_id_for(slo_id))).recorded) < before[slo_id] + 2:
                    return False
            return True

        await eventually(every_loop_moved_on, timeout=60, every=0.5)

        # One freeze, resolved once: neither the kill after open_freeze nor after close_freeze
        # made the policy decide again.
        [freeze] = await eventually(lambda: _resolved(db, policy["id"]), timeout=60)
        assert (await client.get_workflow_handle(policy_workflow).query("state"))["freeze"] is None
        for workflow_id in [*slo_workflows, policy_workflow]:
            status = (await client.get_workflow_handle(workflow_id).describe()).status
            assert status is WorkflowExecutionStatus.RUNNING, workflow_id

        # Stop the loops, let the relay drain, then compare Temporal, PostgreSQL and Kafka.
        await keep_for_replay(client, [*slo_workflows, policy_workflow])
        await terminate(client, [*slo_workflows, policy_workflow])
        events = await drained_outbox(db, [*slo_ids, policy["id"]])
        facts = {i: await history_facts(client, workflow_id_for(i)) for i in slo_ids}
        recorded_ids = {inp.event_id for f in facts.values() for inp, _ in f.recorded}
        budget_ids = {i for i, e in events.items() if e.event_type == "BUDGET_CALCULATED"}
        # Every pass Temporal counts as recorded is in the outbox; beyond those, at most the one
        # pass per loop whose activity was running when the loop was terminated.
        assert recorded_ids <= budget_ids
        assert len(budget_ids - recorded_ids) <= len(slo_ids)

        seen = await delivered(
            stack.kafka_address,
            [settings.kafka.budget_topic, settings.kafka.freeze_topic],
            [*slo_ids, policy["id"]],
            set(events),
        )
        assert set(events) <= seen.ids, f"lost on the way to Kafka: {set(events) - seen.ids}"
        freeze_id = uuid.UUID(str(freeze["id"]))
        assert seen.of_type("FREEZE_ACTIVATED") == {str(uuid.uuid5(freeze_id, "FREEZE_ACTIVATED"))}
        assert seen.of_type("FREEZE_RESOLVED") == {str(uuid.uuid5(freeze_id, "FREEZE_RESOLVED"))}

        policy_facts = await history_facts(client, policy_workflow)
        interrupted = sum(
            f.events["ACTIVITY_TASK_TIMED_OUT"] + f.events["WORKFLOW_TASK_TIMED_OUT"]
            for f in [*facts.values(), policy_facts]
        )
        figures["kills: worker processes SIGKILLed, loops resumed"] += len(kills)
        figures["kills: attempts cut off and retried by the next worker"] += interrupted
        figures["kills: outbox events, all on Kafka (distinct ids)"] += len(events)
        figures["kills: duplicate deliveries removed by event id"] += seen.duplicates
    await db.close()
    assert len(kills) == 4, kills
    print("kills landed at:", kills)


async def _none(probe: Awaitable[list[str]]) -> bool:
    return not await probe


async def _resolved(db: Database, policy_id: str) -> list[dict[str, Any]] | None:
    rows = await freeze_rows(db, policy_id)
    return rows if rows and all(r["resolved_at"] for r in rows) else None
