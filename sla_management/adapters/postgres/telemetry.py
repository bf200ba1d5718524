"""Stored state the gauges describe, read in one connection (`control/gauges.py` exports it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sla_management.adapters.postgres.pool import Database


@dataclass(frozen=True)
class SLORow:
    id: str
    service_name: str
    status: str | None
    remaining_percent: float | None
    consumed_percent: float | None
    burn_rates: dict[str, Any]
    calculated_at: datetime | None


@dataclass(frozen=True)
class StoredState:
    slos: list[SLORow]
    active_freezes_by_scope: dict[str, int]
    outbox_pending: int
    outbox_oldest: datetime | None
    policies: int


class TelemetryRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def snapshot(self) -> StoredState:
        async with self._db.acquire() as conn:
            # One round trip for everything per SLO; `budget` is the stored ErrorBudget document.
            slos = await conn.fetch(
                """SELECT s.id, s.service_name, b.status, b.remaining_percent, b.calculated_at,
                          (b.budget ->> 'consumedPercent')::double precision AS consumed,
                          b.budget -> 'burnRates' AS burn_rates
                   FROM slos s LEFT JOIN budgets_current b ON b.slo_id = s.id"""
            )
            freezes = await conn.fetch(
                "SELECT scope, count(*) AS n FROM freeze_events WHERE resolved_at IS NULL GROUP BY scope"
            )
            outbox = await conn.fetchrow(
                "SELECT count(*) AS n, min(created_at) AS oldest FROM event_outbox WHERE published_at IS NULL"
            )
            policies: int = await conn.fetchval("SELECT count(*) FROM policies")
        return StoredState(
            slos=[
                SLORow(
                    id=r["id"],
                    service_name=r["service_name"],
                    status=r["status"],
                    remaining_percent=r["remaining_percent"],
                    consumed_percent=r["consumed"],
                    burn_rates=r["burn_rates"] or {},
                    calculated_at=r["calculated_at"],
                )
                for r in slos
            ],
            active_freezes_by_scope={r["scope"]: r["n"] for r in freezes},
            outbox_pending=outbox["n"],
            outbox_oldest=outbox["oldest"],
            policies=policies,
        )
