"""PostgreSQL persistence (asyncpg): SLO definitions, budgets, history and the event outbox."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import structlog
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from sla_management.config import PostgreSQLSettings
from sla_management.domain.budget import ErrorBudget
from sla_management.domain.freeze import FreezeEvent
from sla_management.domain.policy import Policy
from sla_management.domain.slo import SLO
from sla_management.observability.tracing import with_trace_headers

log = structlog.get_logger(__name__)


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot be reached: the API answers 503, activities retry."""


class Conflict(Exception):
    """A unique constraint said no (e.g. an SLO of that name in that namespace exists)."""


class InvalidValue(Exception):
    """PostgreSQL refused a value as malformed (SQLSTATE class 22, e.g. a NUL character in
    text): the caller's input, so the API answers 422 rather than 500."""


_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    # A server that shuts down while a pooled connection is idle can leave that connection's
    # protocol state confused ("cannot switch to state ..."): a lost server all the same.
    asyncpg.exceptions.InternalClientError,
    TimeoutError,
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


@dataclass
class OutboxEvent:
    topic: str
    key: str | None
    payload: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)


def _slo_spec(slo: SLO) -> dict[str, Any]:
    """The user-owned part of an SLO, as stored in `slos.spec` (camelCase, the CRD spec)."""
    return slo.model_dump(
        mode="json", by_alias=True, exclude={"id", "managed_by", "query_units", "created_at", "updated_at"}
    )


class Database:
    def __init__(self, settings: PostgreSQLSettings) -> None:
        self._settings = settings
        self._pool: asyncpg.Pool | None = None

    @property
    def settings(self) -> PostgreSQLSettings:
        return self._settings

    async def connect(self) -> None:
        if self._pool is not None:
            return
        try:
            self._pool = await asyncpg.create_pool(
                self._settings.dsn(),
                min_size=self._settings.pool_min_size,
                max_size=self._settings.pool_max_size,
                init=_init_connection,
                timeout=5,
                command_timeout=30,
            )
        except _UNAVAILABLE as exc:
            raise DatabaseUnavailable(f"PostgreSQL is unreachable: {exc}") from exc

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                # A graceful close waits for every connection; with the server gone it can
                # wait forever, and a process must still be able to stop.
                await asyncio.wait_for(pool.close(), timeout=10)
            except TimeoutError:
                pool.terminate()

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection; a lost server becomes DatabaseUnavailable, not a crash."""
        if self._pool is None:
            await self.connect()
        assert self._pool is not None
        try:
            async with self._pool.acquire(timeout=5) as conn:
                yield conn
        except _UNAVAILABLE as exc:
            raise DatabaseUnavailable(f"PostgreSQL is unreachable: {exc}") from exc
        except asyncpg.exceptions.DataError as exc:
            # The database's own text names its internals and repeats the value: it goes to the
            # log; the caller learns only that one of its values cannot be stored.
            log.warning("postgresql refused a value", sqlstate=exc.sqlstate, error=str(exc)[:2000])
            raise InvalidValue(
                "a value in the request cannot be stored (for example a NUL character or a number "
                "out of range)"
            ) from exc

    async def ping(self) -> bool:
        try:
            async with self.acquire() as conn:
                await conn.fetchval("SELECT 1")
        except DatabaseUnavailable:
            return False
        return True

    def pool_stats(self) -> dict[str, int]:
        """Connections by state, for `sla_db_pool_connections` (zeros before connect)."""
        if self._pool is None:
            return {"in_use": 0, "idle": 0, "max": 0}
        size, idle = self._pool.get_size(), self._pool.get_idle_size()
        return {"in_use": size - idle, "idle": idle, "max": self._pool.get_max_size()}

    # SLO definitions -------------------------------------------------------------------

    @staticmethod
    def _slo(row: asyncpg.Record) -> SLO:
        return SLO.model_validate(
            {
                **row["spec"],
                "id": row["id"],
                "managedBy": row["managed_by"],
                "queryUnits": row["query_units"],
                "createdAt": row["created_at"],
                "updatedAt": row["updated_at"],
            }
        )

    async def insert_slo(self, slo: SLO) -> SLO:
        spec = _slo_spec(slo)
        try:
            async with self.acquire() as conn:
                row = await conn.fetchrow(
                    """INSERT INTO slos (id, name, namespace, service_name, layer, slo_type, spec,
                                         query_units, managed_by, created_at, updated_at)
                       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$10) RETURNING *""",
                    slo.id,
                    slo.name,
                    slo.namespace,
                    slo.service_name,
                    slo.layer,
                    slo.slo_type.value,
                    spec,
                    {k: v.value for k, v in slo.query_units.items()},
                    slo.managed_by.value,
                    slo.created_at,
                )
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(
                f"an SLO named {slo.name!r} (ignoring case) already exists in namespace {slo.namespace!r}"
            ) from exc
        return self._slo(row)

    async def update_slo(self, slo: SLO) -> SLO | None:
        spec = _slo_spec(slo)
        try:
            async with self.acquire() as conn:
                row = await conn.fetchrow(
                    """UPDATE slos SET name=$2, namespace=$3, service_name=$4, layer=$5, slo_type=$6,
                              spec=$7, query_units=$8, updated_at=$9
                       WHERE id=$1 RETURNING *""",
                    slo.id,
                    slo.name,
                    slo.namespace,
                    slo.service_name,
                    slo.layer,
                    slo.slo_type.value,
                    spec,
                    {k: v.value for k, v in slo.query_units.items()},
                    slo.updated_at,
                )
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(
                f"an SLO named {slo.name!r} (ignoring case) already exists in namespace {slo.namespace!r}"
            ) from exc
        return self._slo(row) if row else None

    async def get_slo(self, slo_id: str) -> SLO | None:
        async with self.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM slos WHERE id=$1", slo_id)
        return self._slo(row) if row else None

    async def list_slos(
        self,
        *,
        service: str | None = None,
        namespace: str | None = None,
        layer: str | None = None,
        status: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[SLO]:
        async with self.acquire() as conn:
            rows = await conn.fetch(
                """SELECT s.* FROM slos s LEFT JOIN budgets_current b ON b.slo_id = s.id
                   WHERE ($1::text IS NULL OR s.service_name = $1)
                     AND ($2::text IS NULL OR s.namespace = $2)
                     AND ($3::text IS NULL OR s.layer = $3)
                     AND ($4::text IS NULL OR b.status = $4)
                   ORDER BY s.namespace, s.name LIMIT $5 OFFSET $6""",
                service,
                namespace,
                layer,
                status,
                limit,
                offset,
            )
        return [self._slo(r) for r in rows]

    async def delete_slo(self, slo_id: str) -> bool:
        async with self.acquire() as conn:
            result: str = await conn.execute("DELETE FROM slos WHERE id=$1", slo_id)
        return result.endswith(" 1")

    async def count_slos(self) -> int:
        async with self.acquire() as conn:
            count: int = await conn.fetchval("SELECT count(*) FROM slos")
        return count

    # Budgets ---------------------------------------------------------------------------

    async def save_budget(
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
        async with self.acquire() as conn, conn.transaction():
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
            await _insert_events(conn, events)

    async def current_budget(self, slo_id: str) -> ErrorBudget | None:
        async with self.acquire() as conn:
            doc = await conn.fetchval("SELECT budget FROM budgets_current WHERE slo_id=$1", slo_id)
        return ErrorBudget.model_validate(doc) if doc else None

    async def list_budgets(
        self,
        *,
        service: str | None = None,
        namespace: str | None = None,
        status: str | None = None,
        burn_level: str | None = None,
    ) -> list[ErrorBudget]:
        async with self.acquire() as conn:
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

    async def budget_history(
        self, slo_id: str, start: datetime | None, end: datetime | None, limit: int = 5000
    ) -> list[ErrorBudget]:
        async with self.acquire() as conn:
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
        async with self.acquire() as conn:
            result: str = await conn.execute(
                "DELETE FROM budget_history WHERE calculated_at < $1", older_than
            )
            await conn.execute(
                "DELETE FROM event_outbox WHERE published_at IS NOT NULL AND published_at < $1",
                older_than,
            )
        return int(result.split()[-1])

    # Outbox ----------------------------------------------------------------------------

    @asynccontextmanager
    async def pending_events(
        self, limit: int
    ) -> AsyncIterator[tuple[asyncpg.Connection, list[asyncpg.Record]]]:
        """Lock a batch of unpublished events; SKIP LOCKED lets several workers relay at once
        without sending the same event twice."""
        async with self.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT event_id, topic, key, headers, payload FROM event_outbox
                   WHERE published_at IS NULL ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED""",
                limit,
            )
            yield conn, list(rows)

    async def pending_count(self) -> int:
        async with self.acquire() as conn:
            count: int = await conn.fetchval("SELECT count(*) FROM event_outbox WHERE published_at IS NULL")
        return count


class PolicyStore:
    """Policies, freeze events and violations; shares the `Database` pool."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _policy(row: asyncpg.Record) -> Policy:
        return Policy.model_validate(
            {
                **row["spec"],
                "id": row["id"],
                "managedBy": row["managed_by"],
                "createdAt": row["created_at"],
                "updatedAt": row["updated_at"],
            }
        )

    @staticmethod
    def _spec(policy: Policy) -> dict[str, Any]:
        return policy.model_dump(
            mode="json", by_alias=True, exclude={"id", "managed_by", "created_at", "updated_at"}
        )

    async def insert_policy(self, policy: Policy) -> Policy:
        try:
            async with self.db.acquire() as conn:
                row = await conn.fetchrow(
                    """INSERT INTO policies (id, name, scope, target, spec, managed_by, created_at, updated_at)
                       VALUES ($1,$2,$3,$4,$5,$6,$7,$7) RETURNING *""",
                    policy.id,
                    policy.name,
                    policy.scope.value,
                    policy.target,
                    self._spec(policy),
                    policy.managed_by.value,
                    policy.created_at,
                )
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(f"a policy named {policy.name!r} (ignoring case) already exists") from exc
        return self._policy(row)

    async def update_policy(self, policy: Policy) -> Policy | None:
        try:
            async with self.db.acquire() as conn:
                row = await conn.fetchrow(
                    """UPDATE policies SET name=$2, scope=$3, target=$4, spec=$5, updated_at=$6
                       WHERE id=$1 RETURNING *""",
                    policy.id,
                    policy.name,
                    policy.scope.value,
                    policy.target,
                    self._spec(policy),
                    policy.updated_at,
                )
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(f"a policy named {policy.name!r} (ignoring case) already exists") from exc
        return self._policy(row) if row else None

    async def get_policy(self, policy_id: str) -> Policy | None:
        async with self.db.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM policies WHERE id=$1", policy_id)
        return self._policy(row) if row else None

    async def list_policies(self) -> list[Policy]:
        async with self.db.acquire() as conn:
            rows = await conn.fetch("SELECT * FROM policies ORDER BY name")
        return [self._policy(r) for r in rows]

    async def delete_policy(self, policy_id: str) -> bool:
        async with self.db.acquire() as conn:
            result: str = await conn.execute("DELETE FROM policies WHERE id=$1", policy_id)
        return result.endswith(" 1")

    # Freezes ---------------------------------------------------------------------------

    @staticmethod
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

    async def open_freeze(self, event: FreezeEvent, events: Sequence[OutboxEvent]) -> FreezeEvent:
        """Insert the freeze and its Kafka event together; a retry finds the row already there."""
        triggering = [o.model_dump(mode="json", by_alias=True) for o in event.triggering]
        async with self.db.acquire() as conn, conn.transaction():
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
            await _insert_events(conn, events)
        return self._freeze(row)

    async def close_freeze(
        self,
        event_id: str,
        resolved_at: datetime,
        resolved_by: str,
        resolution: str,
        events: Sequence[OutboxEvent],
    ) -> FreezeEvent | None:
        async with self.db.acquire() as conn, conn.transaction():
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
                await _insert_events(conn, events)
        return self._freeze(row) if row else None

    async def rescope_freeze(self, event_id: str, namespaces: list[str]) -> FreezeEvent | None:
        async with self.db.acquire() as conn:
            row = await conn.fetchrow(
                "UPDATE freeze_events SET namespaces = $2 WHERE id = $1 AND resolved_at IS NULL RETURNING *",
                uuid.UUID(event_id),
                namespaces,
            )
        return self._freeze(row) if row else None

    async def get_freeze(self, event_id: str) -> FreezeEvent | None:
        try:
            key = uuid.UUID(event_id)
        except ValueError:
            return None
        async with self.db.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM freeze_events WHERE id=$1", key)
        return self._freeze(row) if row else None

    async def active_freezes(self) -> list[FreezeEvent]:
        async with self.db.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM freeze_events WHERE resolved_at IS NULL ORDER BY activated_at"
            )
        return [self._freeze(r) for r in rows]

    async def freeze_history(
        self,
        *,
        target: str | None = None,
        policy_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 1000,
    ) -> list[FreezeEvent]:
        async with self.db.acquire() as conn:
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
        return [self._freeze(r) for r in rows]

    # Violations ------------------------------------------------------------------------

    async def record_violation(
        self,
        *,
        slo_id: str,
        alertname: str,
        status: str,
        fingerprint: str,
        starts_at: datetime | None,
        ends_at: datetime | None,
        labels: dict[str, str],
        annotations: dict[str, str],
        events: Sequence[OutboxEvent],
    ) -> bool:
        """False when Alertmanager repeated a notification already recorded."""
        async with self.db.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                """INSERT INTO slo_violations (id, slo_id, alertname, status, fingerprint, starts_at, ends_at,
                       labels, annotations)
                   VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
                   ON CONFLICT (fingerprint, starts_at, status) DO NOTHING RETURNING true""",
                uuid.uuid4(),
                slo_id,
                alertname,
                status,
                fingerprint,
                starts_at,
                ends_at,
                labels,
                annotations,
            )
            if inserted:
                await _insert_events(conn, events)
        return bool(inserted)

    async def violation_counts(self, slo_id: str) -> dict[str, int]:
        async with self.db.acquire() as conn:
            rows = await conn.fetch(
                "SELECT status, count(*) AS n FROM slo_violations WHERE slo_id=$1 GROUP BY status", slo_id
            )
        return {r["status"]: r["n"] for r in rows}


async def _insert_events(conn: asyncpg.Connection, events: Sequence[OutboxEvent]) -> None:
    for event in events:
        await conn.execute(
            """INSERT INTO event_outbox (event_id, topic, key, headers, payload)
               VALUES ($1,$2,$3,$4,$5) ON CONFLICT (event_id) DO NOTHING""",
            # The current trace rides along, so the relay publishes in the trace that wrote it.
            event.event_id,
            event.topic,
            event.key,
            with_trace_headers(event.headers),
            event.payload,
        )


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


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

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
        async with self.db.acquire() as conn:
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
        async with self.db.acquire() as conn:
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
