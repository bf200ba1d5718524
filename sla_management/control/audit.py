"""Who does something, and the audit entry every change leaves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel

from sla_management.adapters.postgres import AuditEntry
from sla_management.control.clients import Clients

__all__ = ["OPERATOR", "Actor", "AuditEntry", "entries", "record"]


@dataclass(frozen=True)
class Actor:
    """A person or a component acting on the control plane, as the audit trail names it."""

    name: str
    role: str  # viewer, editor, admin, or system for the operator and the workflows
    request_id: str | None = None


OPERATOR = Actor("kubernetes-operator", "system")


def _doc(value: BaseModel | None) -> dict[str, object] | None:
    return value.model_dump(mode="json", by_alias=True) if value is not None else None


async def record(
    clients: Clients,
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: str,
    *,
    before: BaseModel | None = None,
    after: BaseModel | None = None,
) -> None:
    await clients.audit.record(
        actor=actor.name,
        role=actor.role,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        before=_doc(before),
        after=_doc(after),
        request_id=actor.request_id,
    )


async def entries(
    clients: Clients,
    *,
    resource_type: str | None = None,
    resource_id: str | None = None,
    actor: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
) -> list[AuditEntry]:
    return await clients.audit.entries(
        resource_type=resource_type, resource_id=resource_id, actor=actor, start=start, end=end, limit=limit
    )
