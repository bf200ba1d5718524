"""The notification outbox as operators see it: what was sent, what waits, the dead letters."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sla_management.adapters.postgres import NotificationRow
from sla_management.control.clients import Clients
from sla_management.domain.slo import CamelModel
from sla_management.errors import Conflict, NotFound, echo


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


class NotificationView(CamelModel):
    id: str
    kind: str
    policy_id: str
    channel: str
    # References to secrets only (`urlSecret`, `secret`), never their values.
    target: dict[str, Any]
    title: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def _view(row: NotificationRow) -> NotificationView:
    return NotificationView(
        id=str(row.id),
        kind=row.kind,
        policy_id=row.policy_id,
        channel=row.channel,
        target=row.target,
        title=str(row.notice.get("title", "")),
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )


async def list_notifications(
    clients: Clients, status: DeliveryStatus | None, limit: int
) -> list[NotificationView]:
    rows = await clients.notifications.page(status.value if status else None, limit)
    return [_view(r) for r in rows]


async def retry_notification(clients: Clients, notification_id: str) -> NotificationView:
    """A dead letter back into the queue (after fixing the receiver or its secret)."""
    try:
        key = uuid.UUID(notification_id)
    except ValueError:
        raise NotFound(f"no notification with id {echo(notification_id)}") from None
    row = await clients.notifications.retry(key)
    if row is None:
        raise Conflict(f"notification {echo(notification_id)} is not a dead letter (or does not exist)")
    return _view(row)
