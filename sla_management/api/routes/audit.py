"""The audit trail: who changed what, and every freeze decision (admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from sla_management.api.auth import Admin
from sla_management.api.deps import Deps
from sla_management.control import audit
from sla_management.control.audit import AuditEntry

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", response_model=list[AuditEntry], response_model_by_alias=True)
async def entries(
    clients: Deps,
    _: Admin,
    resource_type: Annotated[str | None, Query(alias="resourceType")] = None,
    resource_id: Annotated[str | None, Query(alias="resourceId")] = None,
    actor: str | None = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[AuditEntry]:
    return await audit.entries(
        clients,
        resource_type=resource_type,
        resource_id=resource_id,
        actor=actor,
        start=start,
        end=end,
        limit=limit,
    )
