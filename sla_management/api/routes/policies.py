"""Freeze policies and their freezes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import Field
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from sla_management.adapters.postgres import Conflict, PolicyStore
from sla_management.api.auth import Admin, Editor
from sla_management.api.deps import Deps, Services, ServiceUnavailable
from sla_management.api.errors import NotFound
from sla_management.api.routes.audit import record
from sla_management.domain.freeze import FreezeEvent
from sla_management.domain.limits import Description, Name, echo
from sla_management.domain.policy import Policy, PolicySpec
from sla_management.domain.slo import CamelModel, ManagedBy
from sla_management.services import (
    notify_policy_updated,
    policy_with_defaults,
    retire_policy,
)
from sla_management.temporal import start_policy_workflow
from sla_management.workflows.models import ResolveRequest

router = APIRouter(prefix="/api/v1/policies", tags=["policies"])


class ResolveBody(CamelModel):
    resolved_by: Annotated[Name, Field(description="Who ends the freeze.")]
    reason: Annotated[Description, Field(min_length=1, description="Why, for the audit trail.")]


def _store(services: Services) -> PolicyStore:
    return PolicyStore(services.db)


def _with_defaults(services: Services, spec: PolicySpec) -> PolicySpec:
    try:
        return policy_with_defaults(services.settings, spec)
    except ValueError as exc:
        raise RequestValidationError(
            [{"loc": ("body", "unfreezeThresholdPercent"), "msg": str(exc), "type": "value_error"}]
        ) from exc


async def _get(services: Services, policy_id: str) -> Policy:
    policy = await _store(services).get_policy(policy_id)
    if policy is None:
        raise NotFound(f"no policy with id {echo(policy_id)}")
    return policy


# Freezes first: "/freezes/active" must not be read as a policy id.


@router.get("/freezes/active", response_model=list[FreezeEvent], response_model_by_alias=True)
async def active_freezes(services: Deps) -> list[FreezeEvent]:
    return await _store(services).active_freezes()


@router.get("/freezes/history", response_model=list[FreezeEvent], response_model_by_alias=True)
async def freeze_history(
    services: Deps,
    target: str | None = None,
    policy: str | None = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[FreezeEvent]:
    if start and end and start > end:
        raise RequestValidationError(
            [{"loc": ("query", "from"), "msg": "`from` must not be after `to`", "type": "value_error"}]
        )
    return await _store(services).freeze_history(
        target=target, policy_id=policy, start=start, end=end, limit=limit
    )


@router.post("/freezes/{event_id}/resolve", response_model=FreezeEvent, response_model_by_alias=True)
async def resolve_freeze(
    event_id: str, body: ResolveBody, services: Deps, request: Request, who: Admin
) -> FreezeEvent:
    """End a freeze now. The policy may freeze again after `minFreezeMinutes` if the budget
    is still low."""
    freeze = await _store(services).get_freeze(event_id)
    if freeze is None:
        raise NotFound(f"no freeze with id {echo(event_id)}")
    if not freeze.active:
        raise Conflict(
            f"freeze {event_id} was already resolved by {freeze.resolved_by} at {freeze.resolved_at}"
        )
    temporal = await services.temporal()
    handle = temporal.get_workflow_handle(f"policy-{freeze.policy_id}")
    try:
        resolved: FreezeEvent = await handle.execute_update(
            "resolve",
            ResolveRequest(resolved_by=body.resolved_by, reason=body.reason, event_id=event_id),
            result_type=FreezeEvent,
        )
    except WorkflowUpdateFailedError as exc:
        raise Conflict(f"freeze {event_id} cannot be resolved: {exc.cause}") from exc
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise Conflict(f"the workflow of policy {freeze.policy_id} is not running") from exc
        raise ServiceUnavailable(f"Temporal refused the resolve: {exc}") from exc
    await record(services, request, who, "freeze.resolve", "freeze", event_id, before=freeze, after=resolved)
    return resolved


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Policy, response_model_by_alias=True)
async def create_policy(
    spec: PolicySpec, services: Deps, response: Response, request: Request, who: Editor
) -> Policy:
    spec = _with_defaults(services, spec)
    now = datetime.now(UTC)
    policy = Policy(
        **spec.model_dump(), id=str(uuid.uuid4()), managed_by=ManagedBy.API, created_at=now, updated_at=now
    )
    temporal = await services.temporal()
    store = _store(services)
    saved = await store.insert_policy(policy)
    try:
        await start_policy_workflow(temporal, saved, services.settings.temporal.task_queue)
    except BaseException as exc:
        await store.delete_policy(saved.id)
        if isinstance(exc, RPCError):
            raise ServiceUnavailable(f"could not start the policy workflow: {exc}") from exc
        raise
    await record(services, request, who, "policy.create", "policy", saved.id, after=saved)
    response.headers["Location"] = f"/api/v1/policies/{saved.id}"
    return saved


@router.get("", response_model=list[Policy], response_model_by_alias=True)
async def list_policies(services: Deps) -> list[Policy]:
    return await _store(services).list_policies()


@router.get("/{policy_id}", response_model=Policy, response_model_by_alias=True)
async def get_policy(policy_id: str, services: Deps) -> Policy:
    return await _get(services, policy_id)


@router.put("/{policy_id}", response_model=Policy, response_model_by_alias=True)
async def update_policy(
    policy_id: str, spec: PolicySpec, services: Deps, request: Request, who: Editor
) -> Policy:
    current = await _get(services, policy_id)
    if current.managed_by is ManagedBy.KUBERNETES:
        raise Conflict(f"policy {policy_id!r} is managed by Kubernetes: edit the SLAPolicy resource instead")
    spec = _with_defaults(services, spec)
    await services.temporal()  # fail before writing if the workflow cannot be told
    updated = Policy(
        **spec.model_dump(),
        id=current.id,
        managed_by=current.managed_by,
        created_at=current.created_at,
        updated_at=datetime.now(UTC),
    )
    saved = await _store(services).update_policy(updated)
    if saved is None:
        raise NotFound(f"no policy with id {echo(policy_id)}")
    await notify_policy_updated(services, saved)
    await record(services, request, who, "policy.update", "policy", saved.id, before=current, after=saved)
    return saved


@router.delete("/{policy_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_policy(policy_id: str, services: Deps, request: Request, who: Editor) -> Response:
    policy = await _get(services, policy_id)
    if policy.managed_by is ManagedBy.KUBERNETES:
        raise Conflict(
            f"policy {policy_id!r} is managed by Kubernetes: delete the SLAPolicy resource instead"
        )
    await retire_policy(services, policy)
    await record(services, request, who, "policy.delete", "policy", policy_id, before=policy)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
