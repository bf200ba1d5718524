"""Freeze policies: `policies` rows hold the user-owned spec beside what the system owns."""

from __future__ import annotations

from typing import Any

import asyncpg

from sla_management.adapters.postgres.pool import Database
from sla_management.domain.policy import Policy
from sla_management.errors import Conflict


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


def _spec(policy: Policy) -> dict[str, Any]:
    return policy.model_dump(
        mode="json", by_alias=True, exclude={"id", "managed_by", "created_at", "updated_at"}
    )


class PolicyRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, policy: Policy) -> Policy:
        try:
            async with self._db.acquire() as conn:
                row = await conn.fetchrow(
                    """INSERT INTO policies (id, name, scope, target, spec, managed_by, created_at, updated_at)
                       VALUES ($1,$2,$3,$4,$5,$6,$7,$7) RETURNING *""",
                    policy.id,
                    policy.name,
                    policy.scope.value,
                    policy.target,
                    _spec(policy),
                    policy.managed_by.value,
                    policy.created_at,
                )
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(f"a policy named {policy.name!r} (ignoring case) already exists") from exc
        return _policy(row)

    async def update(self, policy: Policy) -> Policy | None:
        try:
            async with self._db.acquire() as conn:
                row = await conn.fetchrow(
                    """UPDATE policies SET name=$2, scope=$3, target=$4, spec=$5, updated_at=$6
                       WHERE id=$1 RETURNING *""",
                    policy.id,
                    policy.name,
                    policy.scope.value,
                    policy.target,
                    _spec(policy),
                    policy.updated_at,
                )
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(f"a policy named {policy.name!r} (ignoring case) already exists") from exc
        return _policy(row) if row else None

    async def get(self, policy_id: str) -> Policy | None:
        async with self._db.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM policies WHERE id=$1", policy_id)
        return _policy(row) if row else None

    async def all(self) -> list[Policy]:
        async with self._db.acquire() as conn:
            rows = await conn.fetch("SELECT * FROM policies ORDER BY name")
        return [_policy(r) for r in rows]

    async def delete(self, policy_id: str) -> bool:
        async with self._db.acquire() as conn:
            result: str = await conn.execute("DELETE FROM policies WHERE id=$1", policy_id)
        return result.endswith(" 1")
