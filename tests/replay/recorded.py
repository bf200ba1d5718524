"""Histories of workflows that other tests of this session ran, replayed by test_replay_histories
(fault tests run first: `tests/faults` sorts before `tests/replay`)."""

from __future__ import annotations

from collections.abc import Iterable

from temporalio.client import Client, WorkflowHistory

RECORDED: dict[str, WorkflowHistory] = {}


async def keep_for_replay(client: Client, workflow_ids: Iterable[str]) -> None:
    for workflow_id in workflow_ids:
        RECORDED[workflow_id] = await client.get_workflow_handle(workflow_id).fetch_history()
