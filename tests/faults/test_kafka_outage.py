"""The Kafka-protocol broker stops answering for 60 s: budgets and a freeze happen meanwhile, and
every one of their events is published once it is back.

A private broker (tansu, in memory) is frozen with SIGSTOP: its sockets stay open and nothing
answers, the unkind kind of outage (a refused connection would be noticed at once), and nothing
it held is lost, so what is on it afterwards is exactly what was sent.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from pathlib import Path

from temporalio.client import Client

from sla_management.adapters.postgres import Database
from sla_management.config import Settings
from sla_management.devstack import processes, servers
from sla_management.domain.slo import workflow_id_for
from tests.api.test_slos_api import body
from tests.conftest import Stack
from tests.faults.harness import (
    control_api,
    delivered,
    drained_outbox,
    freeze_rows,
    outbox,
    terminate,
    worker_processes,
)
from tests.policies.test_freeze_flow import LOW, RECOVERED, policy_body, set_target
from tests.replay.recorded import keep_for_replay
from tests.support.waiting import eventually

OUTAGE_SECONDS = 60


async def test_events_wait_out_a_broker_outage(
    stack: Stack, settings: Settings, temporal_client: Client, tmp_path: Path, figures: Counter[str]
) -> None:
    broker = servers.start_kafka(tmp_path / "kafka", processes.free_port())
    settings.kafka.bootstrap_servers = [broker.address]
    db = Database(settings.postgresql)
    client = temporal_client
    try:
        async with control_api(settings) as api, worker_processes(settings, tmp_path, client) as workers:
            await workers.start()
            ns = f"kafka-{uuid.uuid4().hex[:6]}"
            policy = (await api.post("/api/v1/policies", json=policy_body(ns))).json()
            burning = (
                await api.post("/api/v1/slos", json=body("burning", namespace=ns, target=RECOVERED))
            ).json()
            steady = (await api.post("/api/v1/slos", json=body("steady", namespace=ns))).json()
            keys = [burning["id"], steady["id"], policy["id"]]
            workflows = [
                workflow_id_for(burning["id"]),
                workflow_id_for(steady["id"]),
                f"policy-{policy['id']}",
            ]

            async def flowing() -> bool:
                events = await outbox(db, keys)
                return len(events) >= 2 and all(e.published for e in events.values())

            await eventually(flowing, timeout=60)

            broker.pause()
            paused_at = time.monotonic()
            try:
                await set_target(api, burning, LOW)
                await eventually(lambda: freeze_rows(db, policy["id"]), timeout=30)
                ready = (await api.get("/ready")).json()
                assert ready["status"] == "degraded" and ready["checks"]["kafka"] == "down", ready
                # The outage is the test's subject: it lasts its full length whatever happens.
                await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - paused_at)))
                held = {i: e for i, e in (await outbox(db, keys)).items() if not e.published}
            finally:
                broker.resume()
            resumed_at = time.monotonic()
            assert any(e.event_type == "FREEZE_ACTIVATED" for e in held.values())
            assert sum(e.event_type == "BUDGET_CALCULATED" for e in held.values()) >= 10

            async def caught_up() -> bool:
                events = await outbox(db, held)
                return all(e.published for e in events.values())

            await eventually(caught_up, timeout=90, every=0.5)
            catch_up = time.monotonic() - resumed_at

            await keep_for_replay(client, workflows)
            await terminate(client, workflows)
            events = await drained_outbox(db, keys)
            seen = await delivered(
                broker.address, [settings.kafka.budget_topic, settings.kafka.freeze_topic], keys, set(events)
            )
            assert set(events) <= seen.ids, f"lost: {set(events) - seen.ids}"
            [freeze] = await freeze_rows(db, policy["id"])
            assert seen.of_type("FREEZE_ACTIVATED") == {
                str(uuid.uuid5(uuid.UUID(str(freeze["id"])), "FREEZE_ACTIVATED"))
            }
            figures["kafka outage: seconds the broker was stopped"] += round(resumed_at - paused_at)
            figures["kafka outage: events held in the outbox meanwhile, all published after"] += len(held)
            figures["kafka outage: events on Kafka afterwards (distinct ids)"] += len(seen.ids)
            figures["kafka outage: duplicate deliveries removed by event id"] += seen.duplicates
            figures["kafka outage: seconds from broker back to outbox drained"] += round(catch_up)
    finally:
        await db.close()
        broker.stop()
