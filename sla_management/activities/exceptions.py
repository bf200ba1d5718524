"""Activities of the policy workflow for freeze exceptions: record a grant, record an end.

The workflow decides (it holds the expiry timer); these store the record with its Kafka event
and notifications in one transaction, and leave an audit entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import structlog
from temporalio import activity

from sla_management.activities.models import ExceptionClosing
from sla_management.activities.notices import Herald
from sla_management.adapters.postgres import AuditRepository, ExceptionRepository, OutboxEvent, PendingNotice
from sla_management.config import KafkaSettings
from sla_management.domain import notices
from sla_management.domain.freeze import ExceptionEnding, FreezeException
from sla_management.domain.policy import Policy

log = structlog.get_logger(__name__)

_KIND = {
    None: "EXCEPTION_GRANTED",
    ExceptionEnding.REVOKED: "EXCEPTION_REVOKED",
    ExceptionEnding.POLICY_DELETED: "EXCEPTION_REVOKED",
    ExceptionEnding.EXPIRED: "EXCEPTION_EXPIRED",
}


def exception_event(exception: FreezeException, settings: KafkaSettings) -> OutboxEvent:
    kind = _KIND[exception.ending]
    return OutboxEvent.envelope(
        settings.freeze_topic,
        # Derived from the exception id, so a retried activity writes the same event id.
        event_id=uuid.uuid5(uuid.UUID(exception.id), kind),
        event_type=kind,
        key=exception.policy_id,
        service_name=exception.service or "",
        severity="warning",
        body={"exception": exception.model_dump(mode="json", by_alias=True)},
    )


class ExceptionActivities:
    def __init__(
        self,
        *,
        exceptions: ExceptionRepository,
        audit: AuditRepository,
        kafka: KafkaSettings,
        herald: Herald,
        published: Callable[[], None] | None = None,
    ) -> None:
        self._exceptions = exceptions
        self._audit_log = audit
        self._kafka = kafka
        self._herald = herald
        self._published = published

    def _render(self, exception: FreezeException) -> Callable[[Policy, notices.Links], notices.Notice]:
        return lambda policy, links: notices.exception_notice(exception, policy, links)

    @activity.defn
    async def open_exception(self, exception: FreezeException) -> FreezeException:
        event = exception_event(exception, self._kafka)
        notes = await self._herald.notices(exception.policy_id, event.event_id, self._render(exception))
        stored = await self._exceptions.open(exception, [event], notes)
        if self._published is not None:
            self._published()
        log.warning(
            "freeze exception granted",
            exception_id=stored.id,
            namespace=stored.namespace,
            service=stored.service,
            expires_at=stored.expires_at.isoformat(),
            granted_by=stored.granted_by,
        )
        return stored

    @activity.defn
    async def close_exception(self, closing: ExceptionClosing) -> FreezeException | None:
        # Built inside the transaction, from the stored row (its deploy count included).
        telling: list[PendingNotice] = []

        def tell(closed: FreezeException) -> tuple[list[OutboxEvent], list[PendingNotice]]:
            return [exception_event(closed, self._kafka)], telling

        current = await self._exceptions.get(closing.exception_id)
        if current is None:
            return None
        ended = current.model_copy(
            update={"ended_at": closing.ended_at, "ended_by": closing.ended_by, "ending": closing.ending}
        )
        event_id = exception_event(ended, self._kafka).event_id
        telling.extend(await self._herald.notices(ended.policy_id, event_id, self._render(ended)))
        closed = await self._exceptions.close(
            closing.exception_id, closing.ended_at, closing.ended_by, closing.ending, tell
        )
        if closed is None:
            return None
        if self._published is not None:
            self._published()
        if closing.ending is ExceptionEnding.EXPIRED:
            # Grants and revocations are audited by whoever asked (control/exceptions.py); an
            # expiry has only this workflow to tell of it.
            await self._audit_log.record(
                actor=f"policy-workflow:{closed.policy_id}",
                role="system",
                action="exception.expire",
                resource_type="freeze-exception",
                resource_id=closed.id,
                before=current.model_dump(mode="json", by_alias=True),
                after=closed.model_dump(mode="json", by_alias=True),
                request_id=activity.info().workflow_id,
            )
        log.info("freeze exception ended", exception_id=closed.id, ending=closing.ending.value)
        return closed
