"""Temporal client wiring shared by the API, the worker and the operator."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from sla_management.config import Settings
from sla_management.domain.policy import Observation, Policy
from sla_management.domain.slo import SLO
from sla_management.observability.tracing import temporal_interceptor
from sla_management.workflows.models import LoopParams, PolicyState, PolicyWorkflowInput, SLOWorkflowInput
from sla_management.workflows.policy import PolicyWorkflow
from sla_management.workflows.slo import (
    BUDGET_STATUS,
    BURN_LEVEL,
    SERVICE_NAME,
    SLO_ID,
    SLOWorkflow,
)


def _tls(settings: Settings) -> TLSConfig | bool:
    t = settings.temporal
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
        tls=_tls(settings),
        data_converter=pydantic_data_converter,
        # Also applies to workers built on this client; inert until tracing is configured.
        interceptors=[temporal_interceptor()],
    )


async def start_slo_workflow(
    client: Client, slo: SLO, settings: Settings
) -> WorkflowHandle[SLOWorkflow, None]:
    """Start the SLO's loop; an already running loop is success (idempotent for the operator)."""
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
    )


async def start_policy_workflow(
    client: Client,
    policy: Policy,
    task_queue: str,
    *,
    observe: Observation | None = None,
    state: PolicyState | None = None,
) -> WorkflowHandle[PolicyWorkflow, None]:
    """Start the policy's workflow; an already running one is success. With `observe`, the
    observation is delivered as a signal-with-start, so it reaches the workflow either way;
    `state` seeds a fresh run (retiring a policy hands it the freeze to lift)."""
    return await client.start_workflow(
        PolicyWorkflow.run,
        PolicyWorkflowInput(policy=policy, state=state),
        id=policy.workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal="observe" if observe is not None else None,
        start_signal_args=[observe] if observe is not None else [],
    )


async def cancel_slo_workflow(client: Client, slo_id: str) -> bool:
    """Cancel the loop; False when there was none running."""
    from sla_management.domain.slo import workflow_id_for

    try:
        await client.get_workflow_handle(workflow_id_for(slo_id)).cancel()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True
