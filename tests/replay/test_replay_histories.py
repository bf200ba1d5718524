"""Replay recorded workflow histories against the current workflow code.

A change to SLOWorkflow or PolicyWorkflow that would issue different commands for an existing
history (a new activity before an old one, a timer moved, a removed step) fails here, in CI,
rather than in production where running loops would be stuck on it. Three sources:

- `histories/*.json`: committed histories from an earlier version of the code. They are what
  running workflows in production look like; regenerate them (`RECORD_HISTORIES=1`) only when
  a change is meant to break compatibility (and is rolled out with versioning or a new name).
- fresh histories of a freeze/unfreeze and a changed SLO, run here against the real stack;
- histories other tests of this session recorded (worker kills, broker outage).
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from sla_management.workflows.models import SLOWorkflowInput
from sla_management.workflows.policy import PolicyWorkflow
from sla_management.workflows.slo import SLOWorkflow
from tests.api.test_slos_api import body
from tests.conftest import Runtime
from tests.policies.test_freeze_flow import frozen, policy_body, set_target, unfrozen
from tests.replay.recorded import RECORDED
from tests.support.waiting import eventually

HISTORIES = Path(__file__).parent / "histories"
# A one-day window keeps the recorded query results (and so the committed files) small. Over
# the last day "burning" spent 2.1 % of its events on errors: against 99.5 % that is frozen,
# against 90 % a fifth of the budget.
LOW, RECOVERED = 0.995, 0.90


def replayer() -> Replayer:
    return Replayer(workflows=[SLOWorkflow, PolicyWorkflow], data_converter=pydantic_data_converter)


async def replay(histories: list[WorkflowHistory]) -> list[str]:
    failures = []
    for history in histories:
        result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failures.append(f"{history.workflow_id}: {result.replay_failure}")
    return failures


def stored() -> list[WorkflowHistory]:
    return [
        WorkflowHistory.from_json(path.stem, path.read_text()) for path in sorted(HISTORIES.glob("*.json"))
    ]


async def test_committed_histories_replay() -> None:
    histories = stored()
    kinds = {h.events[0].workflow_execution_started_event_attributes.workflow_type.name for h in histories}
    # One of each at least: a lost file would otherwise pass as "nothing to replay".
    assert kinds == {"SLOWorkflow", "PolicyWorkflow"}, kinds
    assert await replay(histories) == []


async def test_fresh_histories_replay(api: httpx.AsyncClient, runtime: Runtime) -> None:
    ns = f"replay-{uuid.uuid4().hex[:6]}"
    policy = (await api.post("/api/v1/policies", json=policy_body(ns))).json()
    slo = (
        await api.post("/api/v1/slos", json=body("burning", namespace=ns, target=LOW, windowDays=1))
    ).json()
    await eventually(lambda: frozen(api, policy["id"]), timeout=60)
    await set_target(api, slo, RECOVERED)  # a definition change, then an auto-unfreeze
    await eventually(lambda: unfrozen(api, policy["id"]), timeout=60)
    recalculated = await api.post(f"/api/v1/budgets/{slo['id']}/recalculate")  # an update
    assert recalculated.status_code == 200, recalculated.text

    client = runtime.client
    ids = {"slo-loop": f"slo-{slo['id']}", "policy-freeze-unfreeze": f"policy-{policy['id']}"}
    histories = {name: await client.get_workflow_handle(i).fetch_history() for name, i in ids.items()}
    for workflow_id in ids.values():
        await client.get_workflow_handle(workflow_id).terminate("recorded")
    assert await replay(list(histories.values())) == []
    if os.environ.get("RECORD_HISTORIES") == "1":
        for name, history in histories.items():
            (HISTORIES / f"{name}.json").write_text(history.to_json())


async def test_histories_of_this_sessions_other_tests_replay() -> None:
    if not RECORDED:
        pytest.skip("no other test recorded a history in this session (run tests/faults with it)")
    assert await replay(list(RECORDED.values())) == []


@workflow.defn(name="SLOWorkflow")
class ReorderedSLOWorkflow:
    """What a careless change looks like: the loop now waits before its first query."""

    @workflow.run
    async def run(self, inp: SLOWorkflowInput) -> None:
        await workflow.sleep(timedelta(seconds=1))


async def test_a_non_deterministic_change_is_caught() -> None:
    [history] = [h for h in stored() if h.workflow_id == "slo-loop"]
    careless = Replayer(
        workflows=[ReorderedSLOWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    with pytest.raises(NondeterminismError):
        await careless.replay_workflow(history)
