"""Budgets: the current one per SLO (what the API reads when Redis has no copy) and the history
(the record of why a freeze happened; it outlives its SLO on purpose)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sla_management.adapters.postgres.outbox import OutboxEvent, insert_events
from sla_management.adapters.postgres.pool import Database
from sla_management.domain.budget import ErrorBudget


class BudgetRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(
        self,
        budget: ErrorBudget,
        event_id: uuid.UUID,
        *,
        write_history: bool,
        events: Sequence[OutboxEvent] = (),
    ) -> None:
        """Current budget, history row and outbox events in one transaction; idempotent on
        `event_id` so an activity retry writes nothing twice."""
        doc = budget.model_dump(mode="json", by_alias=True)
        async with self._db.transaction() as conn:
            # The SLO may have been deleted while its last pass ran: nothing to keep current.
            await conn.execute(
                """INSERT INTO budgets_current (slo_id, status, burn_level, remaining_percent, calculated_at, budget)
                   SELECT $1,$2,$3,$4,$5,$6 WHERE EXISTS (SELECT 1 FROM slos WHERE id=$1)
                   ON CONFLICT (slo_id) DO UPDATE SET status=EXCLUDED.status, burn_level=EXCLUDED.burn_level,
                       remaining_percent=EXCLUDED.remaining_percent, calculated_at=EXCLUDED.calculated_at,
                       budget=EXCLUDED.budget
                   WHERE budgets_current.calculated_at <= EXCLUDED.calculated_at""",
                budget.slo_id,
                budget.status.value,
                budget.burn_level.value,
                budget.remaining_percent,
                budget.calculated_at,
                doc,
            )
            if write_history:
                await conn.execute(
                    """INSERT INTO budget_history (event_id, slo_id, calculated_at, status, burn_level,
                           remaining_percent, consumed_percent, sli, budget)
                       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (event_id) DO NOTHING""",
                    event_id,
                    budget.slo_id,
                    budget.calculated_at,
                    budget.status.value,
                    budget.burn_level.value,
                    budget.remaining_percent,
                    budget.consumed_percent,
                    budget.sli,
                    doc,
                )
            await insert_events(conn, events)

    async def current(self, slo_id: str) -> ErrorBudget | None:
        async with self._db.acquire() as conn:
            doc = await conn.fetchval("SELECT budget FROM budgets_current WHERE slo_id=$1", slo_id)
        return ErrorBudget.model_validate(doc) if doc else None

    async def current_of(self, slo_ids: Sequence[str]) -> list[ErrorBudget]:
        """The current budgets of these SLOs, in one round trip."""
        async with self._db.acquire() as conn:
            rows = await conn.fetch(
                "SELECT budget FROM budgets_current WHERE slo_id = ANY($1)", list(slo_ids)
            )
        return [ErrorBudget.model_validate(r["budget"]) for r in rows]

    async def latest(
        self,
        *,
        service: str | None = None,
        namespace: str | None = None,
        status: str | None = None,
        burn_level: str | None = None,
    ) -> list[ErrorBudget]:
        async with self._db.acquire() as conn:
            rows = await conn.fetch(
                """SELECT b.budget FROM budgets_current b JOIN slos s ON s.id = b.slo_id
                   WHERE ($1::text IS NULL OR s.service_name = $1)
                     AND ($2::text IS NULL OR s.namespace = $2)
                     AND ($3::text IS NULL OR b.status = $3)
                     AND ($4::text IS NULL OR b.burn_level = $4)
                   ORDER BY b.remaining_percent ASC NULLS LAST, s.name""",
                service,
                namespace,
                status,
                burn_level,
            )
        return [ErrorBudget.model_validate(r["budget"]) for r in rows]

    async def history(
        self, slo_id: str, start: datetime | None, end: datetime | None, limit: int = 5000
    ) -> list[ErrorBudget]:
        async with self._db.acquire() as conn:
            rows = await conn.fetch(
                """SELECT budget FROM budget_history
                   WHERE slo_id=$1 AND ($2::timestamptz IS NULL OR calculated_at >= $2)
                     AND ($3::timestamptz IS NULL OR calculated_at <= $3)
                   ORDER BY calculated_at DESC LIMIT $4""",
                slo_id,
                start,
                end,
                limit,
            )
        return [ErrorBudget.model_validate(r["budget"]) for r in reversed(rows)]

    async def prune_history(self, older_than: datetime) -> int:
        async with self._db.acquire() as conn:
            result: str = await conn.execute(
                "DELETE FROM budget_history WHERE calculated_at < $1", older_than
            )
        return int(result.split()[-1])
