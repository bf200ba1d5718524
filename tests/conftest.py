"""The real stack for the tests, started once per session on loopback.

Temporal dev server, Prometheus holding backfilled history, the Kafka-protocol broker, and the
machine's PostgreSQL and Redis (or embedded ones). Nothing here is a mock of a server.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import stamina
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.worker import Worker

from sla_management import binaries
from sla_management.adapters.cache import BudgetCache
from sla_management.adapters.kafka import KafkaPublisher, OutboxRelay
from sla_management.adapters.migrations import upgrade
from sla_management.adapters.postgres import Database
from sla_management.adapters.prometheus import PrometheusClient
from sla_management.api.app import create_app
from sla_management.config import (
    AlertmanagerSettings,
    APISettings,
    AuthSettings,
    CalculatorSettings,
    KafkaSettings,
    KubernetesSettings,
    PostgreSQLSettings,
    PrometheusSettings,
    RedisSettings,
    Settings,
    StaticToken,
    TemporalSettings,
    WorkerSettings,
)
from sla_management.control.clients import Clients
from sla_management.devstack import databases, processes, servers
from sla_management.worker.main import build_worker
from sla_management.workflows.client import connect
from tests.support import promdata

TOKENS = {
    "admin": "test-admin-token",
    "editor": "test-editor-token",
    "viewer": "test-viewer-token",
    "responder": "test-responder-token",
}
ADMIN_HEADERS = {"Authorization": f"Bearer {TOKENS['admin']}"}
WEBHOOK_TOKEN = "test-webhook-token"
WEBHOOK_HEADERS = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}

# Waits inside retries would only slow the tests down; behaviour is unchanged.
stamina.set_testing(True, attempts=3)


@dataclass
class Stack:
    workdir: Path
    anchor: int  # the "now" the backfilled history was built around
    prometheus_url: str
    temporal_address: str
    kafka_address: str
    pg_host: str
    pg_port: int
    database: str
    redis_node: str

    def settings(self, **calculator: object) -> Settings:
        return Settings(
            prometheus=PrometheusSettings(url=self.prometheus_url, timeout_seconds=10, max_retries=1),
            postgresql=PostgreSQLSettings(host=self.pg_host, port=self.pg_port, database=self.database),
            redis=RedisSettings(cluster_nodes=[self.redis_node], key_prefix=f"sla-test-{self.database}:"),
            kafka=KafkaSettings(bootstrap_servers=[self.kafka_address], relay_interval_seconds=0.2),
            # Regular activities: the tests inspect pending activities through Temporal.
            calculator=CalculatorSettings(
                **{"calculation_interval_seconds": 2, "activity_mode": "regular", **calculator}  # type: ignore[arg-type]
            ),
            temporal=TemporalSettings(address=self.temporal_address, task_queue=f"tq-{uuid.uuid4().hex[:8]}"),
            api=APISettings(),
            alertmanager=AlertmanagerSettings(webhook_token=WEBHOOK_TOKEN),
            worker=WorkerSettings(metrics_port=0),
            kubernetes=KubernetesSettings(enabled=False),
            auth=AuthSettings(
                static_tokens=[
                    StaticToken(name=f"test-{role}", role=role, token=token) for role, token in TOKENS.items()
                ]
            ),
        )


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("stack")
    anchor = int(time.time()) // 60 * 60
    started: list[processes.Service] = []
    try:
        # History first: promtool writes blocks before Prometheus opens the directory.
        data_dir = workdir / "prometheus-data"
        data_dir.mkdir()
        openmetrics = workdir / "history.om"
        promdata.write_openmetrics(openmetrics, anchor)
        binaries.write_openmetrics_blocks(openmetrics, data_dir)
        prom_port = processes.free_port()
        prometheus = servers.start_prometheus(
            workdir,
            prom_port,
            "global:\n  scrape_interval: 1m\nscrape_configs: []\n",
            data_dir=data_dir,
        )
        started.append(prometheus)
        temporal = servers.start_temporal(workdir, processes.free_port())
        started.append(temporal)
        kafka = servers.start_kafka(workdir, processes.free_port())
        started.append(kafka)
        pg_host, pg_port = "127.0.0.1", int(os.environ.get("TEST_PG_PORT", "5432"))
        if (pg := databases.ensure_postgres(workdir, pg_host, pg_port)) is not None:
            started.append(pg)
        redis_port = int(os.environ.get("TEST_REDIS_PORT", "6379"))
        if (redis := databases.ensure_redis(workdir, redis_port)) is not None:
            started.append(redis)
        database = f"sla_test_{uuid.uuid4().hex[:10]}"
        databases.create_database(pg_host, pg_port, "postgres", database)
        upgrade(PostgreSQLSettings(host=pg_host, port=pg_port, database=database))
        yield Stack(
            workdir=workdir,
            anchor=anchor,
            prometheus_url=prometheus.address,
            temporal_address=temporal.address,
            kafka_address=kafka.address,
            pg_host=pg_host,
            pg_port=pg_port,
            database=database,
            redis_node=f"127.0.0.1:{redis_port}",
        )
        databases.drop_database(pg_host, pg_port, "postgres", database)
    finally:
        for service in reversed(started):
            service.stop()


@pytest.fixture(scope="session")
async def temporal_client(stack: Stack) -> Client:
    return await connect(stack.settings())


@pytest.fixture
def settings(stack: Stack) -> Settings:
    """Fresh settings (own task queue) per test."""
    return stack.settings()


@dataclass
class Runtime:
    clients: Clients
    client: Client
    relay: OutboxRelay
    enforcer: Any = None

    @property
    def settings(self) -> Settings:
        return self.clients.settings

    @property
    def db(self) -> Database:
        return self.clients.db

    @property
    def cache(self) -> BudgetCache:
        return self.clients.cache

    @property
    def prometheus(self) -> PrometheusClient:
        return self.clients.prometheus


@asynccontextmanager
async def running_worker(runtime: Runtime, task_queue: str | None = None) -> AsyncIterator[Worker]:
    worker = await build_worker(
        runtime.clients, relay=runtime.relay, enforcer=runtime.enforcer, task_queue=task_queue
    )
    async with worker:
        yield worker


@pytest.fixture
async def runtime(settings: Settings, temporal_client: Client) -> AsyncIterator[Runtime]:
    clients = Clients.open(settings, temporal=temporal_client)
    await clients.db.connect()
    publisher = KafkaPublisher(settings.kafka)
    relay = OutboxRelay(clients.outbox, publisher, settings.kafka)
    relay_task = asyncio.create_task(relay.run())
    try:
        yield Runtime(clients, temporal_client, relay)
    finally:
        relay_task.cancel()
        await asyncio.gather(relay_task, return_exceptions=True)
        await publisher.aclose()
        await clients.aclose()


@pytest.fixture
async def worker(runtime: Runtime) -> AsyncIterator[Worker]:
    async with running_worker(runtime) as w:
        yield w


@pytest.fixture
async def app(runtime: Runtime) -> AsyncIterator[FastAPI]:
    application = create_app(runtime.settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def api(app: FastAPI, worker: Worker) -> AsyncIterator[httpx.AsyncClient]:
    """The API in-process over ASGI, with a worker running the workflows it starts."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=ADMIN_HEADERS) as client:
        yield client
