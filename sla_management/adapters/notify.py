"""Delivering notifications: Slack incoming webhooks and signed generic webhooks.

`NotificationRelay` runs in the worker. It leases due rows of the notification outbox, delivers
them concurrently with a timeout each (a slow or failing receiver delays nobody else, and never
a freeze decision or the gate, which only ever write rows), and marks each sent, or failed with
an exponential backoff, or dead after `max_attempts`. At least once: a crash between the send
and the mark sends again, with the same event id in the body for the receiver to deduplicate.

Secrets are read at delivery from the worker's environment or a Kubernetes Secret and never
logged: failures are reported as an HTTP status or an exception type, never with the URL.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
import structlog

from sla_management.adapters.postgres import NotificationRepository, NotificationRow
from sla_management.config import NotificationSettings
from sla_management.domain.channels import Channel, NotifyTarget, SecretKeyRef, SecretRef
from sla_management.domain.notices import Notice, slack_payload, webhook_body
from sla_management.errors import DatabaseUnavailable
from sla_management.observability import metrics

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "X-SLA-Signature"
TIMESTAMP_HEADER = "X-SLA-Timestamp"
EVENT_HEADER = "X-SLA-Event-Id"

SecretKeyReader = Callable[[SecretKeyRef], Awaitable[str]]


class DeliveryFailed(Exception):
    """The receiver did not take it; `str()` is safe to store and show (no secret in it)."""


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Secrets:
    def __init__(self, read_secret_key: SecretKeyReader | None) -> None:
        self._read_key = read_secret_key

    async def read(self, ref: SecretRef) -> str:
        if ref.env is not None:
            value = os.environ.get(ref.env)
            if not value:
                raise DeliveryFailed(f"{ref.describe()} is not set in the worker's environment")
            return value
        assert ref.secret_key_ref is not None
        if self._read_key is None:
            raise DeliveryFailed(f"{ref.describe()}: no Kubernetes API configured to read it")
        try:
            return await self._read_key(ref.secret_key_ref)
        except Exception as exc:  # any failure to read is this delivery's failure, retried later
            raise DeliveryFailed(f"{ref.describe()} could not be read: {type(exc).__name__}") from exc


class NotificationRelay:
    def __init__(
        self,
        notifications: NotificationRepository,
        settings: NotificationSettings,
        secrets: Secrets,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._notifications = notifications
        self._settings = settings
        self._secrets = secrets
        self._client = client or httpx.AsyncClient(timeout=settings.timeout_seconds, trust_env=False)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def run(self) -> None:
        while True:
            try:
                if await self.deliver_once() >= self._settings.batch_size:
                    continue  # more are due
            except DatabaseUnavailable as exc:
                log.warning("notification relay paused", error=str(exc))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._settings.poll_interval_seconds)
            except TimeoutError:
                pass

    async def deliver_once(self) -> int:
        # The lease outlives a delivery's timeout, so a row is never sent twice at once.
        rows = await self._notifications.claim_due(
            self._settings.batch_size, self._settings.timeout_seconds * 3
        )
        await asyncio.gather(*(self._deliver(row) for row in rows))
        return len(rows)

    def backoff(self, attempts: int) -> float:
        s = self._settings
        return float(min(s.backoff_initial_seconds * 2 ** max(attempts - 1, 0), s.backoff_max_seconds))

    async def _deliver(self, row: NotificationRow) -> None:
        try:
            await self._send(row)
        except DeliveryFailed as exc:
            attempts = row.attempts + 1
            dead = attempts >= self._settings.max_attempts
            await self._notifications.failed(row.id, str(exc), self.backoff(attempts), dead=dead)
            metrics.NOTIFICATIONS.labels(channel=row.channel, outcome="dead" if dead else "failed").inc()
            log.warning("notification not delivered", notification_id=str(row.id), error=str(exc), dead=dead)
            return
        await self._notifications.delivered(row.id)
        metrics.NOTIFICATIONS.labels(channel=row.channel, outcome="sent").inc()
        occurred = datetime.fromisoformat(row.notice["occurredAt"])
        metrics.NOTIFICATION_LATENCY.labels(channel=row.channel).observe(
            max(0.0, (datetime.now(UTC) - occurred).total_seconds())
        )

    async def _send(self, row: NotificationRow) -> None:
        target = NotifyTarget.model_validate(row.target)
        notice = Notice.model_validate(row.notice)
        event_id = str(row.id)
        url = target.url if target.url is not None else await self._secrets.read(_url_secret(target))
        headers = {"Content-Type": "application/json", EVENT_HEADER: event_id}
        if target.type is Channel.SLACK:
            body = json.dumps(slack_payload(notice, event_id), separators=(",", ":")).encode()
        else:
            assert target.secret is not None  # ensured by NotifyTarget
            # Signed anew at each attempt: receivers reject a timestamp too old, not a retry.
            timestamp = int(time.time())
            body = webhook_body(notice, event_id, timestamp)
            headers[TIMESTAMP_HEADER] = str(timestamp)
            headers[SIGNATURE_HEADER] = sign(await self._secrets.read(target.secret), body)
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__} from the {target.type.value} receiver") from exc
        if response.status_code >= 300:
            raise DeliveryFailed(f"HTTP {response.status_code} from the {target.type.value} receiver")


def _url_secret(target: NotifyTarget) -> SecretRef:
    assert target.url_secret is not None  # ensured by NotifyTarget
    return target.url_secret
