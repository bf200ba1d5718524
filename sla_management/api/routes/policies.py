"""Freeze policies and their freezes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import Field

from sla_management.api.auth import Admin, Editor
from sla_management.api.deps import Deps, actor
from sla_management.control import freezes, policies
from sla_management.control.freezes import ResolvedFreeze
from sla_management.domain.freeze import FreezeEvent
from sla_management.domain.limits import Description, Name
from sla_management.domain.policy import Policy, PolicySpec
from sla_management.domain.slo import CamelModel, ManagedBy

router = APIRouter(prefix="/api/v1/policies", tags=["policies"])


class ResolveBody(CamelModel):
    resolved_by: Annotated[Name, Field(description="Who ends the freeze.")]
    reason: Annotated[Description, Field(min_length=1, description="Why, for the audit trail.")]
    hold_minutes: Annotated[
        int | None,
        Field(
            ge=0,
            le=10080,
            description="How long the policy may not freeze again; default its minFreezeMinutes.",
        ),
    ] = None


# Freezes first: "/freezes/active" must not be read as a policy id.


@router.get("/freezes/active", response_model=list[FreezeEvent], response_model_by_alias=True)
async def active_freezes(clients: Deps) -> list[FreezeEvent]:
    return await freezes.active_freezes(clients)


@router.get("/freezes/history", response_model=list[FreezeEvent], response_model_by_alias=True)
async def freeze_history(
    clients: Deps,
    target: str | None = None,
    policy: str | None = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[FreezeEvent]:
    return await freezes.freeze_history(
        clients, target=target, policy_id=policy, start=start, end=end, limit=limit
    )


@router.post("/freezes/{event_id}/resolve", response_model=ResolvedFreeze, response_model_by_alias=True)
async def resolve_freeze(
    event_id: str, body: ResolveBody, clients: Deps, request: Request, who: Admin
) -> ResolvedFreeze:
    """End a freeze now. The policy may freeze again after `holdMinutes` (default its
    `minFreezeMinutes`) if the budget is still low; the answer says when (`holdsUntil`)."""
    return await freezes.resolve_freeze(
        clients, event_id, body.reason, body.resolved_by, actor(request, who), hold_minutes=body.hold_minutes
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Policy, response_model_by_alias=True)
async def create_policy(
    spec: PolicySpec, clients: Deps, response: Response, request: Request, who: Editor
) -> Policy:
    saved = await policies.create_policy(clients, spec, actor(request, who))
    response.headers["Location"] = f"/api/v1/policies/{saved.id}"
    return saved


@router.get("", response_model=list[Policy], response_model_by_alias=True)
async def list_policies(clients: Deps) -> list[Policy]:
    return await policies.list_policies(clients)


@router.get("/{policy_id}", response_model=Policy, response_model_by_alias=True)
async def get_policy(policy_id: str, clients: Deps) -> Policy:
    return await policies.get_policy(clients, policy_id)


@router.put("/{policy_id}", response_model=Policy, response_model_by_alias=True)
async def update_policy(
    policy_id: str, spec: PolicySpec, clients: Deps, request: Request, who: Editor
) -> Policy:
    return await policies.update_policy(clients, policy_id, spec, actor(request, who))


@router.delete("/{policy_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_policy(policy_id: str, clients: Deps, request: Request, who: Editor) -> Response:
    await policies.retire_policy(clients, policy_id, actor(request, who), via=ManagedBy.API)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
