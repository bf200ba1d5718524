"""SLO definitions: `slos` rows hold the user-owned spec (camelCase, the CRD spec) beside what
the system owns (id, query units, who manages it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from sla_management.adapters.postgres.pool import Database
from sla_management.domain.slo import SLO
from sla_management.errors import Conflict

# The store answers at most this many SLOs at a time; `all` pages through them.
PAGE = 1000


def _spec(slo: SLO) -> dict[str, Any]:
    return slo.model_dump(
        mode="json", by_alias=True, exclude={"id", "managed_by", "query_units", "created_at", "updated_at"}
    )


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


def _name_taken(slo: SLO) -> Conflict:
    return Conflict(
        f"an SLO named {slo.name!r} (ignoring case) already exists in namespace {slo.namespace!r}"
    )


class SLORepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, slo: SLO) -> SLO:
        try:
            async with self._db.acquire() as conn:
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
                    _spec(slo),
                    {k: v.value for k, v in slo.query_units.items()},
                    slo.managed_by.value,
                    slo.created_at,
                )
        except asyncpg.UniqueViolationError as exc:
            raise _name_taken(slo) from exc
        return _slo(row)

    async def update(self, slo: SLO) -> SLO | None:
        try:
            async with self._db.acquire() as conn:
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
                    _spec(slo),
                    {k: v.value for k, v in slo.query_units.items()},
                    slo.updated_at,
                )
        except asyncpg.UniqueViolationError as exc:
            raise _name_taken(slo) from exc
        return _slo(row) if row else None

    async def get(self, slo_id: str) -> SLO | None:
        async with self._db.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM slos WHERE id=$1", slo_id)
        return _slo(row) if row else None

    async def find(self, keys: Sequence[str]) -> list[SLO]:
        """SLOs whose id or name is one of `keys`, in one round trip (the webhook's lookup)."""
        if not keys:
            return []
        async with self._db.acquire() as conn:
            rows = await conn.fetch("SELECT * FROM slos WHERE id = ANY($1) OR name = ANY($1)", list(keys))
        return [_slo(r) for r in rows]

    async def page(
        self,
        *,
        service: str | None = None,
        namespace: str | None = None,
        layer: str | None = None,
        status: str | None = None,
        limit: int = PAGE,
        offset: int = 0,
    ) -> list[SLO]:
        async with self._db.acquire() as conn:
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
        return [_slo(r) for r in rows]

    async def all(self, *, namespace: str | None = None, service: str | None = None) -> list[SLO]:
        """Every SLO that matches, page by page."""
        found: list[SLO] = []
        while True:
            page = await self.page(namespace=namespace, service=service, limit=PAGE, offset=len(found))
            found.extend(page)
            if len(page) < PAGE:
                return found

    async def delete(self, slo_id: str) -> bool:
        async with self._db.acquire() as conn:
            result: str = await conn.execute("DELETE FROM slos WHERE id=$1", slo_id)
        return result.endswith(" 1")

    async def count(self) -> int:
        async with self._db.acquire() as conn:
            count: int = await conn.fetchval("SELECT count(*) FROM slos")
        return count
