"""Break-glass uses: a workload deployed through a freeze with `neural-hive.io/freeze-override`,
recorded once per workload, override text and freeze."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sla_management.adapters.postgres.notifications import PendingNotice, insert_notices
from sla_management.adapters.postgres.outbox import OutboxEvent, insert_events
from sla_management.adapters.postgres.pool import Database


@dataclass(frozen=True)
class BreakGlassUse:
    object_uid: str
    override: str
    freeze_id: str
    kind: str
    namespace: str
    name: str


class BreakGlassRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self, use: BreakGlassUse, events: Sequence[OutboxEvent], notices: Sequence[PendingNotice]
    ) -> bool:
        """False when this use was recorded already (the operator sees objects again and again)."""
        async with self._db.transaction() as conn:
            new = await conn.fetchval(
                """INSERT INTO break_glass_uses (object_uid, override, freeze_id, kind, namespace, name)
                   VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING RETURNING true""",
                use.object_uid,
                use.override,
                uuid.UUID(use.freeze_id),
                use.kind,
                use.namespace,
                use.name,
            )
            if new:
                await insert_events(conn, events)
                await insert_notices(conn, notices)
        return bool(new)
