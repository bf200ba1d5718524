"""The workflows' contract as seen from outside: every start, signal, update and query, typed.

The API, the operator, the CLI and the activities' policy fan-out reach the loops only through
these functions, which name handlers by reference (`SLOWorkflow.definition_updated`), never by a
string, so mypy sees a renamed handler or a changed argument. Failures come back as the control
plane's own errors: `NotFound` (no such workflow running), `Conflict`, `TemporalUnavailable`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import workflow
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    QueryRejectCondition,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from sla_management.config import Settings, TemporalSettings
from sla_management.domain.budget import ErrorBudget
from sla_management.domain.freeze import ExceptionEnd, FreezeEvent, FreezeException
from sla_management.domain.policy import Observation, Policy, policy_workflow_id
from sla_management.domain.slo import SLO, workflow_id_for
from sla_management.errors import Conflict, NotFound, TemporalUnavailable, WorkflowUnreachable
from sla_management.observability.tracing import temporal_interceptor
from sla_management.workflows.models import (
    LoopParams,
    PolicyState,
    PolicyWorkflowInput,
    ResolveRequest,
    SLOWorkflowInput,
)
from sla_management.workflows.policy import PolicyWorkflow
from sla_management.workflows.slo import BUDGET_STATUS, BURN_LEVEL, SERVICE_NAME, SLO_ID, SLOWorkflow

# A query must not wait on a workflow longer than this: without a worker it hangs.
QUERY_TIMEOUT = timedelta(seconds=5)


def _tls(t: TemporalSettings) -> TLSConfig | bool:
    if not t.tls_enabled:
        return False

    def read(path: str | None) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return TLSConfig(
        server_root_ca_cert=read(t.tls_ca_file),
        client_cert=read(t.tls_cert_file),
        client_private_key=read(t.tls_key_file),
        domain=t.tls_server_name,
    )


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal.address,
        namespace=settings.temporal.namespace,
        tls=_tls(settings.temporal),
        data_converter=pydantic_data_converter,
        # Also applies to workers built on this client; inert until tracing is configured.
        interceptors=[temporal_interceptor()],
    )


def _signal_name(handler: Callable[..., Any]) -> str:
    # Signal-with-start takes the signal's name; the SDK's own resolver reads it off the handler.
    return workflow._SignalDefinition.must_name_from_fn_or_str(handler)


def _unavailable(what: str, exc: Exception) -> TemporalUnavailable:
    return TemporalUnavailable(f"Temporal refused to {what}: {exc}")


def _query_failed(workflow_id: str, exc: Exception) -> NotFound | WorkflowUnreachable:
    if isinstance(exc, WorkflowQueryRejectedError):
        status = exc.status.name.lower() if exc.status else "closed"
        return NotFound(f"workflow {workflow_id} is {status}; an edit or a restart starts it again")
    if isinstance(exc, RPCError) and exc.status is RPCStatusCode.NOT_FOUND:
        return NotFound(f"workflow {workflow_id} does not exist; an edit or a restart starts it")
    # Typically no worker polls the task queue, so nobody answers the query.
    return WorkflowUnreachable(f"workflow {workflow_id} did not answer: {exc}")


# SLO loops -----------------------------------------------------------------------------------


async def start_slo(
    client: Client, slo: SLO, settings: Settings, *, announce: bool = False
) -> WorkflowHandle[SLOWorkflow, None]:
    """Start the SLO's loop; a running loop is success (idempotent). With `announce`, the
    definition is also signalled (`definition_updated`) in the same call, so a loop that runs
    an older one switches to it, and a loop that already has it ignores it."""
    try:
        return await client.start_workflow(
            SLOWorkflow.run,
            SLOWorkflowInput(slo=slo, params=LoopParams.from_settings(settings)),
            id=slo.workflow_id,
            task_queue=settings.temporal.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(SERVICE_NAME, slo.service_name),
                    SearchAttributePair(SLO_ID, slo.id),
                    SearchAttributePair(BUDGET_STATUS, "PENDING"),
                    SearchAttributePair(BURN_LEVEL, "PENDING"),
                ]
            ),
            # The loop itself never ends; this bounds a run stuck without workers.
            task_timeout=timedelta(seconds=30),
            start_signal=_signal_name(SLOWorkflow.definition_updated) if announce else None,
            start_signal_args=[slo] if announce else [],
        )
    except RPCError as exc:
        raise _unavailable(f"start the loop of SLO {slo.id}", exc) from exc


async def recalculate(client: Client, slo_id: str) -> bool:
    """Wake the loop for a pass now; False when it is not running."""
    try:
        await client.get_workflow_handle(workflow_id_for(slo_id)).signal(SLOWorkflow.recalculate)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return False
        raise _unavailable("wake a loop", exc) from exc
    return True


async def recalculate_now(client: Client, slo: SLO, settings: Settings, timeout: float) -> ErrorBudget:
    """Run a pass now and answer with its budget (an update; starts the loop if it is gone)."""
    handle = await start_slo(client, slo, settings)
    try:
        return await asyncio.wait_for(handle.execute_update(SLOWorkflow.recalculate_now), timeout=timeout)
    except TimeoutError as exc:
        raise TemporalUnavailable("no worker answered the recalculation in time") from exc
    except WorkflowUpdateFailedError as exc:
        raise TemporalUnavailable(f"the recalculation failed: {exc.cause}") from exc
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise NotFound(f"SLO {slo.id!r} has no running workflow") from exc
        raise _unavailable("run the recalculation", exc) from exc


async def slo_budget(client: Client, slo_id: str) -> ErrorBudget | None:
    """The budget the loop holds now. Raises NotFound (no loop running) or TemporalUnavailable."""
    workflow_id = workflow_id_for(slo_id)
    try:
        return await client.get_workflow_handle(workflow_id).query(
            SLOWorkflow.budget, reject_condition=QueryRejectCondition.NOT_OPEN, rpc_timeout=QUERY_TIMEOUT
        )
    except (WorkflowQueryRejectedError, WorkflowQueryFailedError, RPCError) as exc:
        raise _query_failed(workflow_id, exc) from exc


async def slo_definition(client: Client, slo_id: str) -> SLO:
    """The definition the loop runs (or is about to). Raises NotFound or TemporalUnavailable."""
    workflow_id = workflow_id_for(slo_id)
    try:
        return await client.get_workflow_handle(workflow_id).query(
            SLOWorkflow.definition, reject_condition=QueryRejectCondition.NOT_OPEN, rpc_timeout=QUERY_TIMEOUT
        )
    except (WorkflowQueryRejectedError, WorkflowQueryFailedError, RPCError) as exc:
        raise _query_failed(workflow_id, exc) from exc


async def cancel_slo(client: Client, slo_id: str) -> bool:
    """Cancel the loop; False when there was none running."""
    try:
        await client.get_workflow_handle(workflow_id_for(slo_id)).cancel()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return False
        raise _unavailable(f"cancel the loop of SLO {slo_id}", exc) from exc
    return True


# Policy workflows ----------------------------------------------------------------------------


async def start_policy(
    client: Client,
    policy: Policy,
    task_queue: str,
    *,
    observe: Observation | None = None,
    announce: bool = False,
    state: PolicyState | None = None,
) -> WorkflowHandle[PolicyWorkflow, None]:
    """Start the policy's workflow; a running one is success. `observe` delivers an SLO's budget
    and `announce` the definition itself (`policy_updated`), each as a signal-with-start, so it
    reaches the workflow either way; `state` seeds a fresh run (retiring a policy hands it the
    freeze to lift)."""
    signal: str | None = None
    args: list[Any] = []
    if observe is not None:
        signal, args = _signal_name(PolicyWorkflow.observe), [observe]
    elif announce:
        signal, args = _signal_name(PolicyWorkflow.policy_updated), [policy]
    try:
        return await client.start_workflow(
            PolicyWorkflow.run,
            PolicyWorkflowInput(policy=policy, state=state),
            id=policy.workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal=signal,
            start_signal_args=args,
        )
    except RPCError as exc:
        raise _unavailable(f"start the workflow of policy {policy.id}", exc) from exc


async def forget_slo(client: Client, policy_id: str, slo_id: str) -> None:
    """Tell a policy to drop an SLO it watched; nothing to do when the policy is not running."""
    handle = client.get_workflow_handle(policy_workflow_id(policy_id))
    try:
        await handle.signal(PolicyWorkflow.forget, slo_id)
    except RPCError as exc:
        if exc.status is not RPCStatusCode.NOT_FOUND:
            raise _unavailable("tell a policy to forget an SLO", exc) from exc


async def resolve_freeze(client: Client, policy_id: str, request: ResolveRequest) -> FreezeEvent:
    handle = client.get_workflow_handle(policy_workflow_id(policy_id))
    try:
        return await handle.execute_update(PolicyWorkflow.resolve, request)
    except WorkflowUpdateFailedError as exc:
        raise Conflict(f"the freeze cannot be resolved: {exc.cause}") from exc
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise Conflict(f"the workflow of policy {policy_id} is not running") from exc
        raise _unavailable("resolve the freeze", exc) from exc


async def grant_exception(client: Client, policy_id: str, exception: FreezeException) -> FreezeException:
    handle = client.get_workflow_handle(policy_workflow_id(policy_id))
    try:
        return await handle.execute_update(PolicyWorkflow.grant_exception, exception)
    except WorkflowUpdateFailedError as exc:
        raise Conflict(f"the exception cannot be granted: {exc.cause}") from exc
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise Conflict(f"the workflow of policy {policy_id} is not running") from exc
        raise _unavailable("grant the exception", exc) from exc


async def end_exception(client: Client, policy_id: str, end: ExceptionEnd) -> FreezeException:
    handle = client.get_workflow_handle(policy_workflow_id(policy_id))
    try:
        return await handle.execute_update(PolicyWorkflow.end_exception, end)
    except WorkflowUpdateFailedError as exc:
        raise Conflict(f"the exception cannot be ended: {exc.cause}") from exc
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise Conflict(f"the workflow of policy {policy_id} is not running") from exc
        raise _unavailable("end the exception", exc) from exc


async def policy_state(client: Client, policy_id: str) -> PolicyState:
    """Freeze, last decision and watched SLOs as the policy workflow holds them. Raises NotFound
    (not running) or TemporalUnavailable."""
    workflow_id = policy_workflow_id(policy_id)
    try:
        return await client.get_workflow_handle(workflow_id).query(
            PolicyWorkflow.state, reject_condition=QueryRejectCondition.NOT_OPEN, rpc_timeout=QUERY_TIMEOUT
        )
    except (WorkflowQueryRejectedError, WorkflowQueryFailedError, RPCError) as exc:
        raise _query_failed(workflow_id, exc) from exc


async def policy_definition(client: Client, policy_id: str) -> Policy:
    """The policy its workflow runs. Raises NotFound or TemporalUnavailable."""
    workflow_id = policy_workflow_id(policy_id)
    try:
        return await client.get_workflow_handle(workflow_id).query(
            PolicyWorkflow.policy, reject_condition=QueryRejectCondition.NOT_OPEN, rpc_timeout=QUERY_TIMEOUT
        )
    except (WorkflowQueryRejectedError, WorkflowQueryFailedError, RPCError) as exc:
        raise _query_failed(workflow_id, exc) from exc


async def stop(client: Client, workflow_id: str, timeout: float = 30) -> None:
    """Cancel a workflow and wait until it has closed (a cancel only asks)."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        await handle.cancel()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return  # never started, or already closed
        raise _unavailable(f"stop {workflow_id}", exc) from exc
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:
        if loop.time() > deadline:
            raise TemporalUnavailable(f"{workflow_id} did not stop within {timeout:g}s: is a worker running?")
        await asyncio.sleep(0.2)
