"""The notification outbox: rows written in the transaction of the event they tell of, claimed
and delivered by the worker's `NotificationRelay` with retries, and kept as dead letters after
too many failures."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from sla_management.adapters.postgres.pool import Database


@dataclass(frozen=True)
class PendingNotice:
    id: uuid.UUID  # the event id receivers deduplicate on
    kind: str
    policy_id: str
    channel: str
    target: dict[str, Any]  # the NotifyTarget: references to secrets, never their values
    notice: dict[str, Any]


@dataclass(frozen=True)
class NotificationRow:
    id: uuid.UUID
    kind: str
    policy_id: str
    channel: str
    target: dict[str, Any]
    notice: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def _row(r: asyncpg.Record) -> NotificationRow:
    return NotificationRow(
        id=r["id"],
        kind=r["kind"],
        policy_id=r["policy_id"],
        channel=r["channel"],
        target=r["target"],
        notice=r["notice"],
        status=r["status"],
        attempts=r["attempts"],
        next_attempt_at=r["next_attempt_at"],
        last_error=r["last_error"],
        created_at=r["created_at"],
        delivered_at=r["delivered_at"],
    )


async def insert_notices(conn: asyncpg.Connection, notices: Sequence[PendingNotice]) -> None:
    for n in notices:
        await conn.execute(
            """INSERT INTO notifications (id, kind, policy_id, channel, target, notice)
               VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (id) DO NOTHING""",
            n.id,
            n.kind,
            n.policy_id,
            n.channel,
            n.target,
            n.notice,
        )


class NotificationRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, notices: Sequence[PendingNotice]) -> None:
        async with self._db.transaction() as conn:
            await insert_notices(conn, notices)

    async def claim_due(self, limit: int, lease_seconds: float) -> list[NotificationRow]:
        """Due rows, leased for `lease_seconds` so another relay (or this one, after a crash)
        picks them up only when the lease runs out."""
        async with self._db.acquire() as conn:
            rows = await conn.fetch(
                """UPDATE notifications SET claimed_until = now() + make_interval(secs => $2)
                   WHERE id IN (
                       SELECT id FROM notifications
                       WHERE status = 'pending' AND next_attempt_at <= now()
                         AND (claimed_until IS NULL OR claimed_until < now())
                       ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
                   RETURNING *""",
                limit,
                lease_seconds,
            )
        return [_row(r) for r in rows]

    async def delivered(self, notification_id: uuid.UUID) -> None:
        async with self._db.acquire() as conn:
            await conn.execute(
                """UPDATE notifications SET status = 'sent', delivered_at = now(), attempts = attempts + 1,
                       claimed_until = NULL, last_error = NULL WHERE id = $1""",
                notification_id,
            )

    async def failed(self, notification_id: uuid.UUID, error: str, retry_in: float, *, dead: bool) -> None:
        async with self._db.acquire() as conn:
            await conn.execute(
                """UPDATE notifications SET attempts = attempts + 1, last_error = $2, claimed_until = NULL,
                       next_attempt_at = now() + make_interval(secs => $3),
                       status = CASE WHEN $4 THEN 'dead' ELSE status END
                   WHERE id = $1""",
                notification_id,
                error[:500],
                retry_in,
                dead,
            )

    async def page(self, status: str | None, limit: int) -> list[NotificationRow]:
        async with self._db.acquire() as conn:
            rows = await conn.fetch(
                """SELECT * FROM notifications WHERE ($1::text IS NULL OR status = $1)
                   ORDER BY created_at DESC LIMIT $2""",
                status,
                limit,
            )
        return [_row(r) for r in rows]

    async def retry(self, notification_id: uuid.UUID) -> NotificationRow | None:
        """A dead letter back into the queue, its attempts counted afresh."""
        async with self._db.acquire() as conn:
            row = await conn.fetchrow(
                """UPDATE notifications SET status = 'pending', attempts = 0, next_attempt_at = now(),
                       claimed_until = NULL WHERE id = $1 AND status = 'dead' RETURNING *""",
                notification_id,
            )
        return _row(row) if row else None
