"""The audit trail: who changed what, and every freeze decision (admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from sla_management.adapters.postgres import AuditEntry, AuditLog
from sla_management.api.auth import Admin, Principal
from sla_management.api.deps import Deps, Services

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


async def record(
    services: Services,
    request: Request,
    principal: Principal,
    action: str,
    resource_type: str,
    resource_id: str,
    *,
    before: BaseModel | None = None,
    after: BaseModel | None = None,
) -> None:
    def doc(value: object) -> dict[str, object] | None:
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json", by_alias=True)
        return None

    await AuditLog(services.db).record(
        actor=principal.name,
        role=principal.role.name.lower(),
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        before=doc(before),
        after=doc(after),
        request_id=getattr(request.state, "request_id", None),
    )


@router.get("", response_model=list[AuditEntry], response_model_by_alias=True)
async def entries(
    services: Deps,
    _: Admin,
    resource_type: Annotated[str | None, Query(alias="resourceType")] = None,
    resource_id: Annotated[str | None, Query(alias="resourceId")] = None,
    actor: str | None = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[AuditEntry]:
    return await AuditLog(services.db).entries(
        resource_type=resource_type, resource_id=resource_id, actor=actor, start=start, end=end, limit=limit
    )
