"""SLO violations: alerts Alertmanager delivered for an SLO, deduplicated on its fingerprint."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sla_management.adapters.postgres.outbox import OutboxEvent, insert_events
from sla_management.adapters.postgres.pool import Database


@dataclass(frozen=True)
class Violation:
    slo_id: str
    alertname: str
    status: str
    fingerprint: str
    starts_at: datetime | None
    ends_at: datetime | None
    labels: dict[str, str]
    annotations: dict[str, str]
    event: OutboxEvent


class ViolationRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record_all(self, violations: Sequence[Violation]) -> list[bool]:
        """Store every violation and its event in ONE transaction (a post is all or nothing);
        per violation, False when Alertmanager repeated a notification already recorded."""
        recorded: list[bool] = []
        async with self._db.transaction() as conn:
            for v in violations:
                inserted = await conn.fetchval(
                    """INSERT INTO slo_violations (id, slo_id, alertname, status, fingerprint, starts_at,
                           ends_at, labels, annotations)
                       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
                       ON CONFLICT (fingerprint, starts_at, status) DO NOTHING RETURNING true""",
                    uuid.uuid4(),
                    v.slo_id,
                    v.alertname,
                    v.status,
                    v.fingerprint,
                    v.starts_at,
                    v.ends_at,
                    v.labels,
                    v.annotations,
                )
                if inserted:
                    await insert_events(conn, [v.event])
                recorded.append(bool(inserted))
        return recorded

    async def counts(self, slo_id: str) -> dict[str, int]:
        async with self._db.acquire() as conn:
            rows = await conn.fetch(
                "SELECT status, count(*) AS n FROM slo_violations WHERE slo_id=$1 GROUP BY status", slo_id
            )
        return {r["status"]: r["n"] for r in rows}
