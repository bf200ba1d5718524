"""Freeze events: opened and closed only by their policy's workflow, each with its Kafka event
in the same transaction. A trigger (migration 0004) notifies `freeze_events` on every change."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from sla_management.adapters.postgres.notifications import PendingNotice, insert_notices
from sla_management.adapters.postgres.outbox import OutboxEvent, insert_events
from sla_management.adapters.postgres.pool import Database
from sla_management.domain.freeze import FreezeEvent


def _freeze(row: asyncpg.Record) -> FreezeEvent:
    return FreezeEvent(
        id=str(row["id"]),
        policy_id=row["policy_id"],
        policy_name=row["policy_name"],
        scope=row["scope"],
        target=row["target"],
        namespaces=list(row["namespaces"]),
        blocks=row["blocks"],
        triggering=row["triggering"],
        reason=row["reason"],
        activated_at=row["activated_at"],
        resolved_at=row["resolved_at"],
        resolved_by=row["resolved_by"],
        resolution=row["resolution"],
    )


class FreezeRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def open(
        self, event: FreezeEvent, events: Sequence[OutboxEvent], notices: Sequence[PendingNotice] = ()
    ) -> FreezeEvent:
        """Insert the freeze and its Kafka event together; a retry finds the row already there."""
        triggering = [o.model_dump(mode="json", by_alias=True) for o in event.triggering]
        async with self._db.transaction() as conn:
            row = await conn.fetchrow(
                """INSERT INTO freeze_events (id, policy_id, policy_name, scope, target, namespaces, blocks,
                       triggering, reason, activated_at)
                   VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)
                   ON CONFLICT (id) DO UPDATE SET id = EXCLUDED.id RETURNING *""",
                uuid.UUID(event.id),
                event.policy_id,
                event.policy_name,
                event.scope.value,
                event.target,
                event.namespaces,
                event.blocks,
                triggering,
                event.reason,
                event.activated_at,
            )
            await insert_events(conn, events)
            await insert_notices(conn, notices)
        return _freeze(row)

    async def close(
        self,
        event_id: str,
        resolved_at: datetime,
        resolved_by: str,
        resolution: str,
        events: Sequence[OutboxEvent],
        notices: Sequence[PendingNotice] = (),
    ) -> FreezeEvent | None:
        async with self._db.transaction() as conn:
            row = await conn.fetchrow(
                """UPDATE freeze_events SET resolved_at = COALESCE(resolved_at, $2),
                       resolved_by = COALESCE(resolved_by, $3), resolution = COALESCE(resolution, $4)
                   WHERE id = $1 RETURNING *""",
                uuid.UUID(event_id),
                resolved_at,
                resolved_by,
                resolution,
            )
            if row is not None:
                await insert_events(conn, events)
                await insert_notices(conn, notices)
        return _freeze(row) if row else None

    async def rescope(self, event_id: str, namespaces: list[str]) -> FreezeEvent | None:
        async with self._db.acquire() as conn:
            row = await conn.fetchrow(
                "UPDATE freeze_events SET namespaces = $2 WHERE id = $1 AND resolved_at IS NULL RETURNING *",
                uuid.UUID(event_id),
                namespaces,
            )
        return _freeze(row) if row else None

    async def get(self, event_id: str) -> FreezeEvent | None:
        try:
            key = uuid.UUID(event_id)
        except ValueError:
            return None
        async with self._db.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM freeze_events WHERE id=$1", key)
        return _freeze(row) if row else None

    async def active(self) -> list[FreezeEvent]:
        async with self._db.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM freeze_events WHERE resolved_at IS NULL ORDER BY activated_at"
            )
        return [_freeze(r) for r in rows]

    async def history(
        self,
        *,
        target: str | None = None,
        policy_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 1000,
    ) -> list[FreezeEvent]:
        async with self._db.acquire() as conn:
            rows = await conn.fetch(
                """SELECT * FROM freeze_events
                   WHERE ($1::text IS NULL OR target = $1 OR $1 = ANY(namespaces))
                     AND ($2::text IS NULL OR policy_id = $2)
                     AND ($3::timestamptz IS NULL OR COALESCE(resolved_at, 'infinity') >= $3)
                     AND ($4::timestamptz IS NULL OR activated_at <= $4)
                   ORDER BY activated_at DESC LIMIT $5""",
                target,
                policy_id,
                start,
                end,
                limit,
            )
        return [_freeze(r) for r in rows]
