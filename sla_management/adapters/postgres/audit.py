"""The audit trail: append-only (a trigger refuses UPDATE and DELETE, migration 0003)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from sla_management.adapters.postgres.pool import Database


class AuditEntry(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: int
    at: datetime
    actor: str
    role: str
    action: str
    resource_type: str
    resource_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None


class AuditRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self,
        *,
        actor: str,
        role: str,
        action: str,
        resource_type: str,
        resource_id: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        async with self._db.acquire() as conn:
            await conn.execute(
                """INSERT INTO audit_log (actor, role, action, resource_type, resource_id, before, after, request_id)
                   VALUES ($1,$2,$3,$4,$5,$6,$7,$8)""",
                actor,
                role,
                action,
                resource_type,
                resource_id,
                before,
                after,
                request_id,
            )

    async def entries(
        self,
        *,
        resource_type: str | None = None,
        resource_id: str | None = None,
        actor: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 500,
    ) -> list[AuditEntry]:
        async with self._db.acquire() as conn:
            rows = await conn.fetch(
                """SELECT * FROM audit_log
                   WHERE ($1::text IS NULL OR resource_type = $1) AND ($2::text IS NULL OR resource_id = $2)
                     AND ($3::text IS NULL OR actor = $3)
                     AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at <= $5)
                   ORDER BY id DESC LIMIT $6""",
                resource_type,
                resource_id,
                actor,
                start,
                end,
                limit,
            )
        return [AuditEntry.model_validate(dict(r)) for r in rows]
