"""Alertmanager webhook intake (payload version 4): violations recorded, loops woken.

A post is all or nothing: every alert is checked and correlated first, then every violation and
its Kafka event is stored in one transaction, and only then are the loops of firing SLOs woken.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field

from sla_management.adapters.postgres import OutboxEvent, Violation
from sla_management.control.clients import Clients
from sla_management.domain.slo import SLO
from sla_management.errors import Unavailable
from sla_management.observability import metrics
from sla_management.workflows import client as loops

log = structlog.get_logger(__name__)

# Alertmanager groups alerts per route; thousands in one post is a flood or an attack.
MAX_ALERTS = 500
_TEXT = Annotated[str, Field(max_length=4096)]


class Alert(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    status: Literal["firing", "resolved"]
    labels: Annotated[dict[str, _TEXT], Field(max_length=64)]
    annotations: Annotated[dict[str, _TEXT], Field(max_length=64)] = Field(default_factory=dict)
    starts_at: Annotated[datetime | None, Field(alias="startsAt")] = None
    ends_at: Annotated[datetime | None, Field(alias="endsAt")] = None
    generator_url: Annotated[str | None, Field(alias="generatorURL", max_length=4096)] = None
    fingerprint: Annotated[str | None, Field(max_length=128)] = None


class AlertmanagerPayload(BaseModel):
    """https://prometheus.io/docs/alerting/latest/configuration/#webhook_config"""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: Annotated[str, Field(max_length=1024)] = ""
    group_key: Annotated[str, Field(alias="groupKey", max_length=4096)] = ""
    alerts: Annotated[list[Alert], Field(max_length=MAX_ALERTS)]


class IntakeReport(BaseModel):
    received: int
    correlated: int
    recorded: int
    ignored: int


def _fingerprint(alert: Alert) -> str:
    if alert.fingerprint:
        return alert.fingerprint
    canonical = ",".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _correlate(alert: Alert, found: Sequence[SLO]) -> SLO | None:
    """The SLO an alert's `slo` label names: by id, else by name (in the alert's `namespace`
    label when it has one), when exactly one SLO has that name."""
    key = alert.labels.get("slo")
    if not key:
        return None
    for slo in found:
        if slo.id == key:
            return slo
    namespace = alert.labels.get("namespace")
    named = [s for s in found if s.name == key and (namespace is None or s.namespace == namespace)]
    return named[0] if len(named) == 1 else None


def _violation(clients: Clients, slo: SLO, alert: Alert) -> Violation:
    kind = "SLO_VIOLATION_" + alert.status.upper()
    event = OutboxEvent.envelope(
        clients.settings.kafka.violations_topic,
        event_id=uuid.uuid4(),
        event_type=kind,
        key=slo.id,
        service_name=slo.service_name,
        severity=alert.labels.get("severity", "warning" if alert.status == "firing" else "info"),
        body={
            "sloId": slo.id,
            "sloName": slo.name,
            "alertname": alert.labels.get("alertname", ""),
            "status": alert.status,
            "labels": alert.labels,
            "annotations": alert.annotations,
            "startsAt": alert.starts_at.isoformat() if alert.starts_at else None,
            "endsAt": alert.ends_at.isoformat() if alert.ends_at else None,
        },
    )
    return Violation(
        slo_id=slo.id,
        alertname=alert.labels.get("alertname", ""),
        status=alert.status,
        fingerprint=_fingerprint(alert),
        starts_at=alert.starts_at,
        ends_at=alert.ends_at,
        labels=alert.labels,
        annotations=alert.annotations,
        event=event,
    )


async def take_alerts(clients: Clients, payload: AlertmanagerPayload) -> IntakeReport:
    keys = sorted({key for a in payload.alerts if (key := a.labels.get("slo"))})
    found = await clients.slos.find(keys)
    violations: list[Violation] = []
    firing: set[str] = set()
    ignored = 0
    for alert in payload.alerts:
        slo = _correlate(alert, found)
        if slo is None:
            ignored += 1
            reason = "unknown_slo" if alert.labels.get("slo") else "no_slo_label"
            metrics.ALERTS_IGNORED.labels(reason=reason).inc()
            continue
        violations.append(_violation(clients, slo, alert))
        if alert.status == "firing":
            firing.add(slo.id)
    recorded = await clients.violations.record_all(violations)
    for violation, new in zip(violations, recorded, strict=True):
        if new:
            metrics.SLO_VIOLATIONS.labels(slo=violation.slo_id, status=violation.status).inc()
    if firing:
        await _wake(clients, firing)
    return IntakeReport(
        received=len(payload.alerts), correlated=len(violations), recorded=sum(recorded), ignored=ignored
    )


async def _wake(clients: Clients, slo_ids: set[str]) -> None:
    # The pass that follows signals the policies if the budget crossed a threshold. The
    # violations are stored already: a loop that cannot be woken now runs on its own timer.
    try:
        temporal = await clients.temporal()
        for slo_id in sorted(slo_ids):
            await loops.recalculate(temporal, slo_id)
    except Unavailable as exc:
        log.warning("could not signal recalculation", error=str(exc))
