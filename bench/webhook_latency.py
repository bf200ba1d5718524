"""From an Alertmanager webhook call to the freeze annotation on the namespace (run by hand).

The whole path runs for real: `sla api` and `sla worker` processes, Temporal, PostgreSQL, Redis,
the Kafka-protocol broker, Prometheus scraping a live exporter, and kmock's Kubernetes
emulator over HTTP (the one the tests use), where the worker writes the annotation.

Each run has its own namespace, NAMESPACE policy and SLO, whose series do not exist yet: the
SLO's first pass finds no data (NO_DATA never freezes) and its loop then sleeps for an hour.
The exporter then starts a 100 % error rate for every run and Prometheus scrapes it, as it
would before an alert fires. One at a time, the bench posts the webhook (an alert with the
run's `slo` label) and times until the namespace carries `neural-hive.io/sla-freeze: "true"`:
webhook intake, the Temporal signal, a full pass (Prometheus, PostgreSQL, Redis, outbox), the
policy workflow's decision, the freeze row and the Kubernetes patch.

Each policy also notifies a signed webhook served here: the bench reports the time from the
freeze decision (the notice's `occurredAt`) to the notification's arrival.

    .venv/bin/python -m bench.webhook_latency [--runs 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp.web
import httpx
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from bench.stack import settings_env
from sla_management.adapters.migrations import upgrade
from sla_management.config import (
    CalculatorSettings,
    KafkaSettings,
    PostgreSQLSettings,
    PrometheusSettings,
    RedisSettings,
    Settings,
    TemporalSettings,
)
from sla_management.devstack import databases, processes, servers
from tests.support.k8s import FakeCluster, serve_cluster

TOKEN = "bench-webhook-token"
FREEZE = "neural-hive.io/sla-freeze"
RATE = 100.0  # requests per second per run, all of them errors once the run is burning


class BurningRuns(Collector):
    """`wh_requests_total` and `wh_errors_total` per run, present only once a run burns."""

    def __init__(self) -> None:
        self.started: dict[int, float] = {}
        self._lock = threading.Lock()

    def burn(self, runs: range) -> None:
        now = time.time()
        with self._lock:
            self.started.update({run: now for run in runs})

    def collect(self) -> Iterator[CounterMetricFamily]:
        requests = CounterMetricFamily("wh_requests", "requests", labels=["run"])
        errors = CounterMetricFamily("wh_errors", "errors", labels=["run"])
        now = time.time()
        with self._lock:
            for run, since in self.started.items():
                value = RATE * (now - since)
                requests.add_metric([str(run)], value)
                errors.add_metric([str(run)], value)
        yield requests
        yield errors


def slo_body(run: int, namespace: str) -> dict[str, object]:
    return {
        "name": f"wh-{run:03d}",
        "sloType": "AVAILABILITY",
        "serviceName": f"wh-{run:03d}",
        "namespace": namespace,
        "target": 0.99,
        "windowDays": 1,
        "sliQuery": {
            "errorQuery": f'sum(increase(wh_errors_total{{run="{run}"}}[{{{{.window}}}}]))',
            "totalQuery": f'sum(increase(wh_requests_total{{run="{run}"}}[{{{{.window}}}}]))',
        },
    }


def webhook(slo_id: str, namespace: str) -> dict[str, object]:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "sla",
        "groupKey": '{}:{alertname="SLOErrorBudgetBurn"}',
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "SLOErrorBudgetBurn", "slo": slo_id, "namespace": namespace},
                "annotations": {},
                "startsAt": "2026-11-28T00:00:00Z",
                "fingerprint": uuid.uuid4().hex[:16],
            }
        ],
    }


async def frozen_at(cluster: FakeCluster, namespace: str, deadline: float) -> float:
    while time.perf_counter() < deadline:
        if cluster.namespace_annotations(namespace).get(FREEZE) == "true":
            return time.perf_counter()
        await asyncio.sleep(0.002)
    raise TimeoutError(f"{namespace} was not frozen in time")


async def scraped(prometheus: str, runs: int) -> bool:
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{prometheus}/api/v1/query", params={"query": "count(count_over_time(wh_errors_total[1m]) >= 3)"}
        )
    result = answer.json()["data"]["result"]
    return bool(result) and int(float(result[0]["value"][1])) >= runs


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


HOOK_SECRET = "bench-hook-secret"


async def _receiver(arrivals: list[float]) -> tuple[aiohttp.web.AppRunner, str]:
    """A signed-webhook receiver: FREEZE_OPENED arrivals as seconds after the decision."""

    async def hook(request: aiohttp.web.Request) -> aiohttp.web.Response:
        body = await request.json()
        if body.get("kind") == "FREEZE_OPENED":
            decided = datetime.fromisoformat(body["occurredAt"])
            arrivals.append((datetime.now(UTC) - decided).total_seconds() * 1000)
        return aiohttp.web.Response(status=204)

    app = aiohttp.web.Application()
    app.router.add_post("/hook", hook)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    port = processes.free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/hook"


async def bench(
    runs: range, exporter: BurningRuns, settings: Settings, env: dict[str, str], work: Path
) -> None:
    notified: list[float] = []
    receiver, hook_url = await _receiver(notified)
    env = {**env, "BENCH_HOOK_SECRET": HOOK_SECRET}
    async with serve_cluster() as cluster:
        env = {
            **env,
            "KUBERNETES__ENABLED": "true",
            "KUBERNETES__API_URL": cluster.url,
            "KUBERNETES__VERIFY_SSL": "false",
        }
        api_port = processes.free_port()
        api_env = {
            **env,
            "API__PORT": str(api_port),
            "AUTH__STATIC_TOKENS": f'[{{"name":"bench","role":"admin","token":"{TOKEN}"}}]',
            # The same secret serves as the webhook's token, so one client posts both.
            "ALERTMANAGER__WEBHOOK_TOKEN": TOKEN,
        }
        cli = [sys.executable, "-m", "sla_management.cli"]
        procs = [
            processes.spawn("worker", [*cli, "worker"], work, env=env),
            processes.spawn("api", [*cli, "api"], work, env=api_env),
        ]
        try:
            # In a thread: the emulator serves from this event loop.
            await asyncio.to_thread(processes.wait_for_http, f"http://127.0.0.1:{api_port}/health", 60)
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{api_port}", headers=headers, timeout=30
            ) as api:
                slos: dict[int, str] = {}
                for run in runs:
                    ns = f"wh-{run:03d}"
                    cluster.add_namespace(ns)
                    policy = {
                        "name": f"freeze-{ns}",
                        "scope": "NAMESPACE",
                        "target": ns,
                        "actions": ["BLOCK_DEPLOY"],
                        "notify": [
                            {"type": "webhook", "url": hook_url, "secret": {"env": "BENCH_HOOK_SECRET"}}
                        ],
                    }
                    answer = await api.post("/api/v1/policies", json=policy)
                    assert answer.status_code == 201, answer.text
                    answer = await api.post("/api/v1/slos", json=slo_body(run, ns))
                    assert answer.status_code == 201, answer.text
                    slos[run] = answer.json()["id"]
                # Every first pass done (NO_DATA), so only the webhook can wake a loop now.
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    budgets = (await api.get("/api/v1/budgets")).json()
                    mine = [b for b in budgets if b.get("sloId") in slos.values()]
                    if len(mine) == len(slos):
                        break
                    await asyncio.sleep(0.5)
                assert len(mine) == len(slos), f"{len(mine)} of {len(slos)} SLOs have a first budget"
                assert all(b["status"] == "NO_DATA" for b in mine), {b["status"] for b in mine}
                exporter.burn(runs)
                deadline = time.monotonic() + 60
                while not await scraped(settings.prometheus.url, len(runs)):
                    assert time.monotonic() < deadline, "Prometheus did not scrape the exporter"
                    await asyncio.sleep(0.5)
                assert not any(cluster.namespace_annotations(f"wh-{r:03d}").get(FREEZE) for r in runs)

                latencies, intake = [], []
                for run in runs:
                    ns = f"wh-{run:03d}"
                    began = time.perf_counter()
                    answer = await api.post("/webhooks/alertmanager", json=webhook(slos[run], ns))
                    intake.append((time.perf_counter() - began) * 1000)
                    assert answer.json()["correlated"] == 1, answer.text
                    done = await frozen_at(cluster, ns, began + 30)
                    latencies.append((done - began) * 1000)
                    await asyncio.sleep(0.2)  # let the run's outbox and audit writes finish
                # The last runs' notifications may still be on their way.
                for _ in range(150):
                    if len(notified) >= len(runs):
                        break
                    await asyncio.sleep(0.2)
        finally:
            for proc in procs:
                proc.stop()
            await receiver.cleanup()
    print(f"runs: {len(latencies)}")
    print(
        "webhook -> namespace annotation ms: "
        f"p50 {statistics.median(latencies):.0f}, p90 {pct(latencies, 0.9):.0f}, "
        f"p99 {pct(latencies, 0.99):.0f}, max {max(latencies):.0f}, min {min(latencies):.0f}"
    )
    print(f"webhook answered ms: p50 {statistics.median(intake):.1f}, p99 {pct(intake, 0.99):.1f}")
    print(
        f"freeze decision -> notification received ms ({len(notified)} of {len(latencies)}): "
        f"p50 {statistics.median(notified):.0f}, p99 {pct(notified, 0.99):.0f}, max {max(notified):.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    exporter = BurningRuns()
    registry = CollectorRegistry()
    registry.register(exporter)
    exporter_port = processes.free_port()
    start_http_server(exporter_port, addr="127.0.0.1", registry=registry)

    started: list[processes.Service] = []
    database = f"bench_webhook_{uuid.uuid4().hex[:8]}"
    try:
        prometheus = servers.start_prometheus(
            work,
            processes.free_port(),
            "global: {scrape_interval: 1s}\n"
            f"scrape_configs: [{{job_name: exporter, static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]}}]\n",
        )
        started.append(prometheus)
        temporal = servers.start_temporal(work, processes.free_port())
        started.append(temporal)
        kafka = servers.start_kafka(work, processes.free_port())
        started.append(kafka)
        if (pg := databases.ensure_postgres(work)) is not None:
            started.append(pg)
        if (redis := databases.ensure_redis(work)) is not None:
            started.append(redis)
        databases.create_database("127.0.0.1", 5432, "postgres", database)
        pg_settings = PostgreSQLSettings(host="127.0.0.1", database=database)
        upgrade(pg_settings)
        settings = Settings(
            prometheus=PrometheusSettings(url=prometheus.address),
            postgresql=pg_settings,
            redis=RedisSettings(cluster_nodes=["127.0.0.1:6379"], key_prefix=f"{database}:"),
            kafka=KafkaSettings(bootstrap_servers=[kafka.address]),
            # Only the webhook wakes a loop during the measurement.
            calculator=CalculatorSettings(calculation_interval_seconds=3600),
            temporal=TemporalSettings(address=temporal.address, task_queue=f"bench-{uuid.uuid4().hex[:8]}"),
        )
        env = {**os.environ, **settings_env(settings), "LOG_LEVEL": "WARNING"}
        asyncio.run(bench(range(args.runs), exporter, settings, env, work))
    finally:
        for service in reversed(started):
            service.stop()
        databases.drop_database("127.0.0.1", 5432, "postgres", database)


if __name__ == "__main__":
    main()
