"""Alertmanager webhook intake (payload version 4)."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime
from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Header, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field
from temporalio.service import RPCError

from sla_management.adapters.postgres import OutboxEvent, PolicyStore
from sla_management.api.deps import Deps, Services
from sla_management.domain.slo import SLO
from sla_management.observability import metrics

log = structlog.get_logger(__name__)
router = APIRouter(tags=["webhooks"])


class Alert(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: Annotated[datetime | None, Field(alias="startsAt")] = None
    ends_at: Annotated[datetime | None, Field(alias="endsAt")] = None
    generator_url: Annotated[str | None, Field(alias="generatorURL")] = None
    fingerprint: str | None = None


class AlertmanagerPayload(BaseModel):
    """https://prometheus.io/docs/alerting/latest/configuration/#webhook_config"""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = ""
    group_key: Annotated[str, Field(alias="groupKey")] = ""
    alerts: list[Alert]


class IntakeReport(BaseModel):
    received: int
    correlated: int
    recorded: int
    ignored: int


def _authorized(services: Services, authorization: str | None) -> bool:
    token = services.settings.alertmanager.webhook_token
    if not token:
        return True
    presented = (authorization or "").removeprefix("Bearer ").strip()
    # Compare digests so the comparison time does not depend on the secret's length either.
    return hmac.compare_digest(
        hashlib.sha256(presented.encode()).digest(), hashlib.sha256(token.encode()).digest()
    )


async def _find_slo(services: Services, key: str, namespace: str | None) -> SLO | None:
    if (slo := await services.db.get_slo(key)) is not None:
        return slo
    named = [s for s in await services.db.list_slos(namespace=namespace) if s.name == key]
    return named[0] if len(named) == 1 else None


def _fingerprint(alert: Alert) -> str:
    if alert.fingerprint:
        return alert.fingerprint
    canonical = ",".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@router.post("/webhooks/alertmanager", response_model=IntakeReport)
async def alertmanager(
    payload: AlertmanagerPayload,
    services: Deps,
    authorization: Annotated[str | None, Header()] = None,
) -> IntakeReport:
    if not _authorized(services, authorization):
        metrics.ALERTMANAGER_WEBHOOKS.labels(outcome="unauthorized").inc()
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"}
        )
    store = PolicyStore(services.db)
    kafka = services.settings.kafka
    correlated = recorded = ignored = 0
    recalculate: set[str] = set()
    for alert in payload.alerts:
        key = alert.labels.get("slo")
        slo = await _find_slo(services, key, alert.labels.get("namespace")) if key else None
        if slo is None:
            ignored += 1
            metrics.ALERTS_IGNORED.labels(reason="unknown_slo" if key else "no_slo_label").inc()
            continue
        correlated += 1
        event_id = uuid.uuid4()
        event = OutboxEvent(
            topic=kafka.violations_topic,
            key=slo.id,
            payload={
                "eventId": str(event_id),
                "eventType": "SLO_VIOLATION_" + alert.status.upper(),
                "sloId": slo.id,
                "sloName": slo.name,
                "alertname": alert.labels.get("alertname", ""),
                "status": alert.status,
                "labels": alert.labels,
                "annotations": alert.annotations,
                "startsAt": alert.starts_at.isoformat() if alert.starts_at else None,
                "endsAt": alert.ends_at.isoformat() if alert.ends_at else None,
            },
            headers={
                "event_type": "SLO_VIOLATION_" + alert.status.upper(),
                "service_name": slo.service_name,
                "severity": alert.labels.get("severity", "warning" if alert.status == "firing" else "info"),
                "event_id": str(event_id),
            },
            event_id=event_id,
        )
        if await store.record_violation(
            slo_id=slo.id,
            alertname=alert.labels.get("alertname", ""),
            status=alert.status,
            fingerprint=_fingerprint(alert),
            starts_at=alert.starts_at,
            ends_at=alert.ends_at,
            labels=alert.labels,
            annotations=alert.annotations,
            events=[event],
        ):
            recorded += 1
            metrics.SLO_VIOLATIONS.labels(slo=slo.id, status=alert.status).inc()
        if alert.status == "firing":
            recalculate.add(slo.workflow_id)
    if recalculate:
        temporal = await services.temporal()
        for workflow_id in recalculate:
            try:
                # The pass that follows signals the policies if the budget crossed a threshold.
                await temporal.get_workflow_handle(workflow_id).signal("recalculate")
            except RPCError as exc:
                log.warning("could not signal recalculation", workflow_id=workflow_id, error=str(exc))
    metrics.ALERTMANAGER_WEBHOOKS.labels(outcome="ok").inc()
    return IntakeReport(
        received=len(payload.alerts), correlated=correlated, recorded=recorded, ignored=ignored
    )
