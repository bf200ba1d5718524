"""The transactional outbox: events written with the state they describe, relayed to Kafka later.

Repositories insert events in their own transactions (`insert_events`); `OutboxRepository` is the
relay's side: lock a batch, mark what was sent, count what waits.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from sla_management.adapters.postgres.pool import Database
from sla_management.observability.tracing import with_trace_headers


@dataclass
class OutboxEvent:
    topic: str
    key: str | None
    payload: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)

    @classmethod
    def envelope(
        cls,
        topic: str,
        *,
        event_id: uuid.UUID,
        event_type: str,
        key: str | None,
        service_name: str,
        severity: str,
        body: dict[str, Any],
    ) -> OutboxEvent:
        """Every Kafka event's shape: `eventId` and `eventType` in the payload beside its body,
        and the spec's headers (event_type, service_name, severity) plus `event_id`, on which
        consumers deduplicate."""
        return cls(
            topic=topic,
            key=key,
            payload={"eventId": str(event_id), "eventType": event_type, **body},
            headers={
                "event_type": event_type,
                "service_name": service_name,
                "severity": severity,
                "event_id": str(event_id),
            },
            event_id=event_id,
        )


async def insert_events(conn: asyncpg.Connection, events: Sequence[OutboxEvent]) -> None:
    for event in events:
        await conn.execute(
            """INSERT INTO event_outbox (event_id, topic, key, headers, payload)
               VALUES ($1,$2,$3,$4,$5) ON CONFLICT (event_id) DO NOTHING""",
            event.event_id,
            event.topic,
            event.key,
            # The current trace rides along, so the relay publishes in the trace that wrote it.
            with_trace_headers(event.headers),
            event.payload,
        )


class PendingBatch:
    """A locked batch of unpublished events; marks are written in the batch's transaction."""

    def __init__(self, conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> None:
        self._conn = conn
        self.rows = rows

    async def sent(self, event_id: uuid.UUID) -> None:
        await self._conn.execute(
            "UPDATE event_outbox SET published_at = now(), attempts = attempts + 1 WHERE event_id = $1",
            event_id,
        )

    async def failed(self, event_id: uuid.UUID, error: str) -> None:
        await self._conn.execute(
            "UPDATE event_outbox SET attempts = attempts + 1, last_error = $2 WHERE event_id = $1",
            event_id,
            error[:500],
        )


class OutboxRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, events: Sequence[OutboxEvent]) -> None:
        async with self._db.transaction() as conn:
            await insert_events(conn, events)

    @asynccontextmanager
    async def pending(self, limit: int) -> AsyncIterator[PendingBatch]:
        """Lock a batch of unpublished events; SKIP LOCKED lets several workers relay at once
        without sending the same event twice."""
        async with self._db.transaction() as conn:
            rows = await conn.fetch(
                """SELECT event_id, topic, key, headers, payload FROM event_outbox
                   WHERE published_at IS NULL ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED""",
                limit,
            )
            yield PendingBatch(conn, list(rows))

    async def pending_count(self) -> int:
        async with self._db.acquire() as conn:
            count: int = await conn.fetchval("SELECT count(*) FROM event_outbox WHERE published_at IS NULL")
        return count

    async def prune_published(self, older_than: datetime) -> None:
        async with self._db.acquire() as conn:
            await conn.execute(
                "DELETE FROM event_outbox WHERE published_at IS NOT NULL AND published_at < $1", older_than
            )
