"""Kafka publishing through the PostgreSQL outbox.

Activities write events in the same transaction as the state they describe; `OutboxRelay`
sends them with acks=all and marks them sent. A broker outage therefore delays events, and a
crash between send and mark can only repeat one (consumers deduplicate on the `event_id`
header), never lose it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from sla_management.adapters.postgres import OutboxRepository
from sla_management.config import KafkaSettings
from sla_management.errors import DatabaseUnavailable
from sla_management.observability import metrics
from sla_management.observability.tracing import producer_span

log = structlog.get_logger(__name__)


class KafkaPublisher:
    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None

    async def _ensure(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=",".join(self._settings.bootstrap_servers),
                acks="all",
                # Idempotence needs broker support some Kafka-protocol brokers lack; the
                # outbox plus event ids give at-least-once with deduplication instead.
                enable_idempotence=False,
                request_timeout_ms=10_000,
                retry_backoff_ms=200,
                **self._tls(),
            )
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    def _tls(self) -> dict[str, Any]:
        s = self._settings
        if s.security_protocol != "SSL":
            return {}
        from aiokafka.helpers import create_ssl_context

        context = create_ssl_context(cafile=s.ssl_ca_file, certfile=s.ssl_cert_file, keyfile=s.ssl_key_file)
        return {"security_protocol": "SSL", "ssl_context": context}

    async def send(self, topic: str, key: str | None, payload: Any, headers: dict[str, str]) -> None:
        # In the trace that wrote the event (its `traceparent` header), when there was one.
        with producer_span(topic, headers):
            try:
                producer = await self._ensure()
                await producer.send_and_wait(
                    topic,
                    value=json.dumps(payload, separators=(",", ":")).encode(),
                    key=key.encode() if key else None,
                    headers=[(k, v.encode()) for k, v in headers.items()],
                )
            except (KafkaError, OSError):
                metrics.KAFKA_EVENTS.labels(topic=topic, outcome="error").inc()
                await self.reset()
                raise
        metrics.KAFKA_EVENTS.labels(topic=topic, outcome="ok").inc()

    async def reset(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                await producer.stop()
            except Exception as exc:  # a broken producer may fail to stop; it is dropped anyway
                log.debug("producer stop failed", error=str(exc))

    async def ping(self) -> bool:
        try:
            producer = await self._ensure()
            await producer.client.fetch_all_metadata()
        except (KafkaError, OSError):
            await self.reset()
            return False
        return True

    async def aclose(self) -> None:
        await self.reset()


class OutboxRelay:
    """Drains `event_outbox` to Kafka; wake it after a write for low latency."""

    def __init__(self, outbox: OutboxRepository, publisher: KafkaPublisher, settings: KafkaSettings) -> None:
        self._outbox = outbox
        self._publisher = publisher
        self._settings = settings
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def drain_once(self) -> int:
        sent = 0
        failure: Exception | None = None
        async with self._outbox.pending(self._settings.relay_batch_size) as batch:
            for row in batch.rows:
                try:
                    await self._publisher.send(row["topic"], row["key"], row["payload"], row["headers"])
                except (KafkaError, OSError) as exc:
                    await batch.failed(row["event_id"], str(exc))
                    # Commit what was sent before the failure so it is not sent again.
                    failure = exc
                    break
                await batch.sent(row["event_id"])
                sent += 1
        if failure is not None:
            raise failure
        return sent

    async def run(self) -> None:
        backoff = self._settings.relay_interval_seconds
        while True:
            try:
                sent = await self.drain_once()
                backoff = self._settings.relay_interval_seconds
                if sent >= self._settings.relay_batch_size:
                    continue  # more waiting
                metrics.OUTBOX_PENDING.set(0 if sent == 0 else await self._outbox.pending_count())
            except (KafkaError, OSError, DatabaseUnavailable) as exc:
                log.warning("event relay paused", error=str(exc), retry_in=backoff)
                backoff = min(backoff * 2, 30.0)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)
            except TimeoutError:
                pass
