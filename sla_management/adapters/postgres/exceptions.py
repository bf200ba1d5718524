"""Freeze exceptions: granted, ended (revoked or expired) and counted, each with its events."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

import asyncpg

from sla_management.adapters.postgres.notifications import PendingNotice, insert_notices
from sla_management.adapters.postgres.outbox import OutboxEvent, insert_events
from sla_management.adapters.postgres.pool import Database
from sla_management.domain.freeze import ExceptionEnding, FreezeException

# What an ended exception is told as: its events and notices, built from the stored row.
Telling = Callable[[FreezeException], tuple[Sequence[OutboxEvent], Sequence[PendingNotice]]]


def _exception(row: asyncpg.Record) -> FreezeException:
    return FreezeException(
        id=str(row["id"]),
        namespace=row["namespace"],
        service=row["service"],
        reason=row["reason"],
        ticket=row["ticket"],
        granted_by=row["granted_by"],
        granted_at=row["granted_at"],
        expires_at=row["expires_at"],
        policy_id=row["policy_id"],
        freeze_id=str(row["freeze_id"]),
        ended_at=row["ended_at"],
        ended_by=row["ended_by"],
        ending=row["ending"],
        deploys=row["deploys"],
    )


class ExceptionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def open(
        self, exception: FreezeException, events: Sequence[OutboxEvent], notices: Sequence[PendingNotice]
    ) -> FreezeException:
        """Insert the exception and what tells of it together; a retry finds the row there."""
        async with self._db.transaction() as conn:
            row = await conn.fetchrow(
                """INSERT INTO freeze_exceptions (id, namespace, service, reason, ticket, granted_by,
                       granted_at, expires_at, policy_id, freeze_id)
                   VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)
                   ON CONFLICT (id) DO UPDATE SET id = EXCLUDED.id RETURNING *""",
                uuid.UUID(exception.id),
                exception.namespace,
                exception.service,
                exception.reason,
                exception.ticket,
                exception.granted_by,
                exception.granted_at,
                exception.expires_at,
                exception.policy_id,
                uuid.UUID(exception.freeze_id),
            )
            await insert_events(conn, events)
            await insert_notices(conn, notices)
        return _exception(row)

    async def close(
        self, exception_id: str, ended_at: datetime, ended_by: str, ending: ExceptionEnding, tell: Telling
    ) -> FreezeException | None:
        """End it (the first ending wins; a retry changes nothing) and tell of it in the same
        transaction."""
        async with self._db.transaction() as conn:
            row = await conn.fetchrow(
                """UPDATE freeze_exceptions SET ended_at = COALESCE(ended_at, $2),
                       ended_by = COALESCE(ended_by, $3), ending = COALESCE(ending, $4)
                   WHERE id = $1 RETURNING *""",
                uuid.UUID(exception_id),
                ended_at,
                ended_by,
                ending.value,
            )
            if row is None:
                return None
            closed = _exception(row)
            events, notices = tell(closed)
            await insert_events(conn, events)
            await insert_notices(conn, notices)
        return closed

    async def get(self, exception_id: str) -> FreezeException | None:
        try:
            key = uuid.UUID(exception_id)
        except ValueError:
            return None
        async with self._db.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM freeze_exceptions WHERE id = $1", key)
        return _exception(row) if row else None

    async def open_ones(self) -> list[FreezeException]:
        """Not ended yet (some may be past their expiry, for the owning workflow to end)."""
        async with self._db.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM freeze_exceptions WHERE ended_at IS NULL ORDER BY granted_at"
            )
        return [_exception(r) for r in rows]

    async def page(self, *, namespace: str | None, limit: int) -> list[FreezeException]:
        async with self._db.acquire() as conn:
            rows = await conn.fetch(
                """SELECT * FROM freeze_exceptions WHERE ($1::text IS NULL OR namespace = $1)
                   ORDER BY granted_at DESC LIMIT $2""",
                namespace,
                limit,
            )
        return [_exception(r) for r in rows]

    async def count_deploy(self, exception_ids: Sequence[str]) -> None:
        async with self._db.acquire() as conn:
            await conn.execute(
                "UPDATE freeze_exceptions SET deploys = deploys + 1 WHERE id = ANY($1)",
                [uuid.UUID(i) for i in exception_ids],
            )
