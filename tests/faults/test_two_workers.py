"""Two worker processes on one task queue; one is SIGKILLed and the other carries every SLO on."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

from temporalio.client import Client

from sla_management.config import Settings
from sla_management.domain.slo import workflow_id_for
from tests.api.test_slos_api import body
from tests.faults.harness import WorkerProcess, control_api, history_facts, terminate, worker_processes
from tests.support.waiting import eventually

SLOS = 6


def evaluated(worker: WorkerProcess, after: int = 0) -> list[str]:
    """SLO ids this worker recorded a budget for, from its `after`-th such log line on."""
    return [line["slo_id"] for line in worker.log_events("budget recorded")[after:]]


async def test_the_surviving_worker_carries_every_slo(
    settings: Settings, temporal_client: Client, tmp_path: Path, figures: Counter[str]
) -> None:
    client = temporal_client
    async with control_api(settings) as api, worker_processes(settings, tmp_path, client) as workers:
        first, second = await asyncio.gather(workers.start(), workers.start())
        ns = f"pair-{uuid.uuid4().hex[:6]}"
        slo_ids = [
            (await api.post("/api/v1/slos", json=body("steady", namespace=ns))).json()["id"]
            for _ in range(SLOS)
        ]

        async def both_busy() -> bool:
            carried = set(evaluated(first)) | set(evaluated(second))
            return bool(evaluated(first)) and bool(evaluated(second)) and carried >= set(slo_ids)

        await eventually(both_busy, timeout=60, every=0.5)
        # Kill the one that had more to do; the other has seen only its own share so far.
        victim, survivor = (
            (first, second) if len(evaluated(first)) >= len(evaluated(second)) else (second, first)
        )
        victim_share = set(evaluated(victim))
        mark = len(evaluated(survivor))
        before = {i: len((await history_facts(client, workflow_id_for(i))).recorded) for i in slo_ids}
        victim.kill()

        async def all_carried_on() -> bool:
            if set(evaluated(survivor, mark)) < set(slo_ids):
                return False
            for slo_id in slo_ids:
                if len((await history_facts(client, workflow_id_for(slo_id))).recorded) < before[slo_id] + 2:
                    return False
            return True

        await eventually(all_carried_on, timeout=90, every=0.5)
        assert survivor.service.running
        figures["two workers: SLOs the survivor carried on after the kill"] += len(slo_ids)
        figures["two workers: SLOs the killed worker had evaluated"] += len(victim_share)
        await terminate(client, [workflow_id_for(i) for i in slo_ids])
